//! rsync's filter rules: the parser ([`FilterRule::parse`], [`parse_rules`]), the matcher
//! ([`wildmatch`], [`FilterRule::matches`]) and the per-directory rule chain ([`FilterChain`])
//! that handles `dir-merge` files such as `.rsync-filter`.
#![deny(clippy::indexing_slicing)]

mod chain;
mod rule;
mod wildmatch;

pub use chain::FilterChain;
pub use rule::{FilterError, FilterRule, RuleAction, RuleSyntax, parse_rules, parse_rules_from};
pub use wildmatch::wildmatch;
