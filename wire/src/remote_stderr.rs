//! The remote's error channel (a spawned shell's stderr, an SSH channel's extended data):
//! shown line by line on our stderr with control characters escaped, as rsync shows the
//! remote's messages, and kept for the transfer report.

use std::sync::{Arc, Mutex};

/// A shareable record of the remote's error output; [`push`](Self::push) from the thread
/// that reads it, [`text`](Self::text) from anywhere.
#[derive(Debug, Clone, Default)]
pub struct RemoteStderr {
    kept: Arc<Mutex<Vec<u8>>>,
    partial: Arc<Mutex<Vec<u8>>>,
}

impl RemoteStderr {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes: complete lines are shown, a partial line waits for its end.
    pub fn push(&self, data: &[u8]) {
        if let Ok(mut k) = self.kept.lock() {
            k.extend_from_slice(data);
        }
        let Ok(mut partial) = self.partial.lock() else {
            return;
        };
        partial.extend_from_slice(data);
        while let Some(nl) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=nl).collect();
            // A CRLF line end (sshd's own messages) shows as the terminal shows it.
            let line = line.strip_suffix(b"\r\n").unwrap_or(&line);
            eprintln!("{}", crate::mux::escape_control_chars(line));
        }
    }

    /// The output ended: shows a last line that had no newline.
    pub fn finish(&self) {
        if let Ok(mut partial) = self.partial.lock()
            && !partial.is_empty()
        {
            eprintln!("{}", crate::mux::escape_control_chars(&partial));
            partial.clear();
        }
    }

    /// Everything received so far.
    pub fn text(&self) -> String {
        let kept = self.kept.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8_lossy(&kept).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_pushes_are_kept_whole() {
        let log = RemoteStderr::new();
        log.push(b"rsync: par");
        log.push(b"tial\nnext");
        assert_eq!(
            log.partial.lock().map(|p| p.clone()).unwrap_or_default(),
            b"next"
        );
        log.finish();
        assert!(log.partial.lock().map(|p| p.is_empty()).unwrap_or(false));
        assert_eq!(log.text(), "rsync: partial\nnext");
    }
}
