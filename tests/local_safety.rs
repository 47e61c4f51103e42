//! Destination confinement (symlinks in the destination never lead writes outside it) and
//! vanished source files (exit code 24, not a crash).

mod local_support;

use local_support::*;
use std::os::unix::fs::symlink;

use rdsync::engine::local::SyncSink;

#[test]
fn symlinks_in_destination_are_replaced_not_followed() {
    require_rsync();
    let s = Scratch::new("safety");
    make_fixture(&s.join("src"));
    write(&s.join("outside/sentinel"), b"do not touch\n");
    write(&s.join("outside/a.txt"), b"outside a\n");
    for d in ["dest_rsync", "dest_rdsync"] {
        let dest = s.join(d);
        std::fs::create_dir_all(&dest).unwrap();
        // A directory of the source is a symlink to outside in the destination.
        symlink(s.join("outside"), dest.join("d1")).unwrap();
        // A file of the source is a symlink to an outside file.
        symlink(s.join("outside/a.txt"), dest.join("a.txt")).unwrap();
        symlink(s.join("outside"), dest.join("emptydir")).unwrap();
    }
    let before = snapshot(&s.join("outside"));
    for opts in [
        &["-aHi"][..],
        &["-aHi", "--inplace"][..],
        &["-aHi", "--delete"][..],
    ] {
        compare_runs(
            &s.path,
            opts,
            &["src/"],
            "dest_rsync",
            "dest_rdsync",
            &format!("{opts:?}"),
        );
    }
    assert_same_tree(
        &before,
        &snapshot(&s.join("outside")),
        "outside of the destination changed",
    );
}

#[test]
fn root_refuses_paths_through_symlinks() {
    let s = Scratch::new("root");
    std::fs::create_dir_all(s.join("dest/real")).unwrap();
    std::fs::create_dir_all(s.join("outside")).unwrap();
    symlink(s.join("outside"), s.join("dest/link")).unwrap();
    let root =
        rdsync::engine::fs::Root::open(s.join("dest").as_os_str().as_encoded_bytes()).unwrap();
    assert!(root.open_dir(b"real").is_ok());
    assert!(root.open_dir(b"link").is_err());
    assert!(root.open_dir(b"link/x").is_err());
    assert!(root.open_dir(b"../outside").is_err());
    assert!(root.open_dir(b"real/../../outside").is_err());
    let dir = root.open_dir(b"real").unwrap();
    assert!(dir.mkdir(b"../escape", 0o755).is_err());
    assert!(dir.create_exclusive(b"a/b", 0o600).is_err());
    assert!(!s.join("escape").exists());
}

/// Options first, then paths made absolute under the scratch directory (tests share the
/// process's current directory, so they never change it).
fn abs_args(s: &Scratch, args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| {
            if a.starts_with('-') {
                a.to_string()
            } else {
                format!("{}/{a}", s.path.display())
            }
        })
        .collect()
}

/// Deletes a source file once the file list is built, before any copy runs.
struct VanishingSink {
    victim: std::path::PathBuf,
    messages: Vec<String>,
}

impl SyncSink for VanishingSink {
    fn created_destination(&mut self, _name: &[u8]) {
        std::fs::remove_file(&self.victim).unwrap();
    }
    fn message(&mut self, m: &rdsync::engine::local::Message) {
        self.messages.push(m.text.clone());
    }
}

#[test]
fn vanished_source_file_is_exit_code_24() {
    let s = Scratch::new("vanish");
    make_fixture(&s.join("src"));
    let mut sink = VanishingSink {
        victim: s.join("src/d1/b.txt"),
        messages: Vec::new(),
    };
    let args = abs_args(&s, &["-a", "src/", "dest"]);
    let opts = match rdsync::parse_args(args) {
        Ok(rdsync::ParseOutcome::Run(o)) => o,
        other => panic!("{other:?}"),
    };
    let outcome = rdsync::sync_local(&opts, &mut sink).unwrap();
    assert_eq!(outcome.exit_code(), 24, "{:?}", sink.messages);
    assert!(
        sink.messages
            .iter()
            .any(|m| m.starts_with("file has vanished: ")),
        "{:?}",
        sink.messages
    );
    assert!(
        s.join("dest/d1/d2/c.txt").exists(),
        "the rest was still copied"
    );
    // No temp file was left behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.join("dest/d1"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".b.txt."))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn leftover_temp_files_are_cleaned_up_on_the_next_run() {
    let s = Scratch::new("leftover");
    make_fixture(&s.join("src"));
    let r = rdsync(&["-a", "src/", "dest"], &s.path);
    assert_eq!(r.code, 0, "{r:?}");
    // An interrupted run leaves temp files behind; unrelated dot files stay.
    write(&s.join("dest/.a.txt.Xy12Zq"), b"partial");
    write(&s.join("dest/d1/.b.txt.000000"), b"partial");
    write(&s.join("dest/.keepme"), b"mine");
    write(
        &s.join("dest/.nosuch.abcdef"),
        b"not a temp of a source file",
    );
    let r = rdsync(&["-a", "src/", "dest"], &s.path);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!s.join("dest/.a.txt.Xy12Zq").exists());
    assert!(!s.join("dest/d1/.b.txt.000000").exists());
    assert!(s.join("dest/.keepme").exists());
    assert!(s.join("dest/.nosuch.abcdef").exists());
}

/// Raises the cancel flag once the destination exists, as a signal handler would.
struct CancellingSink {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SyncSink for CancellingSink {
    fn created_destination(&mut self, _name: &[u8]) {
        self.flag.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn interrupted_run_is_exit_code_20_and_leaves_no_temp_files() {
    let s = Scratch::new("cancel");
    make_fixture(&s.join("src"));
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sink = CancellingSink { flag: flag.clone() };
    let opts = match rdsync::parse_args(abs_args(&s, &["-a", "src/", "dest"])) {
        Ok(rdsync::ParseOutcome::Run(o)) => o,
        other => panic!("{other:?}"),
    };
    let outcome = rdsync::sync_local_cancellable(&opts, &mut sink, Some(flag));
    assert_eq!(outcome.unwrap().exit_code(), 20);
    let mut stack = vec![s.join("dest")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !(name.starts_with('.') && name.len() > 8),
                "temp file left: {name}"
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}
