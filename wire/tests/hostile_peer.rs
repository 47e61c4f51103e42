//! A scripted hostile server against our pulling client: every attack must end in a
//! typed error with rsync's exit code, no panic, nothing written outside the
//! destination and no temp file left behind.

mod common;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use rdsync_wire::codec::{NdxEncoder, put_int32, put_varint, put_vstring};
use rdsync_wire::error::WireError;
use rdsync_wire::flist::{FileEntry, FileListConfig, FileListEncoder, XMIT_TOP_DIR, mode};
use rdsync_wire::mux::put_data_frames;
use rdsync_wire::{TransferOptions, Transport, pull_over};

/// Plays back a fixed server byte stream and swallows what the client writes.
struct ScriptedPeer {
    chunks: VecDeque<Vec<u8>>,
}

impl Transport for ScriptedPeer {
    fn send(&mut self, _bytes: &[u8]) -> Result<(), WireError> {
        Ok(())
    }
    fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        Ok(self.chunks.pop_front())
    }
}

const COMPAT: u32 = 0x80 | 0x08 | 0x20 | 0x100 | 0x02;

fn prologue(compat: u32) -> Vec<u8> {
    let mut v = Vec::new();
    put_int32(&mut v, 32);
    put_varint(&mut v, compat as i32);
    put_vstring(&mut v, b"xxh128 xxh3 xxh64 md5 md4").unwrap_or_else(|e| panic!("{e}"));
    put_int32(&mut v, 12345);
    v
}

fn config() -> FileListConfig {
    FileListConfig {
        protocol: 32,
        varint_flags: true,
        safe_flist: true,
        id0_names: true,
        links: true,
        owner: true,
        group: true,
        devices: true,
        specials: true,
        hard_links: false,
        numeric_ids: false,
        checksum_len: None,
    }
}

fn dir(name: &str) -> FileEntry {
    FileEntry {
        name: name.into(),
        mode: mode::S_IFDIR | 0o755,
        size: 4096,
        mtime: 1_600_000_000,
        xflags: XMIT_TOP_DIR,
        ..FileEntry::default()
    }
}

fn file(name: &str, size: i64) -> FileEntry {
    FileEntry {
        name: name.into(),
        mode: mode::S_IFREG | 0o644,
        size,
        mtime: 1_600_000_000,
        ..FileEntry::default()
    }
}

fn symlink(name: &str, target: &str) -> FileEntry {
    FileEntry {
        name: name.into(),
        mode: mode::S_IFLNK | 0o777,
        size: target.len() as i64,
        mtime: 1_600_000_000,
        link_target: Some(target.into()),
        ..FileEntry::default()
    }
}

/// Server stream: prologue, then (multiplexed) the list, id lists, and `after`.
fn server_stream(compat: u32, entries: &[FileEntry], after: &[u8]) -> VecDeque<Vec<u8>> {
    let mut data = Vec::new();
    let mut enc = FileListEncoder::new(config());
    for e in entries {
        enc.encode(&mut data, e).unwrap_or_else(|e| panic!("{e}"));
    }
    enc.encode_end(&mut data, 0);
    for _ in 0..2 {
        put_varint(&mut data, 0); // no names, then the name of id 0
        data.push(4);
        data.extend_from_slice(b"root");
    }
    data.extend_from_slice(after);
    let mut stream = prologue(compat);
    put_data_frames(&mut stream, &data);
    // Deliver in small pieces to exercise the need-more-bytes paths.
    stream.chunks(7).map(<[u8]>::to_vec).collect()
}

struct Arena {
    dest: PathBuf,
    sentinel: PathBuf,
    before: Vec<String>,
}

fn arena(name: &str) -> Arena {
    let base = common::scratch(name);
    let dest = base.join("dest");
    let sentinel = base.join("sentinel");
    std::fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("{e}"));
    common::put_file(&sentinel.join("keep"), b"precious", 0o644, 1_500_000_000);
    let before = common::tree_listing(&base);
    Arena {
        dest,
        sentinel,
        before,
    }
}

fn attack(
    name: &str,
    compat: u32,
    entries: &[FileEntry],
    after: &[u8],
    sources: &[&str],
    expect_code: i32,
    expect_text: &str,
) {
    let a = arena(name);
    let peer = ScriptedPeer {
        chunks: server_stream(compat, entries, after),
    };
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let report = pull_over(peer, &TransferOptions::archive(), &sources, &a.dest);
    let err = report
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        report.exit_code, expect_code,
        "{name}: wrong exit code; error: {err}"
    );
    assert!(
        err.contains(expect_text),
        "{name}: error {err:?} does not mention {expect_text:?}"
    );
    let base = a.dest.parent().unwrap_or(Path::new("/"));
    let after_listing: Vec<String> = common::tree_listing(base)
        .into_iter()
        .filter(|l| !l.starts_with("dest"))
        .collect();
    let before: Vec<String> = a
        .before
        .iter()
        .filter(|l| !l.starts_with("dest"))
        .cloned()
        .collect();
    assert_eq!(
        after_listing, before,
        "{name}: something outside the destination changed"
    );
    assert!(a.sentinel.join("keep").exists());
    let leftovers: Vec<String> = common::tree_listing(&a.dest)
        .into_iter()
        .filter(|l| l.starts_with('.') || l.contains("/."))
        .collect();
    assert!(
        leftovers.is_empty(),
        "{name}: temp files left: {leftovers:?}"
    );
}

#[test]
fn dot_dot_names_are_refused() {
    attack(
        "dotdot",
        COMPAT,
        &[dir("."), file("../evil", 5)],
        &[],
        &["src/"],
        4,
        "unsafe pathname",
    );
    attack(
        "dotdot2",
        COMPAT,
        &[dir("."), file("a/../../evil", 5)],
        &[],
        &["src/"],
        4,
        "unsafe pathname",
    );
}

#[test]
fn absolute_names_are_refused() {
    attack(
        "absolute",
        COMPAT,
        &[dir("."), file("/etc/evil", 5)],
        &[],
        &["src/"],
        4,
        "unsafe pathname",
    );
}

#[test]
fn incremental_recursion_we_did_not_offer_is_refused() {
    attack(
        "increcurse",
        COMPAT | 1,
        &[dir(".")],
        &[],
        &["src/"],
        2,
        "inc-recursive",
    );
    attack(
        "unknown-compat",
        COMPAT | 0x400,
        &[dir(".")],
        &[],
        &["src/"],
        2,
        "compat flags",
    );
}

#[test]
fn a_file_through_a_just_sent_symlink_is_refused() {
    let base = common::scratch("symlink-escape-target");
    let target = base.display().to_string();
    attack(
        "symlink-escape",
        COMPAT,
        &[dir("."), symlink("lnk", &target), file("lnk/payload", 5)],
        &[],
        &["src/"],
        4,
        "symlink",
    );
    assert!(
        !base.join("payload").exists(),
        "payload written through the symlink"
    );
}

#[test]
fn unrequested_top_level_names_are_refused() {
    attack(
        "unrequested",
        COMPAT,
        &[dir("src"), file("src/a", 1), file("authorized_keys", 5)],
        &[],
        &["/x/src"],
        4,
        "unrequested",
    );
}

fn reply_for_index(ndx: i32, tokens: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let mut enc = NdxEncoder::new(32);
    enc.put(&mut v, ndx);
    v.extend_from_slice(&0xa000u16.to_le_bytes());
    for _ in 0..4 {
        put_int32(&mut v, 0); // the all-zero sum head we asked with
    }
    v.extend_from_slice(tokens);
    v
}

#[test]
fn a_block_reference_without_a_basis_is_refused_and_the_temp_file_removed() {
    let mut tokens = Vec::new();
    put_int32(&mut tokens, 3);
    tokens.extend_from_slice(b"abc");
    put_int32(&mut tokens, -1); // copy block 0 of a basis we never offered
    attack(
        "no-basis",
        COMPAT,
        &[dir("."), file("f", 10)],
        &reply_for_index(1, &tokens),
        &["src/"],
        2,
        "block 0",
    );
}

#[test]
fn out_of_range_and_unrequested_indexes_are_refused() {
    let mut v = Vec::new();
    NdxEncoder::new(32).put(&mut v, 77);
    v.extend_from_slice(&0x8000u16.to_le_bytes());
    attack(
        "bad-index",
        COMPAT,
        &[dir("."), file("f", 10)],
        &v,
        &["src/"],
        2,
        "Invalid file index",
    );
    let mut v = Vec::new();
    NdxEncoder::new(32).put(&mut v, 0); // the directory: never requested
    v.extend_from_slice(&0x8000u16.to_le_bytes());
    attack(
        "unrequested-index",
        COMPAT,
        &[dir("."), file("f", 10)],
        &v,
        &["src/"],
        2,
        "unrequested",
    );
}

#[test]
fn oversized_literals_and_fuzzy_basis_echoes_are_refused() {
    let mut tokens = Vec::new();
    put_int32(&mut tokens, i32::MAX);
    attack(
        "huge-literal",
        COMPAT,
        &[dir("."), file("f", 10)],
        &reply_for_index(1, &tokens),
        &["src/"],
        2,
        "literal",
    );
    let mut v = Vec::new();
    NdxEncoder::new(32).put(&mut v, 1);
    v.extend_from_slice(&(0x8000u16 | 0x0800 | 0x1000).to_le_bytes());
    v.push(0x83);
    put_vstring(&mut v, b"../../secret").unwrap_or_else(|e| panic!("{e}"));
    attack(
        "fuzzy",
        COMPAT,
        &[dir("."), file("f", 10)],
        &v,
        &["src/"],
        2,
        "fuzzy",
    );
}

#[test]
fn a_truncated_stream_is_a_stream_error() {
    let a = arena("truncated");
    let mut chunks = server_stream(COMPAT, &[dir("."), file("f", 10)], &[]);
    let total: usize = chunks.iter().map(Vec::len).sum();
    let mut keep = total - 5;
    chunks.retain_mut(|c| {
        if keep == 0 {
            return false;
        }
        let n = c.len().min(keep);
        c.truncate(n);
        keep -= n;
        true
    });
    let report = pull_over(
        ScriptedPeer { chunks },
        &TransferOptions::archive(),
        &["src/".into()],
        &a.dest,
    );
    assert_eq!(report.exit_code, 12, "{:?}", report.error);
}

fn done(v: &mut Vec<u8>, enc: &mut NdxEncoder) {
    enc.put(v, -1);
}

/// The end of a protocol-32 pull as a server sender writes it after its phase-1 data:
/// NDX_DONE (phase 2), NDX_DONE (after the loop), statistics, echo NDX_DONE.
fn server_tail(v: &mut Vec<u8>, enc: &mut NdxEncoder) {
    done(v, enc);
    done(v, enc);
    for x in [100i64, 200, 10, 1, 1] {
        rdsync_wire::codec::put_varlong(v, x, 3);
    }
    done(v, enc);
}

fn file_reply(v: &mut Vec<u8>, enc: &mut NdxEncoder, ndx: i32, data: &[u8], sum: &[u8]) {
    enc.put(v, ndx);
    v.extend_from_slice(&0xa000u16.to_le_bytes());
    for _ in 0..4 {
        put_int32(v, 0);
    }
    put_int32(v, data.len() as i32);
    v.extend_from_slice(data);
    put_int32(v, 0);
    v.extend_from_slice(sum);
}

#[test]
fn a_bad_checksum_is_redone_in_phase_one_like_rsync() {
    use rdsync_engine::checksum::ChecksumAlgorithm;
    let data = b"0123456789";
    let good = ChecksumAlgorithm::Xxh128.digest(data);
    let bad = vec![0u8; 16];
    let mut after = Vec::new();
    let mut enc = NdxEncoder::new(32);
    file_reply(&mut after, &mut enc, 1, data, &bad);
    done(&mut after, &mut enc); // end of phase 0 from the sender
    file_reply(&mut after, &mut enc, 1, data, good.as_bytes());
    server_tail(&mut after, &mut enc);
    let a = arena("redo");
    let peer = ScriptedPeer {
        chunks: server_stream(COMPAT, &[dir("."), file("f", 10)], &after),
    };
    let report = pull_over(peer, &TransferOptions::archive(), &["src/".into()], &a.dest);
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.exit_code, 0);
    assert_eq!(
        std::fs::read(a.dest.join("f")).ok().as_deref(),
        Some(&data[..])
    );
    assert_eq!(report.stats.total_size, 10);
}

#[test]
fn a_second_bad_checksum_fails_the_file_with_exit_23() {
    let data = b"0123456789";
    let bad = vec![0u8; 16];
    let mut after = Vec::new();
    let mut enc = NdxEncoder::new(32);
    file_reply(&mut after, &mut enc, 1, data, &bad);
    done(&mut after, &mut enc);
    file_reply(&mut after, &mut enc, 1, data, &bad);
    server_tail(&mut after, &mut enc);
    let a = arena("redo-fail");
    let peer = ScriptedPeer {
        chunks: server_stream(COMPAT, &[dir("."), file("f", 10)], &after),
    };
    let report = pull_over(peer, &TransferOptions::archive(), &["src/".into()], &a.dest);
    assert_eq!(report.exit_code, 23, "{:?}", report.error);
    assert!(!a.dest.join("f").exists(), "bad data renamed into place");
}
