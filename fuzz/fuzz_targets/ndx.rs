//! Decode file indexes (delta coding) until the bytes run out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::{NdxDecoder, ReadCursor};

fuzz_target!(|data: &[u8]| {
    for protocol in [29, 31] {
        let mut d = NdxDecoder::new(protocol);
        let mut c = ReadCursor::new(data);
        while d.decode(&mut c).is_ok() {}
    }
});
