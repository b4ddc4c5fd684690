//! Cross-lingual contrastive learning (CLCL) similarity, after CiCo (Cheng et al., CVPR 2023),
//! as used by SAN (Lee et al., ACL 2026). See `DESIGN.md` §3.1.

use burn::config::Config;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::cpu::{HostTokens, clcl_gallery_fused};
use crate::host::to_vec_f32;

/// Additive bias given to masked logits before a softmax (finite, so gradients stay finite).
const MASK_BIAS: f32 = -1.0e9;

/// Settings of the CLCL similarity.
#[derive(Config, Debug)]
pub struct ClclConfig {
    /// Temperature of the token-level softmax, `τ_tok`.
    #[config(default = 0.07)]
    pub tau_tok: f64,
    /// How many videos are scored against the whole text gallery at once. Peak memory of
    /// [`clcl_gallery`] is about `chunk · Nt · M · L · 4` bytes (times a small constant for
    /// the softmax temporaries).
    #[config(default = 16)]
    pub chunk: usize,
    /// Which implementation [`clcl_gallery`] uses.
    #[config(default = "ClclKernel::Tensor")]
    pub kernel: ClclKernel,
    /// Threads of the fused CPU kernel; 0 uses every core.
    #[config(default = 0)]
    pub threads: usize,
    /// Whether padded tokens take part in the token softmax ([`TokenPadding`]).
    #[config(default = "TokenPadding::Exclude")]
    pub padding: TokenPadding,
}

/// Where padded clips and words go in [`clcl_gallery`]'s token softmax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TokenPadding {
    /// Each softmax runs over the real tokens only (`DESIGN.md` §3.1).
    #[default]
    Exclude,
    /// The research code's behaviour (CiCo's `flip_similarity_softmax`, FangyunWei/SLRT
    /// 38a4f7b): padded tokens stay inside each softmax, and only the final mean skips
    /// padded rows. The same as `Exclude` on unpadded inputs. Runs on the tensor path
    /// (the fused kernel compacts padding away).
    Include,
}

impl TokenPadding {
    /// The tokens inside each softmax, from the validity mask `valid` (1.0 = real token):
    /// the real ones, or every slot.
    fn in_softmax<B: Backend, const D: usize>(self, valid: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Self::Exclude => valid,
            Self::Include => valid.ones_like(),
        }
    }
}

/// Implementation of gallery scoring, chosen by the caller. Both compute the same values
/// (up to float rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ClclKernel {
    /// Backend tensor operations, chunked over videos; differentiable, runs on any device.
    #[default]
    Tensor,
    /// The fused multi-threaded CPU kernel ([`clcl_gallery_fused`]): copies the tokens to
    /// host memory and returns values only. Faster on CPU backends; on a GPU it would move
    /// every token to the host. Where the backend tracks gradients (autodiff) the tensor
    /// path is taken regardless, so gradients always flow.
    Fused,
}

impl ClclKernel {
    /// Whether gallery scoring on `device` of backend `B` takes the fused CPU kernel: when
    /// chosen, and the backend does not track gradients.
    pub fn is_fused<B: Backend>(self, device: &B::Device) -> bool {
        self == ClclKernel::Fused && !B::ad_enabled(device)
    }
}

/// Both directions of the CLCL similarity, indexed `[video, text]`.
#[derive(Debug, Clone)]
pub struct ClclScores<B: Backend> {
    /// `z_v2t[a, b]`: video `a` attending over the words of text `b`.
    pub v2t: Tensor<B, 2>,
    /// `z_t2v[a, b]`: text `b` attending over the clips of video `a` (stored video-major).
    pub t2v: Tensor<B, 2>,
}

impl<B: Backend> ClclScores<B> {
    /// The retrieval score `½ (z_v2t + z_t2v)`, indexed `[video, text]`.
    pub fn score(&self) -> Tensor<B, 2> {
        (self.v2t.clone() + self.t2v.clone()).div_scalar(2.0)
    }
}

/// Reduces token similarities to CLCL scores in both directions.
///
/// [`clcl_gallery`] and [`clcl_candidates`] reach the same values through a faster
/// arrangement (see [`SHIFT_LIMIT`]); this function states the definition on plain `e`.
///
/// # Shapes
/// - `e`: `[A, B, M, L]`, `e[a, b, i, j] = ⟨sign_i of a, word_j of b⟩`
/// - `clip_valid`: `[A or 1, B or 1, M, 1]`, 1.0 for a real clip, 0.0 for padding
/// - `word_valid`: `[A or 1, B or 1, 1, L]`, 1.0 for a real word, 0.0 for padding
/// - output: two `[A, B]` tensors
pub fn clcl_reduce<B: Backend>(
    e: Tensor<B, 4>,
    clip_valid: Tensor<B, 4>,
    word_valid: Tensor<B, 4>,
    tau_tok: f64,
) -> ClclScores<B> {
    let [a, b, _, _] = e.dims();
    if !shared_exp_is_exact(tau_tok) {
        return clcl_reduce_separate(
            e,
            (clip_valid.clone(), clip_valid),
            (word_valid.clone(), word_valid),
            tau_tok,
        );
    }
    let bias = (clip_valid.clone() - 1.0 + word_valid.clone() - 1.0).mul_scalar(PAD_LOGIT.abs());
    let z = e.sub_scalar(1.0).div_scalar(tau_tok) + bias;
    let (v2t, t2v) = reduce_shifted(z, clip_valid, word_valid, 2, 3, tau_tok);
    ClclScores {
        v2t: v2t.reshape([a, b]),
        t2v: t2v.reshape([a, b]),
    }
}

/// Shifted logits below this are padding: `exp` of them is exactly 0 in f32.
const PAD_LOGIT: f32 = -1.0e4;

/// The largest spread `2/τ` of shifted logits for which one shared exponential is exact in
/// f32 (weights down to e^-60 stay normal numbers).
pub const SHIFT_LIMIT: f64 = 60.0;

/// The fast tensor path computes `z = (E − 1)/τ` directly inside the token matmul, with the
/// masks folded in as two extra token dimensions: `sign ↦ [s/τ, b_clip, 1]` and
/// `word ↦ [w, 1, b_word]`, where `b_clip` is −1/τ for a real clip and −10⁴ − 1/τ for padding and
/// `b_word` is 0 for a real word and −10⁴ for padding. For unit tokens `E ≤ 1`, so
/// `x = exp(z) ≤ 1` never overflows, and a real pair's `z ≥ −2/τ` never underflows while
/// `2/τ ≤` [`SHIFT_LIMIT`]; padding gets `x = 0` exactly. Both softmaxes then share `x`,
/// with `E = τ·z + 1`. For smaller `τ` each direction takes its own
/// max-shifted softmax instead.
fn shared_exp_is_exact(tau_tok: f64) -> bool {
    2.0 / tau_tok <= SHIFT_LIMIT
}

/// Appends the two mask dimensions to sign tokens (`[s/τ, b_clip, 1]`, see
/// [`shared_exp_is_exact`]). `valid` is `[.., M, 1]` with 1.0 for a real clip.
fn augment_sign<B: Backend, const D: usize>(
    sign: Tensor<B, D>,
    valid: Tensor<B, D>,
    tau_tok: f64,
) -> Tensor<B, D> {
    let inv = 1.0 / tau_tok;
    // valid → −1/τ exactly, padding → PAD_LOGIT − 1/τ
    let bias = valid
        .clone()
        .sub_scalar(1.0)
        .mul_scalar(PAD_LOGIT.abs())
        .sub_scalar(inv);
    let ones = valid.ones_like();
    Tensor::cat(vec![sign.mul_scalar(inv), bias, ones], D - 1)
}

/// Appends the two mask dimensions to word tokens (`[w, 1, b_word]`).
fn augment_words<B: Backend, const D: usize>(
    words: Tensor<B, D>,
    valid: Tensor<B, D>,
) -> Tensor<B, D> {
    let bias = valid.clone().sub_scalar(1.0).mul_scalar(PAD_LOGIT.abs()); // 0 or PAD_LOGIT
    Tensor::cat(vec![words, valid.ones_like(), bias], D - 1)
}

/// Both CLCL directions from shifted logits `z = (E − 1)/τ` (padding ≤ [`PAD_LOGIT`]), with
/// clips along `m_dim` and words along `l_dim`. Outputs keep all four dims (size 1 along
/// `m_dim` and `l_dim`).
fn reduce_shifted<B: Backend>(
    z: Tensor<B, 4>,
    clip_valid: Tensor<B, 4>,
    word_valid: Tensor<B, 4>,
    m_dim: usize,
    l_dim: usize,
    tau_tok: f64,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let tiny = f64::from(f32::MIN_POSITIVE);
    let x = z.clone().exp();
    // Weights multiply E itself (recovered from z), not z: Σ x·z / Σ x would be a large
    // negative number whose small variations carry the signal, and its gradient would
    // cancel catastrophically in f32.
    let p = x.clone() * z.mul_scalar(tau_tok).add_scalar(1.0);
    // V2T: clip i attends over words; the mean over real clips.
    let per_clip = p.clone().sum_dim(l_dim) / x.clone().sum_dim(l_dim).clamp_min(tiny);
    let v2t = (per_clip * clip_valid.clone()).sum_dim(m_dim) / clip_valid.sum_dim(m_dim);
    // T2V: word j attends over clips; the mean over real words.
    let per_word = p.sum_dim(m_dim) / x.sum_dim(m_dim).clamp_min(tiny);
    let t2v = (per_word * word_valid.clone()).sum_dim(l_dim) / word_valid.sum_dim(l_dim);
    (v2t, t2v)
}

/// [`clcl_reduce`] with a separate, individually shifted softmax per direction: for very
/// small `τ_tok`, where one shared exponential could underflow.
///
/// Each mask comes as `(mean, softmax)`: the tokens the mean runs over, and those inside
/// the softmax (the same unless padding stays inside it, [`TokenPadding::Include`]).
fn clcl_reduce_separate<B: Backend>(
    e: Tensor<B, 4>,
    clip: (Tensor<B, 4>, Tensor<B, 4>),
    word: (Tensor<B, 4>, Tensor<B, 4>),
    tau_tok: f64,
) -> ClclScores<B> {
    let [a, b, _, _] = e.dims();
    let ((clip_valid, clip_soft), (word_valid, word_soft)) = (clip, word);
    let logits = e.clone().div_scalar(tau_tok);
    let word_bias = word_soft.sub_scalar(1.0).mul_scalar(-MASK_BIAS); // 0 or -1e9
    let attn_w = softmax(logits.clone() + word_bias, 3); // [A, B, M, L]
    let per_clip = (attn_w * e.clone()).sum_dim(3); // [A, B, M, 1]
    let v2t = (per_clip * clip_valid.clone()).sum_dim(2) / clip_valid.clone().sum_dim(2);
    let clip_bias = clip_soft.sub_scalar(1.0).mul_scalar(-MASK_BIAS);
    let attn_c = softmax(logits + clip_bias, 2); // [A, B, M, L]
    let per_word = (attn_c * e).sum_dim(2); // [A, B, 1, L]
    let t2v = (per_word * word_valid.clone()).sum_dim(3) / word_valid.sum_dim(3);
    ClclScores {
        v2t: v2t.reshape([a, b]),
        t2v: t2v.reshape([a, b]),
    }
}

/// Scores every video of a gallery against every text.
///
/// With [`ClclKernel::Tensor`] it works chunk by chunk over the videos and never holds more
/// than `chunk × Nt × M × L` token similarities at once; with [`ClclKernel::Fused`] it holds
/// one `M × 2048` tile per thread (without autodiff; see [`ClclKernel::is_fused`]).
///
/// # Shapes
/// - `sign`: `[Nv, M, D]`, rows L2-normalised; `sign_mask`: `[Nv, M]`, true = valid clip
/// - `words`: `[Nt, L, D]`, rows L2-normalised; `word_mask`: `[Nt, L]`, true = valid word
/// - output: `[Nv, Nt]` in both directions
pub fn clcl_gallery<B: Backend>(
    sign: Tensor<B, 3>,
    sign_mask: Tensor<B, 2, Bool>,
    words: Tensor<B, 3>,
    word_mask: Tensor<B, 2, Bool>,
    config: &ClclConfig,
) -> ClclScores<B> {
    let [nv, m, d] = sign.dims();
    let [nt, l, d2] = words.dims();
    assertions::same("token dim of sign and words", d, d2);
    assertions::same("videos in sign and sign_mask", nv, sign_mask.dims()[0]);
    assertions::same("texts in words and word_mask", nt, word_mask.dims()[0]);
    let device = sign.device();
    if config.kernel.is_fused::<B>(&device) && config.padding == TokenPadding::Exclude {
        let (sv, sm) = (to_vec_f32(sign), to_vec_bool(sign_mask));
        let (wv, wm) = (to_vec_f32(words), to_vec_bool(word_mask));
        let (v2t, t2v) = clcl_gallery_fused(
            HostTokens {
                values: &sv,
                mask: &sm,
                n: nv,
                len: m,
                dim: d,
            },
            HostTokens {
                values: &wv,
                mask: &wm,
                n: nt,
                len: l,
                dim: d,
            },
            config.tau_tok,
            config.threads,
        );
        return ClclScores {
            v2t: Tensor::from_data(TensorData::new(v2t, [nv, nt]), &device),
            t2v: Tensor::from_data(TensorData::new(t2v, [nv, nt]), &device),
        };
    }
    let chunk = config.chunk.max(1);
    let shared = shared_exp_is_exact(config.tau_tok);
    let word_valid = word_mask.float().reshape([nt, l, 1]);
    let in_softmax = |valid: Tensor<B, 3>| config.padding.in_softmax(valid);
    let word_soft = in_softmax(word_valid.clone());
    let words_t = if shared {
        augment_words(words, word_soft.clone())
    } else {
        words
    };
    let k = words_t.dims()[2];
    let words_t = words_t.reshape([nt * l, k]).transpose(); // [K, Nt*L]
    let word_valid = word_valid.reshape([1, 1, nt, l]);
    let word_soft = word_soft.reshape([1, nt, 1, l]);
    let mut v2t = Vec::new();
    let mut t2v = Vec::new();
    let mut start = 0;
    while start < nv {
        let end = (start + chunk).min(nv);
        let c = end - start;
        let clip_valid = sign_mask
            .clone()
            .narrow(0, start, c)
            .float()
            .reshape([c, m, 1]);
        let s = sign.clone().narrow(0, start, c);
        if shared {
            // z in layout [c, M, Nt, L]: clips along dim 1, words along dim 3.
            let z = augment_sign(s, in_softmax(clip_valid.clone()), config.tau_tok)
                .reshape([c * m, k])
                .matmul(words_t.clone())
                .reshape([c, m, nt, l]);
            let (a, b) = reduce_shifted(
                z,
                clip_valid.reshape([c, m, 1, 1]),
                word_valid.clone(),
                1,
                3,
                config.tau_tok,
            );
            v2t.push(a.reshape([c, nt]));
            t2v.push(b.reshape([c, nt]));
        } else {
            let e = s
                .reshape([c * m, d])
                .matmul(words_t.clone())
                .reshape([c, m, nt, l])
                .swap_dims(1, 2); // [c, Nt, M, L]
            let clip_soft = in_softmax(clip_valid.clone()).reshape([c, 1, m, 1]);
            let scores = clcl_reduce_separate(
                e,
                (clip_valid.reshape([c, 1, m, 1]), clip_soft),
                (word_valid.clone().reshape([1, nt, 1, l]), word_soft.clone()),
                config.tau_tok,
            );
            v2t.push(scores.v2t);
            t2v.push(scores.t2v);
        }
        start = end;
    }
    ClclScores {
        v2t: Tensor::cat(v2t, 0),
        t2v: Tensor::cat(t2v, 0),
    }
}

/// Scores each video against its own list of candidate captions (e.g. the true caption
/// followed by hard negatives).
///
/// # Shapes
/// - `sign`: `[N, M, D]`; `sign_mask`: `[N, M]`
/// - `captions`: `[N, K, L, D]`; `caption_mask`: `[N, K, L]`
/// - output: `[N, K]` in both directions
pub fn clcl_candidates<B: Backend>(
    sign: Tensor<B, 3>,
    sign_mask: Tensor<B, 2, Bool>,
    captions: Tensor<B, 4>,
    caption_mask: Tensor<B, 3, Bool>,
    tau_tok: f64,
) -> ClclScores<B> {
    let config = ClclConfig::new().with_tau_tok(tau_tok);
    clcl_candidates_with(sign, sign_mask, captions, caption_mask, &config)
}

/// [`clcl_candidates`] with the temperature and [`TokenPadding`] of `config` (its kernel,
/// chunk and threads do not apply: candidates always take the tensor path).
///
/// # Shapes
/// As [`clcl_candidates`].
pub fn clcl_candidates_with<B: Backend>(
    sign: Tensor<B, 3>,
    sign_mask: Tensor<B, 2, Bool>,
    captions: Tensor<B, 4>,
    caption_mask: Tensor<B, 3, Bool>,
    config: &ClclConfig,
) -> ClclScores<B> {
    let tau_tok = config.tau_tok;
    let [n, m, d] = sign.dims();
    let [n2, k, l, d2] = captions.dims();
    assertions::same("videos in sign and captions", n, n2);
    assertions::same("token dim of sign and captions", d, d2);
    let clip_valid = sign_mask.float().reshape([n, m, 1]);
    let word_valid = caption_mask.float().reshape([n, k, l, 1]);
    let clip_soft = config.padding.in_softmax(clip_valid.clone());
    let word_soft = config.padding.in_softmax(word_valid.clone());
    if !shared_exp_is_exact(tau_tok) {
        let e = sign
            .unsqueeze_dim::<4>(1)
            .expand([n, k, m, d])
            .matmul(captions.swap_dims(2, 3)); // [N, K, M, L]
        return clcl_reduce_separate(
            e,
            (
                clip_valid.reshape([n, 1, m, 1]),
                clip_soft.reshape([n, 1, m, 1]),
            ),
            (
                word_valid.reshape([n, k, 1, l]),
                word_soft.reshape([n, k, 1, l]),
            ),
            tau_tok,
        );
    }
    let s = augment_sign(sign, clip_soft, tau_tok); // [N, M, D+2]
    let w = augment_words(captions, word_soft) // [N, K, L, D+2]
        .reshape([n, k * l, d + 2])
        .swap_dims(1, 2); // [N, D+2, K*L]
    // One [M, D+2] × [D+2, K·L] product per video (no broadcast copy of the sign tokens),
    // giving z in layout [N, M, K, L]: clips along dim 1, words along dim 3.
    let z = s.matmul(w).reshape([n, m, k, l]);
    let (v2t, t2v) = reduce_shifted(
        z,
        clip_valid.reshape([n, m, 1, 1]),
        word_valid.reshape([n, 1, k, l]),
        1,
        3,
        tau_tok,
    );
    ClclScores {
        v2t: v2t.reshape([n, k]),
        t2v: t2v.reshape([n, k]),
    }
}

/// Cosine similarity of pooled embeddings, `[Nv, D] × [Nt, D] → [Nv, Nt]`.
///
/// Inputs need not be normalised; rows are L2-normalised here.
pub fn cosine_gallery<B: Backend>(video: Tensor<B, 2>, text: Tensor<B, 2>) -> Tensor<B, 2> {
    l2_normalize(video).matmul(l2_normalize(text).transpose())
}

/// L2-normalises along the last dimension, with a small epsilon against zero rows.
pub fn l2_normalize<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let norm = x
        .clone()
        .powi_scalar(2)
        .sum_dim(D - 1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

fn to_vec_bool<B: Backend, const D: usize>(t: Tensor<B, D, Bool>) -> Vec<bool> {
    t.into_data().iter::<bool>().collect()
}

mod assertions {
    pub(super) fn same(what: &str, left: usize, right: usize) {
        assert!(left == right, "CLCL: mismatched {what}: {left} vs {right}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    use crate::test_backend::B;

    fn t3(v: Vec<f32>, s: [usize; 3]) -> Tensor<B, 3> {
        Tensor::from_data(TensorData::new(v, s), &Default::default())
    }

    #[test]
    fn single_clip_single_word_is_the_dot_product() {
        // With M = L = 1 both softmaxes are 1, so z = ⟨s, w⟩ (hand arithmetic: 0.6·0.8 + 0.8·0.6).
        let sign = t3(vec![0.6, 0.8], [1, 1, 2]);
        let words = t3(vec![0.8, 0.6], [1, 1, 2]);
        let sm = Tensor::<B, 2, Bool>::from_data(TensorData::from([[true]]), &Default::default());
        let s = clcl_gallery(sign, sm.clone(), words, sm, &ClclConfig::new());
        let v: Vec<f32> = s.score().into_data().to_vec().unwrap();
        assert!((v[0] - 0.96).abs() < 1e-6);
    }

    #[test]
    fn padding_is_ignored() {
        // Word 2 is padding and points exactly at the clip; masked, it must not change z.
        // Valid: one clip s=(1,0), one word w=(0,1) → E = 0, z = 0 in both directions.
        let sign = t3(vec![1.0, 0.0], [1, 1, 2]);
        let words = t3(vec![0.0, 1.0, 1.0, 0.0], [1, 2, 2]);
        let dev = Default::default();
        let sm = Tensor::<B, 2, Bool>::from_data(TensorData::from([[true]]), &dev);
        let wm = Tensor::<B, 2, Bool>::from_data(TensorData::from([[true, false]]), &dev);
        let s = clcl_gallery(sign, sm, words, wm, &ClclConfig::new());
        let v: Vec<f32> = s.score().into_data().to_vec().unwrap();
        assert!(v[0].abs() < 1e-6, "{v:?}");
    }

    type Gallery = (
        Tensor<B, 3>,
        Tensor<B, 2, Bool>,
        Tensor<B, 3>,
        Tensor<B, 2, Bool>,
    );

    fn gallery(nv: usize, nt: usize, m: usize, l: usize, d: usize, seed: u64) -> Gallery {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut vals =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let sign = l2_normalize(t3(vals(nv * m * d), [nv, m, d]));
        let words = l2_normalize(t3(vals(nt * l * d), [nt, l, d]));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
        // Token 0 is always valid, the rest at random: every item has at least one token.
        let mut flags = |n: usize, len: usize| -> Vec<bool> {
            (0..n * len)
                .map(|i| i % len == 0 || rng.random_bool(0.7))
                .collect()
        };
        let dev = Default::default();
        let sm = Tensor::from_data(TensorData::new(flags(nv, m), [nv, m]), &dev);
        let wm = Tensor::from_data(TensorData::new(flags(nt, l), [nt, l]), &dev);
        (sign, sm, words, wm)
    }

    fn max_diff(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
        let (a, b) = (to_vec_f32(a), to_vec_f32(b));
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        /// Chunking over videos only changes which rows are computed together.
        #[test]
        fn chunked_equals_unchunked(
            nv in 1usize..7, nt in 1usize..6, m in 1usize..5, l in 1usize..5,
            chunk in 1usize..9, seed in 0u64..1000,
        ) {
            let (sign, sm, words, wm) = gallery(nv, nt, m, l, 6, seed);
            let tensor = ClclConfig::new().with_kernel(ClclKernel::Tensor);
            let whole = clcl_gallery(sign.clone(), sm.clone(), words.clone(), wm.clone(), &tensor.clone().with_chunk(nv));
            let parts = clcl_gallery(sign, sm, words, wm, &tensor.with_chunk(chunk));
            proptest::prop_assert!(max_diff(whole.v2t, parts.v2t) < 1e-6);
            proptest::prop_assert!(max_diff(whole.t2v, parts.t2v) < 1e-6);
        }

        /// The fused CPU kernel computes the tensor path's values, for any masks and threads.
        #[test]
        fn fused_equals_tensor(
            nv in 1usize..7, nt in 1usize..6, m in 1usize..5, l in 1usize..5,
            threads in 1usize..4, seed in 0u64..1000,
        ) {
            let (sign, sm, words, wm) = gallery(nv, nt, m, l, 6, seed);
            let tensor = ClclConfig::new().with_kernel(ClclKernel::Tensor);
            let fused = ClclConfig::new().with_kernel(ClclKernel::Fused).with_threads(threads);
            let a = clcl_gallery(sign.clone(), sm.clone(), words.clone(), wm.clone(), &tensor);
            let b = clcl_gallery(sign, sm, words, wm, &fused);
            proptest::prop_assert!(max_diff(a.v2t, b.v2t) < 1e-5);
            proptest::prop_assert!(max_diff(a.t2v, b.t2v) < 1e-5);
        }
    }

    #[test]
    fn fused_is_taken_only_when_chosen_and_without_autodiff() {
        let dev = Default::default();
        assert_eq!(ClclConfig::new().kernel, ClclKernel::Tensor, "the default");
        assert!(ClclKernel::Fused.is_fused::<B>(&dev));
        assert!(!ClclKernel::Fused.is_fused::<burn::backend::Autodiff<B>>(&dev));
        assert!(!ClclKernel::Tensor.is_fused::<B>(&dev));
    }

    #[test]
    fn small_tau_takes_separate_softmaxes_and_stays_finite() {
        // 2/τ = 200 > 60: the separate path; the result must match the fused kernel, which
        // falls back per row.
        let (sign, sm, words, wm) = gallery(3, 4, 3, 3, 5, 11);
        let cfg = ClclConfig::new().with_tau_tok(0.01);
        let a = clcl_gallery(
            sign.clone(),
            sm.clone(),
            words.clone(),
            wm.clone(),
            &cfg.clone().with_kernel(ClclKernel::Tensor),
        );
        let b = clcl_gallery(sign, sm, words, wm, &cfg.with_kernel(ClclKernel::Fused));
        assert!(max_diff(a.v2t, b.v2t) < 1e-5 && max_diff(a.t2v, b.t2v) < 1e-5);
    }
}
