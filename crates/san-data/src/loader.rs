//! Batchers for each input kind: padded tensors plus masks, ready for Burn's data loader.
//!
//! | batcher | item | batch |
//! |---|---|---|
//! | [`ClipBatcher`] | `Result<ClipFeatures>` ([`ClipFeatureFiles`](crate::clips::ClipFeatureFiles)) | [`ClipBatch`] `[B, max_clips, F]` |
//! | [`PoseBatcher`] | `Result<NormalizedPose>` ([`PoseFiles`](crate::pose::PoseFiles)) | [`PoseBatch`] `[B, T, J, C]` |
//! | [`FrameBatcher`] | `Result<Frames>` ([`FrameFolders`](crate::frames::FrameFolders)) | [`FrameBatch`] `[B, T, 3, H, W]` |
//! | [`PoseTextBatcher`] | [`Sample`] | [`PoseTextBatch`] |
//!
//! Each has an inherent `batch_items` method. With the `dataloader` feature they also
//! implement Burn's `Batcher` trait, so `DataLoaderBuilder::new(batcher).shuffle(seed)`
//! gives a seeded shuffle on any number of workers; without it,
//! [`epoch_order`](crate::batch::epoch_order) gives the same. File datasets yield
//! `Result`s: a bad file makes its batch an error naming the file, never a panic.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::batch::{BatcherConfig, PoseTextBatch};
use crate::clips::{ClipBatch, ClipFeatures, linspace_indices, sample_clips};
use crate::frames::Frames;
use crate::pose::NormalizedPose;
use crate::sample::Sample;
use crate::text_tokens::TextTokenizer;
use crate::{DataError, Result};

/// The items, or the first error among them; an error for an empty batch.
fn collect<T>(items: Vec<Result<T>>) -> Result<Vec<T>> {
    let items = items.into_iter().collect::<Result<Vec<T>>>()?;
    if items.is_empty() {
        return Err(DataError::Batch {
            item: 0,
            expected: "at least one item".into(),
            got: "none".into(),
        });
    }
    Ok(items)
}

/// Checks that every item has item 0's `key`, naming the first that does not.
fn check_same<T, K: PartialEq + std::fmt::Debug>(
    items: &[T],
    what: &str,
    key: impl Fn(&T) -> K,
) -> Result<()> {
    let first = key(&items[0]);
    match items.iter().position(|x| key(x) != first) {
        Some(i) => Err(DataError::Batch {
            item: i,
            expected: format!("{what} {first:?} like item 0"),
            got: format!("{:?}", key(&items[i])),
        }),
        None => Ok(()),
    }
}

/// Batches precomputed clip features, each sampled CiCo-style to `max_clips` rows
/// (linspace when longer, zero rows and a false mask when shorter).
#[derive(Debug, Clone, Copy)]
pub struct ClipBatcher {
    /// Rows per video (CiCo: 64).
    pub max_clips: usize,
}

impl Default for ClipBatcher {
    fn default() -> Self {
        Self { max_clips: 64 }
    }
}

impl ClipBatcher {
    /// The batch of `items`, or the first item's error, or [`DataError::Batch`] when the
    /// feature dimensions differ.
    pub fn batch_items<B: Backend>(
        &self,
        items: Vec<Result<ClipFeatures>>,
        device: &B::Device,
    ) -> Result<ClipBatch<B>> {
        let items = collect(items)?;
        check_same(&items, "features per clip", |f| f.dim)?;
        let (n, dim) = (items.len(), items[0].dim);
        let mut values = Vec::with_capacity(n * self.max_clips * dim);
        let mut mask = Vec::with_capacity(n * self.max_clips);
        for f in &items {
            let (v, m) = sample_clips(f, self.max_clips);
            values.extend(v);
            mask.extend(m);
        }
        Ok(ClipBatch {
            features: Tensor::from_data(TensorData::new(values, [n, self.max_clips, dim]), device),
            mask: Tensor::from_data(TensorData::new(mask, [n, self.max_clips]), device),
        })
    }
}

/// A padded batch of normalised poses.
#[derive(Debug, Clone)]
pub struct PoseBatch<B: Backend> {
    /// `[B, T, J, C]` coordinates, 0 where a point is missing or after a clip's end.
    pub values: Tensor<B, 4>,
    /// `[B, T, J]`, true where the point was detected.
    pub point_mask: Tensor<B, 3, Bool>,
    /// `[B, T]`, true for real frames.
    pub frame_mask: Tensor<B, 2, Bool>,
    /// Frames each item had before sampling.
    pub source_frames: Vec<usize>,
}

/// Batches normalised poses, padding to the longest clip; longer clips are first sampled
/// to `max_frames` with CiCo's linspace indices.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoseBatcher {
    /// Frames kept per clip (`None`: all).
    pub max_frames: Option<usize>,
}

impl PoseBatcher {
    /// The batch of `items`, or the first item's error, or [`DataError::Batch`] when the
    /// point count or coordinate count differs.
    pub fn batch_items<B: Backend>(
        &self,
        items: Vec<Result<NormalizedPose>>,
        device: &B::Device,
    ) -> Result<PoseBatch<B>> {
        let items = collect(items)?;
        check_same(&items, "points", |p| p.points)?;
        check_same(&items, "coordinates per point", |p| p.dims)?;
        let (j, c) = (items[0].points, items[0].dims);
        let picks: Vec<Vec<usize>> = items
            .iter()
            .map(|p| linspace_indices(p.frames, self.max_frames.unwrap_or(p.frames)))
            .collect();
        let (n, t) = (items.len(), picks.iter().map(Vec::len).max().unwrap_or(0));
        let mut values = vec![0.0f32; n * t * j * c];
        let mut point_mask = vec![false; n * t * j];
        let mut frame_mask = vec![false; n * t];
        for (b, (p, idx)) in items.iter().zip(&picks).enumerate() {
            for (k, &f) in idx.iter().enumerate() {
                let dst = (b * t + k) * j;
                values[dst * c..(dst + j) * c]
                    .copy_from_slice(&p.values[f * j * c..(f + 1) * j * c]);
                point_mask[dst..dst + j].copy_from_slice(&p.mask[f * j..(f + 1) * j]);
                frame_mask[b * t + k] = true;
            }
        }
        Ok(PoseBatch {
            values: Tensor::from_data(TensorData::new(values, [n, t, j, c]), device),
            point_mask: Tensor::from_data(TensorData::new(point_mask, [n, t, j]), device),
            frame_mask: Tensor::from_data(TensorData::new(frame_mask, [n, t]), device),
            source_frames: items.iter().map(|p| p.frames).collect(),
        })
    }
}

/// A padded batch of decoded frames.
#[derive(Debug, Clone)]
pub struct FrameBatch<B: Backend> {
    /// `[B, T, 3, H, W]`, zero frames after each video's end.
    pub frames: Tensor<B, 5>,
    /// `[B, T]`, true for real frames.
    pub mask: Tensor<B, 2, Bool>,
}

/// Batches decoded frames (already resized, cropped and sampled by
/// [`FrameConfig`](crate::frames::FrameConfig)), padding to the longest video.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameBatcher;

impl FrameBatcher {
    /// The batch of `items`, or the first item's error, or [`DataError::Batch`] when the
    /// frame sizes differ.
    pub fn batch_items<B: Backend>(
        &self,
        items: Vec<Result<Frames>>,
        device: &B::Device,
    ) -> Result<FrameBatch<B>> {
        let items = collect(items)?;
        check_same(&items, "frame size (height, width)", |f| {
            (f.height, f.width)
        })?;
        let per_frame = 3 * items[0].height * items[0].width;
        let (n, t) = (
            items.len(),
            items.iter().map(|f| f.frames).max().unwrap_or(0),
        );
        let mut values = vec![0.0f32; n * t * per_frame];
        let mut mask = vec![false; n * t];
        for (b, f) in items.iter().enumerate() {
            let start = b * t * per_frame;
            values[start..start + f.frames * per_frame].copy_from_slice(&f.values);
            mask[b * t..b * t + f.frames].fill(true);
        }
        let (h, w) = (items[0].height, items[0].width);
        Ok(FrameBatch {
            frames: Tensor::from_data(TensorData::new(values, [n, t, 3, h, w]), device),
            mask: Tensor::from_data(TensorData::new(mask, [n, t]), device),
        })
    }
}

/// Batches (pose features, sentence) samples with [`BatcherConfig`] and a caption
/// tokenizer.
///
/// For training, `seed` makes each batch's frame jitter and caption swap come from an rng
/// seeded by `seed` and the names in the batch, so the result does not depend on which
/// worker thread builds it. Without a seed, frames are sampled deterministically and
/// captions kept (evaluation).
#[derive(Debug, Clone)]
pub struct PoseTextBatcher {
    /// Frames, words and augmentation.
    pub config: BatcherConfig,
    /// Caption tokens (words or word pieces).
    pub text: Arc<TextTokenizer>,
    /// Training randomness (`None`: evaluation).
    pub seed: Option<u64>,
}

impl PoseTextBatcher {
    /// The padded batch of `items`; an error when a caption cannot be tokenized.
    pub fn batch_items<B: Backend>(
        &self,
        items: Vec<Sample>,
        device: &B::Device,
    ) -> Result<PoseTextBatch<B>> {
        let refs: Vec<&Sample> = items.iter().collect();
        match self.seed {
            Some(seed) => {
                let mut rng = StdRng::seed_from_u64(seed ^ names_hash(&items));
                self.config.batch(&refs, &self.text, Some(&mut rng), device)
            }
            None => self
                .config
                .batch::<B, StdRng>(&refs, &self.text, None, device),
        }
    }
}

/// FNV-1a over the names of a batch, in order.
fn names_hash(items: &[Sample]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for s in items {
        for b in s.name.bytes().chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(feature = "dataloader")]
mod burn_batcher {
    use burn::data::dataloader::batcher::Batcher;

    use super::*;

    impl<B: Backend> Batcher<B, Result<ClipFeatures>, Result<ClipBatch<B>>> for ClipBatcher {
        fn batch(
            &self,
            items: Vec<Result<ClipFeatures>>,
            device: &B::Device,
        ) -> Result<ClipBatch<B>> {
            self.batch_items(items, device)
        }
    }

    impl<B: Backend> Batcher<B, Result<NormalizedPose>, Result<PoseBatch<B>>> for PoseBatcher {
        fn batch(
            &self,
            items: Vec<Result<NormalizedPose>>,
            device: &B::Device,
        ) -> Result<PoseBatch<B>> {
            self.batch_items(items, device)
        }
    }

    impl<B: Backend> Batcher<B, Result<Frames>, Result<FrameBatch<B>>> for FrameBatcher {
        fn batch(&self, items: Vec<Result<Frames>>, device: &B::Device) -> Result<FrameBatch<B>> {
            self.batch_items(items, device)
        }
    }

    impl<B: Backend> Batcher<B, Sample, Result<PoseTextBatch<B>>> for PoseTextBatcher {
        fn batch(&self, items: Vec<Sample>, device: &B::Device) -> Result<PoseTextBatch<B>> {
            self.batch_items(items, device)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray<f32>;

    fn clips(n: usize, dim: usize, v: f32) -> Result<ClipFeatures> {
        Ok(ClipFeatures {
            clips: n,
            dim,
            values: (0..n * dim).map(|i| v + i as f32).collect(),
        })
    }

    fn floats<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap_or_default()
    }

    fn bools<const D: usize>(t: Tensor<B, D, Bool>) -> Vec<bool> {
        t.into_data().to_vec().unwrap_or_default()
    }

    #[test]
    fn clips_are_sampled_padded_and_masked() {
        let batch = ClipBatcher { max_clips: 3 }
            .batch_items::<B>(
                vec![clips(1, 2, 10.0), clips(5, 2, 0.0)],
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.features.dims(), [2, 3, 2]);
        // Hand-worked: item 0 has one clip then zeros; item 1 keeps linspace(0, 4, 3)
        // = clips 0, 2, 4, whose values are 2k, 2k+1.
        assert_eq!(
            floats(batch.features),
            vec![10.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 4.0, 5.0, 8.0, 9.0]
        );
        assert_eq!(
            bools(batch.mask),
            vec![true, false, false, true, true, true]
        );
    }

    #[test]
    fn clip_batch_errors_name_the_item_or_file() {
        let b = ClipBatcher::default();
        let dev = Default::default();
        let err = b
            .batch_items::<B>(vec![clips(2, 4, 0.0), clips(2, 3, 0.0)], &dev)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("batch item 1: expected features per clip 4 like item 0, got 3")
        );
        let bad = Err(DataError::invalid("v/7.npy", "expected [T, F], got [3]"));
        let err = b.batch_items::<B>(vec![clips(2, 4, 0.0), bad], &dev).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("v/7.npy: expected [T, F], got [3]")
        );
        assert!(b.batch_items::<B>(vec![], &dev).is_err());
    }

    fn pose(frames: usize, points: usize, base: f32) -> Result<NormalizedPose> {
        Ok(NormalizedPose {
            frames,
            points,
            dims: 2,
            values: (0..frames * points * 2).map(|i| base + i as f32).collect(),
            mask: (0..frames * points).map(|i| i % 2 == 0).collect(),
        })
    }

    #[test]
    fn poses_are_padded_with_point_and_frame_masks() {
        let batch = PoseBatcher::default()
            .batch_items::<B>(
                vec![pose(1, 2, 100.0), pose(2, 2, 0.0)],
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.values.dims(), [2, 2, 2, 2]);
        assert_eq!(
            floats(batch.values),
            vec![
                100.0, 101.0, 102.0, 103.0, 0.0, 0.0, 0.0, 0.0, // item 0: frame, padding
                0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, // item 1: two frames
            ]
        );
        assert_eq!(
            bools(batch.point_mask),
            vec![true, false, false, false, true, false, true, false]
        );
        assert_eq!(bools(batch.frame_mask), vec![true, false, true, true]);
        assert_eq!(batch.source_frames, vec![1, 2]);
    }

    #[test]
    fn long_poses_are_sampled_and_mismatched_points_rejected() {
        let dev = Default::default();
        let batch = PoseBatcher {
            max_frames: Some(2),
        }
        .batch_items::<B>(vec![pose(5, 1, 0.0)], &dev)
        .unwrap_or_else(|e| panic!("{e}"));
        // linspace(0, 4, 2) = frames 0 and 4: values 0, 1 and 8, 9.
        assert_eq!(floats(batch.values), vec![0.0, 1.0, 8.0, 9.0]);
        let err = PoseBatcher::default()
            .batch_items::<B>(vec![pose(1, 2, 0.0), pose(1, 3, 0.0)], &dev)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("batch item 1: expected points 2 like item 0, got 3")
        );
    }

    fn frames(n: usize, h: usize, v: f32) -> Result<Frames> {
        Ok(Frames {
            frames: n,
            height: h,
            width: 1,
            values: vec![v; n * 3 * h],
            source: (0..n).collect(),
        })
    }

    #[test]
    fn frames_are_padded_and_sizes_checked() {
        let dev = Default::default();
        let batch = FrameBatcher
            .batch_items::<B>(vec![frames(2, 1, 1.0), frames(1, 1, 2.0)], &dev)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.frames.dims(), [2, 2, 3, 1, 1]);
        let mut want = vec![1.0; 6];
        want.extend([2.0, 2.0, 2.0, 0.0, 0.0, 0.0]);
        assert_eq!(floats(batch.frames), want);
        assert_eq!(bools(batch.mask), vec![true, true, true, false]);
        let err = FrameBatcher
            .batch_items::<B>(vec![frames(1, 1, 0.0), frames(1, 2, 0.0)], &dev)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "batch item 1: expected frame size (height, width) (1, 1) like item 0, got (2, 1)"
            )
        );
    }

    fn sample(name: &str, words: &[&str]) -> Sample {
        Sample {
            name: name.into(),
            speaker: "Signer01".into(),
            features: Arc::new(crate::pose::PoseFeatures {
                frames: 3,
                dim: 1,
                values: vec![1.0, 2.0, 3.0],
                layout: crate::pose::StepLayout::Flat,
            }),
            words: words.iter().map(|w| w.to_string()).collect(),
            text_id: 0,
        }
    }

    #[test]
    fn pose_text_batches_are_reproducible_per_seed() {
        let words: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let vocab = crate::vocab::Vocabulary::build([words.as_slice()], 1);
        let text = Arc::new(TextTokenizer::Words(vocab.clone()));
        let items: Vec<Sample> = (0..8)
            .map(|i| sample(&format!("s{i}"), &["a", "b", "c", "d"]))
            .collect();
        let cfg = BatcherConfig::new()
            .with_max_frames(2)
            .with_text_swap(Some(crate::augment::RandomSwap::default()));
        let batcher = |seed| PoseTextBatcher {
            config: cfg.clone(),
            text: text.clone(),
            seed,
        };
        let dev = Default::default();
        let run = |seed| {
            let b = batcher(seed)
                .batch_items::<B>(items.clone(), &dev)
                .unwrap_or_else(|e| panic!("{e}"));
            let ids: Vec<usize> = b
                .tokens
                .into_data()
                .to_vec::<i64>()
                .unwrap_or_default()
                .into_iter()
                .map(|i| i as usize)
                .collect();
            let words: Vec<Vec<usize>> = ids.chunks(4).map(<[usize]>::to_vec).collect();
            (words, floats(b.poses))
        };
        assert_eq!(run(Some(1)), run(Some(1)));
        assert_ne!(run(Some(1)).0, run(Some(2)).0, "the seed drives the swaps");
        // Evaluation: captions untouched and frames at fixed strided positions.
        let (words, poses) = run(None);
        let ids = vocab.encode(&items[0].words);
        assert!(words.iter().all(|w| *w == ids));
        // 3 frames to 2: positions (k + 0.5) · 1.5 = 0.75, 2.25 → frames 0 and 2.
        assert_eq!(&poses[..2], &[1.0, 3.0]);
    }
}

/// Burn's `DataLoaderBuilder` over a lazy file dataset, with several workers.
#[cfg(all(test, feature = "dataloader"))]
mod dataloader_tests {
    use super::*;
    use crate::clips::ClipFeatureFiles;
    use burn::backend::NdArray;
    use burn::data::dataloader::DataLoaderBuilder;

    type B = NdArray<f32>;

    /// Writes `n` one-clip feature files whose single value is the file's number, and a
    /// file that is not an array.
    fn files(dir: &std::path::Path, n: usize) -> Vec<std::path::PathBuf> {
        let mut paths = Vec::new();
        for k in 0..n {
            let path = dir.join(format!("{k}.safetensors"));
            let bytes = (k as f32).to_le_bytes();
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 1], &bytes)
                    .unwrap_or_else(|e| panic!("{e}"));
            safetensors::serialize_to_file([("features", view)], None, &path)
                .unwrap_or_else(|e| panic!("{e}"));
            paths.push(path);
        }
        paths
    }

    /// One epoch's batches as lists of file numbers, sorted (workers finish in any order).
    fn epoch(
        loader: &dyn burn::data::dataloader::DataLoader<B, Result<ClipBatch<B>>>,
    ) -> Vec<Vec<u32>> {
        let mut batches: Vec<Vec<u32>> = loader
            .iter()
            .map(|b| {
                let b = b.unwrap_or_else(|e| panic!("{e}"));
                let v: Vec<f32> = b.features.into_data().to_vec().unwrap_or_default();
                v.into_iter().map(|x| x as u32).collect()
            })
            .collect();
        batches.sort();
        batches
    }

    #[test]
    fn seeded_shuffle_through_burns_data_loader() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dataset = ClipFeatureFiles {
            paths: files(dir.path(), 9),
            dim: Some(1),
        };
        let build = |seed| {
            DataLoaderBuilder::<B, _, _>::new(ClipBatcher { max_clips: 1 })
                .batch_size(3)
                .shuffle(seed)
                .num_workers(2)
                .build(dataset.clone())
        };
        let (a, b, c) = (build(7), build(7), build(8));
        let first = epoch(a.as_ref());
        assert_eq!(first.len(), 3);
        let mut all: Vec<u32> = first.concat();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..9).collect::<Vec<u32>>(),
            "every file once per epoch"
        );
        assert_eq!(first, epoch(b.as_ref()), "same seed, same batches");
        assert_ne!(first, epoch(c.as_ref()), "another seed, other batches");
    }

    #[test]
    fn a_bad_file_fails_its_batch_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut paths = files(dir.path(), 4);
        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, b"not safetensors").unwrap_or_else(|e| panic!("{e}"));
        paths.push(bad);
        let loader = DataLoaderBuilder::<B, _, _>::new(ClipBatcher { max_clips: 1 })
            .batch_size(1)
            .build(ClipFeatureFiles {
                paths,
                dim: Some(1),
            });
        let results: Vec<_> = loader.iter().collect();
        assert_eq!(results.len(), 5);
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
        let err = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("bad.safetensors")),
            "{err:?}"
        );
    }
}
