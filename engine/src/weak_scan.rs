//! The hot loop of the match search: roll the weak checksum forward over a buffer until its
//! value might belong to a basis block.
//!
//! [`WeakFilter`] is a bitmap over a multiplicative hash of the weak sum; a clear bit proves
//! that no basis block has that weak sum. [`scan`] advances the window while that holds. On x86
//! with AVX2 it computes eight consecutive window sums at once from prefix sums of the byte
//! differences (`s1(p+1) = s1(p) + x[p+k] − x[p]`, `s2(p+1) = s2(p) − k·x[p] + s1(p+1)`) and
//! probes the filter for all eight with one gather; elsewhere it rolls byte by byte.

use crate::rolling::RollingChecksum;

const HASH_MULTIPLIER: u32 = 0x9e37_79b1;

/// A bitmap filter over weak sums: no false negatives, about `1/bits_per_entry` false positives.
#[derive(Debug, Clone)]
pub(crate) struct WeakFilter {
    words: Vec<u32>,
    /// `32 − log2(bit count)`: the hash's top bits index the bitmap.
    shift: u32,
}

impl WeakFilter {
    /// A filter for `entries` weak sums with about `bits_per_entry` bits each (at least 2^16
    /// bits, at most 2^26).
    pub(crate) fn with_capacity(entries: usize, bits_per_entry: usize) -> Self {
        let bits = entries
            .max(1)
            .saturating_mul(bits_per_entry)
            .next_power_of_two()
            .clamp(1 << 16, 1 << 26);
        Self {
            words: vec![0; bits / 32],
            shift: 32 - bits.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn bit(&self, weak: u32) -> usize {
        (weak.wrapping_mul(HASH_MULTIPLIER) >> self.shift) as usize
    }

    /// Records `weak`.
    pub(crate) fn insert(&mut self, weak: u32) {
        let bit = self.bit(weak);
        if let Some(w) = self.words.get_mut(bit / 32) {
            *w |= 1 << (bit % 32);
        }
    }

    /// False only if `weak` was certainly never inserted.
    #[inline(always)]
    pub(crate) fn may_contain(&self, weak: u32) -> bool {
        let bit = self.bit(weak);
        self.words
            .get(bit / 32)
            .is_some_and(|w| w & (1 << (bit % 32)) != 0)
    }
}

/// Advances the window `buf[pos..pos + k]`, whose checksum is `state`, while the filter rules
/// out its weak sum and a byte follows the window (`pos < limit`, with `limit + k <= buf.len()`).
///
/// Returns the new position; `state` is then the checksum of the window there. Either that
/// window's sum may be in the filter, or the position is `limit`.
pub(crate) fn scan(
    buf: &[u8],
    pos: usize,
    k: usize,
    limit: usize,
    state: &mut RollingChecksum,
    filter: &WeakFilter,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if k == state.len() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::scan(buf, pos, k, limit, state, filter) };
    }
    scan_bytewise(buf, pos, k, limit, state, filter)
}

/// The portable scan: one byte per step.
pub(crate) fn scan_bytewise(
    buf: &[u8],
    pos: usize,
    k: usize,
    limit: usize,
    state: &mut RollingChecksum,
    filter: &WeakFilter,
) -> usize {
    let limit = limit.min(buf.len().saturating_sub(k));
    if pos >= limit {
        return pos;
    }
    let outgoing = &buf[pos..limit];
    let incoming = &buf[pos + k..limit + k];
    let mut advanced = 0;
    for (&out, &inb) in outgoing.iter().zip(incoming) {
        if filter.may_contain(state.digest()) {
            break;
        }
        state.roll(out, inb);
        advanced += 1;
    }
    pos + advanced
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{HASH_MULTIPLIER, WeakFilter, scan_bytewise};
    use crate::rolling::RollingChecksum;
    use std::arch::x86_64::*;

    /// Inclusive prefix sum of eight 32-bit lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn prefix_sum(v: __m256i) -> __m256i {
        let v = _mm256_add_epi32(v, _mm256_slli_si256::<4>(v));
        let v = _mm256_add_epi32(v, _mm256_slli_si256::<8>(v));
        // Carry the low half's total (lane 3) into every lane of the high half.
        let carry = _mm256_shuffle_epi32::<0xff>(v);
        let carry = _mm256_permute2x128_si256::<0x08>(carry, carry);
        _mm256_add_epi32(v, carry)
    }

    /// See [`super::scan`]; eight window positions per step.
    ///
    /// # Safety
    /// The CPU must support AVX2, and `state.len()` must equal `k`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn scan(
        buf: &[u8],
        mut pos: usize,
        k: usize,
        limit: usize,
        state: &mut RollingChecksum,
        filter: &WeakFilter,
    ) -> usize {
        let limit = limit.min(buf.len().saturating_sub(k));
        if pos >= limit || filter.may_contain(state.digest()) {
            return pos;
        }
        let (s1, s2) = state.sums();
        let mut s1b = _mm256_set1_epi32(s1 as i32);
        let mut s2b = _mm256_set1_epi32(s2 as i32);
        let kv = _mm256_set1_epi32(k as i32);
        let mul = _mm256_set1_epi32(HASH_MULTIPLIER as i32);
        let shift = _mm_cvtsi32_si128(filter.shift as i32);
        let low16 = _mm256_set1_epi32(0xffff);
        let one = _mm256_set1_epi32(1);
        let low5 = _mm256_set1_epi32(31);
        let lane7 = _mm256_set1_epi32(7);
        let words = filter.words.as_ptr() as *const i32;
        // Each step needs bytes pos..pos+8 and pos+k..pos+k+8, and yields the windows at
        // pos+1..=pos+8, all of which must be followed by a byte: pos + 8 <= limit.
        while pos + 8 <= limit {
            // SAFETY: pos + 8 <= limit <= buf.len() - k, so both 8-byte loads are in bounds.
            let (out, inc) = unsafe {
                let p = buf.as_ptr();
                (
                    _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(pos) as *const __m128i)),
                    _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(pos + k) as *const __m128i)),
                )
            };
            let s1v = _mm256_add_epi32(s1b, prefix_sum(_mm256_sub_epi32(inc, out)));
            let e = _mm256_sub_epi32(s1v, _mm256_mullo_epi32(kv, out));
            let s2v = _mm256_add_epi32(s2b, prefix_sum(e));
            let digest =
                _mm256_or_si256(_mm256_and_si256(s1v, low16), _mm256_slli_epi32::<16>(s2v));
            let bit = _mm256_srl_epi32(_mm256_mullo_epi32(digest, mul), shift);
            // SAFETY: bit < 2^(32 - shift) = 32 · words.len(), so every index bit >> 5 is
            // within `words`.
            let word = unsafe { _mm256_i32gather_epi32::<4>(words, _mm256_srli_epi32::<5>(bit)) };
            let set = _mm256_and_si256(_mm256_srlv_epi32(word, _mm256_and_si256(bit, low5)), one);
            let hits = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(set, one)));
            if hits != 0 {
                let j = hits.trailing_zeros() as usize;
                let mut a = [0u32; 8];
                let mut b = [0u32; 8];
                // SAFETY: a and b are 32 bytes each.
                unsafe {
                    _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, s1v);
                    _mm256_storeu_si256(b.as_mut_ptr() as *mut __m256i, s2v);
                }
                *state = RollingChecksum::from_sums(a[j], b[j], k);
                return pos + j + 1;
            }
            s1b = _mm256_permutevar8x32_epi32(s1v, lane7);
            s2b = _mm256_permutevar8x32_epi32(s2v, lane7);
            pos += 8;
        }
        let s1 = _mm256_cvtsi256_si32(s1b) as u32;
        let s2 = _mm256_cvtsi256_si32(s2b) as u32;
        *state = RollingChecksum::from_sums(s1, s2, k);
        scan_bytewise(buf, pos, k, limit, state, filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rolling::checksum1;
    use proptest::prelude::*;

    fn filter_of(buf: &[u8], k: usize, picks: &[usize]) -> WeakFilter {
        let mut f = WeakFilter::with_capacity(picks.len(), 64);
        for &p in picks {
            if p + k <= buf.len() {
                f.insert(checksum1(&buf[p..p + k]));
            }
        }
        f
    }

    proptest! {
        /// The dispatched scan (AVX2 here) stops exactly where the byte-wise one does, with the
        /// same state, and that state is the checksum of the window it stopped at.
        #[test]
        fn simd_and_bytewise_agree(
            buf in prop::collection::vec(any::<u8>(), 1..3000),
            k in 1usize..200,
            start in 0usize..100,
            picks in prop::collection::vec(0usize..3000, 0..6),
        ) {
            prop_assume!(k < buf.len());
            let limit = buf.len() - k;
            let start = start.min(limit);
            let filter = filter_of(&buf, k, &picks);
            let mut a = RollingChecksum::new(&buf[start..start + k]);
            let mut b = a;
            let pa = scan(&buf, start, k, limit, &mut a, &filter);
            let pb = scan_bytewise(&buf, start, k, limit, &mut b, &filter);
            prop_assert_eq!(pa, pb);
            prop_assert_eq!(a, b);
            prop_assert_eq!(a.digest(), checksum1(&buf[pa..pa + k]));
            prop_assert!(pa == limit || filter.may_contain(a.digest()));
        }
    }

    #[test]
    fn filter_has_no_false_negatives() {
        let mut f = WeakFilter::with_capacity(1000, 32);
        let sums: Vec<u32> = (0..1000u32)
            .map(|i| i.wrapping_mul(0x0101_0101) ^ 0x5555)
            .collect();
        for &s in &sums {
            f.insert(s);
        }
        assert!(sums.iter().all(|&s| f.may_contain(s)));
        let false_pos = (0..100_000u32)
            .filter(|&i| f.may_contain(i.wrapping_mul(7919)))
            .count();
        assert!(false_pos < 100_000 / 10, "{false_pos} false positives");
    }
}
