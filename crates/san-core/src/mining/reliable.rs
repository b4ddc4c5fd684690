//! Reliable sign–word pairs (SAN step 2, `DESIGN.md` §3.3): for each word `w` of a training
//! pair, the softmax over clips of `E[:, w] / τ_tok`; if its maximum exceeds `α`, the clip
//! feature at the argmax is a reliable sign feature of `w`.
//!
//! Mining works on whole words. With a sub-word tokenizer, [`WordPieces`] maps tokens back
//! to words, and a word's feature is the mean of its pieces' features, re-normalised.

use std::collections::BTreeMap;

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::host::{to_vec_f32, to_vec_i64};
use crate::similarity::l2_normalize;

/// Per-word accumulated sign features, streamed over a corpus batch by batch.
#[derive(Debug, Clone, Default)]
pub struct ReliablePairs {
    /// Feature dimension, fixed by the first batch.
    dim: usize,
    /// word id → (sum of features, count, up to `keep` individual features)
    words: BTreeMap<usize, WordFeatures>,
    /// How many individual features to keep per word (for `Aggregation::Any`).
    keep: usize,
    /// Number of (word occurrence) candidates seen, reliable or not.
    seen: usize,
}

/// The sign features collected for one word.
#[derive(Debug, Clone, Default)]
pub struct WordFeatures {
    /// Sum of the reliable features.
    pub sum: Vec<f32>,
    /// Number of reliable pairs.
    pub count: usize,
    /// The first few reliable features, unnormalised as they came.
    pub samples: Vec<Vec<f32>>,
}

/// How the sub-word tokens of a batch make up its words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordPieces {
    /// `token_word[n][t]`: the position, within item `n`'s word list, of the word that
    /// token `t` belongs to; `None` for padding and special tokens.
    pub token_word: Vec<Vec<Option<usize>>>,
    /// `word_ids[n][w]`: the vocabulary id of word `w` of item `n`, or `None` for stop
    /// words and anything else that must not be mined.
    pub word_ids: Vec<Vec<Option<usize>>>,
}

impl ReliablePairs {
    /// An empty collector that keeps up to `keep` individual features per word.
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    /// Adds one batch of training pairs.
    ///
    /// `word_ids[n][j]` is the vocabulary id of word `j` of pair `n`, or `None` for padding,
    /// stop words and anything else that must not be mined.
    ///
    /// # Shapes
    /// - `sign`: `[N, M, D]` (L2-normalised rows); `sign_mask`: `[N, M]`
    /// - `words`: `[N, L, D]` (L2-normalised rows); `word_ids`: `N` lists of `L`
    pub fn add_batch<B: Backend>(
        &mut self,
        sign: Tensor<B, 3>,
        sign_mask: Tensor<B, 2, Bool>,
        words: Tensor<B, 3>,
        word_ids: &[Vec<Option<usize>>],
        tau_tok: f64,
        alpha: f64,
    ) {
        let [n, m, d] = sign.dims();
        let [n2, l, _] = words.dims();
        assert!(
            n == n2 && n == word_ids.len(),
            "reliable pairs: batch sizes {n}, {n2}, {}",
            word_ids.len()
        );
        self.dim = d;
        let e = sign.clone().matmul(words.swap_dims(1, 2)); // [N, M, L]
        let bias = sign_mask
            .float()
            .sub_scalar(1.0)
            .mul_scalar(1.0e9)
            .reshape([n, m, 1]); // 0 or -1e9
        let p = softmax(e.div_scalar(tau_tok) + bias, 1); // [N, M, L]: over clips
        let (pmax, argmax) = p.max_dim_with_indices(1); // [N, 1, L]
        let pmax = to_vec_f32(pmax);
        let argmax = to_vec_i64(argmax);
        // Only the chosen clips come to the host: rows b·M + argmax of the [N·M, D] features.
        let mut rows = Vec::new();
        let mut chosen = Vec::new();
        for (b, ids) in word_ids.iter().enumerate() {
            for (j, id) in ids.iter().enumerate().take(l) {
                let Some(id) = *id else { continue };
                self.seen += 1;
                if f64::from(pmax[b * l + j]) > alpha {
                    rows.push((b * m) as i64 + argmax[b * l + j]);
                    chosen.push(id);
                }
            }
        }
        if chosen.is_empty() {
            return;
        }
        let device = sign.device();
        let pick = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [chosen.len()]), &device);
        let feats = to_vec_f32(sign.reshape([n * m, d]).select(0, pick));
        for (id, f) in chosen.into_iter().zip(feats.chunks_exact(d)) {
            self.push(id, f);
        }
    }

    /// Adds one batch whose text side is sub-word tokens.
    ///
    /// Each word's feature is the mean of its pieces' token features, L2-normalised, so
    /// `E` stays a cosine; a word with no piece (all its tokens cut by padding) is skipped.
    /// Then as [`ReliablePairs::add_batch`]. Token positions past `tokens`' length and word
    /// positions past `word_ids[n]` are ignored.
    ///
    /// # Shapes
    /// - `sign`: `[N, M, D]`; `sign_mask`: `[N, M]`; `tokens`: `[N, T, D]`
    pub fn add_pieces<B: Backend>(
        &mut self,
        sign: Tensor<B, 3>,
        sign_mask: Tensor<B, 2, Bool>,
        tokens: Tensor<B, 3>,
        pieces: &WordPieces,
        tau_tok: f64,
        alpha: f64,
    ) {
        let [n, t, _] = tokens.dims();
        let l = pieces
            .word_ids
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(1);
        // pool[n, w, t] = 1 / |pieces of w| for the pieces of word w.
        let mut pool = vec![0.0f32; n * l * t];
        let mut ids = vec![vec![None; l]; n];
        for b in 0..n.min(pieces.token_word.len()).min(pieces.word_ids.len()) {
            let words = &pieces.word_ids[b];
            let mut count = vec![0usize; words.len()];
            for &w in pieces.token_word[b].iter().take(t).flatten() {
                if w < words.len() {
                    count[w] += 1;
                }
            }
            for (j, &w) in pieces.token_word[b].iter().take(t).enumerate() {
                if let Some(w) = w.filter(|&w| w < words.len()) {
                    pool[(b * l + w) * t + j] = 1.0 / count[w] as f32;
                }
            }
            for (w, id) in words.iter().enumerate() {
                if count[w] > 0 {
                    ids[b][w] = *id;
                }
            }
        }
        let pool = Tensor::<B, 3>::from_data(TensorData::new(pool, [n, l, t]), &tokens.device());
        let words = l2_normalize(pool.matmul(tokens));
        self.add_batch(sign, sign_mask, words, &ids, tau_tok, alpha);
    }

    /// Records one reliable feature of word `id` directly (for features aligned by other
    /// means). The first call fixes the feature dimension; a feature of another length is
    /// ignored and `false` returned.
    pub fn record(&mut self, id: usize, feature: &[f32]) -> bool {
        if self.dim == 0 {
            self.dim = feature.len();
        }
        if feature.len() != self.dim || feature.is_empty() {
            return false;
        }
        self.seen += 1;
        self.push(id, feature);
        true
    }

    fn push(&mut self, id: usize, f: &[f32]) {
        let entry = self.words.entry(id).or_insert_with(|| WordFeatures {
            sum: vec![0.0; f.len()],
            ..WordFeatures::default()
        });
        entry.sum.iter_mut().zip(f).for_each(|(s, x)| *s += x);
        entry.count += 1;
        if entry.samples.len() < self.keep {
            entry.samples.push(f.to_vec());
        }
    }

    /// Words with at least one reliable pair, by id.
    pub fn words(&self) -> &BTreeMap<usize, WordFeatures> {
        &self.words
    }

    /// Feature dimension (0 before the first batch).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of word occurrences examined.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Number of reliable pairs found.
    pub fn reliable(&self) -> usize {
        self.words.values().map(|w| w.count).sum()
    }
}

/// Hand-built batches for the mining tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use burn::tensor::{Bool, Tensor, TensorData};

    use crate::test_backend::B;

    /// One video with two valid clips, (1,0) and (0,1), and the given 2-d word tokens.
    pub(crate) fn two_clips(words: Vec<f32>) -> (Tensor<B, 3>, Tensor<B, 2, Bool>, Tensor<B, 3>) {
        let dev = Default::default();
        let sign = Tensor::<B, 3>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [1, 2, 2]),
            &dev,
        );
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::from([[true, true]]), &dev);
        let l = words.len() / 2;
        let words = Tensor::<B, 3>::from_data(TensorData::new(words, [1, l, 2]), &dev);
        (sign, mask, words)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::two_clips;
    use super::*;
    use burn::tensor::TensorData;

    use crate::test_backend::B;

    #[test]
    fn sharp_alignment_is_reliable_and_flat_is_not() {
        // Two clips (1,0) and (0,1). Word 0 = (1,0): softmax over clips of (1, 0)/0.07 gives
        // max 1/(1+e^{-1/0.07}) ≈ 1 > 0.7 → reliable at clip 0.
        // Word 1 = (0.7071, 0.7071): equal scores → max 0.5 ≤ 0.7 → not reliable.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let (sign, mask, words) = two_clips(vec![1.0, 0.0, h, h]);
        let mut r = ReliablePairs::new(4);
        r.add_batch(sign, mask, words, &[vec![Some(10), Some(11)]], 0.07, 0.7);
        assert_eq!(r.seen(), 2);
        assert_eq!(r.reliable(), 1);
        assert_eq!(r.words()[&10].sum, vec![1.0, 0.0]);
    }

    #[test]
    fn padded_clips_are_never_chosen() {
        // Clip 1 matches the word perfectly but is padding → clip 0 is the only candidate,
        // so the softmax is 1 there.
        let dev = Default::default();
        let sign = Tensor::<B, 3>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 1.0, 0.0], [1, 2, 2]),
            &dev,
        );
        let words = Tensor::<B, 3>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 1, 2]), &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::from([[true, false]]), &dev);
        let mut r = ReliablePairs::new(4);
        r.add_batch(sign, mask, words, &[vec![Some(3)]], 0.07, 0.7);
        assert_eq!(r.words()[&3].sum, vec![0.0, 1.0]);
    }

    #[test]
    fn sub_word_pieces_are_averaged_into_their_word() {
        // Clips (1,0) and (0,1). Word 0 has pieces (0.6,0.8) and (1,0): mean (0.8,0.4),
        // cosines 0.894 / 0.447 with the clips → softmax max 1/(1+e^{-0.447/0.07}) ≈ 0.998,
        // reliable at clip 0 (its first piece alone would pick clip 1). Word 1 is one piece
        // (0,1) → clip 1. Word 2 is a stop word (id None); the last token is padding.
        let (sign, mask, tokens) =
            two_clips(vec![0.6, 0.8, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let pieces = WordPieces {
            token_word: vec![vec![Some(0), Some(0), Some(1), Some(2), None]],
            word_ids: vec![vec![Some(5), Some(6), None]],
        };
        let mut r = ReliablePairs::new(4);
        r.add_pieces(sign, mask, tokens, &pieces, 0.07, 0.7);
        assert_eq!(r.seen(), 2);
        assert_eq!(r.reliable(), 2);
        assert_eq!(r.words()[&5].sum, vec![1.0, 0.0]);
        assert_eq!(r.words()[&6].sum, vec![0.0, 1.0]);
    }

    #[test]
    fn recorded_features_accumulate_and_keep_samples() {
        let mut r = ReliablePairs::new(1);
        assert!(r.record(2, &[1.0, 0.0]));
        assert!(r.record(2, &[0.0, 1.0]));
        assert!(!r.record(2, &[1.0, 0.0, 0.0]), "wrong dimension is refused");
        let w = &r.words()[&2];
        assert_eq!((w.count, w.sum.clone()), (2, vec![1.0, 1.0]));
        assert_eq!(
            w.samples,
            vec![vec![1.0, 0.0]],
            "keeps at most `keep` samples"
        );
    }
}
