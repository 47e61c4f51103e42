//! Property: patch(basis, delta(signature(basis), new)) == new, for every strong hash,
//! for basis/new pairs related by inserts, deletes, moved and repeated blocks.

use proptest::prelude::*;
use rdsync_engine::checksum::{ChecksumAlgorithm, ChecksumProfile};
use rdsync_engine::delta::DeltaGenerator;
use rdsync_engine::layout::BlockLayout;
use rdsync_engine::patch::{PatchError, Patcher};
use rdsync_engine::signature::Signature;

/// One edit applied to the basis to make the new file.
#[derive(Debug, Clone)]
enum Edit {
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    /// Copy a range to another place (a moved or repeated block).
    Duplicate {
        from: usize,
        len: usize,
        to: usize,
    },
    Overwrite {
        at: usize,
        bytes: Vec<u8>,
    },
    Truncate {
        at: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..300))
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (any::<usize>(), 1usize..2000).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 1usize..3000, any::<usize>())
            .prop_map(|(from, len, to)| Edit::Duplicate { from, len, to }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..100))
            .prop_map(|(at, bytes)| Edit::Overwrite { at, bytes }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

fn apply(basis: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = basis.to_vec();
    for e in edits {
        let n = v.len();
        match e {
            Edit::Insert { at, bytes } => {
                let at = at % (n + 1);
                v.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete { at, len } if n > 0 => {
                let at = at % n;
                let end = (at + len).min(n);
                v.drain(at..end);
            }
            Edit::Duplicate { from, len, to } if n > 0 => {
                let from = from % n;
                let end = (from + len).min(n);
                let piece = v[from..end].to_vec();
                let to = to % (n + 1);
                v.splice(to..to, piece);
            }
            Edit::Overwrite { at, bytes } if n > 0 => {
                let at = at % n;
                for (i, b) in bytes.iter().enumerate() {
                    if let Some(slot) = v.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            Edit::Truncate { at } => v.truncate(at % (n + 1)),
            _ => {}
        }
    }
    v
}

/// Data with structure (repeats and runs) as well as noise, so that weak sums collide.
fn basis_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12_000),
        (prop::collection::vec(any::<u8>(), 1..64), 0usize..400)
            .prop_map(|(pattern, reps)| pattern.repeat(reps)),
        (any::<u8>(), 0usize..9000).prop_map(|(b, n)| vec![b; n]),
    ]
}

/// Returns the rebuilt file, or `None` if the whole-file checksum caught a bad rebuild.
fn roundtrip(
    basis: &[u8],
    new: &[u8],
    alg: ChecksumAlgorithm,
    block_len: u32,
    strong_len: usize,
    seed: i32,
) -> Option<Vec<u8>> {
    let profile = ChecksumProfile::for_protocol(31, Some(alg), seed, true);
    let strong_len = strong_len.min(alg.digest_len());
    let layout = BlockLayout::with_block_len(basis.len() as u64, block_len, strong_len);
    let sig = Signature::generate(basis, layout, &profile.block).expect("signature");
    let mut patcher = Patcher::new(Some(basis), layout, Vec::new(), profile.file_hasher());
    let outcome = DeltaGenerator::new(&sig, profile.block)
        .run(new, profile.file_hasher(), &mut patcher)
        .expect("delta");
    assert_eq!(
        outcome.stats.literal_bytes + outcome.stats.matched_bytes,
        new.len() as u64
    );
    match patcher.finish(outcome.digest.as_bytes()) {
        Ok((out, _)) => Some(out),
        Err(PatchError::ChecksumMismatch { .. }) => None,
        Err(e) => panic!("patch failed: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// With full-length strong sums a rebuild is exact for every algorithm.
    #[test]
    fn patch_of_delta_rebuilds_new(
        basis in basis_data(),
        edits in prop::collection::vec(edit(), 0..6),
        block_len in prop_oneof![Just(1u32), 7u32..80, Just(700u32), 500u32..3000],
        seed in any::<i32>(),
    ) {
        let new = apply(&basis, &edits);
        for alg in ChecksumAlgorithm::ALL {
            let rebuilt = roundtrip(&basis, &new, alg, block_len, alg.digest_len(), seed);
            prop_assert_eq!(rebuilt.as_deref(), Some(&new[..]), "algorithm {}", alg.name());
        }
    }

    /// With rsync's short first-pass sums (2 bytes) a false block match is possible; it must
    /// then be caught by the whole-file checksum, never produce a wrong file silently.
    #[test]
    fn short_strong_sums_never_corrupt_silently(
        basis in basis_data(),
        edits in prop::collection::vec(edit(), 0..6),
        block_len in 1u32..40,
    ) {
        let new = apply(&basis, &edits);
        for alg in ChecksumAlgorithm::ALL {
            if let Some(rebuilt) = roundtrip(&basis, &new, alg, block_len, 2, 0) {
                prop_assert_eq!(&rebuilt, &new, "algorithm {}", alg.name());
            }
        }
    }

    /// An unchanged file is all block references and no literal data.
    #[test]
    fn identical_file_is_all_matches(basis in prop::collection::vec(any::<u8>(), 1..20_000)) {
        let profile = ChecksumProfile::local(ChecksumAlgorithm::Xxh128);
        let layout = BlockLayout::with_block_len(basis.len() as u64, 700, 16);
        let sig = Signature::generate(&basis[..], layout, &profile.block).expect("signature");
        let mut sink = rdsync_engine::delta::TokenCollector::default();
        let out = DeltaGenerator::new(&sig, profile.block)
            .run(&basis[..], profile.file_hasher(), &mut sink)
            .expect("delta");
        prop_assert_eq!(out.stats.literal_bytes, 0);
        prop_assert_eq!(out.stats.matched_blocks, layout.count);
    }
}

#[test]
fn empty_files_every_way() {
    for alg in ChecksumAlgorithm::ALL {
        assert_eq!(roundtrip(&[], &[], alg, 700, 16, 1), Some(vec![]));
        assert_eq!(roundtrip(b"abc", &[], alg, 700, 16, 1), Some(vec![]));
        assert_eq!(
            roundtrip(&[], b"abc", alg, 700, 16, 1),
            Some(b"abc".to_vec())
        );
    }
}

#[test]
fn large_file_with_scattered_changes() {
    // 8 MiB of noise with rsync's own layout for that size, edits every ~300 KiB, insertions
    // that shift everything after them.
    let mut x = 0x1234_5678u64;
    let basis: Vec<u8> = (0..8 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut new = basis.clone();
    for i in (1000..new.len() - 5000).step_by(300_000) {
        new[i..i + 3000]
            .iter_mut()
            .for_each(|b| *b = b.wrapping_add(1));
    }
    new.splice(4_000_001..4_000_001, b"inserted".iter().copied());
    new.drain(6_000_000..6_000_777);
    let params = rdsync_engine::layout::LayoutParams::first_pass(31, 16);
    let layout = BlockLayout::for_file(basis.len() as u64, &params);
    for alg in [ChecksumAlgorithm::Md4, ChecksumAlgorithm::Xxh3] {
        let rebuilt = roundtrip(&basis, &new, alg, layout.block_len, 16, 42);
        assert!(rebuilt.as_deref() == Some(&new[..]), "{}", alg.name());
    }
}
