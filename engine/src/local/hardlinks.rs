//! Hard-link groups for `-H`: entries sharing (dev, inode) in the source; the first one in
//! rsync's transmission order is the leader, the others are linked to it.

use std::collections::HashMap;

use crate::flist::FileEntry;
use crate::fs::FileKind;

/// For each entry index, the index of its group leader if it is a follower.
pub(crate) fn followers(entries: &[FileEntry]) -> HashMap<usize, usize> {
    let mut groups: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.kind() != FileKind::Dir && e.stat.nlink > 1 {
            groups.entry((e.stat.dev, e.stat.ino)).or_default().push(i);
        }
    }
    let mut out = HashMap::new();
    for members in groups.values() {
        if members.len() < 2 {
            continue;
        }
        let Some(&leader) = members
            .iter()
            .min_by_key(|&&i| (entries[i].source, entries[i].scan_order))
        else {
            continue;
        };
        for &m in members {
            if m != leader {
                out.insert(m, leader);
            }
        }
    }
    out
}
