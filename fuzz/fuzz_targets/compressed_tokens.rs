//! Decode a compressed token stream with every method: no panic, bounded output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdsync_wire::codec::ReadCursor;
use rdsync_wire::compress::{
    CompressedTokenReader, CompressionMethod, ReadToken, decode_compressed_item,
};
use rdsync_wire::error::WireError;

fuzz_target!(|data: &[u8]| {
    for method in [
        CompressionMethod::Zlib,
        CompressionMethod::Zlibx,
        CompressionMethod::Zstd,
        CompressionMethod::Lz4,
    ] {
        let Ok(mut reader) = CompressedTokenReader::new(method, 31) else {
            return;
        };
        let mut c = ReadCursor::new(data);
        let mut total = 0usize;
        for _ in 0..10_000 {
            let mut fetch = || {
                decode_compressed_item(&mut c)
                    .map(Some)
                    .map_err(|_| WireError::stream("end"))
            };
            match reader.next_token(&mut fetch) {
                Ok(Some(ReadToken::Literal(d))) => {
                    assert!(d.len() <= rdsync_wire::compress::MAX_INFLATE_CHUNK);
                    total += d.len();
                }
                Ok(Some(ReadToken::Copy(_))) => {
                    let _ = reader.see_block(&[0u8; 16]);
                }
                Ok(Some(ReadToken::End)) | Ok(None) | Err(_) => break,
            }
        }
        let _ = total;
    }
});
