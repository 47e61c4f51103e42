//! The [`SyncSink`] that prints what rsync prints for the chosen verbosity.

use std::io::{BufWriter, Stdout, Write};
use std::time::Instant;

use rdsync_engine::fs::FileKind;
use rdsync_engine::local::{
    DeleteEvent, Item, Message, MessageKind, ProgressEvent, SyncSink, UpdateType,
};

use super::escape::escape_name;
use super::itemize::itemize_line;
use super::numbers::comma_number;
use crate::cli::Verbosity;

/// Prints sync events to stdout (and errors to stderr) in rsync's formats.
#[derive(Debug)]
pub struct Printer {
    out: BufWriter<Stdout>,
    verbosity: Verbosity,
    started: Instant,
    transferred: u64,
    total_bytes_done: u64,
    last_progress: f64,
    /// Number of entries in the list (for progress `to-chk`).
    pub total_files: u64,
    /// Total size of the list (for `--info=progress2`).
    pub total_size: u64,
}

impl Printer {
    /// A printer for `verbosity`.
    pub fn new(verbosity: Verbosity) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            verbosity,
            started: Instant::now(),
            transferred: 0,
            total_bytes_done: 0,
            last_progress: 0.0,
            total_files: 0,
            total_size: 0,
        }
    }

    fn quiet(&self) -> bool {
        self.verbosity.quiet
    }

    /// Writes a line to stdout (unless `-q`).
    pub fn line(&mut self, bytes: &[u8]) {
        if self.quiet() {
            return;
        }
        let _ = self.out.write_all(bytes);
        let _ = self.out.write_all(b"\n");
    }

    /// Writes raw text to stdout (unless `-q`).
    pub fn text(&mut self, text: &str) {
        if self.quiet() {
            return;
        }
        let _ = self.out.write_all(text.as_bytes());
    }

    /// Writes a line to stderr, after flushing stdout so the two keep their order.
    pub fn error_line(&mut self, text: &str) {
        let _ = self.out.flush();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.write_all(b"\n");
    }

    /// Flushes stdout.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    fn names_wanted(&self) -> bool {
        self.verbosity.itemize > 0 || self.verbosity.verbose > 0 || self.verbosity.progress
    }
}

/// rsync's rate column: `%7.2f` followed by kB/s, MB/s or GB/s.
fn rate_text(bytes: u64, secs: f64) -> String {
    let mut rate = bytes as f64 / 1024.0 / secs.max(0.000_001);
    let mut units = "kB/s";
    if rate > 1024.0 {
        rate /= 1024.0;
        units = "MB/s";
        if rate > 1024.0 {
            rate /= 1024.0;
            units = "GB/s";
        }
    }
    format!("{rate:7.2}{units}")
}

/// rsync's time column: `%4d:%02d:%02d`.
fn elapsed_text(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:4}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

impl SyncSink for Printer {
    fn list_ready(&mut self, files: u64, total_size: u64) {
        self.total_files = files;
        self.total_size = total_size;
    }

    fn created_destination(&mut self, name: &[u8]) {
        if self.names_wanted() {
            let mut l = b"created directory ".to_vec();
            l.extend_from_slice(&escape_name(name));
            self.line(&l);
        }
    }

    fn created_path(&mut self, count: usize, path: &[u8]) {
        if self.names_wanted() {
            let noun = if count == 1 {
                "directory"
            } else {
                "directories"
            };
            let mut l = format!("created {count} {noun} for ").into_bytes();
            l.extend_from_slice(&escape_name(path));
            self.line(&l);
        }
    }

    fn item(&mut self, item: &Item) {
        if self.verbosity.itemize > 0 {
            let l = itemize_line(item);
            self.line(&l);
        } else if (self.verbosity.verbose > 0 || self.verbosity.progress)
            && (item.update != UpdateType::Unchanged
                || (item.kind == FileKind::Dir && item.changes.any()))
        {
            let mut l = escape_name(&item.name);
            if let Some(t) = &item.link_target {
                l.extend_from_slice(b" -> ");
                l.extend_from_slice(&escape_name(t));
            }
            if let Some(t) = &item.hardlink_to {
                l.extend_from_slice(b" => ");
                l.extend_from_slice(&escape_name(t));
            }
            self.line(&l);
        }
    }

    fn deleted(&mut self, event: &DeleteEvent) {
        let mut name = escape_name(&event.name);
        if event.kind == FileKind::Dir {
            name.push(b'/');
        }
        if self.verbosity.itemize > 0 {
            let mut l = b"*deleting   ".to_vec();
            l.extend_from_slice(&name);
            self.line(&l);
        } else if self.verbosity.verbose > 0 || self.verbosity.progress {
            let mut l = b"deleting ".to_vec();
            l.extend_from_slice(&name);
            self.line(&l);
        }
    }

    fn message(&mut self, message: &Message) {
        match message.kind {
            MessageKind::Info => {
                let t = message.text.clone();
                self.line(t.as_bytes());
            }
            MessageKind::Error => self.error_line(&message.text),
        }
    }

    fn progress(&mut self, event: &ProgressEvent) {
        if self.quiet() {
            return;
        }
        let now = self.started.elapsed().as_secs_f64();
        if !event.finished {
            if self.verbosity.progress2 {
                let done = self.total_bytes_done + event.done;
                let pct = (done * 100)
                    .checked_div(self.total_size)
                    .unwrap_or(100)
                    .min(100);
                let t = format!(
                    "\r{:>15} {:3}% {} {}  ",
                    comma_number(done),
                    pct,
                    rate_text(done, now),
                    elapsed_text(now)
                );
                self.text(&t);
                let _ = self.out.flush();
            } else if self.verbosity.progress {
                let secs = (now - self.last_progress).max(0.000_001);
                let pct = (event.done * 100)
                    .checked_div(event.size)
                    .unwrap_or(100)
                    .min(100);
                let rate = event.done as f64 / secs;
                let remaining = if rate > 0.0 {
                    event.size.saturating_sub(event.done) as f64 / rate
                } else {
                    0.0
                };
                let t = format!(
                    "\r{:>15} {:3}% {} {}  ",
                    comma_number(event.done),
                    pct,
                    rate_text(event.done, secs),
                    elapsed_text(remaining)
                );
                self.text(&t);
                let _ = self.out.flush();
            }
            return;
        }
        self.transferred += 1;
        self.total_bytes_done += event.done;
        if self.verbosity.progress2 {
            let pct = (self.total_bytes_done * 100)
                .checked_div(self.total_size)
                .unwrap_or(100)
                .min(100);
            let t = format!(
                "\r{:>15} {:3}% {} {} (xfr#{}, to-chk={}/{})",
                comma_number(self.total_bytes_done),
                pct,
                rate_text(self.total_bytes_done, now),
                elapsed_text(now),
                self.transferred,
                event.to_check,
                event.total
            );
            self.text(&t);
            let _ = self.out.flush();
        } else if self.verbosity.progress {
            let secs = (now - self.last_progress).max(0.000_001);
            let t = format!(
                "\r{:>15} {:3}% {} {} (xfr#{}, to-chk={}/{})\n",
                comma_number(event.done),
                100,
                rate_text(event.done, secs),
                elapsed_text(secs),
                self.transferred,
                event.to_check,
                event.total
            );
            self.text(&t);
            let _ = self.out.flush();
        }
        self.last_progress = now;
    }
}
