//! Block signatures: the weak and strong sum of every block of a basis file.
//!
//! Generation reads the basis (never through a memory map: another process may truncate it)
//! and hashes blocks on all cores with rayon. A file is read with positioned reads, each
//! worker hashing the chunk it has just read while it is still in its cache
//! ([`Signature::generate_at`]); any other reader is read sequentially in batches
//! ([`Signature::generate`]). The result does not depend on the number of threads.

use std::fs::File;
use std::io::{self, Read};

use rayon::prelude::*;

use crate::checksum::BlockHasher;
use crate::layout::BlockLayout;
use crate::patch::read_up_to;
use crate::rolling::checksum1;

/// How many bytes of basis are read and hashed per parallel batch (sequential readers).
const BATCH_BYTES: usize = 8 << 20;
/// How many bytes of a basis file one worker reads and then hashes: small enough that the
/// hashing finds them in the core's cache (reading into 8 MiB buffers made the copy out of the
/// page cache twice as slow).
const CHUNK_BYTES: usize = 256 << 10;

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
        Self::build(layout, hasher, |weak, strong| {
            Self::fill_sequential(&mut basis, &layout, hasher, weak, strong)
        })
    }

    /// [`Signature::generate`]'s work: batches read while the previous one is hashed.
    fn fill_sequential<R: Read + Send>(
        basis: &mut R,
        layout: &BlockLayout,
        hasher: &BlockHasher,
        weak: &mut [u32],
        strong: &mut [u8],
    ) -> Result<(), SignatureError> {
        let block_len = layout.block_len as usize;
        let strong_len = layout.strong_len;
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
        let mut got = read_batch(basis, &mut current, 0)?;
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
                        read_batch(basis, &mut next, read_total)
                    } else {
                        Ok(0)
                    }
                },
                || {
                    weak_out
                        .par_iter_mut()
                        .zip(strong_out.par_chunks_mut(strong_len.max(1)))
                        .zip(data.par_chunks(block_len))
                        .for_each(|((w, s), block)| hash_block(block, w, s, hasher))
                },
            );
            done_blocks += nblocks;
            got = read?;
            read_total += got as u64;
            std::mem::swap(&mut current, &mut next);
        }
        Ok(())
    }

    /// Reads the first `layout.file_len` bytes of `basis` with positioned reads and computes
    /// every block's sums: each worker reads a chunk of blocks and hashes it straight away.
    pub fn generate_at(
        basis: &File,
        layout: BlockLayout,
        hasher: &BlockHasher,
    ) -> Result<Self, SignatureError> {
        Self::build(layout, hasher, |weak, strong| {
            Self::fill_positioned(basis, &layout, hasher, weak, strong)
        })
    }

    /// [`Signature::generate_at`]'s work: chunks read and hashed by each worker.
    fn fill_positioned(
        basis: &File,
        layout: &BlockLayout,
        hasher: &BlockHasher,
        weak: &mut [u32],
        strong: &mut [u8],
    ) -> Result<(), SignatureError> {
        let block_len = layout.block_len as usize;
        let strong_len = layout.strong_len;
        let blocks_per_chunk = (CHUNK_BYTES / block_len).max(1);
        let chunks = weak.len().div_ceil(blocks_per_chunk);
        let strong_chunks: Vec<&mut [u8]> = if strong_len == 0 {
            (0..chunks).map(|_| <&mut [u8]>::default()).collect()
        } else {
            strong.chunks_mut(blocks_per_chunk * strong_len).collect()
        };
        weak.par_chunks_mut(blocks_per_chunk)
            .zip(strong_chunks)
            .enumerate()
            .try_for_each_init(Vec::new, |buf, (i, (weak_out, strong_out))| {
                let start = (i * blocks_per_chunk) as u64 * u64::from(layout.block_len);
                let want = (layout.file_len - start).min((blocks_per_chunk * block_len) as u64);
                buf.resize(want as usize, 0);
                let got = read_up_to(basis, buf, start)?;
                if got < buf.len() {
                    return Err(SignatureError::BasisShrank {
                        expected: layout.file_len,
                        actual: start + got as u64,
                    });
                }
                for ((w, s), block) in weak_out
                    .iter_mut()
                    .zip(
                        strong_out
                            .chunks_mut(strong_len.max(1))
                            .chain(std::iter::repeat_with(<&mut [u8]>::default)),
                    )
                    .zip(buf.chunks(block_len))
                {
                    hash_block(block, w, s, hasher);
                }
                Ok(())
            })
    }

    /// Checks that `layout` suits `hasher`, then has `fill` compute the weak and strong sums
    /// of every block (skipped when there are none).
    fn build(
        layout: BlockLayout,
        hasher: &BlockHasher,
        fill: impl FnOnce(&mut [u32], &mut [u8]) -> Result<(), SignatureError>,
    ) -> Result<Self, SignatureError> {
        if layout.strong_len > hasher.digest_len() {
            return Err(SignatureError::BadStrongLen(layout.strong_len));
        }
        let count = usize::try_from(layout.count).map_err(|_| SignatureError::CountMismatch {
            expected: layout.count,
            actual: 0,
        })?;
        let mut weak = vec![0u32; count];
        let mut strong = vec![0u8; count * layout.strong_len];
        if count > 0 {
            fill(&mut weak, &mut strong)?;
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

/// The sums of one block: its weak sum into `weak`, its strong sum truncated to `strong`'s
/// length into `strong` (nothing when `strong` is empty).
fn hash_block(block: &[u8], weak: &mut u32, strong: &mut [u8], hasher: &BlockHasher) {
    *weak = checksum1(block);
    if !strong.is_empty() {
        strong.copy_from_slice(&hasher.digest(block).as_bytes()[..strong.len()]);
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

    /// A file in the temp dir holding `data` (removed from the directory at once).
    fn temp_file_with(name: &str, data: &[u8]) -> File {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("sig-{name}-{}", std::process::id()));
        let mut f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.write_all(data).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn positioned_reads_give_the_same_signature() {
        let data = crate::test_support::noise(CHUNK_BYTES * 5 + 4321, 7);
        let file = temp_file_with("same", &data);
        let md5 = BlockHasher::new(ChecksumAlgorithm::Md5, 3, SeedOrder::SeedFirst);
        let xxh = BlockHasher::new(ChecksumAlgorithm::Xxh128, 0, SeedOrder::SeedFirst);
        // Blocks dividing the chunk, not dividing it, larger than it, and one partial file.
        for (block_len, strong_len, hasher) in [
            (1024u32, 16usize, &md5),
            (700, 2, &md5),
            (CHUNK_BYTES as u32 + 8, 8, &xxh),
            (131_072, 16, &xxh),
        ] {
            for len in [data.len() as u64, 100_000, 1] {
                let layout = BlockLayout::with_block_len(len, block_len, strong_len);
                let sequential =
                    Signature::generate(&data[..len as usize], layout, hasher).unwrap();
                let positioned = Signature::generate_at(&file, layout, hasher).unwrap();
                assert_eq!(positioned, sequential, "block {block_len}, length {len}");
            }
        }
    }

    #[test]
    fn positioned_reads_report_a_shrunk_basis() {
        let file = temp_file_with("shrunk", &vec![5u8; CHUNK_BYTES + 10]);
        let layout = BlockLayout::with_block_len(3 * CHUNK_BYTES as u64, 4096, 4);
        let hasher = BlockHasher::new(ChecksumAlgorithm::Xxh3, 1, SeedOrder::SeedFirst);
        let err = Signature::generate_at(&file, layout, &hasher).unwrap_err();
        assert!(matches!(err, SignatureError::BasisShrank { .. }), "{err}");
    }

    #[test]
    fn from_parts_checks_counts() {
        let layout = BlockLayout::with_block_len(1400, 700, 2);
        assert!(Signature::from_parts(layout, vec![1, 2], vec![0; 4]).is_ok());
        assert!(Signature::from_parts(layout, vec![1], vec![0; 2]).is_err());
        assert!(Signature::from_parts(layout, vec![1, 2], vec![0; 3]).is_err());
    }
}
