//! What a fine-grained direction measured beyond ranks: the pairwise accuracy, and the
//! level every metric reaches under a random ranking of the same small galleries
//! (`DESIGN.md` §3.5).
//!
//! A fine-grained gallery is tiny (the true caption and up to ~40 one-word substitutions),
//! so R@1 is harsh: one substitute scored above the truth makes it a miss. The pairwise
//! accuracy counts every (true, distractor) pair instead, and the random levels say what
//! a model that knows nothing would score on the very same galleries.

use serde::{Deserialize, Serialize};

/// Pairwise accuracy and random-ranking levels of one fine-grained direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FineGrainedDetail {
    /// Percent of (true, distractor) pairs, over all queries, in which the true item scores
    /// strictly higher (a tie counts against the model, as in the ranks). 50 is chance.
    pub pairwise: f64,
    /// Number of (true, distractor) pairs.
    pub pairs: usize,
    /// Expected R@1 of a uniformly random ranking of the same galleries, in percent.
    pub random_r1: f64,
    /// Expected R@5 of a random ranking, in percent.
    pub random_r5: f64,
    /// Expected R@10 of a random ranking, in percent.
    pub random_r10: f64,
    /// Expected mean rank of a random ranking.
    pub random_mnr: f64,
    /// Expected mean reciprocal rank of a random ranking, in [0, 1].
    pub random_mrr: f64,
}

impl FineGrainedDetail {
    /// From each query's 1-based rank of its true item and its gallery size (the true item
    /// and its distractors). `None` without a query, or when no gallery has a distractor.
    ///
    /// With rank `r` in a gallery of `k`, `r − 1` distractors beat or tie the truth and
    /// `k − r` lose to it, so the pairwise accuracy is `Σ (k − r) / Σ (k − 1)`. Under a
    /// random ranking the true item's rank is uniform on `1..=k`: `R@K = min(K, k) / k`,
    /// mean rank `(k + 1) / 2` and MRR `H_k / k` (`H_k` the k-th harmonic number),
    /// averaged over queries.
    ///
    /// # Panics
    /// If the two slices differ in length or a rank exceeds its gallery (a contract
    /// between our components).
    pub fn from_ranks(ranks: &[usize], sizes: &[usize]) -> Option<Self> {
        assert_eq!(ranks.len(), sizes.len(), "one gallery size per rank");
        assert!(
            ranks.iter().zip(sizes).all(|(&r, &k)| r >= 1 && r <= k),
            "a rank lies in 1..=gallery size"
        );
        let pairs: usize = sizes.iter().map(|&k| k - 1).sum();
        if pairs == 0 {
            return None;
        }
        let correct: usize = ranks.iter().zip(sizes).map(|(&r, &k)| k - r).sum();
        let n = sizes.len() as f64;
        let mean = |f: &dyn Fn(usize) -> f64| sizes.iter().map(|&k| f(k)).sum::<f64>() / n;
        let recall = |at: usize| mean(&|k| 100.0 * at.min(k) as f64 / k as f64);
        Some(Self {
            pairwise: 100.0 * correct as f64 / pairs as f64,
            pairs,
            random_r1: recall(1),
            random_r5: recall(5),
            random_r10: recall(10),
            random_mnr: mean(&|k| (k as f64 + 1.0) / 2.0),
            random_mrr: mean(&|k| (1..=k).map(|i| 1.0 / i as f64).sum::<f64>() / k as f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_and_random_levels_by_hand() {
        // Two queries (hand arithmetic):
        //  - gallery of 3, truth ranked 1: 2 of 2 pairs correct;
        //  - gallery of 5, truth ranked 4: 1 of 4 pairs correct.
        // Pairwise 3/6 = 50%.
        // Random R@1 = (1/3 + 1/5)/2 = 4/15 = 26.67%; R@5 = (3/3 + 5/5)/2 = 100%;
        // mean rank (2 + 3)/2 = 2.5; MRR = ((1 + 1/2 + 1/3)/3 + (1 + 1/2 + 1/3 + 1/4 + 1/5)/5)/2
        //   = (11/18 + 137/300)/2 = (0.611111 + 0.456667)/2 = 0.533889.
        let d = FineGrainedDetail::from_ranks(&[1, 4], &[3, 5]).unwrap();
        assert_eq!(d.pairs, 6);
        assert!((d.pairwise - 50.0).abs() < 1e-12);
        assert!((d.random_r1 - 400.0 / 15.0).abs() < 1e-9);
        assert!((d.random_r5 - 100.0).abs() < 1e-12);
        assert!((d.random_r10 - 100.0).abs() < 1e-12);
        assert!((d.random_mnr - 2.5).abs() < 1e-12);
        assert!((d.random_mrr - (11.0 / 18.0 + 137.0 / 300.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_gallery_of_twelve_at_r5_and_the_empty_cases() {
        // One gallery of 12 (the truth and 11 substitutes), truth ranked 12: no pair
        // correct; random R@5 = 5/12, R@10 = 10/12 (hand arithmetic).
        let d = FineGrainedDetail::from_ranks(&[12], &[12]).unwrap();
        assert_eq!((d.pairwise, d.pairs), (0.0, 11));
        assert!((d.random_r5 - 500.0 / 12.0).abs() < 1e-9);
        assert!((d.random_r10 - 1000.0 / 12.0).abs() < 1e-9);
        // No query, or only galleries without distractors: no pair, no metric.
        assert_eq!(FineGrainedDetail::from_ranks(&[], &[]), None);
        assert_eq!(FineGrainedDetail::from_ranks(&[1, 1], &[1, 1]), None);
    }
}
