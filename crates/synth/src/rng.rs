//! A small seeded random number generator whose output is the same on every platform.

/// SplitMix64 (Steele, Lea and Flood 2014): one 64-bit state, good enough statistics for
/// procedural data and no dependency on a platform's randomness.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

/// The SplitMix64 output function: a bijective avalanche mix of 64 bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A generator started from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: mix(seed) }
    }

    /// An independent generator for stream `stream` of `seed` (e.g. sample `i` of a data set).
    pub(crate) fn derive(seed: u64, stream: u64) -> Self {
        Self::new(mix(seed ^ 0x5851_f42d_4c95_7f2d) ^ mix(stream.wrapping_add(Self::GAMMA)))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        mix(self.state)
    }

    /// A uniform number in `[0, 1)` with 24 bits of precision (exact in `f32`).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// A uniform number in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// A uniform integer in `0..n` (`n` must be positive).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(7, 3).next_u64(), Rng::derive(7, 4).next_u64());
        assert_ne!(Rng::derive(7, 3).next_u64(), Rng::derive(8, 3).next_u64());
    }

    #[test]
    fn unit_and_below_stay_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.below(7) < 7);
        }
    }
}
