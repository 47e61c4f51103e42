//! The output buffer of a protocol stream, framed in place.
//!
//! Once output is multiplexed, stream data travel in MSG_DATA frames of at most
//! [`OUT_FRAME_LEN`] bytes (io.c: rsync's sender cuts its buffer the same way). Instead of
//! collecting unframed bytes and copying them into frames later, the buffer keeps an open
//! frame whose header is written when the frame is closed: every byte is copied once, and
//! file data can be read straight into the frame ([`FramedOutput::fill_from`]). The buffer
//! is reused after each send, so it is allocated once per session.

use std::os::fd::AsFd;

use crate::error::WireError;
use crate::mux::{MessageCode, OUT_FRAME_LEN, put_frame_header, put_message};

/// Bytes waiting for the transport: raw before multiplexing starts, framed after.
#[derive(Debug, Default)]
pub struct FramedOutput {
    buf: Vec<u8>,
    /// Where the open MSG_DATA frame's header sits in `buf` (multiplexed output only).
    open: Option<usize>,
    multiplexed: bool,
    /// Reused for values encoded by a closure before they are framed.
    scratch: Vec<u8>,
}

impl FramedOutput {
    /// An empty raw buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames everything written from now on as MSG_DATA (or stops doing so).
    pub fn set_multiplexed(&mut self, on: bool) {
        self.close_frame();
        self.multiplexed = on;
    }

    /// Bytes held, framing included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends stream data.
    pub fn write(&mut self, mut bytes: &[u8]) {
        if !self.multiplexed {
            self.buf.extend_from_slice(bytes);
            return;
        }
        while !bytes.is_empty() {
            let room = self.frame_room();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.buf.extend_from_slice(now);
            bytes = later;
        }
    }

    /// Appends the stream data `f` produces.
    pub fn write_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if !self.multiplexed {
            f(&mut self.buf);
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        f(&mut scratch);
        self.write(&scratch);
        self.scratch = scratch;
    }

    /// Appends up to `want` bytes of stream data read from `source` at its current
    /// position, straight into the buffer (no intermediate copy), showing each piece to
    /// `seen` while it is in cache. Returns how many bytes were read: fewer than `want`
    /// only at the end of `source`.
    pub fn fill_from(
        &mut self,
        source: impl AsFd,
        want: usize,
        mut seen: impl FnMut(&[u8]),
    ) -> std::io::Result<usize> {
        let mut done = 0;
        while done < want {
            let room = if self.multiplexed {
                self.frame_room()
            } else {
                want - done
            };
            let before = self.buf.len();
            let n = read_appending(source.as_fd(), &mut self.buf, room.min(want - done))?;
            if n == 0 {
                break;
            }
            seen(self.buf.get(before..).unwrap_or_default());
            done += n;
        }
        Ok(done)
    }

    /// Appends an out-of-band message after the data written so far.
    pub fn message(&mut self, code: MessageCode, payload: &[u8]) -> Result<(), WireError> {
        self.close_frame();
        put_message(&mut self.buf, code, payload)
    }

    /// Hands everything held to `send`, then empties the buffer (keeping its memory).
    pub fn send_with<E>(&mut self, send: impl FnOnce(&[u8]) -> Result<(), E>) -> Result<usize, E> {
        self.close_frame();
        let n = self.buf.len();
        let sent = send(&self.buf);
        self.buf.clear();
        sent.map(|()| n)
    }

    /// Takes everything held.
    pub fn take(&mut self) -> Vec<u8> {
        self.close_frame();
        std::mem::take(&mut self.buf)
    }

    /// Room left in the open frame, opening a new one when there is none or it is full.
    fn frame_room(&mut self) -> usize {
        if let Some(start) = self.open {
            let used = self.buf.len() - start - 4;
            if used < OUT_FRAME_LEN {
                return OUT_FRAME_LEN - used;
            }
            self.close_frame();
        }
        self.open = Some(self.buf.len());
        self.buf.extend_from_slice(&[0; 4]);
        OUT_FRAME_LEN
    }

    /// Writes the open frame's header (or drops it when the frame is empty).
    fn close_frame(&mut self) {
        let Some(start) = self.open.take() else {
            return;
        };
        let len = self.buf.len() - start - 4;
        if len == 0 {
            self.buf.truncate(start);
            return;
        }
        let mut header = Vec::with_capacity(4);
        // len <= OUT_FRAME_LEN < MAX_FRAME_LEN, so this cannot fail.
        let _ = put_frame_header(&mut header, MessageCode::Data, len);
        if let Some(slot) = self.buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&header);
        }
    }
}

/// Reads at most `max` bytes from `fd` into the spare capacity of `buf`, extending it.
fn read_appending(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    let spare = spare.get_mut(..max).unwrap_or_default();
    loop {
        match rustix::io::read(fd, &mut *spare) {
            Ok((init, _)) => {
                let n = init.len();
                // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                return Ok(n);
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::{MuxDeframer, MuxEvent, put_data_frames};
    use std::io::Write;

    /// The data and messages a peer would read back from `bytes`, in order.
    fn deframe(bytes: &[u8]) -> Vec<(MessageCode, Vec<u8>)> {
        let mut d = MuxDeframer::new();
        d.push(bytes);
        let mut out: Vec<(MessageCode, Vec<u8>)> = Vec::new();
        while let Some(ev) = d.next_event().unwrap_or_else(|e| panic!("{e}")) {
            match ev {
                MuxEvent::Data(data) => match out.last_mut() {
                    Some((MessageCode::Data, prev)) => prev.extend_from_slice(&data),
                    _ => out.push((MessageCode::Data, data.to_vec())),
                },
                MuxEvent::Message(code, payload) => out.push((code, payload.to_vec())),
            }
        }
        out
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn frames_are_cut_where_put_data_frames_cuts_them() {
        let data = pattern(3 * OUT_FRAME_LEN + 123);
        let mut out = FramedOutput::new();
        out.set_multiplexed(true);
        for piece in data.chunks(1000) {
            out.write(piece);
        }
        let mut expected = Vec::new();
        put_data_frames(&mut expected, &data);
        assert_eq!(out.take(), expected);
    }

    #[test]
    fn raw_output_is_not_framed_until_multiplexing_starts() {
        let mut out = FramedOutput::new();
        out.write(b"raw");
        out.write_with(|v| v.extend_from_slice(b"!"));
        out.set_multiplexed(true);
        out.write(b"data");
        let bytes = out.take();
        assert_eq!(bytes.get(..4), Some(&b"raw!"[..]));
        assert_eq!(
            deframe(bytes.get(4..).unwrap_or_default()),
            [(MessageCode::Data, b"data".to_vec())]
        );
    }

    #[test]
    fn messages_follow_the_data_written_before_them_and_empty_frames_vanish() {
        let mut out = FramedOutput::new();
        out.set_multiplexed(true);
        out.write(b"abc");
        out.message(MessageCode::IoError, &5i32.to_le_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        out.message(MessageCode::Info, b"hi\n")
            .unwrap_or_else(|e| panic!("{e}"));
        out.write_with(|v| v.extend_from_slice(b"def"));
        let bytes = out.take();
        assert_eq!(
            deframe(&bytes),
            [
                (MessageCode::Data, b"abc".to_vec()),
                (MessageCode::IoError, 5i32.to_le_bytes().to_vec()),
                (MessageCode::Info, b"hi\n".to_vec()),
                (MessageCode::Data, b"def".to_vec()),
            ]
        );
        // 3 frames of data and messages: no zero-length data frame between the messages.
        assert_eq!(bytes.len(), 4 + 3 + 4 + 4 + 4 + 3 + 4 + 3);
    }

    #[test]
    fn file_data_read_into_frames_arrive_whole_and_are_seen_once() {
        let dir = std::env::temp_dir().join(format!("rdsync-framed-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("f");
        let data = pattern(2 * OUT_FRAME_LEN + 999);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&data))
            .unwrap_or_else(|e| panic!("{e}"));
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut out = FramedOutput::new();
        out.set_multiplexed(true);
        out.write(b"head"); // the file's bytes start mid-frame and cross two frame ends
        let mut seen = Vec::new();
        let got = out
            .fill_from(&file, data.len() + 10, |piece| {
                seen.extend_from_slice(piece)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, data.len(), "stops at the end of the file");
        assert_eq!(seen, data);
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(&data);
        let mut framed = Vec::new();
        put_data_frames(&mut framed, &expected);
        assert_eq!(out.take(), framed);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sending_empties_the_buffer_and_reports_the_bytes() {
        let mut out = FramedOutput::new();
        out.set_multiplexed(true);
        out.write(b"xyz");
        let mut sent = Vec::new();
        let n = out
            .send_with(|b| {
                sent.extend_from_slice(b);
                Ok::<(), ()>(())
            })
            .unwrap_or_else(|()| panic!("send failed"));
        assert_eq!(n, 7);
        assert_eq!(deframe(&sent), [(MessageCode::Data, b"xyz".to_vec())]);
        assert!(out.is_empty());
        out.write(b"next");
        assert_eq!(
            deframe(&out.take()),
            [(MessageCode::Data, b"next".to_vec())]
        );
    }
}
