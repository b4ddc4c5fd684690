//! Coarse symmetric InfoNCE over CLCL scores, with duplicate-text masking
//! (`DESIGN.md` §3.2; CLIP-style loss as in open_clip's `ClipLoss`).

use burn::config::Config;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use serde::{Deserialize, Serialize};

use crate::similarity::ClclScores;

/// Logit bias that removes a masked pair from the softmax.
const MASKED_LOGIT: f32 = -1.0e9;

/// Settings of the coarse loss. The logit scale is a model parameter and is passed in.
#[derive(Config, Debug)]
pub struct CoarseLossConfig {
    /// Mask out off-diagonal pairs whose normalised texts are identical.
    #[config(default = true)]
    pub mask_duplicates: bool,
    /// Which cross-entropy terms make the loss ([`CoarseMix`]).
    #[config(default = "CoarseMix::Symmetric")]
    pub mix: CoarseMix,
}

/// The terms of the coarse loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CoarseMix {
    /// `½ (CE over texts of Z_v2t + CE over videos of Z_t2v)` ([`coarse_info_nce`],
    /// `DESIGN.md` §3.2).
    #[default]
    Symmetric,
    /// CiCo's default (`mix_design = balance`, `dual_mix = 0.5`): the mean of four
    /// cross-entropies, over texts and over videos of both `Z_v2t` and `Z_t2v`
    /// ([`coarse_balance`]).
    Balance,
}

impl CoarseLossConfig {
    /// Computes the loss; see [`coarse_info_nce`].
    pub fn forward<B: Backend>(
        &self,
        scores: &ClclScores<B>,
        log_scale: Tensor<B, 1>,
        text_ids: &[usize],
    ) -> Tensor<B, 1> {
        let mask = self
            .mask_duplicates
            .then(|| duplicate_mask::<B>(text_ids, &scores.v2t.device()));
        match self.mix {
            CoarseMix::Symmetric => coarse_info_nce(scores, log_scale, mask),
            CoarseMix::Balance => coarse_balance(scores, log_scale, mask),
        }
    }
}

/// CiCo's "balance" loss: `¼ (CE_rows(s·Z_v2t) + CE_cols(s·Z_v2t) + CE_rows(s·Z_t2v) +
/// CE_cols(s·Z_t2v))` with `s = exp(λ_s)`, where rows run over texts (one anchor per
/// video) and columns over videos (one anchor per text), each averaged over its anchors.
///
/// # Shapes
/// As [`coarse_info_nce`].
pub fn coarse_balance<B: Backend>(
    scores: &ClclScores<B>,
    log_scale: Tensor<B, 1>,
    duplicate_mask: Option<Tensor<B, 2, Bool>>,
) -> Tensor<B, 1> {
    let [v2t, t2v] = scaled_logits(scores, log_scale, duplicate_mask);
    (diagonal_ce(v2t.clone())
        + diagonal_ce(v2t.transpose())
        + diagonal_ce(t2v.clone())
        + diagonal_ce(t2v.transpose()))
    .div_scalar(4.0)
}

/// Symmetric InfoNCE:
/// `L = ½ (CE(exp(λ_s)·Z_t2v, I) + CE(exp(λ_s)·Z_v2t, I))`, where the T2V term has one row
/// per text (softmax over videos of `z_t2v`) and the V2T term one row per video (softmax
/// over texts of `z_v2t`). Each CE is averaged over its anchors.
///
/// # Shapes
/// - `scores`: `[B, B]` in both directions, indexed `[video, text]`
/// - `log_scale`: `[1]`, `λ_s`
/// - `duplicate_mask`: `[B, B]`, true where the pair must not act as a negative
///   (never on the diagonal)
/// - output: `[1]`
pub fn coarse_info_nce<B: Backend>(
    scores: &ClclScores<B>,
    log_scale: Tensor<B, 1>,
    duplicate_mask: Option<Tensor<B, 2, Bool>>,
) -> Tensor<B, 1> {
    let [v2t, t2v] = scaled_logits(scores, log_scale, duplicate_mask);
    // T2V: one row per text, softmax over videos.
    (diagonal_ce(v2t) + diagonal_ce(t2v.transpose())).div_scalar(2.0)
}

/// `exp(λ_s)·Z_v2t` and `exp(λ_s)·Z_t2v`, both `[video, text]`, with the duplicate pairs
/// removed from every softmax.
///
/// # Panics
/// If the batch is not square (a contract between our components).
fn scaled_logits<B: Backend>(
    scores: &ClclScores<B>,
    log_scale: Tensor<B, 1>,
    duplicate_mask: Option<Tensor<B, 2, Bool>>,
) -> [Tensor<B, 2>; 2] {
    let [nv, nt] = scores.v2t.dims();
    assert!(nv == nt, "coarse loss needs a square batch, got {nv}×{nt}");
    let scale = log_scale.exp().reshape([1, 1]);
    [scores.v2t.clone(), scores.t2v.clone()].map(|z| {
        let z = z * scale.clone();
        match &duplicate_mask {
            Some(mask) => z.mask_fill(mask.clone(), MASKED_LOGIT),
            None => z,
        }
    })
}

/// Mean cross-entropy of each row against its diagonal entry.
///
/// # Shapes
/// - `logits`: `[B, B]`; output `[1]`
pub fn diagonal_ce<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let logp = log_softmax(logits, 1); // [B, B]
    let idx = Tensor::<B, 1, Int>::arange(0..n as i64, &logp.device()).reshape([n, 1]);
    logp.gather(1, idx).mean().neg() // [1]
}

/// `[B, B]` mask, true where `i ≠ j` and `text_ids[i] == text_ids[j]`.
pub fn duplicate_mask<B: Backend>(text_ids: &[usize], device: &B::Device) -> Tensor<B, 2, Bool> {
    let n = text_ids.len();
    let mut data = Vec::with_capacity(n * n);
    for (i, a) in text_ids.iter().enumerate() {
        for (j, b) in text_ids.iter().enumerate() {
            data.push(i != j && a == b);
        }
    }
    Tensor::from_data(TensorData::new(data, [n, n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_backend::B;

    #[test]
    fn uniform_scores_give_log_b() {
        // All scores equal → each CE is log(B) (hand arithmetic: log 4 = 1.386294).
        let dev = Default::default();
        let z = Tensor::<B, 2>::zeros([4, 4], &dev);
        let scores = ClclScores {
            v2t: z.clone(),
            t2v: z,
        };
        let l = coarse_info_nce(&scores, Tensor::zeros([1], &dev), None);
        let v: f32 = l.into_scalar();
        assert!((v - 4f32.ln()).abs() < 1e-5);
    }

    #[test]
    fn duplicates_are_removed_from_the_denominator() {
        // Items 0 and 1 share a text: with masking, row 0 sees {0, 2}, so CE = log 2 for
        // rows 0 and 1 and log 3 for row 2 (hand arithmetic, zero scores).
        let dev = Default::default();
        let z = Tensor::<B, 2>::zeros([3, 3], &dev);
        let scores = ClclScores {
            v2t: z.clone(),
            t2v: z,
        };
        let l = CoarseLossConfig::new().forward(&scores, Tensor::zeros([1], &dev), &[7, 7, 9]);
        let expected = (2.0 * 2f32.ln() + 3f32.ln()) / 3.0;
        assert!((l.into_scalar() - expected).abs() < 1e-5);
    }
}
