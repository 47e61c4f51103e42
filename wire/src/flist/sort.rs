//! rsync's file-list order (`flist.c: f_name_cmp`) and the receiver's duplicate removal
//! (`flist_sort_and_clean`).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::entry::FileEntry;

/// One comparison unit of a name: (0 = final non-directory item, 1 = path level), the
/// component's bytes, and whether a `/` follows them (path levels end in one).
type Unit<'a> = (u8, &'a [u8], bool);

/// The comparison units of `name` in order, as rsync's `f_name_cmp` walks them (protocol
/// 29+): every directory level is `comp/` of class 1; the final item is class 0, or class 1
/// with a `/` when it is a directory (`.` itself is an empty class-0 unit).
fn units(name: &[u8], is_dir: bool) -> impl Iterator<Item = Unit<'_>> {
    let last = name.iter().filter(|b| **b == b'/').count();
    name.split(|b| *b == b'/')
        .enumerate()
        .map(move |(i, comp)| {
            if i < last {
                (1, comp, true)
            } else if is_dir {
                if comp == b"." {
                    (0, &[][..], false)
                } else {
                    (1, comp, true)
                }
            } else {
                (0, comp, false)
            }
        })
}

/// Compares two units: class first, then the bytes with their trailing `/`.
fn compare_units(a: Unit<'_>, b: Unit<'_>) -> Ordering {
    let slash = |s: bool| if s { Some(b'/') } else { None };
    a.0.cmp(&b.0).then_with(|| {
        a.1.iter()
            .copied()
            .chain(slash(a.2))
            .cmp(b.1.iter().copied().chain(slash(b.2)))
    })
}

/// Compares two entries as rsync's `f_name_cmp` does for `protocol`, without allocating.
pub fn compare_names(a: &FileEntry, b: &FileEntry, protocol: u32) -> Ordering {
    if protocol < 29 {
        return a.name.cmp(&b.name);
    }
    let mut ua = units(&a.name, a.is_dir());
    let mut ub = units(&b.name, b.is_dir());
    loop {
        match (ua.next(), ub.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match compare_units(x, y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

/// Sorts entries stably into rsync's index order, in place (no copies of the entries).
pub fn sort_file_list(entries: &mut [FileEntry], protocol: u32) {
    entries.sort_by(|a, b| compare_names(a, b, protocol));
}

/// The receiver's duplicate removal on a sorted list: returns which indexes stay active.
/// For equal names the first is kept, except that a directory wins over a non-directory.
pub fn clean_duplicates(sorted: &[FileEntry]) -> Vec<bool> {
    let mut active = vec![true; sorted.len()];
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for (i, e) in sorted.iter().enumerate() {
        match seen.get(e.name.as_slice()).copied() {
            None => {
                seen.insert(&e.name, i);
            }
            Some(j) => {
                let prev_is_dir = sorted.get(j).is_some_and(FileEntry::is_dir);
                if e.is_dir() && !prev_is_dir {
                    if let Some(a) = active.get_mut(j) {
                        *a = false;
                    }
                    seen.insert(&e.name, i);
                } else if let Some(a) = active.get_mut(i) {
                    *a = false;
                }
            }
        }
    }
    active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::mode;

    fn e(name: &str, dir: bool) -> FileEntry {
        FileEntry {
            name: name.as_bytes().to_vec(),
            mode: if dir {
                mode::S_IFDIR | 0o755
            } else {
                mode::S_IFREG | 0o644
            },
            ..FileEntry::default()
        }
    }

    fn order(list: &[(&str, bool)], proto: u32) -> Vec<String> {
        let mut v: Vec<FileEntry> = list.iter().map(|(n, d)| e(n, *d)).collect();
        sort_file_list(&mut v, proto);
        v.iter()
            .map(|x| String::from_utf8_lossy(&x.name).into_owned())
            .collect()
    }

    const TREE: &[(&str, bool)] = &[
        ("e", true),
        ("d1", true),
        ("d1/d2/c", false),
        ("d1/d2", true),
        ("d1/sl", false),
        ("d1/b", false),
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
    fn protocol_29_plus_order_matches_the_capture() {
        assert_eq!(
            order(TREE, 31),
            [
                ".", "Z upper", "a", "blk", "empty", "fifo", "hl_a", "d1.x", "d1.x/x", "d1",
                "d1/b", "d1/sl", "d1/d2", "d1/d2/c", "e"
            ]
        );
    }

    #[test]
    fn protocol_27_order_matches_the_capture() {
        assert_eq!(
            order(TREE, 27),
            [
                ".", "Z upper", "a", "blk", "d1", "d1.x", "d1.x/x", "d1/b", "d1/d2", "d1/d2/c",
                "d1/sl", "e", "empty", "fifo", "hl_a"
            ]
        );
    }

    /// The order as a list of owned (class, bytes) units, built the slow obvious way.
    fn reference_key(name: &[u8], is_dir: bool) -> Vec<(u8, Vec<u8>)> {
        let comps: Vec<&[u8]> = name.split(|b| *b == b'/').collect();
        let last = comps.len() - 1;
        comps
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let with_slash = || [*c, b"/"].concat();
                if i < last || (is_dir && *c != b".") {
                    (1, with_slash())
                } else if is_dir {
                    (0, Vec::new())
                } else {
                    (0, c.to_vec())
                }
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn comparison_equals_the_reference_order(
            a in "[a./-]{1,6}", b in "[a./-]{1,6}", da: bool, db: bool,
        ) {
            let (ea, eb) = (e(&a, da), e(&b, db));
            let want = reference_key(a.as_bytes(), da).cmp(&reference_key(b.as_bytes(), db));
            proptest::prop_assert_eq!(compare_names(&ea, &eb, 31), want);
        }
    }

    #[test]
    fn duplicates_keep_the_directory() {
        let v = vec![e("a", false), e("b", false), e("b", false), e("a", true)];
        assert_eq!(clean_duplicates(&v), [false, true, false, true]);
    }
}
