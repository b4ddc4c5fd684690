//! Ranks with ties counted against the model (`DESIGN.md` §3.5). Every metric is derived
//! from these ranks, computed once (as in open_clip's `metrics.py`).

use serde::{Deserialize, Serialize};

/// Which gallery items count as correct for a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DuplicatePolicy {
    /// Only the paired item is correct (prior work's protocol).
    #[default]
    Strict,
    /// Any item whose normalised text equals the query's is correct.
    AnyMatch,
}

/// Ranks of the correct items, 1-based.
///
/// `scores` is row-major `[n, n]`: row `i` is query `i`, column `j` gallery item `j`, and
/// item `i` is query `i`'s pair. Text-to-video passes the `[text, video]` matrix,
/// video-to-text the `[video, text]` matrix.
///
/// - `Strict`: `rank_i = 1 + #{j ≠ i : S_ij ≥ S_ii}`.
/// - `AnyMatch`: with `C_i = {j : ids_j = ids_i}`,
///   `rank_i = 1 + #{j ∉ C_i : S_ij ≥ max_{c ∈ C_i} S_ic}`.
///
/// A NaN score is never counted as beating the correct item, but a NaN correct score
/// loses to every other item.
///
/// # Panics
/// If `scores.len() != n * n` or `text_ids.len() != n` (a contract between our components).
pub fn ranks(scores: &[f32], n: usize, text_ids: &[usize], policy: DuplicatePolicy) -> Vec<usize> {
    assert_eq!(
        scores.len(),
        n * n,
        "ranks: scores must be n×n with n = {n}"
    );
    assert_eq!(text_ids.len(), n, "ranks: need one text id per item");
    (0..n)
        .map(|i| {
            let row = &scores[i * n..(i + 1) * n];
            let beats = |s: f32, target: f32| target.is_nan() || s >= target;
            match policy {
                DuplicatePolicy::Strict => {
                    let target = row[i];
                    1 + (0..n).filter(|&j| j != i && beats(row[j], target)).count()
                }
                DuplicatePolicy::AnyMatch => {
                    let target = (0..n)
                        .filter(|&j| text_ids[j] == text_ids[i])
                        .map(|j| row[j])
                        .fold(f32::NAN, f32::max);
                    1 + (0..n)
                        .filter(|&j| text_ids[j] != text_ids[i] && beats(row[j], target))
                        .count()
                }
            }
        })
        .collect()
}

/// Rank of the true item (index 0) in each small gallery, ties against the model.
///
/// `galleries[q]` holds the scores of query `q` against its own candidates, the true one
/// first.
pub fn gallery_ranks(galleries: &[Vec<f32>]) -> Vec<usize> {
    galleries
        .iter()
        .map(|g| match g.split_first() {
            Some((&target, rest)) => {
                1 + rest
                    .iter()
                    .filter(|&&s| target.is_nan() || s >= target)
                    .count()
            }
            None => 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_count_against_the_model() {
        // Hand example: row 0 ties with item 1 → rank 2.
        let s = [0.5, 0.5, 0.0, 1.0];
        assert_eq!(ranks(&s, 2, &[0, 1], DuplicatePolicy::Strict), vec![2, 1]);
    }

    #[test]
    fn any_match_uses_the_best_duplicate() {
        // Items 0 and 1 share a text; query 0 scores item 1 highest → rank 1 under AnyMatch.
        let s = [0.2, 0.9, 0.5, 0.1, 0.3, 0.0, 0.4, 0.8, 0.7];
        assert_eq!(
            ranks(&s, 3, &[5, 5, 6], DuplicatePolicy::Strict),
            vec![3, 1, 2]
        );
        assert_eq!(
            ranks(&s, 3, &[5, 5, 6], DuplicatePolicy::AnyMatch),
            vec![1, 1, 2]
        );
    }

    #[test]
    fn gallery_rank_counts_ties() {
        assert_eq!(
            gallery_ranks(&[vec![0.5, 0.5, 0.1], vec![0.9, 0.1]]),
            vec![2, 1]
        );
    }

    use crate::metrics::RetrievalMetrics;
    use proptest::prelude::*;

    fn policy() -> impl Strategy<Value = DuplicatePolicy> {
        prop_oneof![
            Just(DuplicatePolicy::Strict),
            Just(DuplicatePolicy::AnyMatch)
        ]
    }

    /// An n×n matrix of coarse (tie-prone) scores with n text ids drawn from a few values.
    fn gallery() -> impl Strategy<Value = (usize, Vec<f32>, Vec<usize>)> {
        (1usize..12).prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec((0u8..5).prop_map(|q| f32::from(q) / 4.0), n * n),
                proptest::collection::vec(0usize..4, n),
            )
        })
    }

    proptest! {
        /// Relabelling videos and texts by the same permutation permutes the ranks only.
        #[test]
        fn metrics_do_not_depend_on_gallery_order(
            (n, s, ids) in gallery(),
            policy in policy(),
            seed in any::<u64>(),
        ) {
            use rand::SeedableRng;
            use rand::seq::SliceRandom;
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let mut sp = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    sp[i * n + j] = s[perm[i] * n + perm[j]];
                }
            }
            let idp: Vec<usize> = perm.iter().map(|&p| ids[p]).collect();
            let r = ranks(&s, n, &ids, policy);
            let rp = ranks(&sp, n, &idp, policy);
            for i in 0..n {
                prop_assert_eq!(rp[i], r[perm[i]]);
            }
            prop_assert_eq!(RetrievalMetrics::from_ranks(&r), RetrievalMetrics::from_ranks(&rp));
        }

        /// The identity matrix is a perfect retrieval under either policy.
        #[test]
        fn identity_is_perfect(n in 1usize..40, policy in policy(), ids in proptest::collection::vec(0usize..5, 40)) {
            let s: Vec<f32> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
            let m = RetrievalMetrics::from_ranks(&ranks(&s, n, &ids[..n], policy));
            prop_assert_eq!((m.r1, m.r5, m.r10, m.medr, m.mnr, m.mrr), (100.0, 100.0, 100.0, 1.0, 1.0, 1.0));
        }

        /// A constant matrix ties everything, so every query gets the worst rank:
        /// n under Strict, and one past the other texts' items under AnyMatch.
        #[test]
        fn constant_is_worst(n in 1usize..40, c in -1.0f32..1.0, ids in proptest::collection::vec(0usize..5, 40)) {
            let ids = &ids[..n];
            let s = vec![c; n * n];
            prop_assert!(ranks(&s, n, ids, DuplicatePolicy::Strict).iter().all(|&r| r == n));
            let any = ranks(&s, n, ids, DuplicatePolicy::AnyMatch);
            for i in 0..n {
                let others = ids.iter().filter(|&&t| t != ids[i]).count();
                prop_assert_eq!(any[i], others + 1);
            }
        }
    }
}
