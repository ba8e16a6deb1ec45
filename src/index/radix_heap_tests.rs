use super::*;

/// A seeded generator of whole numbers below `n`, from the routing tests' fixed-seed generator.
fn below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut next = crate::testing::uniform(seed);
    move |n| (next() * n as f64) as u64
}

/// Checks a pop against a reference multiset of pending entries: the popped distance is the
/// smallest pending one (same bits) and the popped entry was pending; removes it.
fn take_from(pending: &mut Vec<(f64, u32)>, got: Option<(f64, u32)>) -> f64 {
    let smallest = pending.iter().map(|e| e.0).min_by(f64::total_cmp);
    let (dist_m, node) = got.expect("the queue ran dry before the reference");
    assert_eq!(Some(dist_m.to_bits()), smallest.map(f64::to_bits), "not the smallest pending distance");
    let at = pending
        .iter()
        .position(|e| e.0.to_bits() == dist_m.to_bits() && e.1 == node)
        .expect("the popped entry was never pushed");
    pending.swap_remove(at);
    dist_m
}

/// Random Dijkstra-like runs: each pop is followed by pushes at or above the popped distance, many
/// of them exactly equal to it, others one ulp above, a hair above (within the exact window) or a
/// random amount above (in the buckets); the queue pops what a sorted reference pops.
#[test]
fn pops_in_the_order_of_a_sorted_reference() {
    let mut below = below(0x5eed_0003);
    let mut popped = 0;
    for round in 0..200 {
        let mut q = RadixHeap::new();
        let mut pending: Vec<(f64, u32)> = Vec::new();
        // Sources: a few random distances, some equal, some zero.
        for i in 0..1 + round % 7 {
            let d = match below(4) {
                0 => 0.0,
                1 => 5.0,
                _ => below(10_000) as f64 / 7.0,
            };
            q.push(d, i);
            pending.push((d, i));
        }
        let mut last = f64::NEG_INFINITY;
        let mut node = 100;
        while !pending.is_empty() {
            assert_eq!(q.len(), pending.len());
            let d = take_from(&mut pending, q.pop());
            assert!(d >= last, "round {round}: popped {d} after {last}");
            last = d;
            popped += 1;
            // At most 300 pushes a run, so that it ends.
            if popped % 3 == 0 || node >= 400 {
                continue;
            }
            for _ in 0..below(4) {
                let pushed = match below(6) {
                    0 => d,
                    1 => f64::from_bits(d.to_bits() + 1),
                    2 => d + below(100) as f64,
                    3 => d + below(1000) as f64 * 1e-9,
                    _ => d + below(1_000_000) as f64 / 1e4,
                };
                node += 1;
                q.push(pushed, node);
                pending.push((pushed, node));
            }
        }
        assert!(q.is_empty() && q.pop().is_none());
    }
    assert!(popped > 5_000, "the runs must pop many entries ({popped})");
}

/// Before the first pop any key may come in, negative and infinite ones too, in any order: they
/// come out sorted as `f64::total_cmp` sorts them.
#[test]
fn first_pushes_in_any_order() {
    let mut below = below(0x5eed_0004);
    let specials = [0.0, -0.0, -3.5, f64::INFINITY, f64::NAN, f64::MIN_POSITIVE, 1e300, -1e-300, 2.0, 2.0];
    for round in 0..50 {
        let mut q = RadixHeap::new();
        let mut want: Vec<f64> = specials.to_vec();
        want.extend((0..round).map(|_| f64::from_bits(below(1 << 62))));
        for (i, &d) in want.iter().enumerate() {
            q.push(d, i as u32);
        }
        want.sort_by(f64::total_cmp);
        let got: Vec<f64> = std::iter::from_fn(|| q.pop()).map(|e| e.0).collect();
        assert_eq!(
            got.iter().map(|d| d.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|d| d.to_bits()).collect::<Vec<_>>()
        );
    }
}

/// `clear` forgets the last popped key: a smaller key afterwards is ordered again.
#[test]
fn clear_starts_over() {
    let mut q = RadixHeap::new();
    q.push(100.0, 0);
    q.push(300.0, 1);
    assert_eq!(q.pop(), Some((100.0, 0)));
    q.clear();
    assert!(q.is_empty());
    q.push(50.0, 2);
    q.push(10.0, 3);
    q.push(20.0, 4);
    assert_eq!(std::iter::from_fn(|| q.pop()).collect::<Vec<_>>(), vec![(10.0, 3), (20.0, 4), (50.0, 2)]);
}

/// A key below the last popped one (outside the contract) is not lost: it comes out next, before a
/// larger key that differs from the last popped one in lower bits than it does.
#[test]
fn a_key_below_the_last_pop_comes_out_next() {
    let mut q = RadixHeap::new();
    q.push(10.0, 0);
    q.push(12.0, 1);
    q.push(700.0, 2);
    assert_eq!(q.pop(), Some((10.0, 0)));
    q.push(3.0, 3);
    q.push(1.0, 4);
    assert_eq!(std::iter::from_fn(|| q.pop()).collect::<Vec<_>>(), vec![(1.0, 4), (3.0, 3), (12.0, 1), (700.0, 2)]);
}
