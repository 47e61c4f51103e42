//! rsync-compatible output, formatted by hand: itemized lines, `-v` names, deletions,
//! `--stats`, `--progress`, and the escaping of unprintable bytes in names.

mod escape;
mod itemize;
mod numbers;
mod printer;
mod remote;
mod stats;

pub use escape::escape_name;
pub use itemize::itemize_line;
pub use numbers::{comma_float, comma_number, human_number};
pub use printer::Printer;
pub use remote::{RemoteLog, item_flags_text};
pub use stats::{StatsBlock, stats_block_text, stats_text, summary_text};
