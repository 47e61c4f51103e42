//! Decode a file list under every protocol/option combination the first byte picks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::ReadCursor;
use rdsync_wire::flist::{FileListConfig, FileListDecoder, FileListItem, decode_id_list};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let protocol = 27 + u32::from(sel % 6);
    let config = FileListConfig {
        protocol,
        varint_flags: sel & 0x08 != 0 && protocol >= 30,
        safe_flist: sel & 0x10 != 0 || protocol >= 31,
        id0_names: sel & 0x20 != 0,
        links: true,
        owner: true,
        group: true,
        devices: true,
        specials: true,
        hard_links: sel & 0x40 != 0,
        numeric_ids: false,
        checksum_len: (sel & 0x80 != 0).then_some(16),
    };
    let mut d = FileListDecoder::new(config);
    let mut c = ReadCursor::new(rest);
    loop {
        match d.decode(&mut c) {
            Ok(FileListItem::Entry(_)) => {}
            Ok(FileListItem::End { .. }) => {
                let _ = decode_id_list(&mut c, protocol, config.id0_names);
                break;
            }
            Err(_) => break,
        }
    }
});
