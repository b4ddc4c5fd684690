//! The VSE++ hinge loss (Faghri et al., BMVC 2018), in sum and max-violation form.

use burn::config::Config;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

/// How violations are aggregated per anchor.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum HingeReduction {
    /// Sum over all negatives.
    Sum,
    /// Only the hardest negative (VSE++).
    MaxViolation,
}

/// Settings of the hinge loss.
#[derive(Config, Debug)]
pub struct HingeLossConfig {
    /// Margin between the positive and a negative.
    #[config(default = 0.2)]
    pub margin: f64,
    /// Sum over negatives or take the hardest.
    #[config(default = "HingeReduction::MaxViolation")]
    pub reduction: HingeReduction,
}

impl HingeLossConfig {
    /// Hinge loss over a square `[video, text]` score matrix, summed over anchors of both
    /// directions.
    ///
    /// # Shapes
    /// - `scores`: `[B, B]`; `duplicate_mask`: `[B, B]` (pairs that are not negatives)
    /// - output: `[1]`
    pub fn forward<B: Backend>(
        &self,
        scores: Tensor<B, 2>,
        duplicate_mask: Option<Tensor<B, 2, Bool>>,
    ) -> Tensor<B, 1> {
        let [n, n2] = scores.dims();
        assert!(n == n2, "hinge loss needs a square batch, got {n}×{n2}");
        let device = scores.device();
        let diag = scores
            .clone()
            .mask_fill(Tensor::<B, 2, Bool>::diag_mask([n, n], 0, &device), 0.0);
        let pos = diag.sum_dim(1); // [B, 1]: S_ii
        let mut ignore = Tensor::<B, 2, Bool>::diag_mask([n, n], 0, &device).bool_not();
        if let Some(mask) = duplicate_mask {
            ignore = ignore.bool_or(mask);
        }
        // rows = videos (V2T), columns = texts (T2V)
        let cost_v2t = (scores.clone() - pos.clone() + self.margin)
            .clamp_min(0.0)
            .mask_fill(ignore.clone(), 0.0); // [B, B]
        let cost_t2v = (scores - pos.transpose() + self.margin)
            .clamp_min(0.0)
            .mask_fill(ignore, 0.0); // [B, B]
        match self.reduction {
            HingeReduction::Sum => cost_v2t.sum() + cost_t2v.sum(),
            HingeReduction::MaxViolation => cost_v2t.max_dim(1).sum() + cost_t2v.max_dim(0).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    use crate::test_backend::B;

    #[test]
    fn hand_example() {
        // S = [[0.5, 0.4], [0.1, 0.2]], margin 0.2 (hand arithmetic):
        // V2T row 0: max(0, 0.4-0.5+0.2)=0.1; row 1: max(0, 0.1-0.2+0.2)=0.1
        // T2V col 0: max(0, 0.1-0.5+0.2)=0;   col 1: max(0, 0.4-0.2+0.2)=0.4
        let dev = Default::default();
        let s = Tensor::<B, 2>::from_data(TensorData::from([[0.5f32, 0.4], [0.1, 0.2]]), &dev);
        let sum = HingeLossConfig::new().with_reduction(HingeReduction::Sum);
        assert!((sum.forward(s.clone(), None).into_scalar() - 0.6).abs() < 1e-6);
        let max = HingeLossConfig::new();
        assert!((max.forward(s, None).into_scalar() - 0.6).abs() < 1e-6);
    }
}
