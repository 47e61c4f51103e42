//! A hostile `rsync --server` against our real client.
//!
//! Two layers:
//!
//! * **Over `-e`** (the top of this file): `rdsync_wire::pull` / `push` run in a child
//!   process with a remote shell that re-executes this test binary as a scripted fake
//!   server (`hostile_support`). The server is protocol-correct up to the point of the
//!   attack (it is built from the wire crate's own encoders and reads what the client
//!   sends), then injects it. Every case checks the client's exit code and error text,
//!   that it neither panicked nor aborted (memory is capped with `ulimit -v`), that
//!   nothing next to the destination changed, that no temp file was left behind, and
//!   that files already in the destination survived. A benign run of the same server
//!   proves the scripts themselves work.
//! * **In process** (`mod scripted`): fixed byte streams through `pull_over`, for the
//!   cases that need no interaction.
//!
//! Scenario numbers refer to security.md §3.5.

mod common;
mod hostile_support;

use std::path::PathBuf;

use hostile_support::server::{
    COMPAT, RawEntry, Request, Res, ServerIo, file_sum, flist_bytes, handshake, handshake_with,
    inc_list_bytes, naive_inc_sender, naive_sender, read_client_file, read_client_flist,
    read_client_inc_lists, read_filter_list, receiver_tail, reply_file, reply_head,
};
use hostile_support::{
    ARG, Arena, Mode, Outcome, ROLE, SCENARIO, put_file, run_client, run_client_with,
};
use rdsync_wire::codec::{
    NDX_DONE, NDX_FLIST_EOF, NDX_FLIST_OFFSET, put_int32, put_varint, put_vstring,
};
use rdsync_wire::mux::MessageCode;
use rdsync_wire::sum_head::SumHead;
use rdsync_wire::tokens::{put_end, put_literal};

// ---------------------------------------------------------------------------------
// The two roles of a re-executed test binary.

/// The client child (see `hostile_support::client_main`); a no-op in a normal run.
#[test]
fn hostile_client_entry() {
    if std::env::var(ROLE).as_deref() == Ok("client") {
        hostile_support::client_main();
    }
}

/// The fake server child; a no-op in a normal run.
#[test]
fn hostile_server_entry() {
    if std::env::var(ROLE).as_deref() != Ok("server") {
        return;
    }
    let scenario = std::env::var(SCENARIO).unwrap_or_default();
    let arg = std::env::var(ARG).unwrap_or_default();
    let mut io = ServerIo::open().unwrap();
    match serve(&mut io, &scenario, &arg) {
        Ok(After::Drain) => io.drain(),
        Ok(After::Exit) => {}
        // The client gave up first (as it should): nothing more to do.
        Err(e) if e.contains("client closed") => {}
        Err(e) => eprintln!("fake server ({scenario}): {e}"),
    }
    std::process::exit(0);
}

/// What the fake server does once its script is played.
enum After {
    /// Wait until the client closes (so that the client sees the attack, not EOF).
    Drain,
    /// Exit at once, closing the connection.
    Exit,
}

/// The content of every regular file the fake server sends.
const HELLO: &[u8] = b"hello world\n";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

/// Handshake, filter list, then a file list made of `entries`.
fn pull_list(io: &mut ServerIo, compat: i32, entries: &[RawEntry]) -> Res<()> {
    handshake(io, compat)?;
    read_filter_list(io)?;
    io.data(&flist_bytes(entries));
    io.flush()
}

/// `.` plus one regular file `f` of [`HELLO`].
fn benign_list() -> Vec<RawEntry> {
    vec![
        RawEntry::dir(b"."),
        RawEntry::file(b"f", HELLO.len() as i64),
    ]
}

/// Sends a benign list and serves it, letting `hook` answer transfer requests.
fn serve_benign(
    io: &mut ServerIo,
    hook: &mut dyn FnMut(&mut ServerIo, &Request, u32) -> Res<bool>,
) -> Res<After> {
    pull_list(io, COMPAT, &benign_list())?;
    naive_sender(io, &[(1, HELLO.to_vec())], hook)?;
    Ok(After::Drain)
}

fn no_hook(_: &mut ServerIo, _: &Request, _: u32) -> Res<bool> {
    Ok(false)
}

/// Cuts compressed bytes into DEFLATED_DATA packets (at most 16383 bytes each).
fn put_packets(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(16383) {
        out.push(0x40 | (chunk.len() >> 8) as u8);
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
}

/// A zstd frame of `blocks` RLE blocks of 128 KiB each (4 bytes per block on the
/// wire): 32768 blocks expand to 4 GiB.
fn zstd_rle_bomb(blocks: usize) -> Vec<u8> {
    let mut v = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]; // magic, no FCS, window 128 KiB
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = (128 * 1024u32) << 3 | 1 << 1 | last; // RLE block
        v.extend_from_slice(&header.to_le_bytes()[..3]);
        v.push(b'z');
    }
    v
}

/// Raw deflate of `n` zero bytes, sync-flushed with the `00 00 ff ff` marker removed,
/// as rsync's zlib sender sends it.
fn deflate_zeros(n: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; n];
    let mut out = Vec::with_capacity(n / 500 + 1024);
    let mut input: &[u8] = &zeros;
    loop {
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .unwrap();
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
        out.reserve(64 * 1024);
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// Every scenario of the fake server.
fn serve(io: &mut ServerIo, scenario: &str, arg: &str) -> Res<After> {
    match scenario {
        "benign" => serve_benign(io, &mut no_hook),
        // The benign session cut after `arg` bytes of server output.
        "truncate" => {
            io.budget = Some(arg.parse().unwrap_or(0));
            serve_benign(io, &mut no_hook)
        }
        // The version integer `arg`, then nothing.
        "version" => {
            io.raw(&arg.parse::<i32>().unwrap_or(0).to_le_bytes())?;
            Ok(After::Drain)
        }
        "banner" => {
            io.raw(b"Welcome to fakehost! Last login: never\n")?;
            Ok(After::Drain)
        }
        // One file whose name is `arg` (hex).
        "name" => {
            let name = unhex(arg);
            pull_list(io, COMPAT, &[RawEntry::dir(b"."), RawEntry::file(&name, 5)])?;
            Ok(After::Drain)
        }
        "unrequested" => {
            pull_list(
                io,
                COMPAT,
                &[
                    RawEntry::dir(b"src"),
                    RawEntry::file(b"src/a", 5),
                    RawEntry::file(b"authorized_keys", 5),
                ],
            )?;
            Ok(After::Drain)
        }
        // A symlink `lnk -> arg`, then a file through it.
        "symlink_parent" | "symlink_parent_dir" => {
            let last = if scenario == "symlink_parent" {
                RawEntry::file(b"lnk/payload", HELLO.len() as i64)
            } else {
                RawEntry::dir(b"lnk/payload")
            };
            let entries = [
                RawEntry::dir(b"."),
                RawEntry::symlink(b"lnk", arg.as_bytes()),
                last,
            ];
            pull_list(io, COMPAT, &entries)?;
            naive_sender(io, &[(2, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // The root `.` of the list is not a directory (CVE-2026-70459 class): a symlink
        // to `arg`, a FIFO, or a regular file; a regular file `payload` follows.
        "dot_symlink" | "dot_fifo" | "dot_file" => {
            let dot = match scenario {
                "dot_symlink" => RawEntry::symlink(b".", arg.as_bytes()),
                "dot_fifo" => RawEntry::fifo(b"."),
                _ => RawEntry::file(b".", HELLO.len() as i64),
            };
            pull_list(
                io,
                COMPAT,
                &[dot, RawEntry::file(b"payload", HELLO.len() as i64)],
            )?;
            naive_sender(
                io,
                &[(0, HELLO.to_vec()), (1, HELLO.to_vec())],
                &mut no_hook,
            )?;
            Ok(After::Drain)
        }
        // `f`, `sub/` and `sub/x`, for a destination where `f` and `sub` are planted
        // symlinks pointing outside.
        "planted" => {
            let entries = [
                RawEntry::dir(b"."),
                RawEntry::file(b"f", HELLO.len() as i64),
                RawEntry::dir(b"sub"),
                RawEntry::file(b"sub/x", HELLO.len() as i64),
            ];
            pull_list(io, COMPAT, &entries)?;
            naive_sender(
                io,
                &[(1, HELLO.to_vec()), (3, HELLO.to_vec())],
                &mut no_hook,
            )?;
            Ok(After::Drain)
        }
        "inc_recurse" => {
            handshake(io, COMPAT | 0x01)?;
            Ok(After::Drain)
        }
        "unknown_compat" => {
            handshake(io, COMPAT | 0x400)?;
            Ok(After::Drain)
        }
        // A MSG_DATA header announcing 0xFFFFFF bytes, 100 bytes, then the end.
        "mux_huge_data" => {
            handshake(io, COMPAT)?;
            read_filter_list(io)?;
            io.raw(&[0xff, 0xff, 0xff, 0x07])?;
            io.raw(&[b'A'; 100])?;
            Ok(After::Exit)
        }
        // A MSG_INFO header announcing 0xFFFFFF bytes.
        "mux_huge_message" => {
            handshake(io, COMPAT)?;
            io.raw(&[0xff, 0xff, 0xff, 0x09, b'x', b'y'])?;
            Ok(After::Drain)
        }
        "mux_bad_tag" => {
            handshake(io, COMPAT)?;
            io.raw(&[0x01, 0x00, 0x00, 0x7f, 0x00])?;
            Ok(After::Drain)
        }
        // A uid list of `arg` names after a valid file list.
        "idlist_huge" => {
            handshake(io, COMPAT)?;
            read_filter_list(io)?;
            let mut v = Vec::new();
            for e in benign_list() {
                e.encode(&mut v);
            }
            put_varint(&mut v, 0);
            put_varint(&mut v, 0);
            let n: i32 = arg.parse().unwrap_or(0);
            for id in 1..=n {
                put_varint(&mut v, id);
                v.extend_from_slice(&[1, b'u']);
            }
            // End of the uid list (and id 0's name), then an empty gid list.
            for _ in 0..2 {
                put_varint(&mut v, 0);
                v.extend_from_slice(&[4, b'r', b'o', b'o', b't']);
            }
            io.data(&v);
            io.flush()?;
            naive_sender(io, &[(1, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // A file list of `arg` tiny entries (each one byte of name and the same mode,
        // time and owner as the previous entry: 7 bytes on the wire).
        "flist_count" => {
            handshake(io, COMPAT)?;
            read_filter_list(io)?;
            let mut v = Vec::new();
            RawEntry::dir(b".").encode(&mut v);
            let n: usize = arg.parse().unwrap_or(0);
            // SAME_MODE | SAME_UID | SAME_GID | SAME_TIME; a regular-file mode first.
            RawEntry::file(b"f", 0).encode(&mut v);
            for _ in 0..n {
                put_varint(&mut v, 0x9a);
                v.extend_from_slice(&[1, b'f', 0, 0, 0]);
                if v.len() > 1 << 20 {
                    io.data(&v);
                    io.flush()?;
                    v.clear();
                }
            }
            io.data(&v);
            io.flush()?;
            Ok(After::Drain)
        }
        // Malformed file-list fields.
        "flist" => {
            let mut e = RawEntry::file(b"f", 5);
            match arg {
                "name_len_huge" => e.name_len = Some(i32::MAX),
                "name_len_negative" => e.name_len = Some(-5),
                "name_too_long" => e.name = vec![b'a'; 5000],
                "symlink_len_huge" => {
                    e = RawEntry::symlink(b"l", b"x");
                    e.target_len = Some(1 << 30);
                }
                "symlink_len_negative" => {
                    e = RawEntry::symlink(b"l", b"x");
                    e.target_len = Some(-1);
                }
                "hlinked" => e.extra_flags = 0x200,
                "nsec" => e.nsec = Some(2_000_000_000),
                "size_negative" => e.size = -5,
                "bad_mode" => e.mode = 0o170644,
                _ => return Err(format!("unknown flist attack {arg}")),
            }
            pull_list(io, COMPAT, &[RawEntry::dir(b"."), e])?;
            Ok(After::Drain)
        }
        "varint_overflow" => {
            handshake(io, COMPAT)?;
            read_filter_list(io)?;
            io.data(&[0xfc, 1, 2, 3, 4, 5, 6, 7]);
            io.flush()?;
            Ok(After::Drain)
        }
        "mtime_far_future" => {
            let mut f = RawEntry::file(b"f", HELLO.len() as i64);
            f.mtime = 1 << 59;
            f.nsec = Some(999_999_999);
            pull_list(io, COMPAT, &[RawEntry::dir(b"."), f])?;
            naive_sender(io, &[(1, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // Replies that break the delta stream.
        "reply" => {
            let attack = arg.to_string();
            let mut hook = move |io: &mut ServerIo, req: &Request, _phase: u32| -> Res<bool> {
                let mut v = Vec::new();
                match attack.as_str() {
                    "echo_mismatch" => {
                        let mut bad = req.clone();
                        bad.head = Some(SumHead {
                            count: 1,
                            block_len: 700,
                            s2length: 2,
                            remainder: 0,
                        });
                        reply_head(io, &bad);
                    }
                    "literal_huge" => {
                        reply_head(io, req);
                        put_int32(&mut v, i32::MAX);
                    }
                    "token_min" => {
                        reply_head(io, req);
                        put_int32(&mut v, i32::MIN);
                    }
                    "block_oob" => {
                        reply_head(io, req);
                        put_int32(&mut v, -6); // block 5
                        put_end(&mut v);
                        v.extend_from_slice(&file_sum(HELLO));
                    }
                    "grow" => {
                        reply_head(io, req);
                        put_literal(&mut v, &vec![b'g'; 3 << 20]);
                        put_end(&mut v);
                        v.extend_from_slice(&[0; 16]);
                    }
                    "fuzzy" => {
                        io.ndx(req.ndx);
                        io.data(&(req.iflags | 0x0800 | 0x1000).to_le_bytes());
                        v.push(0x83);
                        put_vstring(&mut v, b"../../secret").unwrap();
                    }
                    "error_exit" => {
                        // Half a file, then the server gives up with exit code 11.
                        reply_head(io, req);
                        put_int32(&mut v, 4);
                        v.extend_from_slice(b"half");
                        io.data(&v);
                        v.clear();
                        io.message(MessageCode::ErrorExit, &11i32.to_le_bytes())?;
                    }
                    "basis_dir" => {
                        // A --compare-dest index we never offered (and no xname).
                        io.ndx(req.ndx);
                        io.data(&(req.iflags | 0x0800).to_le_bytes());
                        v.push(0x05);
                    }
                    "ndx_flist" | "ndx_flist_eof" | "ndx_del_stats" => {
                        // Incremental-recursion and deletion-stats indexes in a
                        // non-incremental pull, from the sender.
                        io.ndx(match attack.as_str() {
                            "ndx_flist" => -102,
                            "ndx_flist_eof" => -2,
                            _ => -3,
                        });
                        put_varint(&mut v, 0);
                    }
                    "ndx_oob" => {
                        io.ndx(77);
                        io.data(&0x8000u16.to_le_bytes());
                    }
                    _ => return Err(format!("unknown reply attack {attack}")),
                }
                io.data(&v);
                io.flush()?;
                Ok(true)
            };
            serve_benign(io, &mut hook)
        }
        // Compressed token streams (`-z`): `arg` = `zstd:<attack>` or `zlib:<attack>`.
        "zreply" => {
            let (method, attack) = arg.split_once(':').unwrap_or(("zstd", arg));
            let method = method.to_string();
            let attack = attack.to_string();
            handshake_with(io, COMPAT, Some(method.as_bytes()))?;
            read_filter_list(io)?;
            io.data(&flist_bytes(&benign_list()));
            io.flush()?;
            let mut hook = move |io: &mut ServerIo, req: &Request, _phase: u32| -> Res<bool> {
                reply_head(io, req);
                let mut v = Vec::new();
                match attack.as_str() {
                    "bomb" => {
                        let bomb = if method == "zstd" {
                            zstd_rle_bomb(32 * 1024)
                        } else {
                            deflate_zeros(8 << 20)
                        };
                        put_packets(&mut v, &bomb);
                    }
                    "garbage" => put_packets(&mut v, &[0xab; 100]),
                    "token_negative" => {
                        v.push(0x20);
                        put_int32(&mut v, -5);
                    }
                    "token_huge" => {
                        v.push(0x20);
                        put_int32(&mut v, i32::MAX);
                    }
                    "run_zero" => {
                        v.push(0x21);
                        put_int32(&mut v, 0);
                        v.extend_from_slice(&0u16.to_le_bytes());
                    }
                    "bad_flag" => v.push(0x3f),
                    _ => return Err(format!("unknown compressed attack {attack}")),
                }
                v.push(0); // END_FLAG
                v.extend_from_slice(&[0; 16]);
                io.data(&v);
                io.flush()?;
                Ok(true)
            };
            naive_sender(io, &[], &mut hook)?;
            Ok(After::Drain)
        }
        // Whole-file checksum wrong in the first `arg` passes.
        "badsum" => {
            let bad_passes: u32 = arg.parse().unwrap_or(1);
            let mut hook = move |io: &mut ServerIo, req: &Request, phase: u32| -> Res<bool> {
                if phase >= bad_passes {
                    return Ok(false);
                }
                reply_file(io, req, HELLO, &[0; 16]);
                Ok(true)
            };
            serve_benign(io, &mut hook)
        }
        // Out-of-band messages full of terminal escapes, then a normal transfer.
        "escapes" => {
            handshake(io, COMPAT)?;
            io.message(MessageCode::Info, b"info \x1b[31mred\x1b[0m\n")?;
            io.message(
                MessageCode::Error,
                b"error \x1b[2J\xc2\x9b\x9b6n\x07 cleared\n",
            )?;
            io.message(MessageCode::Warning, b"warning \x1b]0;owned\x07 title\n")?;
            eprintln!("stderr \x1b[2Jscreen\x07 wiped");
            read_filter_list(io)?;
            io.data(&flist_bytes(&benign_list()));
            io.flush()?;
            naive_sender(io, &[(1, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // MSG_IO_TIMEOUT at the extremes (CVE-2026-70462), then a normal transfer.
        "io_timeout" => {
            handshake(io, COMPAT)?;
            for t in [i32::MAX, 0, -1, i32::MIN] {
                io.message(MessageCode::IoTimeout, &t.to_le_bytes())?;
            }
            read_filter_list(io)?;
            io.data(&flist_bytes(&benign_list()));
            io.flush()?;
            naive_sender(io, &[(1, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // ---- push: the fake server is the receiver ----
        "push_benign" => {
            handshake(io, COMPAT)?;
            read_client_flist(io)?;
            io.ndx(1);
            io.data(&0xa000u16.to_le_bytes());
            io.data(&[0; 16]);
            io.flush()?;
            let data = read_client_file(io, 1)?;
            if data != HELLO {
                return Err("pushed data differ".into());
            }
            receiver_tail(io)?;
            Ok(After::Drain)
        }
        // The benign push cut after `arg` bytes of server output.
        "push_truncate" => {
            io.budget = Some(arg.parse().unwrap_or(0));
            serve(io, "push_benign", "")
        }
        // The receiver gives up with MSG_ERROR_EXIT(11) (a failed mkdir, say).
        "push_error_exit" => {
            handshake(io, COMPAT)?;
            read_client_flist(io)?;
            io.message(
                MessageCode::Error,
                b"rsync: mkdir \"dst\" failed: Permission denied (13)\n",
            )?;
            io.message(MessageCode::ErrorExit, &11i32.to_le_bytes())?;
            Ok(After::Drain)
        }
        // A request for index `arg`.
        "push_ndx" => {
            handshake(io, COMPAT)?;
            read_client_flist(io)?;
            io.ndx(arg.parse().unwrap_or(0));
            io.data(&0x8000u16.to_le_bytes());
            io.data(&[0; 16]);
            io.flush()?;
            Ok(After::Drain)
        }
        // Incremental recursion (the client offered `i`): lists `[2]` (`.` and `f`) or
        // `[1, 1]` (`src`, then `src/f`), then `f` is pushed and the session ends.
        "push_inc_benign" => {
            handshake(io, COMPAT | 1)?;
            let lists = read_client_inc_lists(io)?;
            let f = match lists.as_slice() {
                [2] => 2,
                [1, 1] => 3,
                other => return Err(format!("unexpected lists {other:?}")),
            };
            io.ndx(f);
            io.data(&0xa000u16.to_le_bytes());
            io.data(&[0; 16]);
            io.flush()?;
            if read_client_file(io, f)? != HELLO {
                return Err("pushed data differ".into());
            }
            // One NDX_DONE per list: the sender echoes all but the last.
            for _ in 1..lists.len() {
                io.ndx(NDX_DONE);
                io.flush()?;
                if io.read_ndx()? != NDX_DONE {
                    return Err("expected the echo of a finished list".into());
                }
            }
            receiver_tail(io)?;
            Ok(After::Drain)
        }
        // Incremental recursion, then a request for index `arg`.
        "push_inc_ndx" => {
            handshake(io, COMPAT | 1)?;
            read_client_inc_lists(io)?;
            io.ndx(arg.parse().unwrap_or(0));
            io.data(&0x8000u16.to_le_bytes());
            io.data(&[0; 16]);
            io.flush()?;
            Ok(After::Drain)
        }
        // A request for `f` with the sum head `count,blength,s2length,remainder`.
        "push_head" => {
            handshake(io, COMPAT)?;
            read_client_flist(io)?;
            let n: Vec<i32> = arg.split(',').map(|x| x.parse().unwrap_or(0)).collect();
            io.ndx(1);
            io.data(&0x8000u16.to_le_bytes());
            for x in &n {
                io.data(&x.to_le_bytes());
            }
            io.flush()?;
            // A head that passes the checks is followed by nothing: close.
            Ok(After::Exit)
        }
        _ => serve_inc_pull(io, scenario, arg),
    }
}

/// The first list `first`, then each `(dir_ndx, entries)` list announced as rsync's
/// sender announces it, and `NDX_FLIST_EOF` (incremental recursion).
fn inc_lists(io: &mut ServerIo, first: &[RawEntry], subs: &[(i32, Vec<RawEntry>)]) -> Res<()> {
    handshake(io, COMPAT | 1)?;
    read_filter_list(io)?;
    io.data(&inc_list_bytes(first));
    for (dir, entries) in subs {
        io.ndx(NDX_FLIST_OFFSET - dir);
        io.data(&inc_list_bytes(entries));
    }
    io.ndx(NDX_FLIST_EOF);
    io.flush()
}

/// The pull scenarios with incremental recursion (security.md §3.5 #6–#8).
fn serve_inc_pull(io: &mut ServerIo, scenario: &str, arg: &str) -> Res<After> {
    let hello = || RawEntry::file(b"f", HELLO.len() as i64);
    let hello_at = |name: &[u8]| {
        let mut e = hello();
        e.name = name.to_vec();
        e
    };
    match scenario {
        // `.`, `d/`, `f`; then `d`'s list with `d/g`. Files sort before directories:
        // f = 2, d = 3, and `d`'s list starts at 5.
        "inc_benign" => {
            let g = hello_at(b"d/g");
            inc_lists(
                io,
                &[RawEntry::dir(b"."), RawEntry::dir(b"d"), hello()],
                &[(1, vec![g])],
            )?;
            naive_inc_sender(
                io,
                2,
                &[(2, HELLO.to_vec()), (5, HELLO.to_vec())],
                &mut no_hook,
            )?;
            Ok(After::Drain)
        }
        // CVE-2024-12087: `d/x` a symlink to `arg` in `d`'s list, then a second list
        // for `d` making `d/x` a directory, then `d/x/payload` through it.
        "inc_dup_flist" => {
            let payload = hello_at(b"d/x/payload");
            inc_lists(
                io,
                &[RawEntry::dir(b"."), RawEntry::dir(b"d")],
                &[
                    (1, vec![RawEntry::symlink(b"d/x", arg.as_bytes())]),
                    (1, vec![RawEntry::dir(b"d/x")]),
                    (2, vec![payload]),
                ],
            )?;
            naive_inc_sender(io, 4, &[(7, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // `d/x` both a symlink to `arg` and a directory in one list (the directory
        // stays), then `d/x/payload` in the list of `d/x`: written inside `dest/`.
        "inc_dup_in_list" => {
            let payload = hello_at(b"d/x/payload");
            inc_lists(
                io,
                &[RawEntry::dir(b"."), RawEntry::dir(b"d")],
                &[
                    (
                        1,
                        vec![
                            RawEntry::symlink(b"d/x", arg.as_bytes()),
                            RawEntry::dir(b"d/x"),
                        ],
                    ),
                    (2, vec![payload]),
                ],
            )?;
            naive_inc_sender(io, 3, &[(7, HELLO.to_vec())], &mut no_hook)?;
            Ok(After::Drain)
        }
        // A list announced with the index `arg` (out of range, or a negative
        // directory number).
        "inc_dir_ndx" => {
            handshake(io, COMPAT | 1)?;
            read_filter_list(io)?;
            io.data(&inc_list_bytes(&[RawEntry::dir(b"."), RawEntry::dir(b"d")]));
            io.ndx(arg.parse().unwrap_or(0));
            io.data(&inc_list_bytes(&[hello()]));
            io.flush()?;
            Ok(After::Drain)
        }
        // `d` twice: the second copy is cleared, and a list comes for it.
        "inc_cleared_dir" => {
            let g = hello_at(b"d/g");
            inc_lists(
                io,
                &[
                    RawEntry::dir(b"."),
                    RawEntry::dir(b"d"),
                    RawEntry::dir(b"d"),
                ],
                &[(2, vec![g])],
            )?;
            Ok(After::Drain)
        }
        // A name outside its list's directory: `arg` in `d`'s list, or (`top:NAME`)
        // in the first list.
        "inc_bad_path" => {
            let mut bad = hello();
            match arg.strip_prefix("top:") {
                Some(name) => {
                    bad.name = name.as_bytes().to_vec();
                    inc_lists(io, &[RawEntry::dir(b"."), RawEntry::dir(b"d"), bad], &[])?;
                }
                None => {
                    bad.name = arg.as_bytes().to_vec();
                    inc_lists(
                        io,
                        &[RawEntry::dir(b"."), RawEntry::dir(b"d")],
                        &[(1, vec![bad])],
                    )?;
                }
            }
            naive_inc_sender(io, 2, &[], &mut no_hook)?;
            Ok(After::Drain)
        }
        // The source `src` (no slash): the first list is `src` alone, so index 0 names
        // no directory (parent_ndx < 0); the server then names index 0.
        "inc_gap_without_parent" => {
            let f = hello_at(b"src/f");
            inc_lists(io, &[RawEntry::dir(b"src")], &[(0, vec![f])])?;
            io.ndx(0);
            io.data(&0u16.to_le_bytes());
            io.flush()?;
            Ok(After::Drain)
        }
        // The root `.` of the first incremental list is a regular file.
        "inc_dot_file" => {
            inc_lists(
                io,
                &[RawEntry::file(b".", HELLO.len() as i64), hello()],
                &[],
            )?;
            naive_inc_sender(
                io,
                1,
                &[(1, HELLO.to_vec()), (2, HELLO.to_vec())],
                &mut no_hook,
            )?;
            Ok(After::Drain)
        }
        // A list of `arg` tiny entries for `d` (as "flist_count", as a sub-list).
        "inc_huge_list" => {
            handshake(io, COMPAT | 1)?;
            read_filter_list(io)?;
            io.data(&inc_list_bytes(&[RawEntry::dir(b"."), RawEntry::dir(b"d")]));
            io.ndx(NDX_FLIST_OFFSET - 1);
            let mut v = Vec::new();
            let mut first = hello_at(b"d/f");
            first.size = 0;
            first.encode(&mut v);
            let n: usize = arg.parse().unwrap_or(0);
            for _ in 0..n {
                // SAME_NAME (3 bytes "d/f" kept) | SAME_MODE | SAME_UID | SAME_GID |
                // SAME_TIME: a one-byte suffix.
                put_varint(&mut v, 0x9a | 0x20);
                v.extend_from_slice(&[3, 1, b'x', 0, 0, 0]);
                if v.len() > 1 << 20 {
                    io.data(&v);
                    io.flush()?;
                    v.clear();
                }
            }
            io.data(&v);
            io.flush()?;
            Ok(After::Drain)
        }
        _ => Err(format!("unknown scenario {scenario}")),
    }
}

// ---------------------------------------------------------------------------------
// Tests over `-e`.

fn pull_src() -> Mode {
    Mode::Pull(vec!["src/".into()])
}

/// An arena whose destination already holds `keep-me` (and `f` if `with_f`).
fn arena_with_files(name: &str, with_f: bool) -> Arena {
    let mut a = Arena::new(name);
    put_file(&a.dest.join("keep-me"), b"user data", 0o644, 1_400_000_000);
    if with_f {
        put_file(&a.dest.join("f"), &[b'o'; 1000], 0o644, 1_400_000_000);
    }
    a.seal();
    a
}

/// Runs `scenario`, expects `code` and `text`, and checks confinement.
fn attack(name: &str, scenario: &str, arg: &str, mode: &Mode, code: i32, text: &str) -> Outcome {
    let a = arena_with_files(name, false);
    let out = run_client(&a, scenario, arg, mode);
    out.expect(name, code, text);
    a.assert_confined(name);
    a.assert_dest_kept(name);
    out
}

/// The fake server itself works: a benign pull writes the file, exit 0, and the
/// remote shell got rsync's argv.
#[test]
fn benign_pull_through_the_fake_server_writes_the_file() {
    let a = arena_with_files("e-benign", false);
    let out = run_client(&a, "benign", "", &pull_src());
    assert_eq!(out.code("benign"), 0, "{}", out.error());
    assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO);
    a.assert_confined("benign");
    a.assert_dest_kept("benign");
    let argv = std::fs::read_to_string(a.harness.join("rsh-args")).unwrap();
    assert!(
        argv.starts_with("fakehost\nrsync\n--server\n--sender\n"),
        "{argv}"
    );
}

/// §3.5 #1, #2: traversal, absolute, empty, NUL and over-long names (exit 4 / 2).
#[test]
fn unsafe_names_are_refused() {
    let a = Arena::new("e-abs");
    let abs = a.outside.join("abs").display().to_string();
    for (i, (name, code, text)) in [
        (b"../escape".to_vec(), 4, "unsafe pathname"),
        (b"a/../../x".to_vec(), 4, "unsafe pathname"),
        (b"sub/..".to_vec(), 4, "unsafe pathname"),
        (abs.into_bytes(), 4, "unsafe pathname"),
        (Vec::new(), 4, "unsafe pathname"),
        (b"a\0/../../b".to_vec(), 4, "unsafe pathname"),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("name #{i} {:?}", String::from_utf8_lossy(&name));
        attack(&what, "name", &hex(&name), &pull_src(), code, text);
    }
    a.assert_confined("absolute name");
    attack(
        "name over 4096 bytes",
        "flist",
        "name_too_long",
        &pull_src(),
        2,
        "overflow",
    );
}

/// §3.5 #3 (CVE-2022-29154): a top-level name we did not ask for.
#[test]
fn unrequested_names_are_refused() {
    attack(
        "unrequested",
        "unrequested",
        "",
        &Mode::Pull(vec!["/x/src".into()]),
        4,
        "unrequested",
    );
}

/// §3.5 #5 (CVE-2014-9512, CVE-2024-12087 class): `lnk -> outside`, then the file
/// `lnk/payload`; the same with `lnk -> ..`, and with a directory `lnk/payload`.
#[test]
fn a_file_is_never_written_through_a_just_sent_symlink() {
    for (scenario, target) in [
        ("symlink_parent", "abs"),
        ("symlink_parent", ".."),
        ("symlink_parent_dir", "abs"),
    ] {
        let a = arena_with_files("e-symlink", false);
        let t = if target == "abs" {
            a.outside.display().to_string()
        } else {
            "..".to_string()
        };
        let out = run_client(&a, scenario, &t, &pull_src());
        out.expect(&format!("symlink -> {t}"), 4, "symlink");
        a.assert_confined(&t);
        a.assert_dest_kept(&t);
        assert!(!a.outside.join("payload").exists());
        assert!(!a.base.join("payload").exists());
    }
}

/// A real directory `lnk` already in the destination, replaced by the sent symlink
/// `lnk -> outside` (or `..`): the file `lnk/payload` that follows is not written
/// through it. (The receiver holds destination directories open; whatever replaces
/// one makes it look them up, and check them, afresh.)
#[test]
fn a_directory_replaced_by_a_sent_symlink_is_not_written_through() {
    for target in ["abs", ".."] {
        let mut a = Arena::new("e-dir-swapped");
        put_file(&a.dest.join("keep-me"), b"user data", 0o644, 1_400_000_000);
        std::fs::create_dir(a.dest.join("lnk")).unwrap();
        a.seal();
        let t = if target == "abs" {
            a.outside.display().to_string()
        } else {
            "..".to_string()
        };
        let out = run_client(&a, "symlink_parent", &t, &pull_src());
        out.expect(&format!("dir swapped for symlink -> {t}"), 4, "symlink");
        a.assert_confined(&t);
        a.assert_dest_kept(&t);
        assert!(!a.outside.join("payload").exists());
        assert!(!a.base.join("payload").exists());
    }
}

/// §3.5 #8 (CVE-2026-70459): a list whose root `.` is a symlink pointing outside.
/// The client must neither replace the destination nor write `payload` through it.
/// (Found by this test: the destination was replaced by the link and `payload`
/// landed outside; fixed in fbe3282.)
#[test]
fn a_root_dot_that_is_a_symlink_is_refused() {
    let a = arena_with_files("e-dot-symlink", false);
    let t = a.outside.display().to_string();
    let out = run_client(&a, "dot_symlink", &t, &pull_src());
    let code = out.code("dot symlink");
    assert!(
        !a.outside.join("payload").exists(),
        "payload written outside through the root symlink (exit {code})"
    );
    a.assert_dest_kept("dot symlink");
    a.assert_confined("dot symlink");
    out.expect("dot symlink", 2, "non-directory");
}

/// Sets up `dest/f -> outside/victim` and/or `dest/sub -> outside` and pulls `f`,
/// `sub/`, `sub/x`: the victim keeps its content and nothing lands outside.
fn planted(name: &str, plant_f: bool, plant_sub: bool) -> (Arena, Outcome) {
    let mut a = arena_with_files(name, false);
    put_file(&a.outside.join("victim"), b"victim", 0o644, 1_400_000_000);
    if plant_f {
        std::os::unix::fs::symlink(a.outside.join("victim"), a.dest.join("f")).unwrap();
    }
    if plant_sub {
        std::os::unix::fs::symlink(&a.outside, a.dest.join("sub")).unwrap();
    }
    a.seal();
    let out = run_client(&a, "planted", "", &pull_src());
    out.code(name);
    a.assert_confined(name);
    assert_eq!(std::fs::read(a.outside.join("victim")).unwrap(), b"victim");
    (a, out)
}

/// A symlink already in the destination where a file arrives is replaced, never
/// followed.
#[test]
fn a_planted_file_symlink_is_replaced_not_followed() {
    let (a, out) = planted("e-planted-f", true, false);
    assert_eq!(out.code("planted f"), 0, "{}", out.error());
    let md = std::fs::symlink_metadata(a.dest.join("f")).unwrap();
    assert!(md.is_file(), "f is still a link");
    assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO);
}

/// A symlink already in the destination where a directory arrives: rsync replaces the
/// link with the directory and fills it. So do we, never following the link (checked
/// by `planted`).
#[test]
fn a_planted_directory_symlink_is_replaced_by_the_directory() {
    let (a, out) = planted("e-planted-sub", false, true);
    assert_eq!(out.code("planted sub"), 0, "{}", out.error());
    let md = std::fs::symlink_metadata(a.dest.join("sub")).unwrap();
    assert!(md.is_dir(), "sub is still a link");
    assert_eq!(std::fs::read(a.dest.join("sub/x")).unwrap(), HELLO);
}

/// §3.5 #8: a root `.` that is a FIFO must not wipe the destination. (Found by this
/// test: the destination and its files were deleted; fixed in fbe3282.)
#[test]
fn a_root_dot_that_is_a_fifo_is_refused() {
    let a = arena_with_files("e-dot-fifo", false);
    let out = run_client(&a, "dot_fifo", "", &pull_src());
    let code = out.code("dot fifo");
    assert!(
        a.dest.is_dir(),
        "the destination was replaced (exit {code})"
    );
    a.assert_dest_kept("dot fifo");
    a.assert_confined("dot fifo");
    out.expect("dot fifo", 2, "non-directory");
}

/// §3.5 #8: a root `.` that is a regular file: refused, and never written next to
/// the destination (its temp file would go to the destination's parent).
#[test]
fn a_root_dot_that_is_a_regular_file_stays_confined() {
    let a = arena_with_files("e-dot-file", false);
    let out = run_client(&a, "dot_file", "", &pull_src());
    a.assert_dest_kept("dot file");
    a.assert_confined("dot file");
    assert!(a.dest.is_dir());
    out.expect("dot file", 2, "non-directory");
}

/// §3.5 #8: compat flags we did not offer: `CF_INC_RECURSE`, and an unknown bit.
#[test]
fn compat_flags_we_did_not_offer_are_refused() {
    // Our -a offers incremental recursion; with --no-i-r it is not offered and must
    // be refused.
    let a = arena_with_files("inc-recurse", false);
    let out = hostile_support::run_client_with(&a, "inc_recurse", "", &pull_src(), "no-i-r");
    out.expect("inc-recurse", 2, "inc-recursive");
    a.assert_confined("inc-recurse");
    a.assert_dest_kept("inc-recurse");
    attack(
        "unknown compat bit",
        "unknown_compat",
        "",
        &pull_src(),
        2,
        "compat flags",
    );
}

/// Protocol versions out of range: below our minimum 27, above rsync's 40, negative.
#[test]
fn out_of_range_protocol_versions_are_refused() {
    attack(
        "version 26",
        "version",
        "26",
        &pull_src(),
        2,
        "older than 27",
    );
    attack(
        "version 41",
        "version",
        "41",
        &pull_src(),
        2,
        "protocol version mismatch",
    );
    attack(
        "version -1",
        "version",
        "-1",
        &pull_src(),
        2,
        "protocol version mismatch",
    );
}

/// A shell banner instead of the version: rsync's "is your shell clean?".
#[test]
fn a_banner_instead_of_a_version_is_refused() {
    attack(
        "banner",
        "banner",
        "",
        &pull_src(),
        2,
        "protocol version mismatch",
    );
}

/// §3.5 #16, #30: multiplexing headers with huge lengths, an unknown tag, varint
/// overflow. Clean errors, no giant allocation (the client runs under `ulimit -v`).
#[test]
fn huge_and_malformed_frames_fail_cleanly() {
    attack(
        "MSG_DATA 0xFFFFFF truncated",
        "mux_huge_data",
        "",
        &pull_src(),
        12,
        "unexpectedly closed",
    );
    attack(
        "MSG_INFO 0xFFFFFF",
        "mux_huge_message",
        "",
        &pull_src(),
        12,
        "multiplexing overflow",
    );
    attack(
        "unknown tag",
        "mux_bad_tag",
        "",
        &pull_src(),
        12,
        "unexpected tag",
    );
    attack(
        "varint overflow",
        "varint_overflow",
        "",
        &pull_src(),
        12,
        "overflow in read_varint",
    );
}

/// §3.5 #9, #16, #19: malformed file-list fields.
#[test]
fn malformed_file_list_fields_are_refused() {
    for (arg, code, text) in [
        ("name_len_huge", 2, "overflow"),
        ("name_len_negative", 2, "negative name length"),
        ("symlink_len_huge", 2, "invalid symlink length"),
        ("symlink_len_negative", 2, "invalid symlink length"),
        ("hlinked", 2, "without -H"),
        ("nsec", 2, "nsec"),
        ("size_negative", 12, "overflow in read_varlong"),
        ("bad_mode", 2, "invalid mode"),
    ] {
        attack(arg, "flist", arg, &pull_src(), code, text);
    }
}

/// §3.5 #19: an mtime 2^59 seconds away with 999999999 ns: no panic, confined.
#[test]
fn an_extreme_mtime_does_not_crash_the_client() {
    let a = arena_with_files("e-mtime", false);
    let out = run_client(&a, "mtime_far_future", "", &pull_src());
    out.code("mtime");
    a.assert_confined("mtime");
    a.assert_dest_kept("mtime");
}

/// §3.5 #10, #11: broken replies: sum-head echo, literal length, negative token,
/// basis block out of range, unbounded growth, fuzzy xname, unknown index.
#[test]
fn broken_delta_replies_are_refused_and_temp_files_removed() {
    for (arg, code, text) in [
        ("echo_mismatch", 2, "sum head echo differs"),
        ("literal_huge", 2, "literal run too long"),
        ("token_min", 2, "Invalid token"),
        ("grow", 2, "grows beyond its size"),
        ("fuzzy", 2, "refusing malicious fuzzy operation"),
        ("ndx_oob", 2, "Invalid file index"),
        ("error_exit", 11, "remote side exited with code 11"),
        ("basis_dir", 2, "refusing malicious fuzzy operation"),
        ("ndx_flist", 2, "Invalid file index: -102"),
        ("ndx_flist_eof", 2, "Invalid file index: -2"),
        ("ndx_del_stats", 2, "NDX_DEL_STATS"),
        ("block_oob", 2, "block 5"),
    ] {
        attack(arg, "reply", arg, &pull_src(), code, text);
    }
}

/// §3.5 #11 with a real basis: a block index beyond the basis; the old file survives.
#[test]
fn a_block_index_beyond_the_basis_leaves_the_old_file_alone() {
    let a = arena_with_files("e-block-oob", true);
    let out = run_client(&a, "reply", "block_oob", &pull_src());
    out.expect("block oob with basis", 2, "basis has 2 blocks");
    a.assert_dest_kept("block oob with basis");
    a.assert_confined("block oob with basis");
}

/// §3.5 #12: a bad checksum is redone; a second one fails the file with exit 23 and
/// the old destination file is untouched (content and mtime).
#[test]
fn checksum_failures_are_redone_then_fail_with_exit_23() {
    let a = arena_with_files("e-redo-ok", true);
    let out = run_client(&a, "badsum", "1", &pull_src());
    assert_eq!(out.code("redo once"), 0, "{}", out.error());
    assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("f failed verification -- update discarded (will try again)"),
        "{err}"
    );
    a.assert_confined("redo once");

    let a = arena_with_files("e-redo-fail", true);
    let out = run_client(&a, "badsum", "2", &pull_src());
    assert_eq!(out.code("redo twice"), 23, "{}", out.error());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ERROR: f failed verification -- update discarded."),
        "{err}"
    );
    a.assert_dest_kept("redo twice");
    a.assert_confined("redo twice");
}

/// §3.5 #18: MSG_INFO / MSG_ERROR / MSG_WARNING and the remote's stderr carry ESC,
/// BEL and C1 CSI: shown escaped (`\#033`), never raw.
#[test]
fn control_characters_from_the_server_are_escaped() {
    let a = arena_with_files("e-escapes", false);
    let out = run_client(&a, "escapes", "", &pull_src());
    assert_eq!(out.code("escapes"), 0, "{}", out.error());
    let raw = &out.stderr;
    for bad in [0x1bu8, 0x07, 0x9b] {
        assert!(
            !raw.contains(&bad),
            "raw control byte {bad:#x} reached the terminal: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let text = String::from_utf8_lossy(raw);
    for want in [
        "error \\#033[2J",
        "warning \\#033]0;owned\\#007 title",
        "stderr \\#033[2Jscreen\\#007 wiped",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    assert!(
        out.report.contains("info \\\\#033[31mred"),
        "{}",
        out.report
    );
    assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO);
}

/// §3.5 #17 (CVE-2026-70462): MSG_IO_TIMEOUT of i32::MAX, 0 and negatives is harmless.
#[test]
fn io_timeout_messages_at_the_extremes_are_harmless() {
    let a = arena_with_files("e-io-timeout", false);
    let out = run_client(&a, "io_timeout", "", &pull_src());
    assert_eq!(out.code("io timeout"), 0, "{}", out.error());
    assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO);
}

/// §3.5 #11, #30: the benign session cut after every single byte of server output:
/// always a clean stream error (exit 12, or 10 when a write meets the closed pipe first, as
/// in rsync), never a hang, a panic, a partial file in
/// place, a temp file left behind (found by this test, fixed in fbe3282) or a stray
/// file outside.
#[test]
fn a_session_cut_anywhere_is_a_stream_error() {
    for cut in 0..400 {
        let a = arena_with_files("e-cut", false);
        let what = format!("cut at {cut}");
        let out = run_client(&a, "truncate", &cut.to_string(), &pull_src());
        let code = out.code(&what);
        if code == 0 {
            // The whole session fitted: everything must be there.
            assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO, "{what}");
            assert!(cut > 100, "{what}: success from a truncated session");
            return;
        }
        out.expect_cut(&what, code);
        if let Ok(d) = std::fs::read(a.dest.join("f")) {
            // Only a file whose checksum was verified may be in place.
            assert_eq!(d, HELLO, "{what}: partial file in place");
        }
        a.assert_dest_kept(&what);
        a.assert_confined(&what);
    }
    panic!("the session never completed within 400 bytes");
}

/// §3.5 #13 (CVE-2026-43618, CVE-2022-37434 class): compressed token streams: a zstd
/// frame of RLE blocks that expands to 4 GiB, a deflate stream of 8 MiB of zeros for a
/// 12-byte file, garbage, negative and huge block numbers, a run of 0, a bad flag.
/// Bounded memory (`ulimit -v`) and a clean error.
#[test]
fn compressed_token_attacks_fail_cleanly() {
    for (arg, code, text) in [
        ("zstd:bomb", 2, "grows beyond its size"),
        ("zlib:bomb", 2, "grows beyond its size"),
        ("zstd:garbage", 12, "error in rsync protocol data stream"),
        ("zlib:garbage", 12, "error in rsync protocol data stream"),
        ("zstd:token_negative", 2, "invalid compressed token -5"),
        ("zstd:token_huge", 2, "block 2147483647"),
        ("zlib:run_zero", 2, "run of 0"),
        ("zstd:bad_flag", 2, "invalid compressed token flag"),
    ] {
        let a = arena_with_files(arg, false);
        let out = run_client_with(&a, "zreply", arg, &pull_src(), "z");
        out.expect(arg, code, text);
        a.assert_confined(arg);
        a.assert_dest_kept(arg);
    }
}

/// §3.5 #4: the server sends a file our `--exclude` matches. rsync 3.2.5+ refuses
/// ("ERROR: rejecting excluded file-list name", exit 4); the file must not be written.
/// (Found by this test: the file was written; fixed in fbe3282.)
#[test]
fn an_excluded_name_from_the_server_is_refused() {
    let a = arena_with_files("e-excluded", false);
    let out = run_client_with(&a, "benign", "", &pull_src(), "exclude=f");
    assert!(
        !a.dest.join("f").exists(),
        "the excluded file was written (exit {})",
        out.code("excluded")
    );
    out.expect("excluded", 4, "rejecting excluded file-list name");
}

/// §3.5 #16: a uid list of more than a million names: refused, in bounded time.
#[test]
fn a_uid_list_of_a_million_names_is_refused() {
    let start = std::time::Instant::now();
    attack(
        "uid list",
        "idlist_huge",
        "1100000",
        &pull_src(),
        2,
        "uid/gid list too long",
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// §3.5 #16: a file list longer than the entry cap, built from 7-byte entries: a clean
/// error with memory under the client's `ulimit -v`, never an abort.
/// The list's memory budget (1 GiB, like rsync's `--max-alloc` default) runs out
/// before the entry cap: exit 22 (RERR_MALLOC), as rsync over `--max-alloc`.
#[test]
fn a_file_list_over_the_entry_cap_is_refused_within_bounded_memory() {
    attack(
        "flist count",
        "flist_count",
        "8400000",
        &pull_src(),
        22,
        "file list too long",
    );
}

// ---- pull with incremental recursion (CF_INC_RECURSE) ----

/// The fake server's incremental lists work: both files arrive, exit 0.
#[test]
fn benign_incremental_pull_through_the_fake_server_writes_the_files() {
    let a = arena_with_files("e-inc-benign", false);
    let out = run_client(&a, "inc_benign", "", &pull_src());
    assert_eq!(
        out.code("inc benign"),
        0,
        "{}\n{}",
        out.report,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(a.dest.join("f")).unwrap(), HELLO);
    assert_eq!(std::fs::read(a.dest.join("d/g")).unwrap(), HELLO);
    a.assert_confined("inc benign");
    a.assert_dest_kept("inc benign");
    let argv = std::fs::read_to_string(a.harness.join("rsh-args")).unwrap();
    assert!(argv.contains("e.iLsfxCIvu"), "{argv}");
}

/// §3.5 #6 (CVE-2024-12087): a second list for the same directory — there, a symlink
/// made a directory to write through — is refused before anything is written through.
#[test]
fn a_second_list_for_one_directory_is_refused() {
    let a = arena_with_files("e-inc-dup", false);
    let out = run_client(
        &a,
        "inc_dup_flist",
        &a.outside.display().to_string(),
        &pull_src(),
    );
    out.expect("inc dup", 2, "refusing malicious duplicate flist for dir 1");
    assert!(!a.outside.join("payload").exists());
    a.assert_confined("inc dup");
    a.assert_dest_kept("inc dup");
}

/// A symlink and a directory of one name in one list: the directory wins (as in
/// rsync's `flist_sort_and_clean`) and the file of its own list lands inside it.
#[test]
fn a_symlink_and_a_directory_of_one_name_stay_confined() {
    let a = arena_with_files("e-inc-dup-in-list", false);
    let out = run_client(
        &a,
        "inc_dup_in_list",
        &a.outside.display().to_string(),
        &pull_src(),
    );
    assert_eq!(out.code("inc dup in list"), 0, "{}", out.error());
    assert!(
        std::fs::symlink_metadata(a.dest.join("d/x"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(std::fs::read(a.dest.join("d/x/payload")).unwrap(), HELLO);
    a.assert_confined("inc dup in list");
    a.assert_dest_kept("inc dup in list");
}

/// §3.5 #7, #8: a list announced for a directory index out of range, or negative
/// (rsync's `parent_ndx < 0`), or for a cleared directory: exit 2 with rsync's text.
#[test]
fn bad_directory_indexes_are_refused() {
    let out_of_range = (NDX_FLIST_OFFSET - 5).to_string();
    attack(
        "inc dir out of range",
        "inc_dir_ndx",
        &out_of_range,
        &pull_src(),
        2,
        "Invalid dir index: -106 (-101 - -102)",
    );
    attack(
        "inc dir negative",
        "inc_dir_ndx",
        "-50",
        &pull_src(),
        2,
        "Invalid dir index: -50 (-101 - -102)",
    );
    attack(
        "inc cleared dir",
        "inc_cleared_dir",
        "",
        &pull_src(),
        2,
        "refusing flist for cleared dir_ndx 2",
    );
}

/// A name that is not inside its list's directory: rsync's "ABORTING due to invalid
/// path from sender", exit 4.
#[test]
fn names_outside_their_list_directory_are_refused() {
    for (i, (arg, shown)) in [
        ("e/x", "e/x"),
        ("d/y/z", "d/y/z"),
        ("x", "/x"),
        ("top:a/b", "a/b"),
    ]
    .into_iter()
    .enumerate()
    {
        attack(
            &format!("inc bad path {i}"),
            "inc_bad_path",
            arg,
            &pull_src(),
            4,
            &format!("ABORTING due to invalid path from sender: {shown}"),
        );
    }
}

/// §3.5 #8: the index before the first list names no directory when that list has no
/// `.`; a server naming it is refused (exit 2).
#[test]
fn the_gap_of_a_list_without_a_parent_is_refused() {
    attack(
        "inc gap",
        "inc_gap_without_parent",
        "",
        &Mode::Pull(vec!["src".into()]),
        2,
        "index 0",
    );
}

/// §3.5 #8: a "." root that is not a directory, with incremental recursion.
#[test]
fn an_incremental_root_dot_that_is_a_file_is_refused() {
    let a = arena_with_files("e-inc-dot-file", false);
    let out = run_client(&a, "inc_dot_file", "", &pull_src());
    out.expect("inc dot file", 2, "non-directory");
    assert!(a.dest.is_dir());
    a.assert_confined("inc dot file");
    a.assert_dest_kept("inc dot file");
}

/// §3.5 #16: a huge sub-list ends in an error within bounded memory, never an abort.
#[test]
fn a_huge_incremental_list_is_refused_within_bounded_memory() {
    attack(
        "inc huge list",
        "inc_huge_list",
        "8400000",
        &pull_src(),
        22,
        "file list too long",
    );
}

// ---- push: the fake server plays the receiver/generator ----

fn push_arena(name: &str) -> (Arena, Mode) {
    let a = arena_with_files(name, false);
    let src = a.base.join("src");
    put_file(&src.join("f"), HELLO, 0o644, 1_600_000_000);
    let mut a = a;
    a.seal();
    (a, Mode::Push(vec![src.join("")]))
}

fn push_attack(name: &str, scenario: &str, arg: &str, code: i32, text: &str) {
    let (a, mode) = push_arena(name);
    let out = run_client(&a, scenario, arg, &mode);
    out.expect(name, code, text);
    a.assert_confined(name);
}

/// The fake receiver works: a benign push delivers the data and ends cleanly.
#[test]
fn benign_push_through_the_fake_server_succeeds() {
    let (a, mode) = push_arena("e-push-benign");
    let out = run_client(&a, "push_benign", "", &mode);
    assert_eq!(out.code("push benign"), 0, "{}", out.error());
    assert!(out.report.contains("transferred=[\"f\"]"), "{}", out.report);
}

/// §3.5 #30 for a push: the benign push cut after every byte of server output: exit
/// 12 (or 10 on a write to the closed pipe), never a hang or a panic.
#[test]
fn a_push_cut_anywhere_is_a_stream_error() {
    for cut in 0..200 {
        let (a, mode) = push_arena("e-push-cut");
        let what = format!("push cut at {cut}");
        let out = run_client(&a, "push_truncate", &cut.to_string(), &mode);
        let code = out.code(&what);
        if code == 0 {
            assert!(cut > 40, "{what}: success from a truncated session");
            return;
        }
        out.expect_cut(&what, code);
        a.assert_confined(&what);
    }
    panic!("the push never completed within 200 bytes");
}

/// The receiver's MSG_ERROR_EXIT(11) ends the push with exit 11, as rsync does.
#[test]
fn a_push_ends_with_the_receivers_error_exit_code() {
    push_attack(
        "push error exit",
        "push_error_exit",
        "",
        11,
        "remote side exited with code 11",
    );
}

/// §3.5 #26 and scenario 6: out-of-range, negative and directory indexes.
#[test]
fn push_requests_for_bad_indexes_are_refused() {
    for (arg, text) in [
        ("77", "Invalid file index: 77"),
        ("2147483647", "Invalid file index"),
        ("-5", "Invalid file index: -5"),
        ("0", "non-regular file"),
    ] {
        push_attack(&format!("push ndx {arg}"), "push_ndx", arg, 2, text);
    }
}

/// With incremental recursion (the server set `CF_INC_RECURSE` after our `i`), a push
/// through the fake receiver works, for `dir/` (one list) and `dir` (a second list).
#[test]
fn benign_incremental_push_through_the_fake_server_succeeds() {
    let (a, Mode::Push(srcs)) = push_arena("e-push-inc-benign") else {
        unreachable!()
    };
    let no_slash: Vec<PathBuf> = srcs
        .iter()
        .map(|p| PathBuf::from(p.display().to_string().trim_end_matches('/')))
        .collect();
    for (mode, name) in [
        (Mode::Push(srcs.clone()), "f"),
        (Mode::Push(no_slash), "src/f"),
    ] {
        let out = run_client(&a, "push_inc_benign", "", &mode);
        assert_eq!(out.code("push inc benign"), 0, "{}", out.error());
        let want = format!("transferred=[\"{name}\"]");
        assert!(out.report.contains(&want), "{}", out.report);
    }
}

/// Incremental recursion: indexes beyond the lists sent, in the gap before a list
/// (`.`'s, a directory, is no transfer), of the first list's missing parent, and
/// negative ones are clean protocol errors (exit 2), never a panic.
#[test]
fn incremental_push_requests_for_bad_indexes_are_refused() {
    for (arg, text) in [
        ("3", "Invalid file index: 3"),
        ("77", "Invalid file index: 77"),
        ("2147483647", "Invalid file index"),
        ("-102", "Invalid file index: -102"),
        ("-2", "Invalid file index: -2"),
        ("0", "non-regular file"),
        ("1", "non-regular file"),
    ] {
        push_attack(&format!("push inc ndx {arg}"), "push_inc_ndx", arg, 2, text);
    }
    // `src` without a slash: the first list holds only `src`, without a parent, so
    // index 0 names nothing; index 2 is the gap before `src`'s own list.
    let (a, Mode::Push(srcs)) = push_arena("e-push-inc-noparent") else {
        unreachable!()
    };
    let no_slash: Vec<PathBuf> = srcs
        .iter()
        .map(|p| PathBuf::from(p.display().to_string().trim_end_matches('/')))
        .collect();
    for (arg, text) in [("0", "Invalid file index: 0"), ("2", "non-regular file")] {
        let out = run_client(&a, "push_inc_ndx", arg, &Mode::Push(no_slash.clone()));
        out.expect(&format!("no-slash ndx {arg}"), 2, text);
        a.assert_confined("no-slash");
    }
}

/// §3.5 #21, #23 (CVE-2024-12084, CVE-2026-53792): hostile sum heads.
#[test]
fn push_hostile_sum_heads_are_refused() {
    for (arg, text) in [
        ("1,700,17,0", "Invalid checksum length 17"),
        ("1,700,65,0", "Invalid checksum length 65"),
        ("1,700,-1,0", "Invalid checksum length"),
        ("3,0,16,0", "Invalid block length 0"),
        ("1,131073,16,0", "Invalid block length"),
        ("1,-700,16,0", "Invalid block length"),
        ("1,700,16,701", "Invalid remainder"),
        ("-1,700,16,0", "Invalid checksum count"),
        ("2147483647,131072,16,0", "Invalid checksum count"),
    ] {
        push_attack(&format!("sum head {arg}"), "push_head", arg, 2, text);
    }
    // The largest head we accept, then nothing: no up-front allocation, exit 12.
    push_attack(
        "max head then EOF",
        "push_head",
        "16777216,131072,16,0",
        12,
        "",
    );
}

// ---------------------------------------------------------------------------------

/// Fixed byte streams through `pull_over`: attacks that need no interaction.
mod scripted {
    use std::collections::VecDeque;
    use std::path::{Path, PathBuf};

    use rdsync_wire::codec::{NdxEncoder, put_int32, put_varint, put_vstring};
    use rdsync_wire::error::WireError;
    use rdsync_wire::flist::{FileEntry, FileListConfig, FileListEncoder, XMIT_TOP_DIR, mode};
    use rdsync_wire::mux::put_data_frames;
    use rdsync_wire::{TransferOptions, Transport, pull_over};

    use super::common;

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
        let opts = TransferOptions::archive();
        let expect = (expect_code, expect_text);
        attack_with(name, &opts, compat, entries, after, sources, expect);
    }

    /// [`attack`] with the client's options `opts`.
    fn attack_with(
        name: &str,
        opts: &TransferOptions,
        compat: u32,
        entries: &[FileEntry],
        after: &[u8],
        sources: &[&str],
        (expect_code, expect_text): (i32, &str),
    ) {
        let a = arena(name);
        let peer = ScriptedPeer {
            chunks: server_stream(compat, entries, after),
        };
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        let report = pull_over(peer, opts, &sources, &a.dest);
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
        let _ = std::fs::remove_dir_all(base);
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
        // -a offers it; --no-i-r does not.
        let opts = TransferOptions {
            no_inc_recursive: true,
            ..TransferOptions::archive()
        };
        attack_with(
            "increcurse",
            &opts,
            COMPAT | 1,
            &[dir(".")],
            &[],
            &["src/"],
            (2, "inc-recursive"),
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
}
