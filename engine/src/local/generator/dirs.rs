//! Directories: creating or updating them, making way for them, and deleting what the source no longer has (`--delete`).

use super::*;

impl Generator<'_> {
    /// Notes that the contents of destination directory `rel` changed (its mtime must be
    /// restored at the end).
    pub(super) fn touch(&mut self, rel: &[u8]) {
        if !self.dirty.contains(rel) {
            self.dirty.insert(rel.to_vec());
        }
    }

    pub(super) fn remove_existing(
        &mut self,
        dir: &DirFd,
        base: &[u8],
        old: &Stat,
        dest_name: &[u8],
        new_kind: FileKind,
    ) -> bool {
        self.touch(dir_of(dest_name));
        if old.kind() == FileKind::Dir && !(self.opts.delete.is_some() || self.opts.force) {
            // Without --delete/--force only an empty directory makes way.
            let empty = dir
                .open_subdir(base)
                .and_then(|d| d.list())
                .map(|names| names.is_empty())
                .unwrap_or(false);
            if !empty {
                let shown = String::from_utf8_lossy(dest_name).into_owned();
                self.pending.push_back(Pending::Message(Message {
                    kind: MessageKind::Info,
                    text: format!("cannot delete non-empty directory: {shown}"),
                }));
                let desc = match new_kind {
                    FileKind::File => "regular file",
                    FileKind::Dir => "directory",
                    FileKind::Symlink => "symlink",
                    FileKind::Device => "device file",
                    FileKind::Special => "special file",
                };
                self.error(format!("could not make way for new {desc}: {shown}"));
                return false;
            }
        }
        if old.kind() == FileKind::Dir {
            // rsync reports the directory's contents (not the directory itself) as deleted.
            let mut deleted: Vec<DeleteEvent> = Vec::new();
            let result = if self.opts.dry_run {
                report_tree(dir, base, dest_name, true, &mut |ev| deleted.push(ev));
                Ok(())
            } else {
                dir.remove_tree(base, &mut |rel: &[u8], kind| {
                    let name = join(dir_of(dest_name), rel);
                    deleted.push(DeleteEvent { name, kind });
                })
            };
            for ev in deleted {
                if ev.name.as_slice() != dest_name {
                    self.outcome.stats.deleted.add(ev.kind);
                    self.pending.push_back(Pending::Delete(ev));
                }
            }
            if let Err(e) = result {
                self.error(format!(
                    "rsync: [generator] delete_file: {} \"{}\" failed: {}",
                    e.op,
                    String::from_utf8_lossy(dest_name),
                    e.errno_string()
                ));
                return false;
            }
            return true;
        }
        if self.opts.dry_run {
            return true;
        }
        match dir.unlink(base) {
            Ok(()) => true,
            Err(e) => {
                self.error(format!(
                    "rsync: [generator] delete_file: {} \"{}\" failed: {}",
                    e.op,
                    String::from_utf8_lossy(dest_name),
                    e.errno_string()
                ));
                false
            }
        }
    }

    pub(super) fn process_dir(
        &mut self,
        i: usize,
        dest_name: &[u8],
        parent: Option<Arc<DirFd>>,
        base: &[u8],
        old: Option<Stat>,
    ) {
        let e = self.entries[i].clone();
        let e = &e;
        let display = self.display_name(i);
        let mut item = Item {
            name: display,
            kind: FileKind::Dir,
            update: UpdateType::Unchanged,
            changes: ItemChanges::default(),
            link_target: None,
            hardlink_to: None,
            transferred: false,
        };
        let exists_as_dir = old.map(|o| o.kind() == FileKind::Dir).unwrap_or(false);
        if exists_as_dir {
            // rsync reports a directory's deletions before the directory itself.
            if self.opts.delete == Some(DeleteTiming::During) && self.entries[i].content_dir {
                self.delete_in(i);
            }
            let old = old.unwrap_or(e.stat);
            item.changes = self.changes(e, &old);
            let attrs = self.attrs_for(e, false, Some(&old));
            if !self.opts.dry_run {
                // Ownership and mode now; time (and mode again) once the contents are done.
                let mut now = Attrs {
                    perms: attrs.perms,
                    uid: attrs.uid,
                    gid: attrs.gid,
                    mtime: None,
                };
                self.trim_attrs(&mut now, &old);
                let r = if now == Attrs::default() {
                    Ok(())
                } else {
                    match &parent {
                        Some(p) => p.apply_attrs(base, FileKind::Dir, &now),
                        None => match &self.root_dir {
                            Some(d) => DirFd::apply_attrs_fd(d.fd(), b".", &now),
                            None => Ok(()),
                        },
                    }
                };
                if let Err(err) = r {
                    self.error(format!("rsync: [generator] {err}"));
                }
            }
            let needed = item.changes.any();
            self.fixups.push(DirFixup {
                dir_rel: dest_name.to_vec(),
                attrs,
                needed,
            });
            self.push_item(item);
            // A directory whose mtime is still the one we set last time has had nothing
            // created in it since, so it holds no leftover temp file.
            if !self.opts.dry_run
                && self.opts.delete.is_none()
                && self.entries[i].content_dir
                && old.mtime != e.stat.mtime
            {
                self.remove_stale_temps(i, dest_name);
            }
        } else {
            if let (Some(old), Some(p)) = (old, &parent)
                && !self.remove_existing(p, base, &old, dest_name, FileKind::Dir)
            {
                return;
            }
            item.update = UpdateType::Created;
            item.changes.new = true;
            let attrs = self.attrs_for(e, true, None);
            self.outcome.stats.created.add(FileKind::Dir);
            if self.opts.dry_run || parent.is_none() {
                self.missing_dirs.insert(dest_name.to_vec());
                if !self.opts.dry_run && dest_name.is_empty() {
                    // The root itself always exists once resolved.
                    self.missing_dirs.remove(dest_name);
                }
            } else if let Some(p) = &parent {
                let mode = attrs.perms.unwrap_or(0o755) | 0o700;
                if let Err(err) = p.mkdir(base, mode & 0o7777) {
                    self.error(format!(
                        "rsync: [generator] mkdir \"{}\" failed: {}",
                        String::from_utf8_lossy(dest_name),
                        err.errno_string()
                    ));
                    self.missing_dirs.insert(dest_name.to_vec());
                    return;
                }
                if attrs.uid.is_some() || attrs.gid.is_some() {
                    let own = Attrs {
                        uid: attrs.uid,
                        gid: attrs.gid,
                        ..Attrs::default()
                    };
                    if let Err(err) = p.apply_attrs(base, FileKind::Dir, &own) {
                        self.error(format!("rsync: [generator] {err}"));
                    }
                }
            }
            self.fixups.push(DirFixup {
                dir_rel: dest_name.to_vec(),
                attrs,
                needed: true,
            });
            self.touch(dir_of(dest_name));
            self.push_item(item);
        }
    }

    /// Removes temp files (`.name.XXXXXX`) an interrupted earlier run left next to `name`s of
    /// this directory. (With `--delete` they go as extraneous files instead.)
    pub(super) fn remove_stale_temps(&mut self, i: usize, dest_rel: &[u8]) {
        self.touch(dest_rel);
        let Some(root) = &self.plan.root else { return };
        let Ok(dir) = root.open_dir(dest_rel) else {
            return;
        };
        let Ok(names) = dir.list() else { return };
        if !names
            .iter()
            .any(|n| n.first() == Some(&b'.') && n.len() > 8)
        {
            return;
        }
        let keep = source_children(&self.entries, i);
        for n in names {
            if n.first() != Some(&b'.') || keep.contains(&n) || n.len() < 9 {
                continue;
            }
            let base = &n[1..n.len() - 7];
            if keep.contains(base) && crate::fs::is_temp_name_for(&n, base) {
                let _ = dir.unlink(&n);
            }
        }
    }

    /// The filter rules in force in destination directory `rel`: like rsync's receiver, the
    /// per-directory merge files are read from the destination.
    pub(super) fn dest_chain(&self, rel: &[u8]) -> FilterChain {
        if !self.filters.has_dir_merge() {
            return self.filters.clone();
        }
        let Some(root) = &self.plan.root else {
            return self.filters.clone();
        };
        let mut chain = match root.open_dir(b"") {
            Ok(d) => self.filters.for_dir(&d, b""),
            Err(_) => return self.filters.clone(),
        };
        let mut prefix: Vec<u8> = Vec::new();
        for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(comp);
            match root.open_dir(&prefix) {
                Ok(d) => chain = chain.for_dir(&d, &prefix),
                Err(_) => break,
            }
        }
        chain
    }

    /// Deletes extraneous entries in the destination directory of directory entry `i`.
    pub(super) fn delete_in(&mut self, i: usize) {
        if self.scan_io_error {
            // rsync never deletes after failing to read part of the source.
            if !self.warned_io_error {
                self.warned_io_error = true;
                self.pending.push_back(Pending::Message(Message {
                    kind: MessageKind::Info,
                    text: "IO error encountered -- skipping file deletion".to_string(),
                }));
            }
            return;
        }
        let dest_rel = self.dest_name(i);
        self.touch(&dest_rel);
        if self.missing_dirs.contains(&dest_rel) {
            return;
        }
        let dir = match &self.plan.root {
            Some(r) => match r.open_dir(&dest_rel) {
                Ok(d) => d,
                Err(_) => return,
            },
            None => return,
        };
        let keep = source_children(&self.entries, i);
        let mut events = Vec::new();
        let mut errors = Vec::new();
        let chain = self.dest_chain(&dest_rel);
        delete_extraneous(
            &dir,
            &dest_rel,
            &keep,
            &chain,
            self.opts.dry_run,
            &mut |ev| events.push(ev),
            &mut |e| errors.push(e),
        );
        for ev in events {
            match ev {
                Deletion::Deleted(ev) => {
                    self.outcome.stats.deleted.add(ev.kind);
                    self.pending.push_back(Pending::Delete(ev));
                }
                Deletion::KeptNonEmpty(name) => self.pending.push_back(Pending::Message(Message {
                    kind: MessageKind::Info,
                    text: format!(
                        "cannot delete non-empty directory: {}",
                        String::from_utf8_lossy(&name)
                    ),
                })),
            }
        }
        for e in errors {
            self.error(format!("rsync: [generator] {e}"));
        }
    }
}
