//! Block signatures: the weak and strong sum of every block of a basis file.
//!
//! Generation reads the basis sequentially (never through a memory map: another process may
//! truncate it) in batches of blocks and hashes each batch on all cores with rayon. The result
//! does not depend on the number of threads.

use std::io::{self, Read};

use rayon::prelude::*;

use crate::checksum::BlockHasher;
use crate::layout::BlockLayout;
use crate::rolling::checksum1;

/// How many bytes of basis are read and hashed per parallel batch.
const BATCH_BYTES: usize = 8 << 20;

/// Errors building a signature.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Reading the basis failed.
    #[error("reading the basis file: {0}")]
    Io(#[from] io::Error),
    /// The basis ended before the length its layout promised (it shrank while being read).
    #[error("basis file is shorter than expected: {expected} bytes expected, {actual} read")]
    BasisShrank {
        /// The length the layout was made for.
        expected: u64,
        /// The bytes actually read.
        actual: u64,
    },
    /// Received sums do not fit their header.
    #[error("signature has {actual} entries but its header says {expected}")]
    CountMismatch {
        /// The count from the header.
        expected: u64,
        /// The entries supplied.
        actual: u64,
    },
    /// A strong-sum length above the digest size.
    #[error("strong sum length {0} is out of range")]
    BadStrongLen(usize),
}

/// The sums of every block of a basis file, as the generator sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    layout: BlockLayout,
    weak: Vec<u32>,
    strong: Vec<u8>,
}

impl Signature {
    /// Reads `basis` (exactly `layout.file_len` bytes) and computes every block's sums.
    ///
    /// Batches are double-buffered: the next batch is read while the current one is hashed.
    pub fn generate<R: Read + Send>(
        mut basis: R,
        layout: BlockLayout,
        hasher: &BlockHasher,
    ) -> Result<Self, SignatureError> {
        if layout.strong_len > hasher.digest_len() {
            return Err(SignatureError::BadStrongLen(layout.strong_len));
        }
        let count = usize::try_from(layout.count).map_err(|_| SignatureError::CountMismatch {
            expected: layout.count,
            actual: 0,
        })?;
        let block_len = layout.block_len as usize;
        let strong_len = layout.strong_len;
        let mut weak = vec![0u32; count];
        let mut strong = vec![0u8; count * strong_len];
        if count == 0 {
            return Ok(Self {
                layout,
                weak,
                strong,
            });
        }

        let blocks_per_batch = (BATCH_BYTES / block_len).max(1);
        let batch_len = blocks_per_batch
            .saturating_mul(block_len)
            .min(usize::try_from(layout.file_len).unwrap_or(usize::MAX));
        let mut current = vec![0u8; batch_len];
        let mut next = vec![0u8; batch_len];
        let mut read_total = 0u64;
        // Reads the batch after `read_total` bytes into `buf`; returns its length.
        let read_batch =
            |basis: &mut R, buf: &mut [u8], read_total: u64| -> Result<usize, SignatureError> {
                let want = (layout.file_len - read_total).min(buf.len() as u64) as usize;
                let got = read_full(basis, &mut buf[..want])?;
                if got < want {
                    return Err(SignatureError::BasisShrank {
                        expected: layout.file_len,
                        actual: read_total + got as u64,
                    });
                }
                Ok(got)
            };
        let mut got = read_batch(&mut basis, &mut current, 0)?;
        read_total += got as u64;
        let mut done_blocks = 0usize;
        while got > 0 {
            let nblocks = got.div_ceil(block_len);
            let weak_out = &mut weak[done_blocks..done_blocks + nblocks];
            let strong_out =
                &mut strong[done_blocks * strong_len..(done_blocks + nblocks) * strong_len];
            let data = &current[..got];
            let more = read_total < layout.file_len;
            let (read, ()) = rayon::join(
                || {
                    if more {
                        read_batch(&mut basis, &mut next, read_total)
                    } else {
                        Ok(0)
                    }
                },
                || {
                    weak_out
                        .par_iter_mut()
                        .zip(strong_out.par_chunks_mut(strong_len.max(1)))
                        .zip(data.par_chunks(block_len))
                        .for_each(|((w, s), block)| {
                            *w = checksum1(block);
                            if strong_len > 0 {
                                s.copy_from_slice(&hasher.digest(block).as_bytes()[..strong_len]);
                            }
                        })
                },
            );
            done_blocks += nblocks;
            got = read?;
            read_total += got as u64;
            std::mem::swap(&mut current, &mut next);
        }
        Ok(Self {
            layout,
            weak,
            strong,
        })
    }

    /// A signature with no blocks (every byte of the new file becomes literal data).
    pub fn empty(layout: BlockLayout) -> Self {
        Self {
            layout: BlockLayout { count: 0, ..layout },
            weak: Vec::new(),
            strong: Vec::new(),
        }
    }

    /// Assembles a signature from sums received from a peer, checking that they fit the header.
    pub fn from_parts(
        layout: BlockLayout,
        weak: Vec<u32>,
        strong: Vec<u8>,
    ) -> Result<Self, SignatureError> {
        if layout.strong_len > crate::checksum::MAX_DIGEST_LEN {
            return Err(SignatureError::BadStrongLen(layout.strong_len));
        }
        let n = weak.len() as u64;
        if n != layout.count || strong.len() as u64 != n * layout.strong_len as u64 {
            return Err(SignatureError::CountMismatch {
                expected: layout.count,
                actual: n,
            });
        }
        Ok(Self {
            layout,
            weak,
            strong,
        })
    }

    /// The block layout this signature describes.
    pub fn layout(&self) -> &BlockLayout {
        &self.layout
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.weak.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.weak.is_empty()
    }

    /// The weak sum of block `index`.
    pub fn weak(&self, index: usize) -> u32 {
        self.weak[index]
    }

    /// The (truncated) strong sum of block `index`.
    pub fn strong(&self, index: usize) -> &[u8] {
        let n = self.layout.strong_len;
        &self.strong[index * n..(index + 1) * n]
    }

    /// All weak sums in block order.
    pub fn weak_sums(&self) -> &[u32] {
        &self.weak
    }

    /// Iterates over `(weak, strong)` for every block, in order — the generator's wire order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        (0..self.len()).map(|i| (self.weak[i], self.strong(i)))
    }
}

/// Reads until `buf` is full or the reader reports end of file; returns the bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{ChecksumAlgorithm, SeedOrder};

    #[test]
    fn sums_each_block_including_the_short_last() {
        let data: Vec<u8> = (0..2500u32).map(|i| (i * 31 + 7) as u8).collect();
        let layout = BlockLayout::with_block_len(data.len() as u64, 700, 16);
        let hasher = BlockHasher::new(ChecksumAlgorithm::Md5, 9, SeedOrder::SeedFirst);
        let sig = Signature::generate(&data[..], layout, &hasher).unwrap();
        assert_eq!(sig.len(), 4);
        for (i, block) in data.chunks(700).enumerate() {
            assert_eq!(sig.weak(i), checksum1(block));
            assert_eq!(sig.strong(i), hasher.digest(block).as_bytes());
        }
    }

    #[test]
    fn batching_does_not_change_the_result() {
        // Many small blocks: several batches with a partial final one.
        let data: Vec<u8> = (0..(BATCH_BYTES as u32 * 2 + 12_345))
            .map(|i| (i ^ (i >> 9)) as u8)
            .collect();
        let layout = BlockLayout::with_block_len(data.len() as u64, 1 << 16, 4);
        let hasher = BlockHasher::new(ChecksumAlgorithm::Xxh3, 1, SeedOrder::SeedFirst);
        let sig = Signature::generate(&data[..], layout, &hasher).unwrap();
        for (i, block) in data.chunks(1 << 16).enumerate() {
            assert_eq!(sig.weak(i), checksum1(block));
            assert_eq!(sig.strong(i), &hasher.digest(block).as_bytes()[..4]);
        }
    }

    #[test]
    fn shrunk_basis_is_an_error() {
        let data = vec![1u8; 1000];
        let layout = BlockLayout::with_block_len(2000, 700, 2);
        let hasher = BlockHasher::new(ChecksumAlgorithm::Md4, 0, SeedOrder::SeedLast);
        let err = Signature::generate(&data[..], layout, &hasher).unwrap_err();
        assert!(matches!(
            err,
            SignatureError::BasisShrank { actual: 1000, .. }
        ));
    }

    #[test]
    fn from_parts_checks_counts() {
        let layout = BlockLayout::with_block_len(1400, 700, 2);
        assert!(Signature::from_parts(layout, vec![1, 2], vec![0; 4]).is_ok());
        assert!(Signature::from_parts(layout, vec![1], vec![0; 2]).is_err());
        assert!(Signature::from_parts(layout, vec![1, 2], vec![0; 3]).is_err());
    }
}
