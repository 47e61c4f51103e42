//! The sender's incremental file lists (`CF_INC_RECURSE`; `flist.c: send_file_list`,
//! `send_extra_file_list`, `send1extra`, `add_dirs_to_tree`; `sender.c: send_files`).
//!
//! The first list holds the top-level entries (with the contents of a `dir/` source);
//! every directory's contents follow later as a list of its own, announced with
//! `NDX_FLIST_OFFSET − dir_index`, depth first. Directory indexes number the directories
//! of each list in sorted order, list after list, as the receiver numbers them. The
//! lists' indexes start at 1 and leave one unused index before each list, which names
//! the list's parent directory.
//!
//! This module keeps the directory tree, decides which list comes next, scans it, and
//! resolves the indexes the remote generator names. Encoding and sending stay with the
//! push machine.

use std::path::PathBuf;
use std::sync::Arc;

use rdsync_engine::filter::FilterChain;

use crate::error::WireError;
use crate::flist::{FileEntry, compare_names};
use crate::local_scan::{
    LocalEntry, dir_chain, dir_identity, enter_dir, read_dir_level, top_entry,
};
use crate::options::TransferOptions;
use crate::sender_errors::SenderErrors;

/// rsync's `MIN_FILECNT_LOOKAHEAD`: the sender keeps this many entries listed beyond the
/// list the generator is working on.
pub const MIN_FILECNT_LOOKAHEAD: usize = 1000;

/// While it waits for input, the sender lists further directories until this many entries
/// are listed beyond the generator's list. rsync's `io.c` allows `MAX_FILECNT_LOOKAHEAD`
/// (10,000) here, but rsync's sender seldom finds itself idle; ours often is, and with
/// 10,000 entries ahead the remote receiver held a thousand lists of 256 KiB each at once
/// (a 313 MB heap and 3,900 page faults on 20,000 files, against 58 MB and 1,650 with rsync
/// as the client). Twice the minimum keeps the generator fed without that churn.
pub const IDLE_FILECNT_LOOKAHEAD: usize = 2 * MIN_FILECNT_LOOKAHEAD;

/// Where a scanned entry was found: what a directory among them needs to be scanned
/// itself later.
#[derive(Debug)]
struct Scope {
    /// The rules in force in the directory holding the entry.
    chain: FilterChain,
    /// Identities of that directory and the ones above it (for `-L` loops).
    ancestors: Vec<(u64, u64)>,
}

/// A directory of a sent list (rsync's `dir_flist` entry and its tree links).
#[derive(Debug)]
struct DirNode {
    name: Vec<u8>,
    path: PathBuf,
    scope: Arc<Scope>,
    /// Its position among all sent entries.
    slot: usize,
    parent: Option<usize>,
    first_child: Option<usize>,
    next_sibling: Option<usize>,
    /// Same name as the directory before it in its list (several sources): sent in the
    /// same list as that one.
    duplicate: bool,
}

/// One sent file list.
#[derive(Debug, Clone, Copy)]
struct SentList {
    ndx_start: i32,
    first_slot: usize,
    len: usize,
    /// The entry the index `ndx_start − 1` names.
    parent_slot: Option<usize>,
}

/// A list ready to be encoded: entries in transmission order.
#[derive(Debug)]
pub struct PendingList {
    /// The directory index to announce (`None` for the first list).
    pub dir_ndx: Option<i32>,
    /// The index of the list's first entry.
    pub ndx_start: i32,
    /// The entries in the order they are sent.
    pub entries: Vec<LocalEntry>,
    scopes: Vec<Arc<Scope>>,
    /// The directories whose contents these are (several for duplicates).
    run: Vec<usize>,
}

/// What comes next on the sending side.
#[derive(Debug)]
pub enum NextList {
    /// Send this list.
    List(PendingList),
    /// Every list was sent: write `NDX_FLIST_EOF`.
    Eof,
}

/// The sender's incremental-recursion state.
#[derive(Debug)]
pub struct IncrementalLists {
    opts: TransferOptions,
    base_chain: FilterChain,
    dirs: Vec<DirNode>,
    lists: Vec<SentList>,
    /// The oldest list the generator has not finished (earlier ones are freed).
    live: usize,
    /// The list of the latest request.
    current: usize,
    /// The directory whose contents are sent next (`send_dir_ndx`).
    next_dir: Option<usize>,
    eof: bool,
    /// Entries sent so far.
    slots: usize,
    /// What the scans since the last [`IncrementalLists::take_errors`] could not read.
    errors: SenderErrors,
}

impl IncrementalLists {
    /// The state for a push with `opts`.
    pub fn new(opts: &TransferOptions) -> Self {
        IncrementalLists {
            opts: opts.clone(),
            base_chain: opts.filter_chain(),
            dirs: Vec::new(),
            lists: Vec::new(),
            live: 0,
            current: 0,
            next_dir: None,
            eof: false,
            slots: 0,
            errors: SenderErrors::default(),
        }
    }

    /// What the scans since the last call could not read (reported, and left out of the
    /// list).
    pub fn take_errors(&mut self) -> SenderErrors {
        std::mem::take(&mut self.errors)
    }

    /// The first list: each source's top-level entry, and the contents of a `dir/`.
    pub fn first_list(&mut self, sources: &[PathBuf]) -> Result<PendingList, WireError> {
        let top_scope = Arc::new(Scope {
            chain: self.base_chain.clone(),
            ancestors: Vec::new(),
        });
        let mut entries = Vec::new();
        let mut scopes = Vec::new();
        for src in sources {
            let Some(top) = top_entry(src, &self.opts, &mut self.errors)? else {
                continue;
            };
            let contents = top.dot_dir && top.local.entry.is_dir();
            entries.push(top.local);
            scopes.push(Arc::clone(&top_scope));
            if contents {
                let scope = Arc::new(Scope {
                    chain: dir_chain(&self.base_chain, src, &[])?,
                    ancestors: dir_identity(src).into_iter().collect(),
                });
                let listing = (&mut entries, &mut scopes);
                list_level(src, &[], &self.opts, scope, listing, &mut self.errors)?;
            }
        }
        Ok(PendingList {
            dir_ndx: None,
            ndx_start: 1,
            entries,
            scopes,
            run: Vec::new(),
        })
    }

    /// Whether all lists were sent (`NDX_FLIST_EOF` included).
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Whether fewer than [`MIN_FILECNT_LOOKAHEAD`] entries are listed beyond the list
    /// the generator works on, and more lists remain.
    pub fn wants_more(&self) -> bool {
        !self.eof && self.listed_ahead() < MIN_FILECNT_LOOKAHEAD
    }

    /// Whether a sender waiting for input may list one more directory: fewer than
    /// [`IDLE_FILECNT_LOOKAHEAD`] entries are listed ahead (`io.c: perform_io`).
    pub fn may_send_extra(&self) -> bool {
        !self.eof && self.listed_ahead() < IDLE_FILECNT_LOOKAHEAD
    }

    /// Entries listed beyond the end of the list the generator works on.
    fn listed_ahead(&self) -> usize {
        let done = self
            .lists
            .get(self.current)
            .map_or(0, |l| l.first_slot + l.len);
        self.slots.saturating_sub(done)
    }

    /// Scans the next directory's contents (with any duplicates of it); `None` once
    /// `NDX_FLIST_EOF` was handed out.
    pub fn next_list(&mut self) -> Result<Option<NextList>, WireError> {
        if self.eof {
            return Ok(None);
        }
        let Some(first) = self.next_dir else {
            self.eof = true;
            return Ok(Some(NextList::Eof));
        };
        let mut run = vec![first];
        let mut last = first;
        while let Some(n) = self.dirs.get(last).and_then(|d| d.next_sibling)
            && self.dirs.get(n).is_some_and(|d| d.duplicate)
        {
            run.push(n);
            last = n;
        }
        let mut entries = Vec::new();
        let mut scopes = Vec::new();
        for &d in &run {
            let Some(node) = self.dirs.get(d) else {
                continue;
            };
            let Some(id) = enter_dir(&node.path, &node.name, &node.scope.ancestors) else {
                continue;
            };
            let mut ancestors = node.scope.ancestors.clone();
            ancestors.extend(id);
            let scope = Arc::new(Scope {
                chain: dir_chain(&node.scope.chain, &node.path, &node.name)?,
                ancestors,
            });
            let listing = (&mut entries, &mut scopes);
            list_level(
                &node.path,
                &node.name,
                &self.opts,
                scope,
                listing,
                &mut self.errors,
            )?;
        }
        let dir_ndx = i32::try_from(first)
            .map_err(|_| WireError::protocol("too many directories for one transfer"))?;
        Ok(Some(NextList::List(PendingList {
            dir_ndx: Some(dir_ndx),
            ndx_start: self.next_ndx_start(),
            entries,
            scopes,
            run,
        })))
    }

    fn next_ndx_start(&self) -> i32 {
        self.lists
            .last()
            .map_or(1, |l| l.ndx_start + l.len as i32 + 1)
    }

    /// Records `list` as sent, given its sorted order (`order[i]` = transmission position
    /// of the i-th sorted entry): numbers its directories, links them into the tree and
    /// picks the next directory. Returns the entries in sorted (index) order.
    pub fn record(&mut self, list: PendingList, order: &[usize], protocol: u32) -> Vec<LocalEntry> {
        let PendingList {
            ndx_start,
            entries,
            scopes,
            run,
            ..
        } = list;
        let first_slot = self.slots;
        let mut slots_entries: Vec<Option<LocalEntry>> = entries.into_iter().map(Some).collect();
        let mut sorted = Vec::with_capacity(order.len());
        let mut sorted_scopes = Vec::with_capacity(order.len());
        for &i in order {
            if let Some(e) = slots_entries.get_mut(i).and_then(Option::take) {
                sorted.push(e);
                if let Some(sc) = scopes.get(i) {
                    sorted_scopes.push(Arc::clone(sc));
                }
            }
        }
        let is_first = run.is_empty();
        let parent = run.last().copied();
        let parent_slot = if is_first {
            sorted
                .first()
                .filter(|e| e.entry.is_dir() && e.entry.name == b".")
                .map(|_| first_slot)
        } else {
            run.first().and_then(|d| self.dirs.get(*d)).map(|d| d.slot)
        };
        let mut prev_linked: Option<usize> = None;
        let mut first_linked: Option<usize> = None;
        let mut prev_dir_entry: Option<&FileEntry> = None;
        for (pos, (le, scope)) in sorted.iter().zip(sorted_scopes.iter()).enumerate() {
            if !le.entry.is_dir() {
                continue;
            }
            let duplicate = prev_dir_entry.is_some_and(|p| {
                compare_names(p, &le.entry, protocol) == std::cmp::Ordering::Equal
            });
            prev_dir_entry = Some(&le.entry);
            let index = self.dirs.len();
            self.dirs.push(DirNode {
                name: le.entry.name.clone(),
                path: le.path.clone(),
                scope: Arc::clone(scope),
                slot: first_slot + pos,
                parent,
                first_child: None,
                next_sibling: None,
                duplicate,
            });
            if is_first && le.entry.name == b"." {
                continue; // its contents are in this list
            }
            match prev_linked.and_then(|p| self.dirs.get_mut(p)) {
                Some(prev) => prev.next_sibling = Some(index),
                None => first_linked = Some(index),
            }
            prev_linked = Some(index);
        }
        if let Some(p) = parent.and_then(|p| self.dirs.get_mut(p)) {
            p.first_child = first_linked;
        }
        self.lists.push(SentList {
            ndx_start,
            first_slot,
            len: sorted.len(),
            parent_slot,
        });
        self.slots += sorted.len();
        self.next_dir = if is_first {
            first_linked
        } else {
            first_linked.or_else(|| self.after(parent))
        };
        sorted
    }

    /// The next directory after `dir`'s subtree: its next sibling, or an ancestor's.
    fn after(&self, mut dir: Option<usize>) -> Option<usize> {
        while let Some(d) = dir.and_then(|d| self.dirs.get(d)) {
            if d.next_sibling.is_some() {
                return d.next_sibling;
            }
            dir = d.parent;
        }
        None
    }

    /// The entry (position among all sent entries) that the index `ndx` names, in a
    /// list the generator has not finished; `ndx_start − 1` names the list's parent
    /// directory. `None` for any other index.
    pub fn locate(&mut self, ndx: i32) -> Option<usize> {
        let live = self.lists.get(self.live..)?;
        let k = live
            .partition_point(|l| l.ndx_start - 1 <= ndx)
            .checked_sub(1)?;
        let list = live.get(k)?;
        let slot = if ndx == list.ndx_start - 1 {
            list.parent_slot?
        } else {
            let pos = usize::try_from(ndx - list.ndx_start).ok()?;
            if pos >= list.len {
                return None;
            }
            list.first_slot + pos
        };
        self.current = self.live + k;
        Some(slot)
    }

    /// `NDX_DONE` from the generator: the oldest list is finished. True when lists
    /// remain (the sender echoes the `NDX_DONE`); false when none does (a phase ends).
    pub fn finish_list(&mut self) -> bool {
        if self.live >= self.lists.len() {
            return false;
        }
        self.live += 1;
        self.current = self.current.max(self.live);
        self.live < self.lists.len()
    }

    /// How many lists were sent.
    pub fn lists_sent(&self) -> usize {
        self.lists.len()
    }
}

/// Lists the directory `path` (named `name` in the list) in `scope`: its entries go to
/// `listing.0`, and `scope` once for each of them to `listing.1`.
fn list_level(
    path: &std::path::Path,
    name: &[u8],
    opts: &TransferOptions,
    scope: Arc<Scope>,
    listing: (&mut Vec<LocalEntry>, &mut Vec<Arc<Scope>>),
    errors: &mut SenderErrors,
) -> Result<(), WireError> {
    let (entries, scopes) = listing;
    let before = entries.len();
    read_dir_level(
        path,
        name,
        opts,
        &scope.chain,
        true,
        &scope.ancestors,
        entries,
        errors,
    )?;
    scopes.extend((before..entries.len()).map(|_| Arc::clone(&scope)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &std::path::Path) {
        for d in ["a/x", "a/y", "b", "c/z/w"] {
            std::fs::create_dir_all(root.join(d)).unwrap_or_else(|e| panic!("{e}"));
        }
        for f in ["f", "a/f", "a/x/f", "c/z/w/f"] {
            std::fs::write(root.join(f), b"x").unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn sorted_order(entries: &[LocalEntry]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|a, b| match (entries.get(*a), entries.get(*b)) {
            (Some(x), Some(y)) => compare_names(&x.entry, &y.entry, 31),
            _ => std::cmp::Ordering::Equal,
        });
        order
    }

    fn names(entries: &[LocalEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.entry.name).into_owned())
            .collect()
    }

    #[test]
    fn lists_go_depth_first_with_gapped_indexes() {
        let dir = std::env::temp_dir().join(format!("rdsync-inc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        tree(&dir);
        let opts = TransferOptions::archive();
        let mut lists = IncrementalLists::new(&opts);
        let mut src = dir.clone().into_os_string();
        src.push("/");
        let first = lists
            .first_list(&[PathBuf::from(src)])
            .unwrap_or_else(|e| panic!("{e}"));
        let order = sorted_order(&first.entries);
        let sorted = lists.record(first, &order, 31);
        assert_eq!(names(&sorted), [".", "f", "a", "b", "c"]);
        let mut seen = Vec::new();
        while let Ok(Some(NextList::List(l))) = lists.next_list() {
            let (dir_ndx, start) = (l.dir_ndx, l.ndx_start);
            let order = sorted_order(&l.entries);
            let sorted = lists.record(l, &order, 31);
            seen.push((dir_ndx, start, names(&sorted)));
        }
        assert!(lists.eof());
        let want: Vec<(Option<i32>, i32, Vec<&str>)> = vec![
            (Some(1), 7, vec!["a/f", "a/x", "a/y"]),
            (Some(4), 11, vec!["a/x/f"]),
            (Some(5), 13, vec![]),
            (Some(2), 14, vec![]),
            (Some(3), 15, vec!["c/z"]),
            (Some(6), 17, vec!["c/z/w"]),
            (Some(7), 19, vec!["c/z/w/f"]),
        ];
        let got: Vec<(Option<i32>, i32, Vec<&str>)> = seen
            .iter()
            .map(|(d, s, n)| (*d, *s, n.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(got, want);
        // Index 6 is the gap before list 2: it names `a` (slot 2).
        assert_eq!(lists.locate(6), Some(2));
        assert_eq!(lists.locate(0), Some(0));
        assert_eq!(lists.locate(7), Some(5));
        assert_eq!(lists.locate(20), None);
        assert_eq!(lists.locate(-5), None);
        assert!(lists.finish_list());
        assert_eq!(lists.locate(1), None, "a finished list is gone");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Listing stops at the minimum look-ahead while requests come, and at the idle
    /// bound while the sender waits; it never runs to the end of a big tree.
    #[test]
    fn look_ahead_is_bounded() {
        let dir = std::env::temp_dir().join(format!("rdsync-ahead-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in 0..300 {
            let sub = dir.join(format!("d{d:03}"));
            std::fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("{e}"));
            for f in 0..10 {
                std::fs::write(sub.join(format!("f{f}")), b"x").unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let opts = TransferOptions::archive();
        let mut lists = IncrementalLists::new(&opts);
        let mut src = dir.clone().into_os_string();
        src.push("/");
        let first = lists
            .first_list(&[PathBuf::from(src)])
            .unwrap_or_else(|e| panic!("{e}"));
        let order = sorted_order(&first.entries);
        lists.record(first, &order, 31);
        let send_while = |lists: &mut IncrementalLists, more: fn(&IncrementalLists) -> bool| {
            while more(lists) {
                match lists.next_list() {
                    Ok(Some(NextList::List(l))) => {
                        let order = sorted_order(&l.entries);
                        lists.record(l, &order, 31);
                    }
                    other => panic!("unexpected {:?}", other.map(|o| o.is_some())),
                }
            }
        };
        send_while(&mut lists, IncrementalLists::wants_more);
        let ahead = lists.listed_ahead();
        assert!(
            (MIN_FILECNT_LOOKAHEAD..MIN_FILECNT_LOOKAHEAD + 10).contains(&ahead),
            "{ahead}"
        );
        send_while(&mut lists, IncrementalLists::may_send_extra);
        let ahead = lists.listed_ahead();
        assert!(
            (IDLE_FILECNT_LOOKAHEAD..IDLE_FILECNT_LOOKAHEAD + 10).contains(&ahead),
            "{ahead}"
        );
        assert!(!lists.eof(), "the rest of the tree waits for the generator");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
