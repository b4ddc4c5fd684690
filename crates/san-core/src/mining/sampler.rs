//! Batch composition from mined neighbours (`DESIGN.md` §3.4): anchors and their mined
//! neighbours share a batch, so the coarse loss sees them as in-batch negatives.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Composes epochs of index batches in which each anchor is followed by its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourBatches {
    /// Items per batch (at least 2); every batch but the last of an epoch is full.
    pub batch_size: usize,
    /// Seed of the anchor order; epoch `e` shuffles with `seed + e`.
    pub seed: u64,
}

impl NeighbourBatches {
    /// The batches of epoch `epoch` over `neighbours.len()` items.
    ///
    /// Anchors are visited in a seeded random order. An anchor not yet placed opens a group
    /// with those of its neighbours not yet placed, cut to the room left in the current
    /// batch. Every index `0..n` appears exactly once per epoch, and every batch but the
    /// last is full. Out-of-range neighbour indices are ignored.
    pub fn epoch(&self, neighbours: &[Vec<usize>], epoch: u64) -> Vec<Vec<usize>> {
        let n = neighbours.len();
        let size = self.batch_size.max(2);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(self.seed.wrapping_add(epoch)));
        let mut placed = vec![false; n];
        let mut batches = Vec::with_capacity(n.div_ceil(size));
        let mut current = Vec::with_capacity(size);
        for anchor in order {
            if placed[anchor] {
                continue;
            }
            placed[anchor] = true;
            current.push(anchor);
            for &j in &neighbours[anchor] {
                if current.len() == size {
                    break;
                }
                if j < n && !placed[j] {
                    placed[j] = true;
                    current.push(j);
                }
            }
            if current.len() == size {
                batches.push(std::mem::replace(&mut current, Vec::with_capacity(size)));
            }
        }
        if !current.is_empty() {
            batches.push(current);
        }
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn neighbours_share_the_anchor_batch() {
        // Items 0..8, each item's neighbour is its partner (0↔1, 2↔3, …): with batches of 2,
        // every batch is a pair.
        let nb: Vec<Vec<usize>> = (0..8).map(|i| vec![i ^ 1]).collect();
        let batches = NeighbourBatches {
            batch_size: 2,
            seed: 3,
        }
        .epoch(&nb, 0);
        assert_eq!(batches.len(), 4);
        for b in &batches {
            assert_eq!(b[0] ^ 1, b[1], "{batches:?}");
        }
    }

    proptest! {
        /// Every index exactly once per epoch, batches full except the last.
        #[test]
        fn each_index_once_per_epoch(
            nb in (1usize..60).prop_flat_map(|n| proptest::collection::vec(
                proptest::collection::vec(0usize..n + 3, 0..6), n)),
            size in 2usize..12,
            seed in any::<u64>(),
            epoch in 0u64..3,
        ) {
            let batches = NeighbourBatches { batch_size: size, seed }.epoch(&nb, epoch);
            let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..nb.len()).collect::<Vec<_>>());
            for b in &batches[..batches.len() - 1] {
                prop_assert_eq!(b.len(), size);
            }
            prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= size));
        }
    }
}
