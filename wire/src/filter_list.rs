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

/// The rule text rsync's client sends for `rule` (`exclude.c: get_rule_prefix`), or
/// `None` when the rule stays local (a sender-only rule in a push, a receiver-only rule
/// in a pull) or is not an include/exclude rule.
pub fn wire_rule_text(
    rule: &rdsync_engine::filter::FilterRule,
    protocol: u32,
    am_sender: bool,
) -> Result<Option<Vec<u8>>, WireError> {
    use rdsync_engine::filter::RuleAction;
    let include = match rule.action {
        RuleAction::Include => true,
        RuleAction::Exclude => false,
        _ => return Ok(None),
    };
    let sender_only = rule.sender && !rule.receiver;
    let receiver_only = rule.receiver && !rule.sender;
    if (am_sender && sender_only) || (!am_sender && receiver_only) {
        return Ok(None);
    }
    let mut text = Vec::new();
    if protocol < 29 {
        if rule.negate || sender_only || receiver_only {
            return Err(WireError::protocol(
                "filter rules are too modern for remote rsync.",
            ));
        }
        let pat = &rule.pattern;
        if include {
            text.extend_from_slice(b"+ ");
        } else if pat.starts_with(b"- ") || pat.starts_with(b"+ ") {
            text.extend_from_slice(b"- ");
        }
    } else {
        text.push(if include { b'+' } else { b'-' });
        if rule.negate {
            text.push(b'!');
        }
        if sender_only {
            text.push(b's');
        }
        if receiver_only {
            text.push(b'r');
        }
        text.push(b' ');
    }
    text.extend_from_slice(&rule.pattern);
    if rule.dir_only {
        text.push(b'/');
    }
    Ok(Some(text))
}

/// Appends the client's filter list for `opts` (see [`wire_rule_text`]) and its terminator.
pub fn encode_client_filters(
    out: &mut Vec<u8>,
    opts: &crate::options::TransferOptions,
    protocol: u32,
    am_sender: bool,
) -> Result<(), WireError> {
    use rdsync_engine::filter::RuleAction;
    for rule in opts.filter_rules() {
        if rule.action == RuleAction::Clear {
            // rsync sends "!" to clear the remote list (protocol ≥ 29).
            if protocol >= 29 {
                put_int32(out, 1);
                out.push(b'!');
            }
            continue;
        }
        if let Some(text) = wire_rule_text(&rule, protocol, am_sender)? {
            put_int32(out, text.len() as i32);
            out.extend_from_slice(&text);
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
        assert!(encode_client_filters(&mut Vec::new(), &opts, 28, true).is_err());
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
