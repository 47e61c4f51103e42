//! Parse filter rules and match them against paths: the parser, the rule matcher and
//! `wildmatch` must never panic, and `!` must exactly invert a rule's verdict.
//!
//! Input: rule text, then (after the first NUL byte) NUL-separated paths to match.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_engine::filter::{
    FilterChain, FilterRule, RuleAction, RuleSyntax, parse_rules, parse_rules_from, wildmatch,
};

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.split(|&b| b == 0);
    let text = pieces.next().unwrap_or_default();
    let paths: Vec<&[u8]> = pieces.take(8).collect();

    for syntax in [RuleSyntax::Filter, RuleSyntax::Exclude, RuleSyntax::Include] {
        if let Ok(Some(rule)) = FilterRule::parse(text, syntax) {
            let mut negated = rule.clone();
            negated.negate = !rule.negate;
            for &path in &paths {
                for is_dir in [false, true] {
                    let hit = rule.matches(path, is_dir);
                    if !path.is_empty() {
                        assert_eq!(negated.matches(path, is_dir), !hit);
                    }
                }
            }
            let mut based = rule.clone();
            based.base = b"a/b".to_vec();
            for &path in &paths {
                let _ = based.matches(path, true);
            }
        }
    }

    let mut all = Vec::new();
    for default in [None, Some(RuleAction::Include), Some(RuleAction::Exclude)] {
        for word_split in [false, true] {
            if let Ok(rules) = parse_rules(text, RuleSyntax::Filter, default, word_split) {
                all.extend(rules);
            }
            let _ = parse_rules_from(text, RuleSyntax::Exclude, default, word_split, b"f");
        }
    }
    let chain = FilterChain::new(all);
    for &path in &paths {
        let _ = chain.is_excluded(path, false);
        let _ = chain.is_protected(path, true);
        let _ = wildmatch(text, path);
    }
});
