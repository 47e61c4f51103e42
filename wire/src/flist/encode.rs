//! `send_file_entry`: encoding file-list entries as the sender.

use std::collections::{HashMap, HashSet};

use crate::codec::{put_int32, put_longint, put_varint, put_varlong};
use crate::error::WireError;

use super::entry::{FileEntry, HardLinkInfo};
use super::idlist::IdNames;
use super::*;

/// Sans-IO file-list encoder: keeps the session's "previous entry" values.
#[derive(Debug, Clone)]
pub struct FileListEncoder {
    config: FileListConfig,
    last_name: Vec<u8>,
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    rdev_major: u32,
    rdev: (u32, u32),
    dev: i64,
    sent: i32,
    /// The index of the current list's first entry (`ndx_start`; 0 without incremental
    /// recursion) and how many entries of that list were encoded.
    list_start: i32,
    list_pos: i32,
    first_of_inode: HashMap<(i64, i64), i32>,
    /// Incremental recursion: user and group names travel inline, once per id.
    inline_names: Option<InlineNames>,
}

/// The names sent inline with incremental recursion (`uidlist.c: add_uid`/`add_gid`):
/// an id's name follows the first entry that carries the id, if the id has a name.
#[derive(Debug, Clone, Default)]
pub struct InlineNames {
    users: IdNames,
    groups: IdNames,
    seen_uids: HashSet<u32>,
    seen_gids: HashSet<u32>,
}

impl InlineNames {
    /// Inline names looked up in `users` and `groups`.
    pub fn new(users: IdNames, groups: IdNames) -> Self {
        InlineNames {
            users,
            groups,
            ..InlineNames::default()
        }
    }

    /// The local names of users and groups (`/etc/passwd`, `/etc/group`).
    pub fn load() -> Self {
        InlineNames::new(IdNames::load(true), IdNames::load(false))
    }

    /// The name to send with `id` the first time it is seen.
    fn first_name(&mut self, users: bool, id: u32) -> Option<Vec<u8>> {
        let (seen, names) = if users {
            (&mut self.seen_uids, &self.users)
        } else {
            (&mut self.seen_gids, &self.groups)
        };
        if !seen.insert(id) {
            return None;
        }
        names.name_of(id).map(<[u8]>::to_vec)
    }
}

fn put_varint30(out: &mut Vec<u8>, proto: u32, v: i32) {
    if proto >= 30 {
        put_varint(out, v)
    } else {
        put_int32(out, v)
    }
}

/// A user or group name after its id: a length byte, then at most 255 bytes.
fn put_inline_name(out: &mut Vec<u8>, name: &[u8]) {
    let name = name.get(..255).unwrap_or(name);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
}

impl FileListEncoder {
    /// An encoder for a session.
    pub fn new(config: FileListConfig) -> Self {
        FileListEncoder {
            config,
            last_name: Vec::new(),
            mode: 0,
            mtime: 0,
            uid: 0,
            gid: 0,
            rdev_major: 0,
            rdev: (0, 0),
            dev: -1,
            sent: 0,
            list_start: 0,
            list_pos: 0,
            first_of_inode: HashMap::new(),
            inline_names: None,
        }
    }

    /// Incremental recursion: send user and group names inline (`XMIT_USER_NAME_FOLLOWS`,
    /// `XMIT_GROUP_NAME_FOLLOWS`) instead of id lists after the file list.
    pub fn with_inline_names(mut self, names: InlineNames) -> Self {
        self.inline_names = Some(names);
        self
    }

    /// Starts a new file list whose first entry has index `ndx_start`: hard-link
    /// references to entries of earlier lists are then sent in full.
    pub fn start_list(&mut self, ndx_start: i32) {
        self.list_start = ndx_start;
        self.list_pos = 0;
    }

    /// Appends one entry. For `-H`, pass `HardLinkInfo::DevIno` for multiply linked
    /// non-directories; the protocol-30 first/follower form is derived here.
    pub fn encode(&mut self, out: &mut Vec<u8>, e: &FileEntry) -> Result<(), WireError> {
        let cfg = self.config;
        let proto = cfg.protocol;
        if e.name.len() >= MAX_PATH_LEN || e.name.is_empty() {
            return Err(WireError::protocol(format!(
                "bad name length for {}",
                e.display_name()
            )));
        }
        let ndx = self.sent;
        self.sent += 1;
        // The transmission index (`first_ndx + ndx` in send_file_entry).
        let xmit_ndx = self.list_start + self.list_pos;
        self.list_pos += 1;
        let mut xflags: u32 = if e.is_dir() {
            if proto >= 30 {
                e.xflags & (XMIT_TOP_DIR | XMIT_NO_CONTENT_DIR)
            } else {
                e.xflags & XMIT_TOP_DIR
            }
        } else {
            0
        };
        if e.mode == self.mode {
            xflags |= XMIT_SAME_MODE;
        } else {
            self.mode = e.mode;
        }
        let rdev = e.rdev.unwrap_or((0, 0));
        if cfg.devices && e.is_device() {
            if proto < 28 {
                if rdev == self.rdev {
                    xflags |= XMIT_EXTENDED_FLAGS;
                } else {
                    self.rdev = rdev;
                }
            } else {
                self.rdev = rdev;
                if rdev.0 == self.rdev_major {
                    xflags |= XMIT_SAME_RDEV_MAJOR;
                } else {
                    self.rdev_major = rdev.0;
                }
                if proto < 30 && rdev.1 <= 0xff {
                    xflags |= XMIT_RDEV_MINOR_8_PRE30;
                }
            }
        } else if cfg.specials && e.is_special() && proto < 31 {
            if proto < 28 {
                xflags |= XMIT_EXTENDED_FLAGS;
            } else {
                self.rdev = (self.rdev_major, 0);
                xflags |= XMIT_SAME_RDEV_MAJOR;
                if proto < 30 {
                    xflags |= XMIT_RDEV_MINOR_8_PRE30;
                }
            }
        } else if proto < 28 {
            self.rdev = (0, 0);
        }
        let mut user_name = None;
        let mut group_name = None;
        if !cfg.owner || (e.uid == self.uid && !self.last_name.is_empty()) {
            xflags |= XMIT_SAME_UID;
        } else {
            self.uid = e.uid;
            if !cfg.numeric_ids && proto >= 30 {
                user_name = self
                    .inline_names
                    .as_mut()
                    .and_then(|n| n.first_name(true, e.uid));
                if user_name.is_some() {
                    xflags |= XMIT_USER_NAME_FOLLOWS;
                }
            }
        }
        if !cfg.group || (e.gid == self.gid && !self.last_name.is_empty()) {
            xflags |= XMIT_SAME_GID;
        } else {
            self.gid = e.gid;
            if !cfg.numeric_ids && proto >= 30 {
                group_name = self
                    .inline_names
                    .as_mut()
                    .and_then(|n| n.first_name(false, e.gid));
                if group_name.is_some() {
                    xflags |= XMIT_GROUP_NAME_FOLLOWS;
                }
            }
        }
        if e.mtime == self.mtime {
            xflags |= XMIT_SAME_TIME;
        } else {
            self.mtime = e.mtime;
        }
        if e.mtime_nsec != 0 && proto >= 31 {
            xflags |= XMIT_MOD_NSEC;
        }
        let mut first_hlink: Option<i32> = None;
        let mut devino: Option<(i64, i64)> = None;
        if cfg.hard_links && proto < 28 {
            // Below 28 every regular file carries (dev + 1, inode); a file that is not
            // multiply linked gets a pair no real file has.
            if e.is_regular() {
                let (dev, ino) = match e.hard_link {
                    Some(HardLinkInfo::DevIno(dev, ino)) => (dev, ino),
                    _ => (i64::MAX - 1, i64::from(ndx)),
                };
                self.dev = dev;
                devino = Some((dev, ino));
            }
        } else if cfg.hard_links
            && !e.is_dir()
            && let Some(HardLinkInfo::DevIno(dev, ino)) = e.hard_link
        {
            if proto >= 30 {
                match self.first_of_inode.get(&(dev, ino)) {
                    Some(first) => first_hlink = Some(*first),
                    None => {
                        self.first_of_inode.insert((dev, ino), xmit_ndx);
                        xflags |= XMIT_HLINK_FIRST;
                    }
                }
            } else {
                if dev == self.dev {
                    if proto >= 28 {
                        xflags |= XMIT_SAME_DEV_PRE30;
                    }
                } else {
                    self.dev = dev;
                }
                devino = Some((dev, ino));
            }
            xflags |= XMIT_HLINKED;
        }
        let l1 = self
            .last_name
            .iter()
            .zip(e.name.iter())
            .take(255)
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = e.name.get(l1..).unwrap_or(&[]);
        let l2 = suffix.len();
        if l1 > 0 {
            xflags |= XMIT_SAME_NAME;
        }
        if l2 > 255 {
            xflags |= XMIT_LONG_NAME;
        }
        if cfg.varint_flags {
            put_varint(
                out,
                if xflags != 0 {
                    xflags as i32
                } else {
                    XMIT_EXTENDED_FLAGS as i32
                },
            );
        } else if proto >= 28 {
            if xflags == 0 && !e.is_dir() {
                xflags |= XMIT_TOP_DIR;
            }
            if xflags & 0xff00 != 0 || xflags == 0 {
                xflags |= XMIT_EXTENDED_FLAGS;
                out.extend_from_slice(&(xflags as u16).to_le_bytes());
            } else {
                out.push(xflags as u8);
            }
        } else {
            if xflags & 0xff == 0 {
                xflags |= if e.is_dir() {
                    XMIT_LONG_NAME
                } else {
                    XMIT_TOP_DIR
                };
            }
            out.push(xflags as u8);
        }
        if xflags & XMIT_SAME_NAME != 0 {
            out.push(l1 as u8);
        }
        if xflags & XMIT_LONG_NAME != 0 {
            put_varint30(out, proto, l2 as i32);
        } else {
            out.push(l2 as u8);
        }
        out.extend_from_slice(suffix);
        self.last_name = e.name.clone();
        if let Some(first) = first_hlink {
            put_varint(out, first);
            if first >= self.list_start {
                return Ok(()); // the first entry is in this list: abbreviated
            }
        }
        if proto >= 30 {
            put_varlong(out, e.size, 3);
        } else {
            put_longint(out, e.size);
        }
        if xflags & XMIT_SAME_TIME == 0 {
            if proto >= 30 {
                put_varlong(out, e.mtime, 4);
            } else {
                put_int32(out, e.mtime as i32);
            }
        }
        if xflags & XMIT_MOD_NSEC != 0 {
            put_varint(out, e.mtime_nsec as i32);
        }
        if xflags & XMIT_SAME_MODE == 0 {
            put_int32(out, e.mode as i32);
        }
        if cfg.owner && xflags & XMIT_SAME_UID == 0 {
            put_varint30(out, proto, e.uid as i32);
            if let Some(name) = &user_name {
                put_inline_name(out, name);
            }
        }
        if cfg.group && xflags & XMIT_SAME_GID == 0 {
            put_varint30(out, proto, e.gid as i32);
            if let Some(name) = &group_name {
                put_inline_name(out, name);
            }
        }
        if (cfg.devices && e.is_device()) || (cfg.specials && e.is_special() && proto < 31) {
            let (major, minor) = self.rdev;
            if proto < 28 {
                if xflags & XMIT_EXTENDED_FLAGS == 0 {
                    put_int32(
                        out,
                        ((major << 8) | (minor & 0xff) | ((minor & !0xff) << 12)) as i32,
                    );
                }
            } else {
                if xflags & XMIT_SAME_RDEV_MAJOR == 0 {
                    put_varint30(out, proto, major as i32);
                }
                if proto >= 30 {
                    put_varint(out, minor as i32);
                } else if xflags & XMIT_RDEV_MINOR_8_PRE30 != 0 {
                    out.push(minor as u8);
                } else {
                    put_int32(out, minor as i32);
                }
            }
        }
        if cfg.links
            && let Some(target) = &e.link_target
        {
            put_varint30(out, proto, target.len() as i32);
            out.extend_from_slice(target);
        }
        if let Some((dev, ino)) = devino {
            if xflags & XMIT_SAME_DEV_PRE30 == 0 {
                put_longint(out, dev + 1);
            }
            put_longint(out, ino);
        }
        if let Some(len) = cfg.checksum_len
            && (e.is_regular() || proto < 28)
        {
            let mut sum = e.checksum.clone().unwrap_or_default();
            sum.resize(len, 0);
            if !e.is_regular() {
                sum = vec![0; len];
            }
            out.extend_from_slice(&sum);
        }
        Ok(())
    }

    /// Whether the end-of-list marker can carry an `io_error` (`use_safe_inc_flist`).
    pub fn safe_flist(&self) -> bool {
        self.config.safe_flist || self.config.varint_flags
    }

    /// Appends the end-of-list marker carrying `io_error`.
    pub fn encode_end(&self, out: &mut Vec<u8>, io_error: i32) {
        if self.config.varint_flags {
            put_varint(out, 0);
            put_varint(out, io_error);
        } else if self.config.safe_flist && io_error != 0 {
            out.extend_from_slice(
                &((XMIT_EXTENDED_FLAGS | XMIT_IO_ERROR_ENDLIST) as u16).to_le_bytes(),
            );
            put_varint(out, io_error);
        } else {
            out.push(0);
        }
    }
}
