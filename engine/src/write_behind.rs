//! Writing a received file on a second thread, so the thread that decodes and verifies the
//! data does not also wait for the page cache.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::patch::{PatchOutput, append_via_scratch};

/// Bytes gathered before a buffer is handed to the writing thread.
const BATCH: usize = 1 << 20;
/// Buffers in flight (memory stays below `DEPTH + 2` batches).
const DEPTH: usize = 4;
/// Files expected to be at least this long are written behind; smaller ones are buffered.
pub const WRITE_BEHIND_MIN: u64 = 8 << 20;

/// A sequential writer whose writes happen on a background thread.
///
/// Data are gathered into 1 MiB buffers and written in order by the thread; [`flush`]
/// waits for everything written so far and reports the thread's first error. After a flush,
/// writes go straight to the file. A copied basis block is read straight into the buffer
/// ([`PatchOutput::append_with`]).
///
/// [`flush`]: Write::flush
#[derive(Debug)]
pub struct WriteBehind {
    file: Arc<File>,
    /// The buffer being gathered: always `BATCH` long, its first `filled` bytes in use.
    pending: Vec<u8>,
    filled: usize,
    queue: Option<Sender<(Vec<u8>, usize)>>,
    spare: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl WriteBehind {
    /// Starts the writing thread for `file` (written from its current offset).
    pub fn new(file: File) -> Self {
        let file = Arc::new(file);
        let (queue, buffers) = bounded::<(Vec<u8>, usize)>(DEPTH);
        let (give_back, spare) = bounded::<Vec<u8>>(DEPTH);
        let target = Arc::clone(&file);
        let thread = std::thread::spawn(move || {
            for (buf, len) in buffers {
                (&*target).write_all(buf.get(..len).unwrap_or(&buf))?;
                let _ = give_back.try_send(buf);
            }
            Ok(())
        });
        Self {
            file,
            pending: vec![0; BATCH],
            filled: 0,
            queue: Some(queue),
            spare,
            thread: Some(thread),
        }
    }

    /// The file being written.
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// Hands the gathered bytes to the thread.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| vec![0; BATCH]);
        let full = std::mem::replace(&mut self.pending, next);
        let sent = self
            .queue
            .as_ref()
            .map(|q| q.send((full, std::mem::take(&mut self.filled))));
        match sent {
            Some(Ok(())) | None => Ok(()),
            // The thread stopped: its error says why.
            Some(Err(_)) => self
                .join()
                .and_then(|()| Err(io::Error::other("the writing thread stopped"))),
        }
    }

    /// Stops the thread after it has written everything queued; returns its result.
    fn join(&mut self) -> io::Result<()> {
        self.queue = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the writing thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Write for WriteBehind {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.queue.is_none() {
            return (&*self.file).write(data);
        }
        if self.filled == BATCH {
            self.hand_over()?;
        }
        let n = data.len().min(BATCH - self.filled);
        self.pending[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == BATCH {
            self.hand_over()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.queue.is_some() {
            self.hand_over()?;
            self.join()?;
        }
        (&*self.file).flush()
    }
}

impl PatchOutput for WriteBehind {
    fn append_with<E: From<io::Error>>(
        &mut self,
        len: usize,
        scratch: &mut Vec<u8>,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.queue.is_none() || len > BATCH {
            return append_via_scratch(self, len, scratch, fill);
        }
        if self.filled + len > BATCH {
            self.hand_over()?;
        }
        fill(&mut self.pending[self.filled..self.filled + len])?;
        self.filled += len;
        Ok(())
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// A received file's writer: written behind on a second thread when it is big, buffered
/// otherwise.
#[derive(Debug)]
pub enum OutputFile {
    /// A small file: a plain buffered writer.
    Buffered(BufWriter<File>),
    /// A big file: written on a second thread.
    Behind(WriteBehind),
}

impl OutputFile {
    /// A writer for `file`, which is expected to end up `expected_len` bytes long.
    pub fn new(file: File, expected_len: u64) -> Self {
        if expected_len >= WRITE_BEHIND_MIN {
            Self::Behind(WriteBehind::new(file))
        } else {
            Self::Buffered(BufWriter::new(file))
        }
    }

    /// The file being written.
    pub fn get_ref(&self) -> &File {
        match self {
            Self::Buffered(w) => w.get_ref(),
            Self::Behind(w) => w.get_ref(),
        }
    }
}

impl PatchOutput for OutputFile {
    fn append_with<E: From<io::Error>>(
        &mut self,
        len: usize,
        scratch: &mut Vec<u8>,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Self::Buffered(w) => append_via_scratch(w, len, scratch, fill),
            Self::Behind(w) => w.append_with(len, scratch, fill),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Buffered(w) => w.write(data),
            Self::Behind(w) => w.write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Buffered(w) => w.write_all(data),
            Self::Behind(w) => w.write_all(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Buffered(w) => w.flush(),
            Self::Behind(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::noise;

    #[test]
    fn writes_everything_in_order_then_writes_directly() {
        let path = std::env::temp_dir().join(format!("write-behind-{}", std::process::id()));
        let data = noise(5 << 20, 11);
        let mut w = WriteBehind::new(File::create(&path).unwrap());
        for chunk in data.chunks(70_001) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
        w.write_all(b"tail").unwrap();
        w.flush().unwrap();
        drop(w);
        let written = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(written[..data.len()] == data[..]);
        assert_eq!(&written[data.len()..], b"tail");
    }

    #[test]
    fn appended_blocks_and_writes_keep_their_order() {
        let path = std::env::temp_dir().join(format!("write-behind-append-{}", std::process::id()));
        let data = noise(3 * BATCH + 12_345, 3);
        let mut w = WriteBehind::new(File::create(&path).unwrap());
        let mut scratch = Vec::new();
        let mut at = 0;
        // Plain writes, appended pieces (some straddling a batch, one bigger than a batch),
        // and appends after the flush that ends the background writing.
        // The first append fills a batch exactly.
        for (i, len) in [
            BATCH - 1000,
            1000,
            1000,
            70_001,
            BATCH + 5,
            300_000,
            900_000,
            1,
        ]
        .into_iter()
        .cycle()
        .enumerate()
        {
            let len = len.min(data.len() - at);
            let piece = &data[at..at + len];
            if i % 2 == 0 {
                w.write_all(piece).unwrap();
            } else {
                w.append_with(len, &mut scratch, |room| {
                    room.copy_from_slice(piece);
                    Ok::<(), io::Error>(())
                })
                .unwrap();
            }
            at += len;
            if at == data.len() {
                break;
            }
            if i == 8 {
                w.flush().unwrap();
            }
        }
        w.flush().unwrap();
        drop(w);
        let written = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(written == data);
    }

    #[test]
    fn a_failed_append_writes_nothing() {
        let path = std::env::temp_dir().join(format!("write-behind-failed-{}", std::process::id()));
        let mut w = WriteBehind::new(File::create(&path).unwrap());
        w.write_all(b"kept").unwrap();
        let failed = w.append_with(10, &mut Vec::new(), |room| {
            room.fill(b'x');
            Err(io::Error::other("basis shrank"))
        });
        assert!(failed.is_err());
        w.write_all(b" and this").unwrap();
        w.flush().unwrap();
        drop(w);
        let written = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(written, b"kept and this");
    }

    #[test]
    fn a_write_error_is_reported() {
        // /dev/full accepts opens and fails every write with ENOSPC.
        let full = File::options().write(true).open("/dev/full").unwrap();
        let mut w = WriteBehind::new(full);
        let data = noise(3 << 20, 5);
        let wrote = w.write_all(&data).and_then(|()| w.flush());
        assert_eq!(
            wrote.map_err(|e| e.raw_os_error()),
            Err(Some(28)),
            "ENOSPC expected"
        );
    }
}
