//! The log lines of a transfer over a remote shell, from the wire client's events, as
//! rsync's client prints them: `log_formatted` with `%i %n%L` (`-i`) or `%n%L` (`-v`,
//! `--progress`), `maybe_log_item`'s choice of what to show, `log_delete`, and the
//! `--progress` lines of `progress.c`.

use std::io::Write;
use std::time::Instant;

use rdsync_engine::fs::FileKind;
use rdsync_wire::events::{EventSink, ItemInfo, TransferEvent};
use rdsync_wire::item_flags::*;

use super::escape::escape_name;
use super::numbers::comma_number;
use crate::cli::Verbosity;

/// `ITEM_*` bits that make an item worth showing (rsync's `SIGNIFICANT_ITEM_FLAGS`).
const SIGNIFICANT: u16 = !(ITEM_BASIS_TYPE_FOLLOWS | ITEM_XNAME_FOLLOWS | ITEM_LOCAL_CHANGE);

/// Prints a remote transfer's events to stdout.
#[derive(Debug)]
pub struct RemoteLog {
    verbosity: Verbosity,
    /// `stdout_format` is set (names are logged at all).
    names: bool,
    /// `--progress` start of the current file's timing.
    file_started: Instant,
    /// When a progress line was last printed for the current file (None: none yet).
    last_shown: Option<Instant>,
    /// A progress line without its newline is on the terminal.
    needs_newline: bool,
    /// Print the file-list header (`-v` or `--progress`, INFO_GTE(FLIST, 1)).
    header: bool,
    /// We are the sender (a push): transfers show `<`.
    sender: bool,
    /// When the transfer began (`--info=progress2` times).
    session_started: Instant,
    /// Sum of the sizes of the files transferred so far.
    completed_size: u64,
    /// Files transferred so far.
    xferred: u64,
    /// Entries in the list, their total size, and how many are directories.
    list_files: u64,
    list_total_size: u64,
    list_dirs: u64,
    /// Longest `(xfr#…)` tail printed so far (`--info=progress2` pads to it).
    last_eol_len: usize,
    /// `-t` (a time change shows `t`, else `T`).
    preserve_mtimes: bool,
    /// The receiver sets symlink times (else a symlink's time change shows `T`).
    receiver_symlink_times: bool,
}

impl RemoteLog {
    /// A log for `verbosity`; `sender` is true in a push (the `<` of `%i`).
    pub fn new(verbosity: Verbosity, sender: bool) -> Self {
        let names = verbosity.itemize > 0 || verbosity.verbose > 0 || verbosity.progress;
        RemoteLog {
            verbosity,
            names,
            file_started: Instant::now(),
            last_shown: None,
            needs_newline: false,
            header: (verbosity.verbose > 0 || verbosity.progress) && !verbosity.quiet,
            sender,
            preserve_mtimes: true,
            receiver_symlink_times: true,
            session_started: Instant::now(),
            completed_size: 0,
            xferred: 0,
            list_files: 0,
            list_total_size: 0,
            list_dirs: 0,
            last_eol_len: 0,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.verbosity.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        if self.needs_newline {
            let _ = out.write_all(b"\n");
            self.needs_newline = false;
        }
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// `log_formatted` with the client's stdout format.
    fn log_item(&mut self, item: &ItemInfo, iflags: u32, hlink: Option<&[u8]>) {
        if !self.names {
            return;
        }
        let mut line = Vec::new();
        if self.verbosity.itemize > 0 {
            let time_letter = if !self.preserve_mtimes
                || (item.kind == FileKind::Symlink && !self.receiver_symlink_times)
            {
                b'T'
            } else {
                b't'
            };
            let mut flags = item_flags_text(item.kind, iflags, self.sender);
            if flags[4] == b't' {
                flags[4] = time_letter;
            }
            line.extend_from_slice(&flags);
            line.push(b' ');
        }
        line.extend_from_slice(&escape_name(&item.name));
        if item.kind == FileKind::Dir {
            line.push(b'/');
        }
        if let Some(h) = hlink.filter(|h| !h.is_empty()) {
            line.extend_from_slice(b" => ");
            line.extend_from_slice(&escape_name(h));
        } else if let Some(t) = item
            .link_target
            .as_deref()
            .filter(|_| item.kind == FileKind::Symlink)
        {
            line.extend_from_slice(b" -> ");
            line.extend_from_slice(&escape_name(t));
        }
        line.push(b'\n');
        self.write(&line);
    }

    /// `maybe_log_item` as the (non-server) client.
    fn maybe_log_item(&mut self, item: &ItemInfo, iflags: u16, xname: Option<&[u8]>) {
        let significant = iflags & SIGNIFICANT != 0;
        let has_xname = xname.is_some_and(|x| !x.is_empty());
        let itemizing = self.verbosity.itemize > 0;
        // INFO_GTE(NAME, 2) with -i also shows unchanged items.
        let see_item = itemizing
            && (significant
                || has_xname
                || self.verbosity.itemize > 1
                || self.verbosity.verbose > 1);
        let local_change = iflags & ITEM_LOCAL_CHANGE != 0 && significant;
        if see_item || local_change || has_xname || (item.kind == FileKind::Dir && significant) {
            self.log_item(item, u32::from(iflags), xname);
        }
    }

    fn deleted(&mut self, name: &[u8], is_dir: bool) {
        if self.verbosity.verbose == 0 && !self.names {
            return;
        }
        let mut line = if self.verbosity.itemize > 0 {
            b"*deleting   ".to_vec()
        } else {
            b"deleting ".to_vec()
        };
        line.extend_from_slice(&escape_name(name));
        if is_dir {
            line.push(b'/');
        }
        line.push(b'\n');
        self.write(&line);
    }

    /// `show_progress`: the first report of a file (or of the session with
    /// `--info=progress2`), then at most one a second.
    fn progress(&mut self, done: u64, size: u64) {
        if !(self.verbosity.progress || self.verbosity.progress2) || self.verbosity.quiet {
            return;
        }
        let now = Instant::now();
        if let Some(last) = self.last_shown
            && now.duration_since(last).as_secs_f64() < 1.0
        {
            return;
        }
        if self.last_shown.is_none() {
            self.file_started = now;
        }
        self.last_shown = Some(now);
        let (done, size) = if self.verbosity.progress2 {
            (self.completed_size + done, self.list_total_size)
        } else {
            (done, size)
        };
        let secs = now.duration_since(self.file_started).as_secs_f64();
        let rate = done as f64 / 1024.0 / secs.max(0.001);
        let remain = if rate > 0.0 {
            size.saturating_sub(done) as f64 / 1024.0 / rate
        } else {
            0.0
        };
        let text = format!(
            "\r{:>15} {:3}% {} {}  ",
            comma_number(done),
            percent(done, size),
            rate_text(rate),
            time_text(remain)
        );
        self.write(text.as_bytes());
        self.needs_newline = true;
    }

    /// `end_progress`: the closing line of a file (`--progress`), or the running total
    /// without a newline, padded to the longest so far (`--info=progress2`).
    fn end_line(&mut self, xferred: u64, to_check: u64, total: u64, file_size: u64) {
        let now = Instant::now();
        let secs = if self.verbosity.progress2 {
            now.duration_since(self.session_started).as_secs_f64()
        } else {
            match self.last_shown {
                Some(_) => now.duration_since(self.file_started).as_secs_f64(),
                None => 0.0,
            }
        };
        let mut eol = format!(" (xfr#{xferred}, to-chk={to_check}/{total})");
        let (done, size) = if self.verbosity.progress2 {
            if eol.len() < self.last_eol_len {
                eol.extend(std::iter::repeat_n(' ', self.last_eol_len - eol.len()));
            }
            self.last_eol_len = eol.len();
            (self.completed_size, self.list_total_size)
        } else {
            self.last_shown = None;
            eol.push('\n');
            (file_size, file_size)
        };
        let rate = done as f64 / 1024.0 / secs.max(0.001);
        let text = format!(
            "\r{:>15} {:3}% {} {}{}",
            comma_number(done),
            percent(done, size),
            rate_text(rate),
            time_text(secs),
            eol
        );
        self.needs_newline = false;
        self.write(text.as_bytes());
        self.needs_newline = self.verbosity.progress2;
    }

    fn transfer_end(&mut self, event: &TransferEvent<'_>) {
        let TransferEvent::TransferEnd {
            item,
            xferred,
            to_check,
            total,
            transferred_size,
            total_size,
        } = event
        else {
            return;
        };
        self.completed_size = *transferred_size;
        self.list_total_size = *total_size;
        self.xferred = *xferred;
        self.list_files = *total;
        if self.verbosity.quiet || !(self.verbosity.progress || self.verbosity.progress2) {
            return;
        }
        self.end_line(*xferred, *to_check, *total, item.size);
    }

    /// Ends a pending progress line (before the closing summary).
    pub fn finish(&mut self) {
        if self.verbosity.progress2 && !self.verbosity.quiet {
            // send_files/recv_files: end_progress(0) at each NDX_DONE — one per file
            // list of rsync's incremental recursion (a list per directory), all at
            // the end for a tree whose lists were all sent up front.
            for _ in 0..self.list_dirs {
                self.end_line(self.xferred, 0, self.list_files, 0);
            }
        }
        if self.needs_newline && !self.verbosity.quiet {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b"\n");
            let _ = out.flush();
            self.needs_newline = false;
        }
    }
}

impl EventSink for RemoteLog {
    fn event(&mut self, event: TransferEvent<'_>) {
        match event {
            TransferEvent::Item {
                item,
                iflags,
                xname,
            } => self.maybe_log_item(item, iflags, xname),
            TransferEvent::TransferStart { item, iflags } => {
                if !self.verbosity.progress2 {
                    self.last_shown = None;
                }
                self.log_item(item, u32::from(iflags), None);
            }
            TransferEvent::Progress { done, size } => self.progress(done, size),
            ref end @ TransferEvent::TransferEnd { .. } => self.transfer_end(end),
            TransferEvent::Deleted { name, is_dir } => self.deleted(name, is_dir),
            TransferEvent::Started {
                protocol,
                preserve_mtimes,
                receiver_symlink_times,
            } => {
                if self.header {
                    // rsync's client: incremental recursion from protocol 30.
                    let line: &[u8] = match (protocol >= 30, self.sender) {
                        (true, true) => b"sending incremental file list\n",
                        (true, false) => b"receiving incremental file list\n",
                        (false, true) => b"building file list ... done\n",
                        (false, false) => b"receiving file list ... done\n",
                    };
                    self.write(line);
                }
                self.preserve_mtimes = preserve_mtimes;
                self.receiver_symlink_times = receiver_symlink_times;
            }
            TransferEvent::FileList {
                files,
                dirs,
                total_size,
            } => {
                self.list_files = files;
                self.list_dirs = dirs;
                self.list_total_size = total_size;
            }
            TransferEvent::CreatedDirectory(name) => {
                if self.names {
                    let mut line = b"created directory ".to_vec();
                    line.extend_from_slice(&escape_name(name));
                    line.push(b'\n');
                    self.write(&line);
                }
            }
            TransferEvent::CreatedPath { count, path } => {
                if self.names {
                    let noun = if count == 1 {
                        "directory"
                    } else {
                        "directories"
                    };
                    let mut line = format!("created {count} {noun} for ").into_bytes();
                    line.extend_from_slice(&escape_name(path));
                    line.push(b'\n');
                    self.write(&line);
                }
            }
            TransferEvent::Info(text) => {
                let mut line = text.as_bytes().to_vec();
                line.push(b'\n');
                self.write(&line);
            }
        }
    }
}

fn percent(done: u64, size: u64) -> u64 {
    if done == size {
        100
    } else {
        (done * 100).checked_div(size).unwrap_or(100).min(100)
    }
}

/// `%7.2f` and the unit, from a rate in kB/s.
fn rate_text(kb_per_sec: f64) -> String {
    let (rate, units) = if kb_per_sec > 1024.0 * 1024.0 {
        (kb_per_sec / 1024.0 / 1024.0, "GB/s")
    } else if kb_per_sec > 1024.0 {
        (kb_per_sec / 1024.0, "MB/s")
    } else {
        (kb_per_sec, "kB/s")
    };
    format!("{rate:7.2}{units}")
}

/// `%4u:%02u:%02u`.
fn time_text(secs: f64) -> String {
    if !(0.0..=9999.0 * 3600.0).contains(&secs) {
        return "  ??:??:??".to_string();
    }
    let s = secs as u64;
    format!("{:4}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// rsync's `%i`: the 11 characters `YXcstpoguax` for `iflags` (with its internal bits).
pub fn item_flags_text(kind: FileKind, iflags: u32, sender: bool) -> [u8; 11] {
    let has = |bit: u16| iflags & u32::from(bit) != 0;
    let mut c = [b'.'; 11];
    c[0] = if has(ITEM_LOCAL_CHANGE) {
        if has(ITEM_XNAME_FOLLOWS) { b'h' } else { b'c' }
    } else if !has(ITEM_TRANSFER) {
        b'.'
    } else if sender {
        b'<'
    } else {
        b'>'
    };
    if kind == FileKind::Symlink {
        c[1] = b'L';
        c[3] = b'.';
        c[4] = if has(ITEM_REPORT_TIME) { b't' } else { b'.' };
    } else {
        c[1] = match kind {
            FileKind::Dir => b'd',
            FileKind::Special => b'S',
            FileKind::Device => b'D',
            _ => b'f',
        };
        c[3] = if has(ITEM_REPORT_SIZE) { b's' } else { b'.' };
        c[4] = if has(ITEM_REPORT_TIME) { b't' } else { b'.' };
    }
    c[2] = if has(ITEM_REPORT_CHANGE) { b'c' } else { b'.' };
    c[5] = if has(ITEM_REPORT_PERMS) { b'p' } else { b'.' };
    c[6] = if has(ITEM_REPORT_OWNER) { b'o' } else { b'.' };
    c[7] = if has(ITEM_REPORT_GROUP) { b'g' } else { b'.' };
    c[8] = if has(ITEM_REPORT_ATIME) { b'u' } else { b'.' };
    if has(ITEM_IS_NEW) {
        for ch in c.iter_mut().skip(2) {
            *ch = b'+';
        }
    } else if matches!(c[0], b'.' | b'h' | b'c') && c.iter().skip(2).all(|ch| *ch == b'.') {
        for ch in c.iter_mut().skip(2) {
            *ch = b' ';
        }
    }
    c
}
