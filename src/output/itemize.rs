//! rsync's 11-character itemized change line (`YXcstpoguax`).

use rdsync_engine::fs::FileKind;
use rdsync_engine::local::{Item, UpdateType};

use super::escape::escape_name;

/// The itemized line for `item` (without newline), e.g. `>f.st...... name`.
pub fn itemize_line(item: &Item) -> Vec<u8> {
    let mut flags = [b'.'; 11];
    flags[0] = match item.update {
        UpdateType::Received => b'>',
        UpdateType::Created => b'c',
        UpdateType::HardLink => b'h',
        UpdateType::Unchanged => b'.',
    };
    flags[1] = match item.kind {
        FileKind::File => b'f',
        FileKind::Dir => b'd',
        FileKind::Symlink => b'L',
        FileKind::Device => b'D',
        FileKind::Special => b'S',
    };
    let c = &item.changes;
    if c.new {
        for f in &mut flags[2..] {
            *f = b'+';
        }
    } else {
        if c.checksum {
            flags[2] = b'c';
        }
        if c.size {
            flags[3] = b's';
        }
        if c.time {
            flags[4] = b't';
        } else if c.time_now {
            flags[4] = b'T';
        }
        if c.perms {
            flags[5] = b'p';
        }
        if c.owner {
            flags[6] = b'o';
        }
        if c.group {
            flags[7] = b'g';
        }
    }
    // An item that changed nothing but its link (or nothing at all) shows spaces, not dots;
    // a transfer keeps its dots.
    if !c.new && item.update != UpdateType::Received && flags[2..].iter().all(|&f| f == b'.') {
        for f in &mut flags[2..] {
            *f = b' ';
        }
    }
    let mut out = flags.to_vec();
    out.push(b' ');
    out.extend_from_slice(&escape_name(&item.name));
    if let Some(t) = &item.link_target {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(&escape_name(t));
    }
    if let Some(t) = &item.hardlink_to {
        out.extend_from_slice(b" => ");
        out.extend_from_slice(&escape_name(t));
    }
    out
}
