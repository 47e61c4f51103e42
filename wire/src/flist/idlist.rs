//! The uid/gid name lists sent after a non-incremental file list (`uidlist.c`), and a
//! small reader of the local passwd/group databases for mapping names to ids.

use std::collections::BTreeMap;

use crate::codec::{ReadCursor, put_int32, put_varint};
use crate::error::Decoded;

/// Id → name pairs as they travel on the wire.
pub type IdList = Vec<(u32, Vec<u8>)>;

/// The most names we accept in one list.
const MAX_ID_NAMES: usize = 1 << 20;

fn put_varint30(out: &mut Vec<u8>, proto: u32, v: i32) {
    if proto >= 30 {
        put_varint(out, v)
    } else {
        put_int32(out, v)
    }
}

/// Appends one list: non-zero ids with a name, `0`, and the name of id 0 if `id0_names`.
pub fn encode_id_list(
    out: &mut Vec<u8>,
    proto: u32,
    ids: &IdList,
    id0_names: bool,
    id0_name: &[u8],
) {
    for (id, name) in ids {
        if *id != 0 && !name.is_empty() {
            put_varint30(out, proto, *id as i32);
            let n = name.get(..name.len().min(255)).unwrap_or(&[]);
            out.push(n.len() as u8);
            out.extend_from_slice(n);
        }
    }
    put_varint30(out, proto, 0);
    if id0_names {
        let n = id0_name.get(..id0_name.len().min(255)).unwrap_or(&[]);
        out.push(n.len() as u8);
        out.extend_from_slice(n);
    }
}

/// One item of an id list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdListItem {
    /// A non-zero id and its name.
    Name(u32, Vec<u8>),
    /// The terminator, with the name of id 0 when `CF_ID0_NAMES` is on.
    End(Option<Vec<u8>>),
}

/// Reads one item of an id list (so that huge lists are read in linear time).
pub fn decode_id_list_item(
    c: &mut ReadCursor<'_>,
    proto: u32,
    id0_names: bool,
) -> Decoded<IdListItem> {
    let id = if proto >= 30 { c.varint()? } else { c.i32()? } as u32;
    if id == 0 {
        if id0_names {
            let len = usize::from(c.u8()?);
            return Ok(IdListItem::End(Some(c.take(len)?.to_vec())));
        }
        return Ok(IdListItem::End(None));
    }
    let len = usize::from(c.u8()?);
    Ok(IdListItem::Name(id, c.take(len)?.to_vec()))
}

/// Appends `item` to `list`, refusing lists longer than rsync would ever send.
pub fn push_id_item(list: &mut IdList, item: IdListItem) -> Result<bool, crate::error::WireError> {
    match item {
        IdListItem::Name(id, name) => {
            if list.len() >= MAX_ID_NAMES {
                return Err(crate::error::WireError::protocol("uid/gid list too long"));
            }
            list.push((id, name));
            Ok(false)
        }
        IdListItem::End(id0) => {
            if let Some(name) = id0 {
                list.push((0, name));
            }
            Ok(true)
        }
    }
}

/// Reads one whole list (see [`encode_id_list`]).
pub fn decode_id_list(c: &mut ReadCursor<'_>, proto: u32, id0_names: bool) -> Decoded<IdList> {
    let mut ids = Vec::new();
    loop {
        let item = decode_id_list_item(c, proto, id0_names)?;
        if push_id_item(&mut ids, item)? {
            return Ok(ids);
        }
    }
}

/// Names of local users or groups, read from `/etc/passwd` or `/etc/group`.
#[derive(Debug, Clone, Default)]
pub struct IdNames {
    by_id: BTreeMap<u32, Vec<u8>>,
    by_name: BTreeMap<Vec<u8>, u32>,
}

impl IdNames {
    /// Loads `/etc/passwd` (users) or `/etc/group` (groups); empty if unreadable.
    pub fn load(users: bool) -> Self {
        let path = if users { "/etc/passwd" } else { "/etc/group" };
        let text = std::fs::read(path).unwrap_or_default();
        let mut me = IdNames::default();
        for line in text.split(|b| *b == b'\n') {
            let mut fields = line.split(|b| *b == b':');
            let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(id) = std::str::from_utf8(id)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            me.by_id.entry(id).or_insert_with(|| name.to_vec());
            me.by_name.entry(name.to_vec()).or_insert(id);
        }
        me
    }

    /// The name of `id`.
    pub fn name_of(&self, id: u32) -> Option<&[u8]> {
        self.by_id.get(&id).map(Vec::as_slice)
    }

    /// The id of `name`.
    pub fn id_of(&self, name: &[u8]) -> Option<u32> {
        self.by_name.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_round_trip() {
        for proto in [27, 29, 30, 31] {
            for id0 in [false, true] {
                let ids: IdList = vec![(1000, b"alice".to_vec()), (33, b"www".to_vec())];
                let mut out = Vec::new();
                encode_id_list(&mut out, proto, &ids, id0, b"root");
                let mut c = ReadCursor::new(&out);
                let got = decode_id_list(&mut c, proto, id0).ok();
                let mut want = ids.clone();
                if id0 {
                    want.push((0, b"root".to_vec()));
                }
                assert_eq!(got, Some(want));
                assert_eq!(c.remaining(), 0);
            }
        }
    }
}
