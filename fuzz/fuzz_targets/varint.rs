//! Decode varint/varlong from arbitrary bytes; whatever decodes must re-encode to a
//! prefix that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::{decode_varint, decode_varlong, put_varint};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((v, n))) = decode_varint(data) {
        assert!(n <= data.len());
        let mut again = Vec::new();
        put_varint(&mut again, v);
        assert_eq!(decode_varint(&again).ok().flatten().map(|x| x.0), Some(v));
    }
    for m in 1..=8 {
        if let Ok(Some((_, n))) = decode_varlong(data, m) {
            assert!(n <= data.len());
        }
    }
});
