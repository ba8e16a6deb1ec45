//! A monotone priority queue for Dijkstra: a radix heap keyed on the bits of an `f64` distance.
//!
//! Dijkstra over non-negative lengths pops distances in non-decreasing order and never pushes a
//! distance below the last one popped. A radix heap uses that: it keeps the entries in buckets by
//! the highest bit in which their key differs from a reference key (the smallest key when the
//! buckets were last split), so a push is one append, and a pop now and then splits the lowest
//! bucket into lower ones in one sequential pass, instead of walking a binary heap whose lower
//! levels miss the cache on a large search front.
//!
//! The key is the distance's bit pattern mapped so that unsigned order is [`f64::total_cmp`] order
//! (for non-negative floats: the bits with the sign bit set), so the queue orders the exact
//! distances; nothing is rounded or scaled. Only the high bits of a key pick a bucket: keys that
//! agree with the reference in all but their `EXACT_LOW_BITS` low bits go to a small binary heap
//! that orders them exactly. Entries with equal keys come out by node id.
//!
//! A key below the last popped one breaks the monotone contract (a search over non-negative lengths
//! never pushes one); it is not lost: it goes to the binary heap and comes out next.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Low key bits that pick no bucket: keys differing from the reference only there are ordered by
/// the binary heap. For distances of 512 to 1024 m, 36 of the 52 mantissa bits span 2^-7 m (8 mm),
/// so that heap holds the few entries in a hair's breadth of the front. Measured on a province
/// audit (700k nodes, 2 km searches): with no exact bits (a plain radix heap) each entry is moved
/// about nine times and the searches take 10% longer, with 32 bits 8% longer, with 34 or 38 bits
/// within 5%.
const EXACT_LOW_BITS: u32 = 36;

/// Buckets for the high key bits: bucket `b` holds keys whose highest bit differing from the
/// reference is high bit `b` (bit `EXACT_LOW_BITS + b` of the key).
const BUCKETS: usize = (u64::BITS - EXACT_LOW_BITS) as usize;

// `occupied` has one bit per bucket.
const _: () = assert!(BUCKETS <= u32::BITS as usize);

/// A min-queue of (distance in metres, node) pairs popped in non-decreasing distance.
#[derive(Debug)]
pub struct RadixHeap {
    /// The reference key: the smallest key when the buckets were last split (0, below every key,
    /// before that), at most the last popped key.
    reference: u64,
    /// Keys within the reference's exact window, or below it, as (key, node).
    exact: BinaryHeap<Reverse<(u64, u32)>>,
    /// Bit `b` set when bucket `b` holds entries.
    occupied: u32,
    /// Keys above the exact window, as (key, node), by their highest bit differing from the reference.
    buckets: [Vec<(u64, u32)>; BUCKETS],
    len: usize,
}

impl Default for RadixHeap {
    fn default() -> RadixHeap {
        RadixHeap {
            reference: 0,
            exact: BinaryHeap::new(),
            occupied: 0,
            buckets: std::array::from_fn(|_| Vec::new()),
            len: 0,
        }
    }
}

/// The unsigned key of a distance: its bits, ordered as [`f64::total_cmp`] orders the floats.
fn key(dist_m: f64) -> u64 {
    let bits = dist_m.to_bits();
    if bits >> 63 == 0 {
        bits | 1 << 63
    } else {
        !bits
    }
}

/// The distance of a key (the inverse of [`key`]).
fn distance(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
}

impl RadixHeap {
    pub fn new() -> RadixHeap {
        RadixHeap::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the queue and forgets the reference key, keeping the memory.
    pub fn clear(&mut self) {
        for b in &mut self.buckets {
            b.clear();
        }
        self.exact.clear();
        self.reference = 0;
        self.occupied = 0;
        self.len = 0;
    }

    pub fn push(&mut self, dist_m: f64, node: u32) {
        self.insert((key(dist_m), node));
        self.len += 1;
    }

    /// Files an entry by its key: the exact heap, or the bucket of its highest bit above the
    /// exact window that differs from the reference.
    fn insert(&mut self, entry: (u64, u32)) {
        let high = (entry.0 ^ self.reference) >> EXACT_LOW_BITS;
        if high == 0 || entry.0 < self.reference {
            self.exact.push(Reverse(entry));
        } else {
            let b = (u64::BITS - 1 - high.leading_zeros()) as usize;
            self.buckets[b].push(entry);
            self.occupied |= 1 << b;
        }
    }

    /// Takes out an entry with the smallest distance.
    pub fn pop(&mut self) -> Option<(f64, u32)> {
        if self.exact.is_empty() && self.occupied != 0 {
            // The lowest bucket holds the smallest keys: its smallest becomes the reference, and
            // its entries, which agree with that one above the bucket's bit, move to the exact heap
            // or to lower buckets.
            let b = self.occupied.trailing_zeros() as usize;
            let mut entries = std::mem::take(&mut self.buckets[b]);
            self.occupied &= !(1 << b);
            self.reference = entries.iter().map(|e| e.0).min().unwrap_or(self.reference);
            for e in entries.drain(..) {
                self.insert(e);
            }
            // Its entries all went lower: the bucket is empty again and gets its memory back.
            debug_assert!(self.buckets[b].is_empty());
            self.buckets[b] = entries;
        }
        let Reverse((k, node)) = self.exact.pop()?;
        self.len -= 1;
        Some((distance(k), node))
    }
}

#[cfg(test)]
#[path = "radix_heap_tests.rs"]
mod tests;
