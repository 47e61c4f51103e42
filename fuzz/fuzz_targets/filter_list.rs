//! Decode a filter list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::ReadCursor;
use rdsync_wire::filter_list::decode_filter_list;

fuzz_target!(|data: &[u8]| {
    let _ = decode_filter_list(&mut ReadCursor::new(data));
});
