//! rsync's file-list order (`flist.c: f_name_cmp`).
//!
//! Protocol ≥ 29: names are compared component by component; at each level a final
//! non-directory component sorts before anything that is (or continues as) a directory, and
//! directory components compare as if they ended in `/`. A name of `.` compares as empty.
//! Protocol < 29: plain unsigned byte order of the whole names.

use std::cmp::Ordering;

use super::entry::FileEntry;

fn components(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let name: &[u8] = if name == b"." { b"" } else { name };
    name.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// Compares two names in rsync's protocol ≥ 29 order. `a_is_dir`/`b_is_dir` say whether the
/// named objects themselves are directories.
pub fn compare_names(a: &[u8], a_is_dir: bool, b: &[u8], b_is_dir: bool) -> Ordering {
    let mut ia = components(a).peekable();
    let mut ib = components(b).peekable();
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(ca), Some(cb)) => {
                // A component is a "leaf file" if it is the last one and not a directory.
                let a_leaf = ia.peek().is_none() && !a_is_dir;
                let b_leaf = ib.peek().is_none() && !b_is_dir;
                let ord = match (a_leaf, b_leaf) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => ca.cmp(cb),
                    (false, false) => ca.iter().chain(b"/").cmp(cb.iter().chain(b"/")),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Compares two names in rsync's protocol < 29 order: unsigned bytes of the whole name.
pub fn compare_names_proto28(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

/// Compares two entries in the order of `protocol`.
pub fn compare_entries(a: &FileEntry, b: &FileEntry, protocol: u32) -> Ordering {
    if protocol >= 29 {
        compare_names(&a.name, a.is_dir(), &b.name, b.is_dir())
    } else {
        compare_names_proto28(&a.name, &b.name)
    }
}

/// Sorts a file list in the order of `protocol` (stable: equal names keep their order).
pub fn sort_entries(entries: &mut [FileEntry], protocol: u32) {
    entries.sort_by(|a, b| compare_entries(a, b, protocol));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(items: &[(&str, bool)], proto29: bool) -> Vec<String> {
        let mut v: Vec<(&str, bool)> = items.to_vec();
        if proto29 {
            v.sort_by(|a, b| compare_names(a.0.as_bytes(), a.1, b.0.as_bytes(), b.1));
        } else {
            v.sort_by(|a, b| compare_names_proto28(a.0.as_bytes(), b.0.as_bytes()));
        }
        v.into_iter().map(|(n, _)| n.to_string()).collect()
    }

    const EXAMPLE: &[(&str, bool)] = &[
        ("e", true),
        ("d1/d2/c", false),
        ("d1/d2", true),
        ("d1/sl", false),
        ("d1/b", false),
        ("d1", true),
        ("d1.x/x", false),
        ("d1.x", true),
        ("hl_a", false),
        ("fifo", false),
        ("empty", false),
        ("blk", false),
        ("a", false),
        ("Z upper", false),
        (".", true),
    ];

    #[test]
    fn protocol_29_order_matches_capture() {
        let want = [
            ".", "Z upper", "a", "blk", "empty", "fifo", "hl_a", "d1.x", "d1.x/x", "d1", "d1/b",
            "d1/sl", "d1/d2", "d1/d2/c", "e",
        ];
        assert_eq!(sorted(EXAMPLE, true), want);
    }

    #[test]
    fn protocol_27_order_matches_capture() {
        let want = [
            ".", "Z upper", "a", "blk", "d1", "d1.x", "d1.x/x", "d1/b", "d1/d2", "d1/d2/c",
            "d1/sl", "e", "empty", "fifo", "hl_a",
        ];
        assert_eq!(sorted(EXAMPLE, false), want);
    }

    #[test]
    fn files_before_dirs_at_each_level() {
        assert_eq!(compare_names(b"zz", false, b"a", true), Ordering::Less);
        assert_eq!(
            compare_names(b"a/zz", false, b"a/b/c", false),
            Ordering::Less
        );
        assert_eq!(compare_names(b"a", true, b"a/b", false), Ordering::Less);
        assert_eq!(compare_names(b".", true, b"-x", false), Ordering::Less);
        assert_eq!(compare_names_proto28(b"-x", b"."), Ordering::Less);
    }
}
