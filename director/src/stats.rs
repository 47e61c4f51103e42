//! Parsing the transfer statistics that `rsync --stats` prints at the end of a run.
//!
//! The director adds `--stats` to every sync it starts (system rsync or the `rdsync` binary) and
//! feeds these numbers into the transfer metrics. rsync and rdsync (local, push and pull) print
//! the whole `--stats` block; output with only the two closing summary lines (`sent N bytes
//! received N bytes ...`, `total size is N ...`, e.g. `-v` without `--stats`) gives the bytes
//! sent and received and the total file size (the other fields stay `None`).

use serde::{Deserialize, Serialize};

/// The statistics of one rsync run. Fields rsync did not print stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStats {
    /// `Number of files:`
    pub files: Option<u64>,
    /// `Number of regular files transferred:`
    pub files_transferred: Option<u64>,
    /// `Total file size:`
    pub total_file_size: Option<u64>,
    /// `Total transferred file size:`
    pub transferred_file_size: Option<u64>,
    /// `Literal data:`
    pub literal_bytes: Option<u64>,
    /// `Matched data:`
    pub matched_bytes: Option<u64>,
    /// `Total bytes sent:`
    pub bytes_sent: Option<u64>,
    /// `Total bytes received:`
    pub bytes_received: Option<u64>,
}

impl TransferStats {
    /// True when no statistics line was seen.
    pub fn is_empty(&self) -> bool {
        *self == TransferStats::default()
    }

    /// Feeds one output line; lines that are not statistics are ignored.
    pub fn feed_line(&mut self, line: &str) {
        if self.feed_summary(line) {
            return;
        }
        let Some((key, value)) = line.split_once(':') else {
            return;
        };
        let slot = match key.trim() {
            "Number of files" => &mut self.files,
            "Number of regular files transferred" | "Number of files transferred" => {
                &mut self.files_transferred
            }
            "Total file size" => &mut self.total_file_size,
            "Total transferred file size" => &mut self.transferred_file_size,
            "Literal data" => &mut self.literal_bytes,
            "Matched data" => &mut self.matched_bytes,
            "Total bytes sent" => &mut self.bytes_sent,
            "Total bytes received" => &mut self.bytes_received,
            _ => return,
        };
        if let Some(n) = parse_number(value) {
            *slot = Some(n);
        }
    }

    /// The closing summary lines; they fill only what the `--stats` block did not.
    fn feed_summary(&mut self, line: &str) -> bool {
        if let Some(rest) = line.strip_prefix("sent ")
            && let Some((sent, rest)) = rest.split_once(" bytes")
            && let Some(rest) = rest.trim_start().strip_prefix("received ")
            && let Some((received, _)) = rest.split_once(" bytes")
        {
            if self.bytes_sent.is_none() {
                self.bytes_sent = parse_number(sent);
            }
            if self.bytes_received.is_none() {
                self.bytes_received = parse_number(received);
            }
            return true;
        }
        if let Some(rest) = line.strip_prefix("total size is ")
            && rest.contains("speedup is ")
        {
            if self.total_file_size.is_none() {
                self.total_file_size = parse_number(rest);
            }
            return true;
        }
        false
    }

    /// Parses a whole output text.
    pub fn parse(text: &str) -> TransferStats {
        let mut s = TransferStats::default();
        for line in text.lines() {
            s.feed_line(line);
        }
        s
    }
}

/// The first number in `value`, with thousands separators (`,` `.` `'`) removed, or a
/// human-readable suffix (`1.5K`, `2.00M`, as printed with `-h`) expanded.
fn parse_number(value: &str) -> Option<u64> {
    let tok = value.split_whitespace().next()?;
    let (num, mult) = match tok.chars().last()? {
        'K' => (&tok[..tok.len() - 1], 1024f64),
        'M' => (&tok[..tok.len() - 1], 1024f64 * 1024.0),
        'G' => (&tok[..tok.len() - 1], 1024f64 * 1024.0 * 1024.0),
        'T' => (&tok[..tok.len() - 1], 1024f64.powi(4)),
        _ => (tok, 1.0),
    };
    if mult > 1.0 {
        return num.parse::<f64>().ok().map(|v| (v * mult) as u64);
    }
    let digits: String = num.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty()
        || num
            .chars()
            .any(|c| !(c.is_ascii_digit() || ",.'".contains(c)))
    {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rsync_3_stats() {
        let out = "\
Number of files: 4 (reg: 3, dir: 1)
Number of created files: 3 (reg: 3)
Number of deleted files: 0
Number of regular files transferred: 3
Total file size: 1,310,720 bytes
Total transferred file size: 1,310,720 bytes
Literal data: 1,310,720 bytes
Matched data: 0 bytes
File list size: 0
Total bytes sent: 1,311,163
Total bytes received: 76

sent 1,311,163 bytes  received 76 bytes  2,622,478.00 bytes/sec
";
        let s = TransferStats::parse(out);
        assert_eq!(s.files, Some(4));
        assert_eq!(s.files_transferred, Some(3));
        assert_eq!(s.total_file_size, Some(1_310_720));
        assert_eq!(s.literal_bytes, Some(1_310_720));
        assert_eq!(s.matched_bytes, Some(0));
        assert_eq!(s.bytes_sent, Some(1_311_163));
        assert_eq!(s.bytes_received, Some(76));
    }

    #[test]
    fn parses_rdsync_local_stats() {
        // The text of rdsync's src/output/stats.rs (`stats_text` + `summary_text`).
        let out = "
Number of files: 3 (reg: 2, dir: 1)
Number of created files: 3 (reg: 2, dir: 1)
Number of deleted files: 0
Number of regular files transferred: 2
Total file size: 70,000 bytes
Total transferred file size: 70,000 bytes
Literal data: 70,000 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 70,048
Total bytes received: 48

sent 70,048 bytes  received 48 bytes  140,192.00 bytes/sec
total size is 70,000  speedup is 1.00
";
        let s = TransferStats::parse(out);
        assert_eq!(s.files, Some(3));
        assert_eq!(s.files_transferred, Some(2));
        assert_eq!(s.total_file_size, Some(70_000));
        assert_eq!(s.literal_bytes, Some(70_000));
        assert_eq!(s.matched_bytes, Some(0));
        assert_eq!(s.bytes_sent, Some(70_048));
        assert_eq!(s.bytes_received, Some(48));
    }

    #[test]
    fn parses_rdsync_remote_summary_only() {
        // Only the two closing lines (e.g. `-v` without `--stats`).
        let out = "
sent 1,234 bytes  received 56 bytes  2,580.00 bytes/sec
total size is 10,000  speedup is 7.75 (DRY RUN)
";
        let s = TransferStats::parse(out);
        assert_eq!(s.bytes_sent, Some(1_234));
        assert_eq!(s.bytes_received, Some(56));
        assert_eq!(s.total_file_size, Some(10_000));
        assert_eq!(s.literal_bytes, None);
        assert_eq!(s.files_transferred, None);
        // Without thousands separators (human level 0) too.
        let s = TransferStats::parse("sent 1234 bytes  received 56 bytes  2580.00 bytes/sec");
        assert_eq!((s.bytes_sent, s.bytes_received), (Some(1234), Some(56)));
    }

    #[test]
    fn ignores_other_lines() {
        let s = TransferStats::parse("sending incremental file list\nfoo: bar\n");
        assert!(s.is_empty());
    }
}
