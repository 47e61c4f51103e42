//! Byte-level encodings of the rsync protocol (`io.c`): fixed-width integers, varint,
//! varlong, vstring and file indexes. Every decoder works on a borrowed buffer and
//! reports `NeedMore` when the buffer ends early.

mod cursor;
mod fixed;
mod ndx;
mod varint;
mod vstring;

pub use cursor::ReadCursor;
pub use fixed::{decode_int32, put_int32, put_longint, put_shortint};
pub use ndx::{NDX_DEL_STATS, NDX_DONE, NDX_FLIST_EOF, NDX_FLIST_OFFSET, NdxDecoder, NdxEncoder};
pub use varint::{decode_varint, decode_varlong, put_varint, put_varlong};
pub use vstring::put_vstring;
