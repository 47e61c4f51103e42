//! rsync's file-list order (`flist.c: f_name_cmp`) and the receiver's duplicate removal
//! (`flist_sort_and_clean`).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::entry::FileEntry;

/// A sort key: one (class, bytes) unit per path component.
type SortKey = Vec<(u8, Vec<u8>)>;

/// One comparison unit: (0 = final non-directory item, 1 = path level), bytes.
fn sort_key(name: &[u8], is_dir: bool, protocol: u32) -> SortKey {
    if protocol < 29 {
        return vec![(0, name.to_vec())];
    }
    let comps: Vec<&[u8]> = name.split(|b| *b == b'/').collect();
    let last = comps.len().saturating_sub(1);
    let mut key = Vec::with_capacity(comps.len());
    for (i, comp) in comps.iter().enumerate() {
        if i < last {
            let mut c = comp.to_vec();
            c.push(b'/');
            key.push((1, c));
        } else if is_dir {
            if *comp == b"." {
                key.push((0, Vec::new()));
            } else {
                let mut c = comp.to_vec();
                c.push(b'/');
                key.push((1, c));
            }
        } else {
            key.push((0, comp.to_vec()));
        }
    }
    key
}

/// Compares two entries as rsync's `f_name_cmp` does for `protocol`.
pub fn compare_names(a: &FileEntry, b: &FileEntry, protocol: u32) -> Ordering {
    sort_key(&a.name, a.is_dir(), protocol).cmp(&sort_key(&b.name, b.is_dir(), protocol))
}

/// Sorts entries stably into rsync's index order.
pub fn sort_file_list(entries: &mut [FileEntry], protocol: u32) {
    let mut keyed: Vec<(SortKey, FileEntry)> = entries
        .iter()
        .map(|e| (sort_key(&e.name, e.is_dir(), protocol), e.clone()))
        .collect();
    keyed.sort_by(|x, y| x.0.cmp(&y.0));
    for (slot, (_, e)) in entries.iter_mut().zip(keyed) {
        *slot = e;
    }
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

    #[test]
    fn duplicates_keep_the_directory() {
        let v = vec![e("a", false), e("b", false), e("b", false), e("a", true)];
        assert_eq!(clean_duplicates(&v), [false, true, false, true]);
    }
}
