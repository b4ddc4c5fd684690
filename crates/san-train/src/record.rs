//! What a stage records of each epoch, how the best epoch is chosen, and the seed every
//! epoch draws from.

use san_core::metrics::RetrievalReport;
use serde::{Deserialize, Serialize};

use crate::config::SelectionMetric;

/// Which loss a stage trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Coarse InfoNCE only.
    Coarse,
    /// Coarse InfoNCE plus the SAN fine loss over hard captions.
    San,
}

/// Called after every epoch with (stage, epoch, mean loss, dev report).
pub type EpochHook<'a> = &'a mut dyn FnMut(Stage, usize, f64, &RetrievalReport);

/// One epoch as `metrics.jsonl` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1 or 2.
    pub stage: u8,
    /// 1-based epoch within the stage.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// The learning rate of the epoch's last step.
    pub learning_rate: f64,
    /// Wall time of the epoch (training and dev evaluation), seconds.
    pub seconds: f64,
    /// The selection score on dev.
    pub selection: f64,
    /// Dev metrics.
    pub dev: RetrievalReport,
}

/// The best epoch of a stage so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// Its selection score.
    pub score: f64,
    /// The epoch.
    pub epoch: usize,
    /// Its dev metrics.
    pub dev: RetrievalReport,
}

/// Dev selection score; see [`SelectionMetric`].
pub fn selection_score(r: &RetrievalReport, metric: SelectionMetric) -> f64 {
    match (&r.fine_grained, metric) {
        (Some(fg), SelectionMetric::CoarseAndFineGrainedR1) => (r.t2v.r1 + r.v2t.r1 + fg.r1) / 3.0,
        _ => (r.t2v.r1 + r.v2t.r1) / 2.0,
    }
}

/// The seed of one epoch's data order, hard captions and dropout: a function of the run's
/// seed, the stage and the epoch only, so a resumed run draws exactly what an uninterrupted
/// one would (SplitMix64 finaliser).
pub fn epoch_seed(seed: u64, stage: u8, epoch: usize) -> u64 {
    let mut z =
        seed ^ (u64::from(stage) << 56) ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use san_core::metrics::RetrievalMetrics;

    #[test]
    fn selection_uses_fine_grained_when_measured() {
        let m = |r1: usize| RetrievalMetrics::from_ranks(&if r1 == 1 { vec![1] } else { vec![2] });
        let coarse = RetrievalReport {
            t2v: m(1),
            v2t: m(2),
            fine_grained: None,
            fine_grained_t2v: None,
            fine_grained_detail: None,
            fine_grained_t2v_detail: None,
            fine_grained_v2t_only: None,
        };
        let both = SelectionMetric::CoarseAndFineGrainedR1;
        assert_eq!(selection_score(&coarse, both), 50.0);
        let fine = RetrievalReport {
            fine_grained: Some(m(1)),
            ..coarse
        };
        // (100 + 0 + 100) / 3
        assert!((selection_score(&fine, both) - 200.0 / 3.0).abs() < 1e-9);
        // (100 + 0) / 2, the fine-grained R@1 ignored
        assert_eq!(selection_score(&fine, SelectionMetric::CoarseR1), 50.0);
    }

    #[test]
    fn epoch_seeds_differ_by_stage_and_epoch() {
        let a = epoch_seed(7, 1, 1);
        assert_ne!(a, epoch_seed(7, 2, 1));
        assert_ne!(a, epoch_seed(7, 1, 2));
        assert_eq!(a, epoch_seed(7, 1, 1));
    }
}
