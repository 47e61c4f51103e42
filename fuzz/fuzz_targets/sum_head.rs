//! Decode a sum head and its block sums (limits must hold before allocation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::ReadCursor;
use rdsync_wire::sum_head::{SumHead, decode_block_sums};

fuzz_target!(|data: &[u8]| {
    for protocol in [27, 29, 30, 31] {
        let mut c = ReadCursor::new(data);
        if let Ok(head) = SumHead::decode(&mut c, protocol) {
            assert!(head.count >= 0 && head.s2length <= 16 && head.remainder <= head.block_len);
            let _ = decode_block_sums(&mut c, &head);
        }
    }
});
