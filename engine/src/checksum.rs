//! The strong hashes rsync uses for block sums and whole-file checksums.
//!
//! Which hash, and where the session's checksum seed goes, depends on the protocol version and
//! on what the two sides negotiated (`checksum.c: get_checksum2`, `sum_init`, `file_checksum`).
//! [`ChecksumProfile::for_protocol`] encodes those rules; [`BlockHasher`] and [`FileHasher`] do
//! the hashing.

use md4::Md4;
use md5::{Digest, Md5};
use xxhash_rust::xxh3::{Xxh3, xxh3_64_with_seed, xxh3_128_with_seed};
use xxhash_rust::xxh64::{Xxh64, xxh64};

/// The longest digest any supported algorithm produces (MD4, MD5 and XXH3-128: 16 bytes).
pub const MAX_DIGEST_LEN: usize = 16;

/// A strong hash algorithm that rsync can use for block sums and file checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// MD4: the only choice for protocols 27–29.
    Md4,
    /// MD5: the protocol-30 default when nothing is negotiated.
    Md5,
    /// XXH64 with the seed sign-extended to 64 bits.
    Xxh64,
    /// XXH3, 64-bit output.
    Xxh3,
    /// XXH3, 128-bit output (what rsync 3.2+ negotiates first).
    Xxh128,
}

impl ChecksumAlgorithm {
    /// Every supported algorithm, in rsync 3.5's order of preference.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Xxh128,
        ChecksumAlgorithm::Xxh3,
        ChecksumAlgorithm::Xxh64,
        ChecksumAlgorithm::Md5,
        ChecksumAlgorithm::Md4,
    ];

    /// The name rsync uses in negotiation and in `--checksum-choice`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md4 => "md4",
            Self::Md5 => "md5",
            Self::Xxh64 => "xxh64",
            Self::Xxh3 => "xxh3",
            Self::Xxh128 => "xxh128",
        }
    }

    /// Parses a name as rsync's `parse_csum_name` does (`xxhash` is an alias of `xxh64`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "md4" => Self::Md4,
            "md5" => Self::Md5,
            "xxh64" | "xxhash" => Self::Xxh64,
            "xxh3" => Self::Xxh3,
            "xxh128" => Self::Xxh128,
            _ => return None,
        })
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Md4 | Self::Md5 | Self::Xxh128 => 16,
            Self::Xxh64 | Self::Xxh3 => 8,
        }
    }

    /// Hashes `data` with no seed (rsync's `-c` file-list checksum).
    pub fn digest(self, data: &[u8]) -> StrongDigest {
        let mut hasher = FileHasher::new(self, None);
        hasher.update(data);
        hasher.finish()
    }
}

/// Where the 4-byte little-endian seed goes for the MD4 and MD5 block sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOrder {
    /// Hash the seed, then the data (`CF_CHKSUM_SEED_FIX`, negotiated md5).
    SeedFirst,
    /// Hash the data, then the seed (protocols 27–29, built-in MD4, old protocol-30 peers).
    SeedLast,
}

/// A digest of at most [`MAX_DIGEST_LEN`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StrongDigest {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl StrongDigest {
    /// Wraps the first `len` bytes of `bytes` (clamped to [`MAX_DIGEST_LEN`]).
    pub fn from_slice(bytes: &[u8]) -> Self {
        let len = bytes.len().min(MAX_DIGEST_LEN);
        let mut out = [0u8; MAX_DIGEST_LEN];
        out[..len].copy_from_slice(&bytes[..len]);
        Self {
            bytes: out,
            len: len as u8,
        }
    }

    /// The digest bytes, in wire order.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The digest length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the digest has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for StrongDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Computes the strong sum of one block with the session seed placed as the protocol requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHasher {
    algorithm: ChecksumAlgorithm,
    seed: i32,
    order: SeedOrder,
}

impl BlockHasher {
    /// A block hasher for `algorithm` with the session `seed` placed by `order`.
    ///
    /// For MD4 and MD5 a zero seed is left out entirely, as rsync does; the xxhash family takes
    /// the seed sign-extended to 64 bits and ignores `order`.
    pub fn new(algorithm: ChecksumAlgorithm, seed: i32, order: SeedOrder) -> Self {
        Self {
            algorithm,
            seed,
            order,
        }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The full digest length (a signature keeps only the first `s2length` bytes).
    pub fn digest_len(&self) -> usize {
        self.algorithm.digest_len()
    }

    /// The strong sum of `block`.
    pub fn digest(&self, block: &[u8]) -> StrongDigest {
        let seed64 = self.seed as i64 as u64;
        match self.algorithm {
            ChecksumAlgorithm::Md4 => self.seeded::<Md4>(block),
            ChecksumAlgorithm::Md5 => self.seeded::<Md5>(block),
            ChecksumAlgorithm::Xxh64 => {
                StrongDigest::from_slice(&xxh64(block, seed64).to_le_bytes())
            }
            ChecksumAlgorithm::Xxh3 => {
                StrongDigest::from_slice(&xxh3_64_with_seed(block, seed64).to_le_bytes())
            }
            ChecksumAlgorithm::Xxh128 => {
                StrongDigest::from_slice(&xxh3_128_with_seed(block, seed64).to_le_bytes())
            }
        }
    }

    fn seeded<D: Digest>(&self, block: &[u8]) -> StrongDigest {
        let mut h = D::new();
        let seed = self.seed.to_le_bytes();
        let with_seed = self.seed != 0;
        if with_seed && self.order == SeedOrder::SeedFirst {
            h.update(seed);
        }
        h.update(block);
        if with_seed && self.order == SeedOrder::SeedLast {
            h.update(seed);
        }
        StrongDigest::from_slice(&h.finalize())
    }
}

enum FileHasherState {
    Md4(Md4),
    Md5(Md5),
    Xxh64(Xxh64),
    Xxh3(Box<Xxh3>),
    Xxh128(Box<Xxh3>),
}

/// A streaming whole-file checksum, as sent after a file's tokens.
pub struct FileHasher {
    state: FileHasherState,
}

impl FileHasher {
    /// A hasher for `algorithm`. `seed_prefix` is hashed first as 4 little-endian bytes — the
    /// protocol 27–29 rule for MD4, where the seed is included even when it is zero.
    pub fn new(algorithm: ChecksumAlgorithm, seed_prefix: Option<i32>) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Md4 => FileHasherState::Md4(Md4::new()),
            ChecksumAlgorithm::Md5 => FileHasherState::Md5(Md5::new()),
            ChecksumAlgorithm::Xxh64 => FileHasherState::Xxh64(Xxh64::new(0)),
            ChecksumAlgorithm::Xxh3 => FileHasherState::Xxh3(Box::new(Xxh3::new())),
            ChecksumAlgorithm::Xxh128 => FileHasherState::Xxh128(Box::new(Xxh3::new())),
        };
        let mut hasher = Self { state };
        if let Some(seed) = seed_prefix {
            hasher.update(&seed.to_le_bytes());
        }
        hasher
    }

    /// Feeds more file data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            FileHasherState::Md4(h) => h.update(data),
            FileHasherState::Md5(h) => h.update(data),
            FileHasherState::Xxh64(h) => h.update(data),
            FileHasherState::Xxh3(h) | FileHasherState::Xxh128(h) => h.update(data),
        }
    }

    /// The checksum of everything fed so far.
    pub fn finish(self) -> StrongDigest {
        match self.state {
            FileHasherState::Md4(h) => StrongDigest::from_slice(&h.finalize()),
            FileHasherState::Md5(h) => StrongDigest::from_slice(&h.finalize()),
            FileHasherState::Xxh64(h) => StrongDigest::from_slice(&h.digest().to_le_bytes()),
            FileHasherState::Xxh3(h) => StrongDigest::from_slice(&h.digest().to_le_bytes()),
            FileHasherState::Xxh128(h) => StrongDigest::from_slice(&h.digest128().to_le_bytes()),
        }
    }
}

/// Which hashes a session uses, derived from the protocol version and the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumProfile {
    /// The block strong-sum hasher (the generator's sums and the sender's match check).
    pub block: BlockHasher,
    /// The whole-file checksum algorithm.
    pub file_algorithm: ChecksumAlgorithm,
    /// A seed hashed before the file data (protocols 27–29 only).
    pub file_seed_prefix: Option<i32>,
}

impl ChecksumProfile {
    /// The rules of `checksum.c` for a session.
    ///
    /// `chosen` is the algorithm negotiated (protocol ≥ 30) or forced with
    /// `--checksum-choice` (any protocol: both sides then use it without negotiating).
    ///
    /// * Nothing chosen, `protocol` < 30: MD4 block sums with the seed last (left out when
    ///   zero), MD4 file sums with the seed first (always) — rsync's `CSUM_MD4_OLD`.
    /// * Nothing chosen, `protocol` ≥ 30: MD5; the block seed goes first when `seed_fix`
    ///   (`CF_CHKSUM_SEED_FIX`) is set, last otherwise.
    /// * `md5` chosen: the same seed rule; `md4` chosen: seed last (rsync's built-in MD4);
    ///   xxhash family: the seed sign-extended as the hash seed. File sums of a chosen
    ///   algorithm are unseeded (`CSUM_MD4` is not `CSUM_MD4_OLD`).
    pub fn for_protocol(
        protocol: u32,
        chosen: Option<ChecksumAlgorithm>,
        seed: i32,
        seed_fix: bool,
    ) -> Self {
        let md5_order = if seed_fix {
            SeedOrder::SeedFirst
        } else {
            SeedOrder::SeedLast
        };
        let (algorithm, order) = match chosen {
            None if protocol < 30 => {
                return Self {
                    block: BlockHasher::new(ChecksumAlgorithm::Md4, seed, SeedOrder::SeedLast),
                    file_algorithm: ChecksumAlgorithm::Md4,
                    file_seed_prefix: Some(seed),
                };
            }
            None | Some(ChecksumAlgorithm::Md5) => (ChecksumAlgorithm::Md5, md5_order),
            Some(ChecksumAlgorithm::Md4) => (ChecksumAlgorithm::Md4, SeedOrder::SeedLast),
            Some(other) => (other, SeedOrder::SeedFirst),
        };
        Self {
            block: BlockHasher::new(algorithm, seed, order),
            file_algorithm: algorithm,
            file_seed_prefix: None,
        }
    }

    /// The profile for a purely local transfer: `algorithm` unseeded for blocks and files.
    pub fn local(algorithm: ChecksumAlgorithm) -> Self {
        Self {
            block: BlockHasher::new(algorithm, 0, SeedOrder::SeedFirst),
            file_algorithm: algorithm,
            file_seed_prefix: None,
        }
    }

    /// A fresh whole-file hasher for this session.
    pub fn file_hasher(&self) -> FileHasher {
        FileHasher::new(self.file_algorithm, self.file_seed_prefix)
    }

    /// The whole-file checksum length sent after each file's tokens.
    pub fn file_digest_len(&self) -> usize {
        self.file_algorithm.digest_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &StrongDigest) -> String {
        format!("{d:?}")
    }

    #[test]
    fn known_answers() {
        // RFC 1320 / RFC 1321 test vectors.
        assert_eq!(
            hex(&ChecksumAlgorithm::Md4.digest(b"abc")),
            "a448017aaf21d8525fc10ae87aa6729d"
        );
        assert_eq!(
            hex(&ChecksumAlgorithm::Md5.digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        // XXH64("", 0) = 0xef46db3751d8e999, sent little-endian.
        assert_eq!(
            hex(&ChecksumAlgorithm::Xxh64.digest(b"")),
            "99e9d85137db46ef"
        );
        // XXH3_64("", 0) = 0x2d06800538d394c2.
        assert_eq!(
            hex(&ChecksumAlgorithm::Xxh3.digest(b"")),
            "c294d3380580062d"
        );
        // XXH3_128("", 0) = 0x99aa06d3014798d86001c324468d497f: low 64 bits LE, then high.
        assert_eq!(
            hex(&ChecksumAlgorithm::Xxh128.digest(b"")),
            "7f498d4624c30160d8984701d306aa99"
        );
    }

    #[test]
    fn seed_placement_md4_md5() {
        let seed: i32 = 0x1234_5678;
        let s = seed.to_le_bytes();
        let block = b"some block data";
        let cat = |a: &[u8], b: &[u8]| [a, b].concat();

        let last = BlockHasher::new(ChecksumAlgorithm::Md4, seed, SeedOrder::SeedLast);
        assert_eq!(
            last.digest(block),
            ChecksumAlgorithm::Md4.digest(&cat(block, &s))
        );
        let first = BlockHasher::new(ChecksumAlgorithm::Md5, seed, SeedOrder::SeedFirst);
        assert_eq!(
            first.digest(block),
            ChecksumAlgorithm::Md5.digest(&cat(&s, block))
        );
        let md5_last = BlockHasher::new(ChecksumAlgorithm::Md5, seed, SeedOrder::SeedLast);
        assert_eq!(
            md5_last.digest(block),
            ChecksumAlgorithm::Md5.digest(&cat(block, &s))
        );
        // A zero seed is left out of block sums.
        let zero = BlockHasher::new(ChecksumAlgorithm::Md4, 0, SeedOrder::SeedLast);
        assert_eq!(zero.digest(block), ChecksumAlgorithm::Md4.digest(block));
    }

    #[test]
    fn xxh_seed_is_sign_extended() {
        let block = b"0123456789abcdef";
        let h = BlockHasher::new(ChecksumAlgorithm::Xxh64, -5, SeedOrder::SeedFirst);
        assert_eq!(
            h.digest(block).as_bytes(),
            xxh64(block, 0xffff_ffff_ffff_fffb).to_le_bytes()
        );
        assert_ne!(
            h.digest(block).as_bytes(),
            xxh64(block, 0xffff_fffb).to_le_bytes()
        );
        let h3 = BlockHasher::new(ChecksumAlgorithm::Xxh3, -5, SeedOrder::SeedLast);
        assert_eq!(
            h3.digest(block).as_bytes(),
            xxh3_64_with_seed(block, u64::MAX - 4).to_le_bytes()
        );
        let h128 = BlockHasher::new(ChecksumAlgorithm::Xxh128, -5, SeedOrder::SeedLast);
        assert_eq!(
            h128.digest(block).as_bytes(),
            xxh3_128_with_seed(block, u64::MAX - 4).to_le_bytes()
        );
    }

    #[test]
    fn profiles_per_protocol() {
        let seed = 77;
        let data = b"file contents";
        for proto in 27..30 {
            let p = ChecksumProfile::for_protocol(proto, None, seed, false);
            assert_eq!(p.block.algorithm(), ChecksumAlgorithm::Md4);
            let mut f = p.file_hasher();
            f.update(data);
            let expect = ChecksumAlgorithm::Md4.digest(&[&seed.to_le_bytes()[..], data].concat());
            assert_eq!(f.finish(), expect);
        }
        // The file seed prefix is included even when zero.
        let mut f = ChecksumProfile::for_protocol(29, None, 0, false).file_hasher();
        f.update(data);
        assert_eq!(
            f.finish(),
            ChecksumAlgorithm::Md4.digest(&[&[0u8; 4][..], data].concat())
        );
        let p = ChecksumProfile::for_protocol(30, None, seed, true);
        assert_eq!(
            p.block,
            BlockHasher::new(ChecksumAlgorithm::Md5, seed, SeedOrder::SeedFirst)
        );
        let p = ChecksumProfile::for_protocol(30, None, seed, false);
        assert_eq!(
            p.block,
            BlockHasher::new(ChecksumAlgorithm::Md5, seed, SeedOrder::SeedLast)
        );
        let p = ChecksumProfile::for_protocol(31, Some(ChecksumAlgorithm::Md4), seed, true);
        assert_eq!(
            p.block,
            BlockHasher::new(ChecksumAlgorithm::Md4, seed, SeedOrder::SeedLast)
        );
        // A forced choice below protocol 30 is used as is, with unseeded file sums.
        let p = ChecksumProfile::for_protocol(29, Some(ChecksumAlgorithm::Md4), seed, false);
        assert_eq!(p.file_seed_prefix, None);
        let p = ChecksumProfile::for_protocol(28, Some(ChecksumAlgorithm::Xxh3), seed, false);
        assert_eq!(p.block.algorithm(), ChecksumAlgorithm::Xxh3);
        let p = ChecksumProfile::for_protocol(27, Some(ChecksumAlgorithm::Md5), seed, false);
        assert_eq!(
            p.block,
            BlockHasher::new(ChecksumAlgorithm::Md5, seed, SeedOrder::SeedLast)
        );
        let p = ChecksumProfile::for_protocol(32, Some(ChecksumAlgorithm::Xxh128), seed, true);
        assert_eq!(p.file_algorithm, ChecksumAlgorithm::Xxh128);
        assert_eq!(p.file_seed_prefix, None);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for alg in ChecksumAlgorithm::ALL {
            let mut h = FileHasher::new(alg, None);
            for chunk in data.chunks(333) {
                h.update(chunk);
            }
            assert_eq!(h.finish(), alg.digest(&data), "{}", alg.name());
            assert_eq!(alg.digest(&data).len(), alg.digest_len());
            assert_eq!(ChecksumAlgorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(ChecksumAlgorithm::from_name("sha256"), None);
    }
}
