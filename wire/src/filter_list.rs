//! The filter (exclude) list the client sends (`exclude.c: send_filter_list`):
//! int32 length + rule text per rule, terminated by int32 0.

use crate::codec::{ReadCursor, put_int32};
use crate::error::{Decoded, WireError};

/// Longest rule we accept when decoding.
pub const MAX_RULE_LEN: usize = 4096 + 16;
/// Most rules we accept when decoding.
pub const MAX_RULES: usize = 1 << 16;

/// One filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterRule {
    /// `- pattern`
    Exclude(String),
    /// `+ pattern`
    Include(String),
}

impl FilterRule {
    /// The rule text for `protocol` (plain `- `/`+ ` prefixes are valid in 27–32).
    pub fn text(&self) -> String {
        match self {
            FilterRule::Exclude(p) => format!("- {p}"),
            FilterRule::Include(p) => format!("+ {p}"),
        }
    }
}

/// The rule text rsync's client sends for `rule` (`exclude.c: send_rules` and
/// `get_rule_prefix`), or `None` when the rule stays local: a sender-only rule in a push,
/// a receiver-only rule in a pull, a plain rule in a push with `--delete-excluded`, or a
/// `merge`/clear rule (expanded or handled by the caller).
pub fn wire_rule_text(
    rule: &rdsync_engine::filter::FilterRule,
    protocol: u32,
    am_sender: bool,
    delete_excluded: bool,
) -> Result<Option<Vec<u8>>, WireError> {
    use rdsync_engine::filter::RuleAction;
    let per_dir = rule.action == RuleAction::DirMerge;
    if !matches!(rule.action, RuleAction::Include | RuleAction::Exclude) && !per_dir {
        return Ok(None);
    }
    let sender_side = rule.sender && !rule.receiver;
    let receiver_side = rule.receiver && !rule.sender;
    // send_rules: which side a rule is for; "local" rules are not sent.
    let local = if sender_side {
        am_sender
    } else if receiver_side {
        !am_sender
    } else {
        delete_excluded && am_sender && (!per_dir || rule.merge_default.is_some())
    };
    if local {
        return Ok(None);
    }
    let modern = protocol >= 29;
    let mut text = Vec::new();
    // Below protocol 29 a rule has at most the one-letter prefix ("- " only where the
    // pattern would otherwise read as a prefix), and no modifiers.
    let mut legal_len = usize::MAX;
    if per_dir {
        if !modern {
            return Err(too_modern());
        }
        text.push(b':');
    } else if rule.action == RuleAction::Include {
        text.push(b'+');
    } else if modern || rule.pattern.starts_with(b"- ") || rule.pattern.starts_with(b"+ ") {
        text.push(b'-');
    }
    if !modern {
        legal_len = text.len();
    }
    if rule.negate {
        text.push(b'!');
    }
    if per_dir {
        if rule.no_inherit {
            text.push(b'n');
        }
        if rule.word_split {
            text.push(b'w');
        }
        match rule.merge_default {
            Some(RuleAction::Include) => text.push(b'+'),
            Some(_) => text.push(b'-'),
            None => {}
        }
    }
    if sender_side && modern {
        text.push(b's');
    }
    if receiver_side && (modern || (delete_excluded && am_sender)) {
        text.push(b'r');
    }
    if text.len() > legal_len {
        return Err(too_modern());
    }
    if !text.is_empty() {
        text.push(b' ');
    }
    text.extend_from_slice(&rule.pattern);
    if rule.dir_only {
        text.push(b'/');
    }
    Ok(Some(text))
}

fn too_modern() -> WireError {
    WireError::protocol("filter rules are too modern for remote rsync.")
}

/// Appends the client's filter list for `opts` (see [`wire_rule_text`]) and its terminator.
/// A `dir-merge` rule with `e` is sent as an exclude of the file's name before the rule,
/// as rsync's parser splits it.
pub fn encode_client_filters(
    out: &mut Vec<u8>,
    opts: &crate::options::TransferOptions,
    protocol: u32,
    am_sender: bool,
) -> Result<(), WireError> {
    use rdsync_engine::filter::RuleAction;
    let put = |out: &mut Vec<u8>, text: &[u8]| {
        put_int32(out, text.len() as i32);
        out.extend_from_slice(text);
    };
    for rule in opts.filter_rules() {
        if rule.action == RuleAction::Clear {
            // rsync sends "!" to clear the remote list (protocol ≥ 29).
            if protocol >= 29 {
                put(out, b"!");
            }
            continue;
        }
        if rule.action == RuleAction::DirMerge && rule.exclude_self {
            let base = rule.pattern.rsplit(|c| *c == b'/').next().unwrap_or(&[]);
            let mut ex = rule.clone();
            ex.action = RuleAction::Exclude;
            ex.pattern = base.to_vec();
            ex.dir_only = false;
            ex.negate = false;
            ex.merge_default = None;
            if let Some(text) = wire_rule_text(&ex, protocol, am_sender, opts.delete_excluded)? {
                put(out, &text);
            }
        }
        if let Some(text) = wire_rule_text(&rule, protocol, am_sender, opts.delete_excluded)? {
            put(out, &text);
        }
    }
    put_int32(out, 0);
    Ok(())
}

/// Appends the list and its terminator.
pub fn encode_filter_list(out: &mut Vec<u8>, rules: &[FilterRule]) {
    for r in rules {
        let t = r.text();
        put_int32(out, t.len() as i32);
        out.extend_from_slice(t.as_bytes());
    }
    put_int32(out, 0);
}

/// Reads a whole list (used by tests and the fuzzer; a client never receives one).
pub fn decode_filter_list(c: &mut ReadCursor<'_>) -> Decoded<Vec<Vec<u8>>> {
    let mut rules = Vec::new();
    loop {
        let len = c.i32()?;
        if len == 0 {
            return Ok(rules);
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RULE_LEN)
            .ok_or_else(|| WireError::protocol(format!("invalid filter rule length {len}")))?;
        rules.push(c.take(len)?.to_vec());
        if rules.len() > MAX_RULES {
            return Err(WireError::protocol("too many filter rules").into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_rules_render_like_the_capture() {
        use rdsync_engine::filter::{FilterRule as Rule, RuleSyntax};
        let parse = |t: &str, syn| Rule::parse(t.as_bytes(), syn).ok().flatten();
        let opts = crate::options::TransferOptions {
            filters: [
                parse("*.o", RuleSyntax::Exclude),
                parse("foo", RuleSyntax::Include),
                parse("/bar/", RuleSyntax::Exclude),
                parse("P keep", RuleSyntax::Filter),
            ]
            .into_iter()
            .flatten()
            .collect(),
            ..Default::default()
        };
        let mut pull = Vec::new();
        encode_client_filters(&mut pull, &opts, 31, false).ok();
        let rules = decode_filter_list(&mut ReadCursor::new(&pull)).ok();
        assert_eq!(
            rules,
            Some(vec![
                b"- *.o".to_vec(),
                b"+ foo".to_vec(),
                b"- /bar/".to_vec()
            ])
        );
        let mut push = Vec::new();
        encode_client_filters(&mut push, &opts, 31, true).ok();
        let rules = decode_filter_list(&mut ReadCursor::new(&push))
            .ok()
            .unwrap_or_default();
        assert_eq!(rules.last().map(Vec::as_slice), Some(&b"-r keep"[..]));
        // Protocol 28 has no modifiers: the protect rule goes as a plain exclude, and a
        // negated rule cannot be sent at all.
        let mut old = Vec::new();
        encode_client_filters(&mut old, &opts, 28, true).ok();
        let rules = decode_filter_list(&mut ReadCursor::new(&old))
            .ok()
            .unwrap_or_default();
        assert_eq!(rules.last().map(Vec::as_slice), Some(&b"keep"[..]));
        let negated = crate::options::TransferOptions {
            filters: parse("-! x", RuleSyntax::Filter).into_iter().collect(),
            ..Default::default()
        };
        assert!(encode_client_filters(&mut Vec::new(), &negated, 28, false).is_err());
    }

    #[test]
    fn matches_the_captured_bytes() {
        let mut out = Vec::new();
        encode_filter_list(
            &mut out,
            &[
                FilterRule::Exclude("*.o".into()),
                FilterRule::Include("foo".into()),
            ],
        );
        assert_eq!(&out[..9], b"\x05\x00\x00\x00- *.o");
        let got = decode_filter_list(&mut ReadCursor::new(&out)).ok();
        assert_eq!(got, Some(vec![b"- *.o".to_vec(), b"+ foo".to_vec()]));
    }
}
