//! Hard links (`-H`): members of a group linked to their leader once its copy is done.

use super::*;

impl Generator<'_> {
    /// Links follower `i` to its group leader (after the leader's copy is done).
    pub(super) fn make_hard_link(&mut self, i: usize, leader: usize) {
        self.touch(dir_of(&self.dest_name(i)));
        let e = self.entries[i].clone();
        let dest_name = self.dest_name(i);
        let leader_name = self.dest_name(leader);
        let mut item = Item {
            name: self.display_name(i),
            kind: e.kind(),
            update: UpdateType::HardLink,
            changes: ItemChanges::default(),
            link_target: None,
            hardlink_to: Some(self.entries[leader].name.to_vec()),
            transferred: false,
        };
        let parent = self.dest_dir(dir_of(&dest_name));
        let leader_dir = self
            .plan
            .root
            .as_ref()
            .and_then(|r| r.open_dir(dir_of(&leader_name)).ok());
        let base = base_of(&dest_name).to_vec();
        let old = parent.as_ref().and_then(|p| p.lstat(&base).ok());
        let leader_st = leader_dir
            .as_ref()
            .and_then(|d| d.lstat(base_of(&leader_name)).ok());
        let leader_replaced = self.opts.dry_run && self.transferred.contains(&leader);
        if let (Some(o), Some(l)) = (old, leader_st)
            && !leader_replaced
            && o.dev == l.dev
            && o.ino == l.ino
        {
            if self.opts.report_unchanged {
                item.hardlink_to = None;
                item.link_target = e.link_target.as_ref().map(|t| t.to_vec());
                self.push_item(item);
            }
            return;
        }
        match old {
            Some(o) if o.kind() == e.kind() => {
                item.changes = self.changes(&e, &o);
                if self.opts.dry_run {
                    // rsync's dry run names no link target for an existing file.
                    item.hardlink_to = None;
                    item.link_target = e.link_target.as_ref().map(|t| t.to_vec());
                }
            }
            _ => {
                item.changes.new = true;
                self.outcome.stats.created.add(e.kind());
            }
        }
        if self.opts.dry_run {
            self.push_item(item);
            return;
        }
        let (Some(p), Some(ld)) = (parent, leader_dir) else {
            self.push_item(item);
            return;
        };
        if let Some(o) = old
            && !self.remove_existing(&p, &base, &o, &dest_name, FileKind::File)
        {
            return;
        }
        if let Err(err) = p.link_from(&ld, base_of(&leader_name), &base) {
            self.error(format!(
                "rsync: [receiver] link \"{}\" => {} failed: {}",
                String::from_utf8_lossy(&dest_name),
                String::from_utf8_lossy(&leader_name),
                err.errno_string()
            ));
            return;
        }
        self.push_item(item);
    }
}
