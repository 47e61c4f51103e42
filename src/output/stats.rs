//! `--stats` and the closing summary lines, in rsync's format.

use rdsync_engine::local::{KindCounts, SyncStats};

use super::numbers::{comma_float, comma_number, human_number};

fn kinds(label: &str, k: &KindCounts, human: u32) -> String {
    let mut parts = Vec::new();
    for (name, n) in [
        ("reg", k.reg),
        ("dir", k.dir),
        ("link", k.link),
        ("dev", k.dev),
        ("special", k.special),
    ] {
        if n > 0 {
            parts.push(format!("{name}: {}", human_number(n, human)));
        }
    }
    if parts.is_empty() {
        format!("{label}: {}\n", human_number(k.total(), human))
    } else {
        format!(
            "{label}: {} ({})\n",
            human_number(k.total(), human),
            parts.join(", ")
        )
    }
}

/// Bytes we account as "sent" and "received" for the summary (rdsync has no wire; it
/// reports the file data moved and the list size).
pub fn wire_bytes(stats: &SyncStats) -> (u64, u64) {
    let list = stats.files.total() * 16;
    (stats.literal_data + list, stats.transferred_files * 8 + 32)
}

/// The numbers of rsync's `--stats` block (`main.c: output_summary`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsBlock {
    /// `Number of files`.
    pub files: KindCounts,
    /// `Number of created files` (None: not shown, protocol < 29).
    pub created: Option<KindCounts>,
    /// `Number of deleted files` (None: not shown, protocol < 31).
    pub deleted: Option<KindCounts>,
    /// `Number of regular files transferred`.
    pub transferred_files: u64,
    /// `Total file size`.
    pub total_size: u64,
    /// `Total transferred file size`.
    pub transferred_size: u64,
    /// `Literal data`.
    pub literal_data: u64,
    /// `Matched data`.
    pub matched_data: u64,
    /// `File list size`.
    pub flist_size: u64,
    /// File-list generation and transfer times in seconds (None: not shown, as rsync
    /// when the build time is 0 ms).
    pub flist_times: Option<(f64, f64)>,
    /// `Total bytes sent`.
    pub bytes_sent: u64,
    /// `Total bytes received`.
    pub bytes_received: u64,
}

/// The `--stats` block for `block` (starting with its empty line).
pub fn stats_block_text(block: &StatsBlock, human: u32) -> String {
    let h = |n| human_number(n, human);
    let mut s = String::from("\n");
    s += &kinds("Number of files", &block.files, human);
    if let Some(c) = &block.created {
        s += &kinds("Number of created files", c, human);
    }
    if let Some(d) = &block.deleted {
        s += &kinds("Number of deleted files", d, human);
    }
    s += &format!(
        "Number of regular files transferred: {}\n",
        comma_number(block.transferred_files)
    );
    s += &format!("Total file size: {} bytes\n", h(block.total_size));
    s += &format!(
        "Total transferred file size: {} bytes\n",
        h(block.transferred_size)
    );
    s += &format!("Literal data: {} bytes\n", h(block.literal_data));
    s += &format!("Matched data: {} bytes\n", h(block.matched_data));
    s += &format!("File list size: {}\n", h(block.flist_size));
    if let Some((build, xfer)) = block.flist_times {
        s += &format!(
            "File list generation time: {} seconds\n",
            comma_decimals(build, 3)
        );
        s += &format!(
            "File list transfer time: {} seconds\n",
            comma_decimals(xfer, 3)
        );
    }
    s += &format!("Total bytes sent: {}\n", h(block.bytes_sent));
    s += &format!("Total bytes received: {}\n", h(block.bytes_received));
    s
}

/// `comma_dnum(n, places)`: a fixed-point number with thousands separators.
fn comma_decimals(n: f64, places: usize) -> String {
    let text = format!("{n:.places$}");
    match text.split_once('.') {
        Some((int, frac)) => {
            let int = int
                .parse::<u64>()
                .map(comma_number)
                .unwrap_or(int.to_string());
            format!("{int}.{frac}")
        }
        None => text,
    }
}

/// The `--stats` block of a local sync (starting with its empty line).
pub fn stats_text(stats: &SyncStats, human: u32) -> String {
    let (sent, received) = wire_bytes(stats);
    stats_block_text(
        &StatsBlock {
            files: stats.files,
            created: Some(stats.created),
            deleted: Some(stats.deleted),
            transferred_files: stats.transferred_files,
            total_size: stats.total_size,
            transferred_size: stats.transferred_size,
            literal_data: stats.literal_data,
            matched_data: stats.matched_data,
            flist_size: 0,
            flist_times: Some((stats.flist_build_secs, 0.0)),
            bytes_sent: sent,
            bytes_received: received,
        },
        human,
    )
}

/// The two closing lines printed with `-v` or `--stats` (starting with an empty line).
pub fn summary_text(stats: &SyncStats, human: u32, dry_run: bool) -> String {
    let (sent, received) = wire_bytes(stats);
    let secs = stats.elapsed_secs.max(0.001);
    let rate = (sent + received) as f64 / secs;
    let speedup = if sent + received == 0 {
        0.0
    } else {
        stats.total_size as f64 / (sent + received) as f64
    };
    format!(
        "\nsent {} bytes  received {} bytes  {} bytes/sec\ntotal size is {}  speedup is {}{}\n",
        human_number(sent, human),
        human_number(received, human),
        comma_float(rate),
        human_number(stats.total_size, human),
        comma_float(speedup),
        if dry_run { " (DRY RUN)" } else { "" }
    )
}
