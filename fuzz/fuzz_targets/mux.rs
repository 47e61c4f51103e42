//! Feed arbitrary bytes to the multiplex deframer in arbitrary pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::mux::MuxDeframer;

fuzz_target!(|data: &[u8]| {
    let split = data
        .first()
        .map(|b| usize::from(*b))
        .unwrap_or(0)
        .min(data.len());
    let (a, b) = data.split_at(split);
    let mut d = MuxDeframer::new();
    for part in [a, b] {
        d.push(part);
        while let Ok(Some(_)) = d.next_event() {}
    }
});
