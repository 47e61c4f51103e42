//! Decode a token stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::ReadCursor;
use rdsync_wire::tokens::{Token, decode_token};

fuzz_target!(|data: &[u8]| {
    let mut c = ReadCursor::new(data);
    while let Ok(t) = decode_token(&mut c) {
        if t == Token::End {
            break;
        }
    }
});
