//! Retrieval metrics: ranks computed once, with ties against the model, then every metric;
//! coarse reports over a gallery and fine-grained ones over a benchmark.

mod fine_grained;
mod pairwise;
mod ranks;
mod report;

pub use fine_grained::{FineGrainedScores, score_fine_grained};
pub use pairwise::FineGrainedDetail;

pub use ranks::{DuplicatePolicy, gallery_ranks, ranks};
pub use report::{RetrievalMetrics, RetrievalReport, detail_line};

/// Coarse metrics in both directions from a `[video, text]` score matrix (row-major, `n×n`).
pub fn coarse_report(
    scores_vt: &[f32],
    n: usize,
    text_ids: &[usize],
    policy: DuplicatePolicy,
) -> RetrievalReport {
    let mut scores_tv = vec![0.0; n * n];
    for v in 0..n {
        for t in 0..n {
            scores_tv[t * n + v] = scores_vt[v * n + t];
        }
    }
    RetrievalReport {
        t2v: RetrievalMetrics::from_ranks(&ranks(&scores_tv, n, text_ids, policy)),
        v2t: RetrievalMetrics::from_ranks(&ranks(scores_vt, n, text_ids, policy)),
        fine_grained: None,
        fine_grained_t2v: None,
        fine_grained_detail: None,
        fine_grained_t2v_detail: None,
        fine_grained_v2t_only: None,
    }
}
