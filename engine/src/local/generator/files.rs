//! Regular files: the quick check (size and mtime, or `-c`), attribute updates, and queuing copies.

use super::*;

impl Generator<'_> {
    pub(super) fn process_file(
        &mut self,
        i: usize,
        parent: Option<Arc<DirFd>>,
        base: &[u8],
        old: Option<Stat>,
    ) {
        let e = self.entries[i].clone();
        let display = self.display_name(i);
        let old_file = old.filter(|o| o.kind() == FileKind::File);
        if self.opts.existing && old.is_none() {
            return;
        }
        if self.opts.ignore_existing && old.is_some() {
            return;
        }
        if self.opts.update
            && let Some(o) = &old_file
            && o.mtime > e.stat.mtime
        {
            return;
        }
        let mut item = Item {
            name: display,
            kind: FileKind::File,
            update: UpdateType::Received,
            changes: ItemChanges::default(),
            link_target: None,
            hardlink_to: None,
            transferred: true,
        };
        let up_to_date = match &old_file {
            Some(o) if o.size == e.stat.size => {
                if self.opts.checksum {
                    let same = match self.prefetched_same.remove(&i) {
                        Some(same) => same,
                        None => self.same_content(&e, parent.as_deref(), base),
                    };
                    if !same {
                        item.changes.checksum = true;
                    }
                    same
                } else if self.opts.size_only {
                    true
                } else if self.opts.ignore_times {
                    false
                } else {
                    o.mtime == e.stat.mtime
                }
            }
            _ => false,
        };
        if up_to_date {
            let Some(o) = old_file else { return };
            item.update = UpdateType::Unchanged;
            item.transferred = false;
            item.changes = self.changes(&e, &o);
            let mut attrs = self.attrs_for(&e, false, Some(&o));
            let ns_differ = self.opts.checksum && o.mtime_nsec != e.stat.mtime_nsec;
            if !item.changes.time && !ns_differ {
                attrs.mtime = None;
            }
            if !item.changes.perms {
                attrs.perms = None;
            }
            if !item.changes.owner {
                attrs.uid = None;
            }
            if !item.changes.group {
                attrs.gid = None;
            }
            if !self.opts.dry_run
                && attrs != Attrs::default()
                && let Some(p) = &parent
                && let Err(err) = p.apply_attrs(base, FileKind::File, &attrs)
            {
                self.error(format!("rsync: [generator] {err}"));
            }
            self.push_item(item);
            return;
        }
        match (&old_file, old) {
            (Some(o), _) => {
                let checksum = item.changes.checksum;
                item.changes = self.changes(&e, o);
                item.changes.checksum = checksum || self.opts.checksum;
                item.changes.time_now = !self.opts.times;
            }
            (None, Some(o)) => {
                // Another kind of object is in the way.
                if let Some(p) = &parent {
                    let dest_name = self.dest_name(i);
                    if !self.remove_existing(p, base, &o, &dest_name, FileKind::File) {
                        return;
                    }
                }
                item.changes.new = true;
                self.outcome.stats.created.add(FileKind::File);
            }
            (None, None) => {
                item.changes.new = true;
                self.outcome.stats.created.add(FileKind::File);
            }
        }
        self.outcome.stats.transferred_files += 1;
        self.outcome.stats.transferred_size += e.stat.size;
        self.transferred.insert(i);
        if self.opts.dry_run || parent.is_none() {
            self.pending.push_back(Pending::Item(item));
            return;
        }
        let Some(parent) = parent else { return };
        let Some(src_base) = self.src_bases.get(e.source as usize).cloned().flatten() else {
            self.error(format!(
                "rsync: [sender] send_files failed to open \"{}\"",
                String::from_utf8_lossy(&e.name)
            ));
            return;
        };
        let attrs = self.attrs_for(&e, item.changes.new, old_file.as_ref());
        let job = CopyJob {
            source: e.source,
            src_base,
            src_name: e.name.clone(),
            dest_dir: parent,
            dest_name: base.to_vec(),
            size: e.stat.size,
            attrs,
            inplace: self.opts.inplace && old_file.is_some(),
            delta: self.opts.delta && old_file.is_some(),
            partial: self.opts.partial,
            cancel: self.opts.cancel.clone(),
            progress: self
                .opts
                .progress
                .then(|| Arc::new(std::sync::atomic::AtomicU64::new(0))),
        };
        self.spawn_copy(i, job, item);
    }

    pub(super) fn same_content(&self, e: &FileEntry, parent: Option<&DirFd>, base: &[u8]) -> bool {
        let Some(src_base) = self.src_bases.get(e.source as usize).cloned().flatten() else {
            return false;
        };
        let Some(parent) = parent else { return false };
        let (a, b) = rayon::join(
            || {
                src_base
                    .open_read_beneath(&e.name)
                    .ok()
                    .and_then(|fd| file_digest(fd).ok())
            },
            || {
                parent
                    .open_read(base)
                    .ok()
                    .and_then(|fd| file_digest(fd).ok())
            },
        );
        matches!((a, b), (Some(x), Some(y)) if x == y)
    }
}
