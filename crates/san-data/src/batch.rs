//! Batching: padding, masks and clip sampling for pose–text pairs.

use burn::config::Config;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use rand::{Rng, RngExt};

use crate::augment::RandomSwap;
use crate::pose::StepLayout;
use crate::sample::Sample;
use crate::text_tokens::TextTokenizer;
use crate::vocab::PAD;

/// Settings of the batcher.
#[derive(Config, Debug)]
pub struct BatcherConfig {
    /// Frames kept per clip; longer clips are sampled down (strided, with jitter in training).
    #[config(default = 128)]
    pub max_frames: usize,
    /// Words kept per sentence.
    #[config(default = 32)]
    pub max_words: usize,
    /// EDA random swap applied to training captions (only when batching with an rng);
    /// `None` (the default) leaves captions as they are. CiCo and SAN use
    /// `Some(RandomSwap::default())`, p = 0.5.
    #[config(default = "None")]
    pub text_swap: Option<RandomSwap>,
}

/// A padded batch of clips and caption tokens.
#[derive(Debug, Clone)]
pub struct PoseTextBatch<B: Backend> {
    /// Pose features, `[B, T, F]`, zero-padded.
    pub poses: Tensor<B, 3>,
    /// `[B, T]`, true for real frames.
    pub pose_mask: Tensor<B, 2, Bool>,
    /// Token ids (words or word pieces), `[B, L]`, padded with [`PAD`].
    pub tokens: Tensor<B, 2, Int>,
    /// `[B, L]`, true for real tokens.
    pub token_mask: Tensor<B, 2, Bool>,
    /// Id of each item's normalised text (equal ids = identical sentences), length B.
    pub text_ids: Vec<usize>,
    /// For each item and token (unpadded), the index of the token's word in the item's
    /// caption as batched (`None` for special tokens), for mining.
    pub token_words: Vec<Vec<Option<usize>>>,
    /// How each clip step's `F` values are laid out (the first item's; items of a batch
    /// share `F`).
    pub layout: StepLayout,
}

/// The visiting order of `n` items in epoch `epoch`: a permutation seeded by `seed + epoch`,
/// the same on every platform and run.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
        seed.wrapping_add(epoch),
    ));
    order
}

/// Frame indices kept from a clip of `frames` frames: all when short enough, else
/// `max` strided positions, jittered within their stride when `rng` is given.
pub fn sample_frames<R: Rng + ?Sized>(
    frames: usize,
    max: usize,
    rng: Option<&mut R>,
) -> Vec<usize> {
    if frames <= max {
        return (0..frames).collect();
    }
    let step = frames as f64 / max as f64;
    match rng {
        Some(rng) => (0..max)
            .map(|k| ((k as f64 + rng.random::<f64>()) * step) as usize)
            .map(|i| i.min(frames - 1))
            .collect(),
        None => (0..max)
            .map(|k| (((k as f64 + 0.5) * step) as usize).min(frames - 1))
            .collect(),
    }
}

impl BatcherConfig {
    /// Pads and stacks samples, their captions tokenized by `text` (the first `max_words`
    /// words). With `rng`, long clips are sampled with jitter and captions swapped as
    /// configured (training); without, deterministically (evaluation). Returns an error
    /// when `text` cannot tokenize a caption.
    pub fn batch<B: Backend, R: Rng + ?Sized>(
        &self,
        items: &[&Sample],
        text: &TextTokenizer,
        rng: Option<&mut R>,
        device: &B::Device,
    ) -> crate::Result<PoseTextBatch<B>> {
        self.batch_padded(items, text, rng, device, 0)
    }

    /// Like [`batch`](Self::batch), padding frames to at least `min_frames` (so batches of
    /// one split share a clip count).
    pub fn batch_padded<B: Backend, R: Rng + ?Sized>(
        &self,
        items: &[&Sample],
        text: &TextTokenizer,
        mut rng: Option<&mut R>,
        device: &B::Device,
        min_frames: usize,
    ) -> crate::Result<PoseTextBatch<B>> {
        let n = items.len();
        let dim = items.first().map_or(0, |s| s.features.dim);
        let picks: Vec<Vec<usize>> = items
            .iter()
            .map(|s| sample_frames(s.features.frames, self.max_frames, rng.as_deref_mut()))
            .collect();
        let t = picks
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .max(min_frames.min(self.max_frames))
            .max(1);
        let mut poses = vec![0.0f32; n * t * dim];
        let mut pose_mask = vec![false; n * t];
        for (b, (s, idx)) in items.iter().zip(&picks).enumerate() {
            for (k, &f) in idx.iter().enumerate() {
                let src = &s.features.values[f * dim..(f + 1) * dim];
                poses[(b * t + k) * dim..(b * t + k + 1) * dim].copy_from_slice(src);
                pose_mask[b * t + k] = true;
            }
        }
        let mut ids: Vec<Vec<usize>> = Vec::with_capacity(n);
        let mut token_words = Vec::with_capacity(n);
        for s in items {
            let words = match (self.text_swap, rng.as_deref_mut()) {
                (Some(swap), Some(rng)) => swap.apply(&s.words, rng),
                _ => s.words.clone(),
            };
            let caption = text.encode(&words, self.max_words)?;
            ids.push(caption.ids.iter().map(|&i| i as usize).collect());
            token_words.push(caption.word_of_token);
        }
        let (tokens, token_mask) = pad_ids(&ids);
        let l = tokens.len() / n.max(1);
        Ok(PoseTextBatch {
            poses: Tensor::from_data(TensorData::new(poses, [n, t, dim]), device),
            pose_mask: Tensor::from_data(TensorData::new(pose_mask, [n, t]), device),
            tokens: Tensor::from_data(TensorData::new(tokens, [n, l]), device),
            token_mask: Tensor::from_data(TensorData::new(token_mask, [n, l]), device),
            text_ids: items.iter().map(|s| s.text_id).collect(),
            token_words,
            layout: items
                .first()
                .map_or(StepLayout::Flat, |s| s.features.layout),
        })
    }
}

/// Pads id lists to a common length (at least 1), row-major; returns ids and mask.
pub fn pad_ids(lists: &[Vec<usize>]) -> (Vec<i64>, Vec<bool>) {
    let l = lists.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut ids = vec![PAD as i64; lists.len() * l];
    let mut mask = vec![false; lists.len() * l];
    for (b, list) in lists.iter().enumerate() {
        for (j, &id) in list.iter().enumerate() {
            ids[b * l + j] = id as i64;
            mask[b * l + j] = true;
        }
    }
    (ids, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::PoseFeatures;
    use crate::vocab::Vocabulary;
    use burn::backend::NdArray;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn sample(frames: usize, words: &[&str]) -> Sample {
        Sample {
            name: "s".into(),
            speaker: "S1".into(),
            features: std::sync::Arc::new(PoseFeatures {
                frames,
                dim: 2,
                values: (0..frames * 2).map(|i| i as f32).collect(),
                layout: crate::pose::StepLayout::Flat,
            }),
            words: words.iter().map(|w| w.to_string()).collect(),
            text_id: 0,
        }
    }

    #[test]
    fn sampling_keeps_order_and_bounds() {
        assert_eq!(sample_frames::<StdRng>(3, 8, None), vec![0, 1, 2]);
        assert_eq!(sample_frames::<StdRng>(8, 4, None), vec![1, 3, 5, 7]);
        let mut rng = StdRng::seed_from_u64(1);
        let s = sample_frames(100, 10, Some(&mut rng));
        assert!(s.windows(2).all(|w| w[0] < w[1]) && s.len() == 10 && s[9] < 100);
    }

    #[test]
    fn pads_and_masks() {
        let a = sample(2, &["x", "y"]);
        let b = sample(3, &["x"]);
        let vocab = Vocabulary::build([a.words.as_slice(), b.words.as_slice()], 1);
        let batch = BatcherConfig::new()
            .batch::<NdArray<f32>, StdRng>(
                &[&a, &b],
                &TextTokenizer::Words(vocab),
                None,
                &Default::default(),
            )
            .unwrap();
        assert_eq!(
            batch.token_words,
            vec![vec![Some(0), Some(1)], vec![Some(0)]]
        );
        assert_eq!(batch.poses.dims(), [2, 3, 2]);
        let m: Vec<bool> = batch.pose_mask.into_data().to_vec().unwrap();
        assert_eq!(m, vec![true, true, false, true, true, true]);
        let tm: Vec<bool> = batch.token_mask.into_data().to_vec().unwrap();
        assert_eq!(tm, vec![true, true, true, false]);
    }

    #[test]
    fn text_swap_applies_only_in_training_batches() {
        let dev = Default::default();
        let vocab = Vocabulary::build([["a".to_string(), "b".to_string()].as_slice()], 1);
        let text = TextTokenizer::Words(vocab.clone());
        let s = sample(2, &["a", "b"]);
        let cfg = BatcherConfig::new().with_text_swap(Some(RandomSwap { p: 1.0, alpha: 0.1 }));
        let ids = |b: &PoseTextBatch<NdArray<f32>>| -> Vec<usize> {
            let v: Vec<i64> = b.tokens.clone().into_data().to_vec().unwrap();
            v.into_iter().map(|i| i as usize).collect()
        };
        let eval = cfg
            .batch::<NdArray<f32>, StdRng>(&[&s], &text, None, &dev)
            .unwrap();
        assert_eq!(ids(&eval), vocab.encode(&s.words), "no rng: unchanged");
        let mut rng = StdRng::seed_from_u64(1);
        let train = cfg
            .batch::<NdArray<f32>, StdRng>(&[&s], &text, Some(&mut rng), &dev)
            .unwrap();
        // Two words and p = 1: always swapped (hand).
        assert_eq!(
            ids(&train),
            vocab.encode(&["b".to_string(), "a".to_string()])
        );
        let off = BatcherConfig::new()
            .batch::<NdArray<f32>, StdRng>(&[&s], &text, Some(&mut rng), &dev)
            .unwrap();
        assert_eq!(ids(&off), vocab.encode(&s.words), "off by default");
    }
}
