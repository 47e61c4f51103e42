//! rsync's file-list order (`flist.c: f_name_cmp`).
//!
//! Protocol ≥ 29: names are compared component by component; at each level a final
//! non-directory component sorts before anything that is (or continues as) a directory, and
//! directory components compare as if they ended in `/`. A name of `.` compares as empty.
//! Protocol < 29: plain unsigned byte order of the whole names.

use std::cmp::Ordering;

use super::entry::FileEntry;

#[cfg(test)]
fn components(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let name: &[u8] = if name == b"." { b"" } else { name };
    name.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// Compares two names in rsync's protocol ≥ 29 order. `a_is_dir`/`b_is_dir` say whether the
/// named objects themselves are directories.
pub fn compare_names(a: &[u8], a_is_dir: bool, b: &[u8], b_is_dir: bool) -> Ordering {
    let a: &[u8] = if a == b"." { b"" } else { a };
    let b: &[u8] = if b == b"." { b"" } else { b };
    // Skip the common prefix, then back up to the start of the component it ends in: the
    // components before it are equal.
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    // `p` is at most the length of either name: these never fall back.
    let (common, a_rest) = a.split_at_checked(p).unwrap_or((a, b""));
    let b_rest = b.get(p..).unwrap_or_default();
    if a_rest.is_empty() && b_rest.is_empty() {
        // The same name: a non-directory sorts before a directory.
        return a_is_dir.cmp(&b_is_dir);
    }
    let c = common
        .iter()
        .rposition(|&x| x == b'/')
        .map_or(0, |at| at + 1);
    if c == a.len() || c == b.len() {
        // One name ends before the component: it is a directory, and it comes first.
        return if c == a.len() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // `c <= p`: the components the names differ in (and everything after them).
    let a_comp = a.get(c..).unwrap_or_default();
    let b_comp = b.get(c..).unwrap_or_default();
    let a_leaf = !a_is_dir && !a_comp.contains(&b'/');
    let b_leaf = !b_is_dir && !b_comp.contains(&b'/');
    match (a_leaf, b_leaf) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (true, true) => return a_rest.cmp(b_rest),
        (false, false) => {}
    }
    // Both continue as directories: compare the components as if they ended in '/'.
    let ea = a_rest.first().copied().unwrap_or(b'/');
    let eb = b_rest.first().copied().unwrap_or(b'/');
    if ea == eb {
        // Both components end here; the name that ends is the parent of the other.
        return if a_rest.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    ea.cmp(&eb)
}

/// The component-by-component reference version of [`compare_names`].
#[cfg(test)]
fn compare_names_reference(a: &[u8], a_is_dir: bool, b: &[u8], b_is_dir: bool) -> Ordering {
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

    proptest::proptest! {
        #[test]
        fn fast_compare_equals_reference(
            a in "[ab./]{0,8}", ad: bool, b in "[ab./]{0,8}", bd: bool
        ) {
            let clean = |s: &str| {
                let v: Vec<&str> = s.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
                if v.is_empty() { ".".to_string() } else { v.join("/") }
            };
            let (a, b) = (clean(&a), clean(&b));
            let (ad, bd) = (ad || a == ".", bd || b == ".");
            proptest::prop_assert_eq!(
                compare_names(a.as_bytes(), ad, b.as_bytes(), bd),
                compare_names_reference(a.as_bytes(), ad, b.as_bytes(), bd),
                "{} {} / {} {}", a, ad, b, bd
            );
        }
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
