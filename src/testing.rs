//! Helpers shared by the unit tests.

/// The xorshift64 sequence from `seed` (not 0): a fixed-seed generator written here so that the
/// tests need no crate and their random cases never change.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.max(1);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Uniform numbers in [0, 1) from the [`xorshift`] sequence.
pub fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut next = xorshift(seed);
    move || (next() >> 11) as f64 / (1u64 << 53) as f64
}
