//! The receiving side's incremental file lists (`CF_INC_RECURSE`, as the pulling client:
//! `flist.c: recv_file_list`, `flist_new`; `rsync.c: read_ndx_and_attrs`,
//! `flist_for_ndx`; `generator.c: generate_files`, `check_for_finished_files`).
//!
//! The first list holds the top-level entries; every directory's contents follow as a
//! list of its own, announced by `NDX_FLIST_OFFSET − dir_ndx`, where `dir_ndx` numbers
//! the directories of all lists received so far (each list's in sorted order: rsync's
//! `dir_flist`). Lists are numbered one after another: the first starts at index 1,
//! each later one at the end of the one before plus one, and the unused index just
//! before each list (`ndx_start − 1`) names its parent directory.
//!
//! This module keeps those numbers and enforces what rsync 3.5.0 enforces of a hostile
//! sender: the announced directory must exist, be live and get one list only; every name
//! of a list must lie directly in its directory. The entries themselves live in the
//! pull machine, one slot per index (the gap before a list included).

use crate::codec::NDX_FLIST_OFFSET;
use crate::error::WireError;
use crate::flist::FileEntry;

/// At most this many entries over all the lists of one session (the single-list cap).
pub const MAX_TOTAL_ENTRIES: usize = crate::flist::MAX_FILE_LIST_ENTRIES;

/// One received list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedList {
    /// The index of its first entry.
    pub ndx_start: usize,
    /// How many entries it has (duplicates included).
    pub len: usize,
    /// The slot of its parent directory's entry (`None`: the first list without a
    /// `.`, whose gap names nothing).
    pub parent_slot: Option<usize>,
}

impl ReceivedList {
    /// The index after its last entry.
    pub fn end(&self) -> usize {
        self.ndx_start + self.len
    }
}

/// A directory of rsync's `dir_flist`.
#[derive(Debug, Clone, Copy)]
struct DirRef {
    /// Its slot (index) among all entries.
    slot: usize,
    /// Still in its list after duplicate removal.
    active: bool,
    /// Its list arrived.
    got_list: bool,
}

/// The incremental lists of one pull.
#[derive(Debug, Default)]
pub struct IncomingLists {
    lists: Vec<ReceivedList>,
    dirs: Vec<DirRef>,
    /// `NDX_FLIST_EOF` arrived.
    eof: bool,
    /// Lists the generator sent `NDX_DONE` for (the oldest first).
    gen_done: usize,
    /// `NDX_DONE`s the sender echoed for lists (each frees the oldest list).
    freed: usize,
    /// Entries over all lists.
    total: usize,
}

impl IncomingLists {
    /// No list yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index the next list starts at.
    pub fn next_ndx_start(&self) -> usize {
        self.lists.last().map_or(1, |l| l.end() + 1)
    }

    /// How many lists arrived.
    pub fn count(&self) -> usize {
        self.lists.len()
    }

    /// List `k`.
    pub fn get(&self, k: usize) -> Option<&ReceivedList> {
        self.lists.get(k)
    }

    /// Whether `NDX_FLIST_EOF` arrived.
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// `NDX_FLIST_EOF` arrived.
    pub fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Lists the generator finished (sent `NDX_DONE` for).
    pub fn gen_done(&self) -> usize {
        self.gen_done
    }

    /// The generator sent `NDX_DONE` for the oldest unfinished list.
    pub fn mark_gen_done(&mut self) {
        self.gen_done += 1;
    }

    /// The sender echoed an `NDX_DONE`: it frees the oldest list. Returns whether that
    /// was the last list — the end of phase 0 (`recv_files`: once no list is left, the
    /// `NDX_DONE` counts as a phase).
    pub fn echo_done(&mut self) -> Result<bool, WireError> {
        if self.freed >= self.gen_done {
            return Err(WireError::protocol(format!(
                "unexpected NDX_DONE from the sender ({} of {} lists finished)",
                self.freed, self.gen_done
            )));
        }
        self.freed += 1;
        Ok(self.eof && self.freed == self.lists.len())
    }

    /// Every list was freed: the phase-0 lists are over.
    pub fn all_freed(&self) -> bool {
        self.eof && self.freed == self.lists.len()
    }

    /// `read_ndx_and_attrs` for a negative index below `NDX_FLIST_EOF`: the directory
    /// whose list follows, checked as rsync 3.5.0 checks it (`Invalid dir index`, a
    /// list after the last was freed, a cleared directory, a second list for the same
    /// directory). Returns the directory's number and slot.
    pub fn announce(&mut self, ndx: i32) -> Result<(usize, usize), WireError> {
        let used = self.dirs.len();
        let dir = i64::from(NDX_FLIST_OFFSET) - i64::from(ndx);
        let Some(d) = usize::try_from(dir).ok().filter(|d| *d < used) else {
            return Err(WireError::protocol(format!(
                "Invalid dir index: {ndx} ({NDX_FLIST_OFFSET} - {}) [receiver]",
                i64::from(NDX_FLIST_OFFSET) - used as i64 + 1
            )));
        };
        if self.lists.is_empty() || self.all_freed() {
            return Err(WireError::protocol(
                "rsync: refusing sub-flist after final flist was freed",
            ));
        }
        let r = self
            .dirs
            .get_mut(d)
            .ok_or_else(|| WireError::protocol(format!("Invalid dir index: {ndx}")))?;
        if !r.active {
            return Err(WireError::protocol(format!(
                "rsync: refusing flist for cleared dir_ndx {d}"
            )));
        }
        if r.got_list {
            return Err(WireError::protocol(format!(
                "rsync: refusing malicious duplicate flist for dir {d}"
            )));
        }
        r.got_list = true;
        Ok((d, r.slot))
    }

    /// Checks a received list (transmission order) against its directory `dir_name`
    /// (`None` for the first list: top-level names only), as `recv_file_list` does, and
    /// the entry total against [`MAX_TOTAL_ENTRIES`].
    pub fn check_names(
        &self,
        received: &[FileEntry],
        dir_name: Option<&[u8]>,
    ) -> Result<(), WireError> {
        if self.total.saturating_add(received.len()) > MAX_TOTAL_ENTRIES {
            return Err(WireError::protocol(format!(
                "file list too long: more than {MAX_TOTAL_ENTRIES} entries"
            )));
        }
        let want: &[u8] = match dir_name {
            Some(d) => d,
            None => b"",
        };
        for e in received {
            let (parent, base) = split_name(&e.name);
            // ("d/." would be rsync's "d" after clean_fname: not inside "d" either.)
            let dot = dir_name.is_some() && (base == b"." || base.is_empty());
            if parent != want || dot {
                return Err(WireError::Unsupported(format!(
                    "ABORTING due to invalid path from sender: {}/{}",
                    crate::mux::escape_control_chars(parent),
                    crate::mux::escape_control_chars(base)
                )));
            }
        }
        Ok(())
    }

    /// Records a list of `len` entries starting at `ndx_start` whose directories (in
    /// sorted order, with whether each stayed active) are `dirs`.
    pub fn add(
        &mut self,
        ndx_start: usize,
        len: usize,
        parent_slot: Option<usize>,
        dirs: impl IntoIterator<Item = (usize, bool)>,
    ) {
        self.lists.push(ReceivedList {
            ndx_start,
            len,
            parent_slot,
        });
        self.total += len;
        self.dirs
            .extend(dirs.into_iter().map(|(slot, active)| DirRef {
                slot,
                active,
                got_list: false,
            }));
    }

    /// The list holding index `ndx`, counting each list's gap as its own
    /// (`flist_for_ndx`); rsync's error text when there is none.
    pub fn list_of(&self, ndx: usize) -> Result<usize, WireError> {
        let k = self.lists.partition_point(|l| l.end() <= ndx);
        match self.lists.get(k) {
            Some(l) if ndx + 1 >= l.ndx_start => Ok(k),
            _ => {
                let first = self.lists.first().map_or(0, |l| l.ndx_start - 1);
                let last = self.lists.last().map_or(-1, |l| l.end() as i64 - 1);
                Err(WireError::protocol(format!(
                    "File-list index {ndx} not in {first} - {last} (read_ndx_and_attrs) [receiver]"
                )))
            }
        }
    }
}

/// A name's directory and base name (`""` for a top-level name, and for `.`).
pub fn split_name(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|c| *c == b'/') {
        Some(at) => (
            name.get(..at).unwrap_or_default(),
            name.get(at + 1..).unwrap_or_default(),
        ),
        None => (&b""[..], name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> FileEntry {
        FileEntry {
            name: name.as_bytes().to_vec(),
            mode: 0o040755,
            ..FileEntry::default()
        }
    }

    #[test]
    fn numbering_leaves_a_gap_before_each_list() {
        let mut l = IncomingLists::new();
        assert_eq!(l.next_ndx_start(), 1);
        l.add(1, 3, Some(0), [(1, true), (2, true)]);
        assert_eq!(l.next_ndx_start(), 5);
        assert_eq!(l.list_of(0).ok(), Some(0));
        assert_eq!(l.list_of(3).ok(), Some(0));
        assert!(l.list_of(4).is_err());
        assert_eq!(l.announce(NDX_FLIST_OFFSET - 1).ok(), Some((1, 2)));
        l.add(5, 2, Some(2), []);
        assert_eq!(l.list_of(4).ok(), Some(1));
        assert_eq!(l.list_of(6).ok(), Some(1));
        assert!(l.list_of(7).is_err());
    }

    #[test]
    fn hostile_announcements_are_refused() {
        let mut l = IncomingLists::new();
        l.add(1, 3, Some(0), [(1, true), (2, false)]);
        let err = |r: Result<(usize, usize), WireError>| r.err().map(|e| e.to_string());
        assert!(
            err(l.announce(NDX_FLIST_OFFSET - 2))
                .is_some_and(|e| e.contains("Invalid dir index: -103 (-101 - -102)"))
        );
        assert!(err(l.announce(-50)).is_some_and(|e| e.contains("Invalid dir index: -50")));
        assert!(
            err(l.announce(NDX_FLIST_OFFSET - 1))
                .is_some_and(|e| e.contains("refusing flist for cleared dir_ndx 1"))
        );
        assert!(l.announce(NDX_FLIST_OFFSET).is_ok());
        assert!(
            err(l.announce(NDX_FLIST_OFFSET))
                .is_some_and(|e| e.contains("refusing malicious duplicate flist for dir 0"))
        );
    }

    #[test]
    fn names_must_lie_in_their_directory() {
        let l = IncomingLists::new();
        assert!(l.check_names(&[dir("."), dir("a")], None).is_ok());
        assert!(l.check_names(&[dir("a/b")], None).is_err());
        assert!(l.check_names(&[dir("a/b")], Some(b"a")).is_ok());
        assert!(l.check_names(&[dir("a/.")], Some(b"a")).is_err());
        let e = l.check_names(&[dir("a/b/c")], Some(b"a")).err();
        assert!(e.is_some_and(|e| {
            e.to_string()
                .contains("ABORTING due to invalid path from sender: a/b/c")
        }));
    }
}
