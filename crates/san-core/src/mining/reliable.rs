//! Reliable sign–word pairs (SAN step 2, `DESIGN.md` §3.3): for each word `w` of a training
//! pair, the softmax over clips of `E[:, w] / τ_tok`; if its maximum exceeds `α`, the clip
//! feature at the argmax is a reliable sign feature of `w`.

use std::collections::BTreeMap;

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use crate::host::{to_vec_f32, to_vec_i64};

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
        let feats = to_vec_f32(sign);
        for (b, ids) in word_ids.iter().enumerate() {
            for (j, id) in ids.iter().enumerate().take(l) {
                let Some(id) = *id else { continue };
                self.seen += 1;
                if f64::from(pmax[b * l + j]) <= alpha {
                    continue;
                }
                let clip = argmax[b * l + j] as usize;
                let f = &feats[(b * m + clip) * d..(b * m + clip + 1) * d];
                let entry = self.words.entry(id).or_insert_with(|| WordFeatures {
                    sum: vec![0.0; d],
                    ..WordFeatures::default()
                });
                entry.sum.iter_mut().zip(f).for_each(|(s, x)| *s += x);
                entry.count += 1;
                if entry.samples.len() < self.keep {
                    entry.samples.push(f.to_vec());
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    use crate::test_backend::B;

    #[test]
    fn sharp_alignment_is_reliable_and_flat_is_not() {
        // Two clips (1,0) and (0,1). Word 0 = (1,0): softmax over clips of (1, 0)/0.07 gives
        // max 1/(1+e^{-1/0.07}) ≈ 1 > 0.7 → reliable at clip 0.
        // Word 1 = (0.7071, 0.7071): equal scores → max 0.5 ≤ 0.7 → not reliable.
        let dev = Default::default();
        let sign = Tensor::<B, 3>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [1, 2, 2]),
            &dev,
        );
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let words =
            Tensor::<B, 3>::from_data(TensorData::new(vec![1.0f32, 0.0, h, h], [1, 2, 2]), &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::from([[true, true]]), &dev);
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
}
