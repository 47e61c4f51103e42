//! Look-ahead: destination `lstat`s (and, with `-c`, content checksums) for a window of entries, computed in parallel.

use super::*;

/// Entries of one directory `lstat`ed by one task.
const PREFETCH_GROUP: usize = 256;

impl Generator<'_> {
    /// With `-c`, hashes (in parallel) the source and destination of every regular file in
    /// the window whose destination is a regular file of the same size.
    pub(super) fn prefetch_checksums(&mut self, start: usize, end: usize) {
        self.prefetched_same.clear();
        let candidates: Vec<usize> = (start..end)
            .filter(|&i| {
                let e = &self.entries[i];
                e.kind() == FileKind::File
                    && matches!(self.prefetched.get(&i), Some(Some(st))
                        if st.kind() == FileKind::File && st.size == e.stat.size)
            })
            .collect();
        let Some(root) = self.plan.root.as_ref() else {
            return;
        };
        let entries = &self.entries;
        let bases = &self.src_bases;
        let mut groups: Vec<(&[u8], Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<&[u8], usize> = HashMap::new();
        for &i in &candidates {
            let parent = dir_of(&entries[i].name);
            match group_of.get(parent) {
                Some(&g) => groups[g].1.push(i),
                None => {
                    group_of.insert(parent, groups.len());
                    groups.push((parent, vec![i]));
                }
            }
        }
        let results: Vec<(usize, bool)> = groups
            .par_iter()
            .flat_map(|(parent, idxs)| {
                let dir = root.open_dir(parent).ok();
                idxs.par_iter()
                    .map(|&i| {
                        let e = &entries[i];
                        let src = bases
                            .get(e.source as usize)
                            .and_then(|b| b.as_ref())
                            .and_then(|b| b.open_read_beneath(&e.name).ok())
                            .and_then(|fd| file_digest(fd).ok());
                        let dst = dir
                            .as_ref()
                            .and_then(|d| d.open_read(base_of(&e.name)).ok())
                            .and_then(|fd| file_digest(fd).ok());
                        (i, matches!((src, dst), (Some(a), Some(b)) if a == b))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        self.prefetched_same.extend(results);
    }

    /// `lstat`s, in parallel, the destinations of the entries from `start` on (one window),
    /// one destination directory per task.
    pub(super) fn prefetch(&mut self, start: usize) {
        let end = (start + PREFETCH_WINDOW).min(self.entries.len());
        self.prefetched.clear();
        self.prefetched_until = end;
        if self.plan.rename.is_some() || self.plan.root.is_none() {
            return;
        }
        let mut groups: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<&[u8], usize> = HashMap::new();
        for i in start..end {
            let name = &self.entries[i].name;
            if &**name == b"." {
                continue;
            }
            let parent = dir_of(name);
            // At most PREFETCH_GROUP entries per task, so that one big directory still
            // spreads over both cores.
            match group_of.get(parent) {
                Some(&g) if groups[g].1.len() < PREFETCH_GROUP => groups[g].1.push(i),
                _ => {
                    group_of.insert(parent, groups.len());
                    groups.push((parent.to_vec(), vec![i]));
                }
            }
        }
        drop(group_of);
        let root = self.plan.root.as_ref();
        let entries = &self.entries;
        let missing = &self.missing_dirs;
        let found: Vec<Vec<(usize, Option<Stat>)>> = groups
            .par_iter()
            .map(|(parent, idxs)| {
                let dir = if missing.contains(parent) {
                    None
                } else {
                    root.and_then(|r| r.open_dir(parent).ok())
                };
                idxs.iter()
                    .map(|&i| {
                        let st = dir
                            .as_ref()
                            .and_then(|d| d.lstat(base_of(&entries[i].name)).ok());
                        (i, st)
                    })
                    .collect()
            })
            .collect();
        for group in found {
            for (i, st) in group {
                self.prefetched.insert(i, st);
            }
        }
        if self.opts.checksum {
            self.prefetch_checksums(start, end);
        }
    }
}
