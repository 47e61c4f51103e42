//! rsync's command-line syntax: a table of flags ([`flags`]) driven by lexopt ([`parse`]) into
//! typed [`Options`].

pub mod flags;
mod options;
pub mod parse;

pub use options::{Options, Verbosity};
pub use parse::{ParseOutcome, UsageError, parse_args};
