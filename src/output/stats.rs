//! `--stats` and the closing summary lines, in rsync's format.

use rdsync_engine::local::{KindCounts, SyncStats};

use super::numbers::{comma_float, human_number};

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

/// The `--stats` block (starting with its empty line).
pub fn stats_text(stats: &SyncStats, human: u32) -> String {
    let (sent, received) = wire_bytes(stats);
    let h = |n| human_number(n, human);
    let mut s = String::from("\n");
    s += &kinds("Number of files", &stats.files, human);
    s += &kinds("Number of created files", &stats.created, human);
    s += &kinds("Number of deleted files", &stats.deleted, human);
    s += &format!(
        "Number of regular files transferred: {}\n",
        h(stats.transferred_files)
    );
    s += &format!("Total file size: {} bytes\n", h(stats.total_size));
    s += &format!(
        "Total transferred file size: {} bytes\n",
        h(stats.transferred_size)
    );
    s += &format!("Literal data: {} bytes\n", h(stats.literal_data));
    s += &format!("Matched data: {} bytes\n", h(stats.matched_data));
    s += &format!("File list size: {}\n", h(0));
    s += &format!(
        "File list generation time: {:.3} seconds\n",
        stats.flist_build_secs
    );
    s += "File list transfer time: 0.000 seconds\n";
    s += &format!("Total bytes sent: {}\n", h(sent));
    s += &format!("Total bytes received: {}\n", h(received));
    s
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
