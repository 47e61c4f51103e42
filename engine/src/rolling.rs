//! rsync's weak rolling checksum (`checksum.c: get_checksum1`).
//!
//! For a window of bytes x1..xn, each byte taken as a **signed** char and `CHAR_OFFSET = 0`:
//! `s1 = Σ xi`, `s2 = Σ (n − i + 1)·xi`, both modulo 2^32, and the digest is
//! `(s1 & 0xffff) | (s2 << 16)`. Treating bytes as unsigned still "works" against rsync but every
//! block containing a byte ≥ 0x80 misses, so the sign matters.

/// The value of one byte as rsync's `schar` arithmetic sees it, widened to `u32`.
#[inline(always)]
fn signed(byte: u8) -> u32 {
    byte as i8 as i32 as u32
}

/// `(s1, s2)` of a whole window, using AVX2 when the CPU has it.
fn sums(data: &[u8]) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { sums_avx2(data) };
    }
    sums_portable(data)
}

/// [`sums_portable`] compiled for AVX2, where LLVM vectorizes it eight lanes wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sums_avx2(data: &[u8]) -> (u32, u32) {
    sums_portable(data)
}

/// `s1 = Σ xi` and `s2 = Σ (n − i)·xi = n·s1 − Σ i·xi` (0-based i): two independent sums with
/// no loop-carried chain between bytes, so the compiler can vectorize them.
#[inline(always)]
fn sums_portable(data: &[u8]) -> (u32, u32) {
    let mut s1: u32 = 0;
    let mut weighted: u32 = 0;
    for (i, &byte) in data.iter().enumerate() {
        let x = signed(byte);
        s1 = s1.wrapping_add(x);
        weighted = weighted.wrapping_add((i as u32).wrapping_mul(x));
    }
    let s2 = (data.len() as u32).wrapping_mul(s1).wrapping_sub(weighted);
    (s1, s2)
}

/// Computes rsync's `get_checksum1` of `data` in one pass.
pub fn checksum1(data: &[u8]) -> u32 {
    RollingChecksum::new(data).digest()
}

/// The weak checksum of a sliding window, rolled one byte at a time in O(1).
///
/// The window length is tracked so the window can also shrink from the front at the end of a
/// file, as rsync's `hash_search` does to match a short final block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingChecksum {
    s1: u32,
    s2: u32,
    len: u32,
}

impl RollingChecksum {
    /// Computes the checksum of `window` from scratch.
    pub fn new(window: &[u8]) -> Self {
        let (s1, s2) = sums(window);
        Self {
            s1,
            s2,
            len: window.len() as u32,
        }
    }

    /// Rebuilds a checksum from its running sums and window length.
    pub(crate) fn from_sums(s1: u32, s2: u32, len: usize) -> Self {
        Self {
            s1,
            s2,
            len: len as u32,
        }
    }

    /// The running sums `(s1, s2)`.
    pub(crate) fn sums(&self) -> (u32, u32) {
        (self.s1, self.s2)
    }

    /// The checksum as rsync sends it: `(s1 & 0xffff) | (s2 << 16)`.
    #[inline(always)]
    pub fn digest(&self) -> u32 {
        (self.s1 & 0xffff) | (self.s2 << 16)
    }

    /// The number of bytes in the window.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slides the window one byte forward: `out` leaves at the front, `incoming` enters at the end.
    #[inline(always)]
    pub fn roll(&mut self, out: u8, incoming: u8) {
        let out = signed(out);
        self.s1 = self.s1.wrapping_sub(out).wrapping_add(signed(incoming));
        self.s2 = self
            .s2
            .wrapping_sub(self.len.wrapping_mul(out))
            .wrapping_add(self.s1);
    }

    /// Removes `out` from the front of the window, shrinking it by one byte.
    #[inline(always)]
    pub fn roll_out(&mut self, out: u8) {
        let out = signed(out);
        self.s1 = self.s1.wrapping_sub(out);
        self.s2 = self.s2.wrapping_sub(self.len.wrapping_mul(out));
        self.len = self.len.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, written as plainly as possible: s1 = Σ xi, s2 = Σ (n − i + 1)·xi.
    fn by_definition(data: &[u8]) -> u32 {
        let n = data.len() as i64;
        let mut s1: i64 = 0;
        let mut s2: i64 = 0;
        for (i, &b) in data.iter().enumerate() {
            let x = b as i8 as i64;
            s1 += x;
            s2 += (n - i as i64) * x;
        }
        ((s1 as u32) & 0xffff) | ((s2 as u32) << 16)
    }

    #[test]
    fn worked_vectors() {
        // "abcd": s1 = 97+98+99+100 = 394 = 0x18a; s2 = 4·97+3·98+2·99+100 = 980 = 0x3d4.
        assert_eq!(checksum1(b"abcd"), 0x03d4_018a);
        // 0x80 0xff as signed chars: -128, -1. s1 = -129 → 0xff7f (low 16 bits);
        // s2 = 2·(-128) + (-1) = -257 → low 16 bits 0xfeff.
        assert_eq!(checksum1(&[0x80, 0xff]), 0xfeff_ff7f);
        // A single 0xff byte: s1 = s2 = -1.
        assert_eq!(checksum1(&[0xff]), 0xffff_ffff);
        assert_eq!(checksum1(&[]), 0);
    }

    #[test]
    fn high_bytes_differ_from_unsigned_interpretation() {
        let data = [0x90u8, 0x10, 0xf0, 0x7f, 0x80];
        let unsigned: u32 = {
            let (mut s1, mut s2) = (0u32, 0u32);
            for &b in &data {
                s1 = s1.wrapping_add(b as u32);
                s2 = s2.wrapping_add(s1);
            }
            (s1 & 0xffff) | (s2 << 16)
        };
        assert_ne!(checksum1(&data), unsigned);
        assert_eq!(checksum1(&data), by_definition(&data));
    }

    #[test]
    fn portable_and_dispatched_agree() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 3, 31, 32, 33, 700, 4999] {
            assert_eq!(sums(&data[..len]), sums_portable(&data[..len]));
            assert_eq!(checksum1(&data[..len]), by_definition(&data[..len]));
        }
    }

    proptest! {
        #[test]
        fn matches_definition(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(checksum1(&data), by_definition(&data));
        }

        #[test]
        fn roll_equals_recompute(
            data in proptest::collection::vec(any::<u8>(), 2..400),
            window in 1usize..64,
        ) {
            let window = window.min(data.len() - 1);
            let mut rolling = RollingChecksum::new(&data[..window]);
            for start in 1..=data.len() - window {
                rolling.roll(data[start - 1], data[start + window - 1]);
                prop_assert_eq!(rolling.digest(), checksum1(&data[start..start + window]));
            }
            // Shrink from the front to nothing.
            let tail_start = data.len() - window;
            for k in 0..window {
                rolling.roll_out(data[tail_start + k]);
                prop_assert_eq!(rolling.digest(), checksum1(&data[tail_start + k + 1..]));
                prop_assert_eq!(rolling.len(), window - k - 1);
            }
        }
    }
}
