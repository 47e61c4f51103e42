//! Parsing the transfer statistics that `rsync --stats` prints at the end of a run.
//!
//! Until the native engine reports its statistics directly, the director adds `--stats` to every
//! system rsync it starts and feeds these numbers into the transfer metrics.

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
    fn ignores_other_lines() {
        let s = TransferStats::parse("sending incremental file list\nfoo: bar\n");
        assert!(s.is_empty());
    }
}
