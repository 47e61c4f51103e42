//! Rebuilding a file from a basis and a delta (rsync's `receiver.c: receive_data`).
//!
//! The basis is read with positioned reads (`pread`) one block at a time, never memory-mapped:
//! another process may truncate it, and a mapped truncated file kills the process with SIGBUS.
//! Output goes to any [`PatchOutput`] (normally a temp file renamed into place once the
//! whole-file checksum has been verified), so memory stays bounded by one block. An output
//! with a buffer of its own has each copied block read straight into it.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::checksum::{FileHasher, StrongDigest};
use crate::delta::DeltaSink;
use crate::layout::BlockLayout;

/// A basis file that can be read at any offset.
pub trait Basis {
    /// Reads up to `buf.len()` bytes at `offset`; returns the bytes read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Basis for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl Basis for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl<B: Basis + ?Sized> Basis for &B {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }
}

/// Where a patch writes the new file: any [`Write`], optionally taking appended bytes in place.
pub trait PatchOutput: Write {
    /// Appends `len` bytes that `fill` produces in the slice it is given.
    ///
    /// The default has `fill` write into `scratch` and then writes that; an output with a
    /// buffer of its own lends a piece of it instead, saving one copy of the bytes.
    fn append_with<E: From<io::Error>>(
        &mut self,
        len: usize,
        scratch: &mut Vec<u8>,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        append_via_scratch(self, len, scratch, fill)
    }
}

/// [`PatchOutput::append_with`] for an output without a buffer to lend: `fill` writes into
/// `scratch`, which is then written.
pub fn append_via_scratch<W: Write + ?Sized, E: From<io::Error>>(
    out: &mut W,
    len: usize,
    scratch: &mut Vec<u8>,
    fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
) -> Result<(), E> {
    scratch.resize(len, 0);
    fill(scratch)?;
    out.write_all(scratch)?;
    Ok(())
}

impl PatchOutput for Vec<u8> {}
impl PatchOutput for io::Sink {}
impl<W: Write> PatchOutput for io::BufWriter<W> {}

/// Reads as much of `buf` as `file` has at `offset` (less only at its end); returns the
/// bytes read.
pub(crate) fn read_up_to<F: Basis + ?Sized>(
    file: &F,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Errors while applying a delta.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// Reading the basis or writing the output failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The delta referenced a block the basis does not have.
    #[error("delta references block {index} but the basis has {count} blocks")]
    BadBlockIndex {
        /// The index received.
        index: u64,
        /// The number of basis blocks.
        count: u64,
    },
    /// A block reference arrived but there is no basis file.
    #[error("delta references block {0} but there is no basis file")]
    NoBasis(u64),
    /// The basis is shorter than its signature said (it changed during the transfer).
    #[error("basis file shrank: block {0} could not be read in full")]
    BasisShrank(u64),
    /// The rebuilt file's checksum differs from the sender's.
    #[error("whole-file checksum mismatch")]
    ChecksumMismatch {
        /// The checksum of what was written.
        actual: StrongDigest,
    },
}

/// What a finished patch produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchOutcome {
    /// The checksum of the rebuilt file.
    pub digest: StrongDigest,
    /// Bytes written.
    pub bytes_written: u64,
    /// Of those, bytes copied from the basis.
    pub matched_bytes: u64,
}

/// Applies a token stream to a basis, writing the new file to `out`.
pub struct Patcher<B, W> {
    basis: Option<B>,
    layout: BlockLayout,
    out: W,
    hasher: FileHasher,
    block: Vec<u8>,
    written: u64,
    matched: u64,
}

impl<B: Basis, W: PatchOutput> Patcher<B, W> {
    /// A patcher over `basis` cut as `layout`, hashing output with `hasher`.
    ///
    /// `basis` may be `None` when the sender was asked for the whole file (no blocks).
    pub fn new(basis: Option<B>, layout: BlockLayout, out: W, hasher: FileHasher) -> Self {
        Self {
            basis,
            layout,
            out,
            hasher,
            block: Vec::new(),
            written: 0,
            matched: 0,
        }
    }

    /// Writes literal data.
    pub fn literal(&mut self, data: &[u8]) -> Result<(), PatchError> {
        self.out.write_all(data)?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        Ok(())
    }

    /// Copies basis block `index`.
    pub fn copy_block(&mut self, index: u64) -> Result<(), PatchError> {
        if index >= self.layout.count {
            return Err(PatchError::BadBlockIndex {
                index,
                count: self.layout.count,
            });
        }
        let basis = self.basis.as_ref().ok_or(PatchError::NoBasis(index))?;
        let size = self.layout.block_size(index) as usize;
        let offset = self.layout.block_offset(index);
        let hasher = &mut self.hasher;
        self.out.append_with(size, &mut self.block, |block| {
            if read_up_to(basis, block, offset)? < block.len() {
                return Err(PatchError::BasisShrank(index));
            }
            hasher.update(block);
            Ok(())
        })?;
        self.written += size as u64;
        self.matched += size as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes the output and checks the rebuilt file against the sender's checksum.
    ///
    /// `expected` may be shorter than the digest (it is compared as a prefix) but not empty
    /// unless the digest is too. On success the output writer is returned with the outcome.
    pub fn finish(mut self, expected: &[u8]) -> Result<(W, PatchOutcome), PatchError> {
        self.out.flush()?;
        let digest = self.hasher.finish();
        let outcome = PatchOutcome {
            digest,
            bytes_written: self.written,
            matched_bytes: self.matched,
        };
        let ours = digest.as_bytes();
        if expected.len() > ours.len() || ours.get(..expected.len()) != Some(expected) {
            return Err(PatchError::ChecksumMismatch { actual: digest });
        }
        Ok((self.out, outcome))
    }

    /// Flushes and returns the output and outcome without verifying (the caller compares).
    pub fn finish_unverified(mut self) -> Result<(W, PatchOutcome), PatchError> {
        self.out.flush()?;
        let digest = self.hasher.finish();
        Ok((
            self.out,
            PatchOutcome {
                digest,
                bytes_written: self.written,
                matched_bytes: self.matched,
            },
        ))
    }
}

impl<B: Basis, W: PatchOutput> DeltaSink for Patcher<B, W> {
    type Error = PatchError;
    fn literal(&mut self, data: &[u8]) -> Result<(), PatchError> {
        Patcher::literal(self, data)
    }
    fn copy(&mut self, index: u64) -> Result<(), PatchError> {
        self.copy_block(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{ChecksumAlgorithm, ChecksumProfile};

    fn patcher(basis: &[u8], block: u32) -> Patcher<&[u8], Vec<u8>> {
        let layout = BlockLayout::with_block_len(basis.len() as u64, block, 2);
        let hasher = ChecksumProfile::local(ChecksumAlgorithm::Md5).file_hasher();
        Patcher::new(Some(basis), layout, Vec::new(), hasher)
    }

    #[test]
    fn rebuilds_and_verifies() {
        let basis: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut p = patcher(&basis, 300);
        p.copy_block(3).unwrap(); // short last block: 100 bytes
        p.literal(b"--").unwrap();
        p.copy_block(0).unwrap();
        let mut expect = basis[900..].to_vec();
        expect.extend_from_slice(b"--");
        expect.extend_from_slice(&basis[..300]);
        let sum = ChecksumAlgorithm::Md5.digest(&expect);
        let (out, outcome) = p.finish(sum.as_bytes()).unwrap();
        assert_eq!(out, expect);
        assert_eq!(outcome.matched_bytes, 400);
        assert_eq!(outcome.bytes_written, 402);
    }

    #[test]
    fn rejects_bad_index_and_bad_checksum() {
        let basis = vec![1u8; 1000];
        let mut p = patcher(&basis, 300);
        assert!(matches!(
            p.copy_block(4),
            Err(PatchError::BadBlockIndex { index: 4, count: 4 })
        ));
        p.literal(b"abc").unwrap();
        assert!(matches!(
            p.finish(&[0u8; 16]),
            Err(PatchError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn truncated_basis_is_an_error_not_a_crash() {
        let short = vec![1u8; 500];
        let layout = BlockLayout::with_block_len(1000, 300, 2);
        let hasher = ChecksumProfile::local(ChecksumAlgorithm::Md5).file_hasher();
        let mut p = Patcher::new(Some(&short[..]), layout, Vec::new(), hasher);
        p.copy_block(0).unwrap();
        assert!(matches!(p.copy_block(2), Err(PatchError::BasisShrank(2))));
    }

    #[test]
    fn no_basis() {
        let layout = BlockLayout::with_block_len(0, 700, 2);
        let hasher = ChecksumProfile::local(ChecksumAlgorithm::Xxh128).file_hasher();
        let mut p: Patcher<&[u8], Vec<u8>> = Patcher::new(None, layout, Vec::new(), hasher);
        assert!(p.copy_block(0).is_err());
        p.literal(b"x").unwrap();
        let sum = ChecksumAlgorithm::Xxh128.digest(b"x");
        assert_eq!(p.finish(sum.as_bytes()).unwrap().0, b"x");
    }
}
