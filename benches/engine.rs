//! Criterion benchmarks of the delta core, reported in bytes per second.
//!
//! * `rolling_search_no_match`: the match search over data that shares no block with the
//!   basis — the rolling checksum and the filter probe at every offset (one core).
//! * `signature/<hash>`: block sums of a 64 MiB basis with rsync's layout (both cores).
//! * `delta/scattered_changes`: the search over a copy with scattered edits and insertions.
//! * `patch/scattered_changes`: rebuilding that file from the basis and the delta.

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rdsync::engine::checksum::{ChecksumAlgorithm, ChecksumProfile};
use rdsync::engine::delta::{DeltaGenerator, DeltaSink, Token, TokenCollector};
use rdsync::engine::layout::{BlockLayout, LayoutParams};
use rdsync::engine::patch::Patcher;
use rdsync::engine::signature::Signature;

const SIZE: usize = 64 << 20;

fn noise(n: usize, mut x: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The basis with 0.1% of its bytes overwritten in scattered runs and a few insertions.
fn scattered_edit(basis: &[u8]) -> Vec<u8> {
    let mut new = basis.to_vec();
    let mut x = 99u64;
    for _ in 0..16 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        let at = (x >> 16) as usize % (new.len() - 5000);
        new[at..at + 4096].iter_mut().for_each(|b| *b ^= 0x5a);
    }
    for i in 1..5 {
        let at = i * new.len() / 5 + 333;
        new.splice(at..at, noise(1500, i as u64));
    }
    new
}

struct Discard;
impl DeltaSink for Discard {
    type Error = ();
    fn literal(&mut self, data: &[u8]) -> Result<(), ()> {
        black_box(data);
        Ok(())
    }
    fn copy(&mut self, index: u64) -> Result<(), ()> {
        black_box(index);
        Ok(())
    }
}

fn layout_for(len: usize, alg: ChecksumAlgorithm) -> BlockLayout {
    let params = LayoutParams::first_pass(31, alg.digest_len());
    BlockLayout::for_file(len as u64, &params)
}

fn rolling_search(c: &mut Criterion) {
    let basis = noise(SIZE, 1);
    let new = noise(SIZE, 2);
    let profile = ChecksumProfile::local(ChecksumAlgorithm::Xxh3);
    let layout = layout_for(basis.len(), ChecksumAlgorithm::Xxh3);
    let sig = Signature::generate(&basis[..], layout, &profile.block).expect("signature");
    let generator = DeltaGenerator::new(&sig, profile.block);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let mut g = c.benchmark_group("rolling_search_no_match");
    g.throughput(Throughput::Bytes(new.len() as u64));
    g.sample_size(10);
    g.bench_function("one_core", |b| {
        b.iter(|| {
            pool.install(|| {
                generator
                    .run(&new[..], profile.file_hasher(), &mut Discard)
                    .expect("delta")
            })
        })
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let basis = noise(SIZE, 3);
    let mut g = c.benchmark_group("signature");
    g.throughput(Throughput::Bytes(basis.len() as u64));
    g.sample_size(10);
    for alg in ChecksumAlgorithm::ALL {
        let profile = ChecksumProfile::for_protocol(31, Some(alg), 7, true);
        let layout = layout_for(basis.len(), alg);
        g.bench_function(alg.name(), |b| {
            b.iter(|| Signature::generate(&basis[..], layout, &profile.block).expect("sig"))
        });
    }
    g.finish();
}

fn delta_and_patch(c: &mut Criterion) {
    let basis = noise(SIZE, 4);
    let new = scattered_edit(&basis);
    let alg = ChecksumAlgorithm::Xxh128;
    let profile = ChecksumProfile::local(alg);
    let layout = layout_for(basis.len(), alg);
    let sig = Signature::generate(&basis[..], layout, &profile.block).expect("signature");
    let generator = DeltaGenerator::new(&sig, profile.block);

    let mut g = c.benchmark_group("delta");
    g.throughput(Throughput::Bytes(new.len() as u64));
    g.sample_size(10);
    g.bench_function("scattered_changes", |b| {
        b.iter(|| {
            generator
                .run(&new[..], profile.file_hasher(), &mut Discard)
                .expect("delta")
        })
    });
    g.finish();

    let mut tokens = TokenCollector::default();
    let outcome = generator
        .run(&new[..], profile.file_hasher(), &mut tokens)
        .expect("delta");
    let mut g = c.benchmark_group("patch");
    g.throughput(Throughput::Bytes(new.len() as u64));
    g.sample_size(10);
    g.bench_function("scattered_changes", |b| {
        b.iter(|| {
            let mut p = Patcher::new(Some(&basis[..]), layout, io::sink(), profile.file_hasher());
            for t in &tokens.tokens {
                match t {
                    Token::Literal(d) => p.literal(d).expect("literal"),
                    Token::Copy(i) => p.copy_block(*i).expect("copy"),
                }
            }
            p.finish(outcome.digest.as_bytes()).expect("verified")
        })
    });
    g.finish();
}

criterion_group!(benches, rolling_search, signatures, delta_and_patch);
criterion_main!(benches);
