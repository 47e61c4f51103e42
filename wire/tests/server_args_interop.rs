//! The remote command line we build equals, byte for byte, the one rsync 3.5 builds for
//! the same options: both are recorded by a fake remote shell that saves its argv.

mod common;

use std::path::Path;
use std::process::Command;

use rdsync_wire::options::{DeleteWhen, Direction, TransferOptions};
use rdsync_wire::rsh::RemoteShell;
use rdsync_wire::server_args::ServerCommand;

fn recorder(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let rec = dir.join(format!("{name}.argv"));
    let sh = dir.join(format!("{name}.sh"));
    common::script(
        &sh,
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{}'\nexit 1\n",
            rec.display()
        ),
    );
    (sh, rec)
}

fn read_argv(path: &Path) -> Vec<String> {
    let raw = std::fs::read(path)
        .unwrap_or_else(|e| panic!("no argv recorded at {}: {e}", path.display()));
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

struct Case {
    rsync_args: &'static [&'static str],
    opts: TransferOptions,
}

fn cases() -> Vec<Case> {
    let a = TransferOptions::archive;
    vec![
        Case {
            rsync_args: &["-a"],
            opts: a(),
        },
        Case {
            rsync_args: &["-a", "--delete", "--stats", "-v"],
            opts: TransferOptions {
                delete: true,
                stats: true,
                verbose: 1,
                ..a()
            },
        },
        Case {
            rsync_args: &["-rlt", "-c", "-H"],
            opts: TransferOptions {
                recursive: true,
                links: true,
                times: true,
                checksum: true,
                hard_links: true,
                ..Default::default()
            },
        },
        Case {
            rsync_args: &[
                "-a",
                "--numeric-ids",
                "--checksum-seed=7",
                "-B",
                "2048",
                "--timeout=30",
            ],
            opts: TransferOptions {
                numeric_ids: true,
                checksum_seed: Some(7),
                block_size: Some(2048),
                timeout: Some(30),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--protocol=29"],
            opts: TransferOptions {
                protocol: Some(29),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--protocol=30", "-H"],
            opts: TransferOptions {
                protocol: Some(30),
                hard_links: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-rtD", "--no-specials"],
            opts: TransferOptions {
                recursive: true,
                times: true,
                devices: true,
                ..Default::default()
            },
        },
        Case {
            rsync_args: &["-a", "-W", "-I", "-u", "-n"],
            opts: TransferOptions {
                whole_file: true,
                ignore_times: true,
                update: true,
                dry_run: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--checksum-choice=md5"],
            opts: TransferOptions {
                checksum_choice: Some("md5".into()),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--size-only", "-vv"],
            opts: TransferOptions {
                size_only: true,
                verbose: 2,
                ..a()
            },
        },
        Case {
            rsync_args: &["-d", "-t"],
            opts: TransferOptions {
                dirs: true,
                times: true,
                ..Default::default()
            },
        },
        Case {
            rsync_args: &["-az"],
            opts: TransferOptions {
                compress: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-az", "--protocol=29"],
            opts: TransferOptions {
                compress: true,
                protocol: Some(29),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--zc=zstd"],
            opts: TransferOptions {
                compress_choice: Some("zstd".into()),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--zc=zlibx"],
            opts: TransferOptions {
                compress_choice: Some("zlibx".into()),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--zc=zlib"],
            opts: TransferOptions {
                compress_choice: Some("zlib".into()),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--zc=lz4"],
            opts: TransferOptions {
                compress_choice: Some("lz4".into()),
                ..a()
            },
        },
        // A level implies compression but not 'z' (rsync's CPRES_AUTO), except with zlib.
        Case {
            rsync_args: &["-a", "--compress-level=3"],
            opts: TransferOptions {
                compress_level: Some(3),
                ..a()
            },
        },
        Case {
            rsync_args: &["-az", "--zl=0"],
            opts: TransferOptions {
                compress: true,
                compress_level: Some(0),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--zc=zlib", "--zl=9"],
            opts: TransferOptions {
                compress_choice: Some("zlib".into()),
                compress_level: Some(9),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--zc=zstd", "--zl=-2"],
            opts: TransferOptions {
                compress_choice: Some("zstd".into()),
                compress_level: Some(-2),
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--inplace"],
            opts: TransferOptions {
                inplace: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--partial", "--existing"],
            opts: TransferOptions {
                partial: true,
                existing: true,
                ..a()
            },
        },
        Case {
            rsync_args: &[
                "-a",
                "--inplace",
                "--partial",
                "--ignore-existing",
                "--mkpath",
            ],
            opts: TransferOptions {
                inplace: true,
                partial: true,
                ignore_existing: true,
                mkpath: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--delete-before", "--delete-excluded", "--force"],
            opts: TransferOptions {
                delete: true,
                delete_when: DeleteWhen::Before,
                delete_excluded: true,
                force: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--delete-during", "-F"],
            opts: TransferOptions {
                delete: true,
                delete_when: DeleteWhen::During,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--delete-delay", "--size-only"],
            opts: TransferOptions {
                delete: true,
                delete_when: DeleteWhen::Delay,
                size_only: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--delete-after", "--stats"],
            opts: TransferOptions {
                delete: true,
                delete_when: DeleteWhen::After,
                stats: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-a", "--delete-excluded"],
            opts: TransferOptions {
                delete: true,
                delete_excluded: true,
                ..a()
            },
        },
        Case {
            rsync_args: &[
                "-rd",
                "--delete",
                "--delete-excluded",
                "--mkpath",
                "--inplace",
                "-B",
                "4096",
            ],
            opts: TransferOptions {
                recursive: true,
                dirs: true,
                delete: true,
                delete_excluded: true,
                mkpath: true,
                inplace: true,
                block_size: Some(4096),
                ..Default::default()
            },
        },
        Case {
            rsync_args: &["-a", "--no-i-r"],
            opts: TransferOptions {
                no_inc_recursive: true,
                ..a()
            },
        },
        Case {
            rsync_args: &["-rL"],
            opts: TransferOptions {
                recursive: true,
                copy_links: true,
                ..Default::default()
            },
        },
    ]
}

#[test]
fn server_command_matches_rsync_across_an_option_matrix() {
    let rsync = common::rsync_bin();
    let dir = common::scratch("argv");
    std::fs::create_dir_all(dir.join("src")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("src/f"), b"x").unwrap_or_else(|e| panic!("{e}"));
    let mut compared = 0;
    for (i, case) in cases().iter().enumerate() {
        for direction in [Direction::Push, Direction::Pull] {
            for (user, remote_path, rsync_path) in [
                (None, "dst/", None),
                (Some("bob"), "dst sp/x*y;$z/", None),
                (None, "-odd", Some("rsync --protocol=30")),
            ] {
                let tag = format!("c{i}-{direction:?}-{}", compared);
                let (theirs_sh, theirs_rec) = recorder(&dir, &format!("{tag}-rsync"));
                let host = match user {
                    Some(u) => format!("{u}@host"),
                    None => "host".to_string(),
                };
                let mut cmd = Command::new(&rsync);
                // Both directions as given: our pull offers incremental recursion
                // exactly when rsync's does (not with --delete-before/-after, ...).
                cmd.current_dir(&dir).args(case.rsync_args);
                cmd.arg("-e").arg(&theirs_sh);
                if let Some(rp) = rsync_path {
                    cmd.arg(format!("--rsync-path={rp}"));
                }
                match direction {
                    Direction::Push => cmd.arg("src/").arg(format!("{host}:{remote_path}")),
                    Direction::Pull => cmd.arg(format!("{host}:{remote_path}")).arg("dst/"),
                };
                let _ = common::run(&mut cmd);
                let theirs = read_argv(&theirs_rec);

                let (ours_sh, ours_rec) = recorder(&dir, &format!("{tag}-rdsync"));
                let server =
                    ServerCommand::build(direction, &case.opts, &[remote_path.to_string()]);
                let rsh = RemoteShell {
                    rsh: Some(ours_sh.display().to_string()),
                    rsync_path: rsync_path.map(str::to_string),
                    user: user.map(str::to_string),
                    host: "host".into(),
                };
                let mut proc = rsh.spawn(&server).unwrap_or_else(|e| panic!("spawn: {e}"));
                let status = proc.finish().unwrap_or_else(|e| panic!("finish: {e}"));
                assert_eq!(status, 1, "the recorder exits 1");
                let ours = read_argv(&ours_rec);
                // argv[0] differs only by the recorder's name.
                assert_eq!(
                    ours.get(1..),
                    theirs.get(1..),
                    "remote command differs for rsync {:?} {direction:?} {remote_path:?}",
                    case.rsync_args
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, cases().len() * 6);
}

#[test]
fn a_host_starting_with_a_dash_is_refused_before_spawning() {
    let dir = common::scratch("dash-host");
    let (sh, rec) = recorder(&dir, "never");
    let rsh = RemoteShell {
        rsh: Some(sh.display().to_string()),
        rsync_path: None,
        user: None,
        host: "-oProxyCommand=touch /tmp/x".into(),
    };
    let server = ServerCommand::build(Direction::Push, &TransferOptions::archive(), &["d".into()]);
    let err = rsh
        .spawn(&server)
        .err()
        .unwrap_or_else(|| panic!("a -host must be refused"));
    assert_eq!(err.exit_code(), 1);
    assert!(!rec.exists(), "nothing may be spawned for a -host");
}
