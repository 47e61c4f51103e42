//! The rule list in force in one directory: the global rules with the rules of every
//! `dir-merge` file read on the way down spliced in at the place of their `dir-merge` rule
//! (deeper files first, so they win).

use std::sync::Arc;

use crate::fs::DirFd;

use super::rule::{FilterError, FilterRule, RuleAction, RuleSyntax, parse_rules, parse_rules_from};

/// The filter rules in force for one directory. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FilterChain {
    rules: Arc<Vec<FilterRule>>,
    has_dir_merge: bool,
    /// A malformed per-directory file met by [`FilterChain::for_dir`] (its path is relative
    /// to the transfer root); rsync stops the transfer on it.
    error: Option<Arc<FilterError>>,
}

impl FilterChain {
    /// Builds the top-level chain from rules in command-line order. `merge` rules must already
    /// have been expanded by the caller (see [`FilterChain::expand_merges`]); `!` clears.
    pub fn new(rules: Vec<FilterRule>) -> Self {
        let mut list: Vec<FilterRule> = Vec::new();
        for r in rules {
            if r.action == RuleAction::Clear {
                list.clear();
            } else {
                list.push(r);
            }
        }
        let has_dir_merge = list.iter().any(|r| r.action == RuleAction::DirMerge);
        Self {
            rules: Arc::new(list),
            has_dir_merge,
            error: None,
        }
    }

    /// Replaces every `merge` rule by the rules of its file (read by path, relative to the
    /// current directory), recursively up to a fixed depth.
    pub fn expand_merges(rules: Vec<FilterRule>) -> Result<Vec<FilterRule>, FilterError> {
        expand(rules, 0)
    }

    /// The malformed per-directory filter file met when this chain was built, if any.
    pub fn error(&self) -> Option<&FilterError> {
        self.error.as_deref()
    }

    /// Whether any `dir-merge` rule is in force (rules then depend on the directory).
    pub fn has_dir_merge(&self) -> bool {
        self.has_dir_merge
    }

    /// Whether no rules are in force.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules in force.
    pub fn rules(&self) -> &[FilterRule] {
        &self.rules
    }

    /// Makes every include/exclude rule that applies to both sides sender-only, as
    /// `--delete-excluded` does.
    pub fn into_delete_excluded(self) -> Self {
        let rules = self
            .rules
            .iter()
            .cloned()
            .map(|mut r| {
                if r.sender && r.receiver {
                    r.receiver = false;
                }
                r
            })
            .collect();
        Self {
            rules: Arc::new(rules),
            has_dir_merge: self.has_dir_merge,
            error: None,
        }
    }

    /// The first matching rule's verdict on the sending side: whether `path` is excluded.
    pub fn is_excluded(&self, path: &[u8], is_dir: bool) -> bool {
        self.verdict(path, is_dir, true)
    }

    /// Whether `path`, present only in the destination, is protected from deletion.
    pub fn is_protected(&self, path: &[u8], is_dir: bool) -> bool {
        self.verdict(path, is_dir, false)
    }

    fn verdict(&self, path: &[u8], is_dir: bool, sender: bool) -> bool {
        for r in self.rules.iter() {
            if !matches!(r.action, RuleAction::Include | RuleAction::Exclude) {
                continue;
            }
            if (sender && !r.sender) || (!sender && !r.receiver) {
                continue;
            }
            if r.matches(path, is_dir) {
                return r.action == RuleAction::Exclude;
            }
        }
        false
    }

    /// The chain for the directory `rel` (opened as `dir`): reads the `dir-merge` files found
    /// there. Unreadable or malformed per-directory files are ignored.
    pub fn for_dir(&self, dir: &DirFd, rel: &[u8]) -> FilterChain {
        if !self.has_dir_merge {
            return self.clone();
        }
        let mut out: Vec<FilterRule> = Vec::with_capacity(self.rules.len());
        let mut changed = false;
        let mut error: Option<Arc<FilterError>> = None;
        for r in self.rules.iter() {
            // Rules of a no-inherit dir-merge file apply only in their own directory.
            if r.no_inherit && !r.base.is_empty() && r.base != rel {
                changed = true;
                continue;
            }
            out.push(r.clone());
            if r.action != RuleAction::DirMerge {
                continue;
            }
            let file_name = merge_file_basename(&r.pattern);
            let content = match read_small_file(dir, file_name) {
                Some(c) => c,
                None => continue,
            };
            let mut file_path = rel.to_vec();
            if !file_path.is_empty() {
                file_path.push(b'/');
            }
            file_path.extend_from_slice(file_name);
            let mut new_rules = match parse_rules_from(
                &content,
                RuleSyntax::Filter,
                r.merge_default,
                r.word_split,
                &file_path,
            ) {
                Ok(rules) => rules,
                Err(e) => {
                    error = Some(Arc::new(e));
                    continue;
                }
            };
            if r.exclude_self {
                let mut ex = FilterRule::parse(b"- ", RuleSyntax::Exclude).ok().flatten();
                if let Some(ex) = ex.as_mut() {
                    ex.pattern = file_name.to_vec();
                    new_rules.insert(0, ex.clone());
                }
            }
            for nr in &mut new_rules {
                nr.base = rel.to_vec();
                nr.no_inherit = r.no_inherit;
            }
            changed = true;
            out.extend(new_rules);
        }
        if let Some(e) = error {
            let mut chain = self.clone();
            chain.error = Some(e);
            return chain;
        }
        if !changed {
            return self.clone();
        }
        FilterChain {
            error: None,
            rules: Arc::new(out),
            has_dir_merge: true,
        }
    }
}

fn merge_file_basename(pattern: &[u8]) -> &[u8] {
    // The last component (`rsplit` always yields at least one piece).
    pattern.rsplit(|&c| c == b'/').next().unwrap_or(pattern)
}

fn read_small_file(dir: &DirFd, name: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let fd = dir.open_read(name).ok()?;
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    f.by_ref().take(1 << 20).read_to_end(&mut buf).ok()?;
    Some(buf)
}

fn expand(rules: Vec<FilterRule>, depth: u32) -> Result<Vec<FilterRule>, FilterError> {
    let mut out = Vec::new();
    for r in rules {
        if r.action != RuleAction::Merge {
            out.push(r);
            continue;
        }
        if depth > 16 {
            return Err(FilterError::Invalid(
                String::from_utf8_lossy(&r.pattern).into_owned(),
            ));
        }
        let path = String::from_utf8_lossy(&r.pattern).into_owned();
        let content =
            std::fs::read(&path).map_err(|e| FilterError::File(path.clone(), e.to_string()))?;
        let inner = parse_rules(&content, RuleSyntax::Filter, r.merge_default, r.word_split)?;
        out.extend(expand(inner, depth + 1)?);
    }
    Ok(out)
}
