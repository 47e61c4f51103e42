//! Symlinks, devices, FIFOs and sockets: compared by target or device number and recreated when they differ.

use super::*;

impl Generator<'_> {
    pub(super) fn process_other(
        &mut self,
        i: usize,
        parent: Option<Arc<DirFd>>,
        base: &[u8],
        old: Option<Stat>,
    ) {
        let e = self.entries[i].clone();
        let kind = e.kind();
        let mut item = Item {
            name: self.display_name(i),
            kind,
            update: UpdateType::Created,
            changes: ItemChanges::default(),
            link_target: e.link_target.as_ref().map(|t| t.to_vec()),
            hardlink_to: None,
            transferred: false,
        };
        let same = match old {
            Some(o) if o.kind() == kind => match kind {
                FileKind::Symlink => parent
                    .as_ref()
                    .and_then(|p| p.readlink(base).ok())
                    .is_some_and(|t| Some(t.as_slice()) == e.link_target.as_deref()),
                FileKind::Device => {
                    (o.mode & 0o170000) == (e.stat.mode & 0o170000) && o.rdev == e.stat.rdev
                }
                _ => (o.mode & 0o170000) == (e.stat.mode & 0o170000),
            },
            _ => false,
        };
        if self.opts.existing && old.is_none() {
            return;
        }
        if self.opts.ignore_existing && old.is_some() {
            return;
        }
        if same {
            let Some(o) = old else { return };
            item.update = UpdateType::Unchanged;
            item.changes = self.changes(&e, &o);
            let mut attrs = self.attrs_for(&e, false, Some(&o));
            if !item.changes.time {
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
                && let Err(err) = p.apply_attrs(base, kind, &attrs)
            {
                self.error(format!("rsync: [generator] {err}"));
            }
            self.push_item(item);
            return;
        }
        let dest_name = self.dest_name(i);
        match old {
            Some(o) if o.kind() == kind => {
                item.changes = self.changes(&e, &o);
                item.changes.checksum = true;
                item.changes.size = false;
                item.changes.time_now = !self.opts.times;
            }
            _ => {
                item.changes.new = true;
                self.outcome.stats.created.add(kind);
            }
        }
        if self.opts.dry_run {
            self.push_item(item);
            return;
        }
        let Some(p) = parent else {
            self.push_item(item);
            return;
        };
        if let Some(o) = old
            && !self.remove_existing(&p, base, &o, &dest_name, kind)
        {
            return;
        }
        self.touch(dir_of(&dest_name));
        let made = match kind {
            FileKind::Symlink => p.symlink(e.link_target.as_deref().unwrap_or(b""), base),
            _ => p.mknod(base, e.stat.mode, e.stat.rdev),
        };
        if let Err(err) = made {
            self.error(format!(
                "rsync: [receiver] {} \"{}\" failed: {}",
                err.op,
                String::from_utf8_lossy(&dest_name),
                err.errno_string()
            ));
            return;
        }
        let mut attrs = self.attrs_for(&e, true, None);
        if let Ok(now) = p.lstat(base) {
            self.trim_attrs(&mut attrs, &now);
        }
        if let Err(err) = p.apply_attrs(base, kind, &attrs) {
            self.error(format!("rsync: [receiver] {err}"));
        }
        self.push_item(item);
    }
}
