//! Hard-link groups for `-H`: non-directories (files, symlinks, devices, FIFOs) sharing
//! (dev, inode) in the source.
//!
//! rsync's generator walks the sorted list; a member whose destination is missing waits
//! unless it is the group's last member, the first member that is transferred (or found up
//! to date) becomes the leader, and every other member is then hard-linked to the leader.

use std::collections::HashMap;

use crate::flist::FileEntry;
use crate::fs::FileKind;

/// The hard-link groups of a sorted file list.
#[derive(Debug, Default)]
pub(crate) struct HardLinkGroups {
    /// Entry index → group number.
    pub group_of: HashMap<usize, usize>,
    /// Members of each group, in sorted-list order.
    pub members: Vec<Vec<usize>>,
    /// The member each group links to, once known.
    pub leader: Vec<Option<usize>>,
    /// Members waiting for their group's leader.
    pub waiting: Vec<Vec<usize>>,
}

impl HardLinkGroups {
    /// Finds the groups among `entries` (sorted).
    pub fn new(entries: &[FileEntry]) -> Self {
        let mut by_inode: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if e.kind() != FileKind::Dir && e.stat.nlink > 1 {
                by_inode
                    .entry((e.stat.dev, e.stat.ino))
                    .or_default()
                    .push(i);
            }
        }
        let mut groups = HardLinkGroups::default();
        let mut lists: Vec<Vec<usize>> = by_inode.into_values().filter(|m| m.len() > 1).collect();
        lists.sort();
        for members in lists {
            let g = groups.members.len();
            for &m in &members {
                groups.group_of.insert(m, g);
            }
            groups.members.push(members);
            groups.leader.push(None);
            groups.waiting.push(Vec::new());
        }
        groups
    }

    /// Whether `i` is the last member of its group.
    pub fn is_last(&self, g: usize, i: usize) -> bool {
        self.members.get(g).and_then(|m| m.last()) == Some(&i)
    }
}
