//! Evaluation: coarse retrieval in both directions over a split's gallery, and fine-grained
//! V2T and T2V over per-query small galleries (the true caption and its single-word
//! substitutions; the true video and the videos of such substitutions).

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use san_core::host::to_vec_f32;
use san_core::metrics::{DuplicatePolicy, RetrievalReport, coarse_report, score_fine_grained};
use san_core::mining::FineGrainedBenchmark;
use san_core::similarity::{ClclConfig, clcl_gallery};
use san_data::batch::{BatcherConfig, PoseTextBatch, pad_ids};
use san_data::pose::StepLayout;
use san_data::sample::Sample;
use san_data::text_tokens::TextTokenizer;
use san_models::retrieval::{Encoded, ModelError, RetrievalModel, SignEncoder, SignInput};
use san_models::tokens::Tokens;

use crate::error::Result;

/// The sign input a model's encoder reads from a batch of `[B, T, F]` clip matrices whose
/// steps are laid out as `layout` (the batch's own): pose features as they are, keypoints
/// as `[B, T, F/2, 2]`, clip features as they are, image steps as `[B, T, 3, H, W]`.
pub fn sign_input<B: Backend>(
    model: &RetrievalModel<B>,
    clips: Tensor<B, 3>,
    mask: Tensor<B, 2, Bool>,
    layout: StepLayout,
) -> Result<SignInput<B>, ModelError> {
    let [b, t, f] = clips.dims();
    Ok(match &model.sign_encoder {
        SignEncoder::Keypoints(_) => {
            if f % 2 != 0 {
                return Err(ModelError::Input(format!(
                    "keypoint input needs X, Y pairs per point; got {f} values per frame"
                )));
            }
            SignInput::Keypoints(clips.reshape([b, t, f / 2, 2]), None, mask)
        }
        SignEncoder::Features(_) => SignInput::Features(clips, mask),
        SignEncoder::Frames(_) => {
            let StepLayout::Image {
                height: h,
                width: w,
            } = layout
            else {
                return Err(ModelError::Input(
                    "the frame encoder needs frame input (steps that are images)".into(),
                ));
            };
            if f != 3 * h * w {
                return Err(ModelError::Input(format!(
                    "frame input of {h}×{w} needs {} values per frame; got {f}",
                    3 * h * w
                )));
            }
            SignInput::Frames(clips.reshape([b, t, 3, h, w]), mask)
        }
        _ => SignInput::Pose(clips, mask),
    })
}

/// Clip tokens of a batch of `[B, T, F]` clip matrices; see [`sign_input`].
pub fn clip_tokens<B: Backend>(
    model: &RetrievalModel<B>,
    clips: Tensor<B, 3>,
    mask: Tensor<B, 2, Bool>,
    layout: StepLayout,
) -> Result<Tokens<B>, ModelError> {
    if let SignEncoder::Pose(e) = &model.sign_encoder {
        return Ok(e.forward(clips, mask));
    }
    Ok(clip_encoded(model, clips, mask, layout)?.tokens)
}

/// Clip tokens and pooled embedding of a batch of `[B, T, F]` clip matrices.
pub fn clip_encoded<B: Backend>(
    model: &RetrievalModel<B>,
    clips: Tensor<B, 3>,
    mask: Tensor<B, 2, Bool>,
    layout: StepLayout,
) -> Result<Encoded<B>, ModelError> {
    model.encode_sign(sign_input(model, clips, mask, layout)?)
}

/// Runs `f` on a split's batches of `batch_size` samples (in order, without augmentation,
/// captions tokenized by `text`), each padded to `frames` clips, or to its own longest clip
/// when `None`.
#[allow(clippy::too_many_arguments)]
pub fn map_batches<B: Backend, T>(
    samples: &[Sample],
    text: &TextTokenizer,
    batcher: &BatcherConfig,
    batch_size: usize,
    frames: Option<usize>,
    device: &B::Device,
    mut f: impl FnMut(PoseTextBatch<B>) -> Result<T>,
) -> Result<Vec<T>> {
    let refs: Vec<&Sample> = samples.iter().collect();
    refs.chunks(batch_size.max(1))
        .map(|chunk| {
            let pad = frames
                .unwrap_or_else(|| chunk.iter().map(|s| s.features.frames).max().unwrap_or(1));
            f(batcher.batch_padded::<B, StdRng>(chunk, text, None, device, pad)?)
        })
        .collect()
}

/// The longest clip of a split, in time steps.
pub fn max_frames(samples: &[Sample]) -> usize {
    samples.iter().map(|s| s.features.frames).max().unwrap_or(1)
}

/// Encodes a whole split in batches, padded to a common clip and word count.
pub fn encode_split<B: Backend>(
    model: &RetrievalModel<B>,
    samples: &[Sample],
    text: &TextTokenizer,
    batcher: &BatcherConfig,
    batch_size: usize,
    device: &B::Device,
) -> Result<(Tokens<B>, Tokens<B>)> {
    let frames = Some(max_frames(samples));
    let parts = map_batches(samples, text, batcher, batch_size, frames, device, |b| {
        Ok((
            clip_tokens(model, b.poses, b.pose_mask, b.layout)?,
            model.encode_text_tokens(b.tokens, b.token_mask),
        ))
    })?;
    let (signs, texts): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    Ok((concat_tokens(signs), concat_tokens(texts)))
}

/// Pooled, L2-normalised embeddings of a split: `(video, text, dim)`, each row-major
/// `[N, dim]`, row `i` for sample `i`.
pub fn embed_split<B: Backend>(
    model: &RetrievalModel<B>,
    samples: &[Sample],
    text: &TextTokenizer,
    batcher: &BatcherConfig,
    batch_size: usize,
    device: &B::Device,
) -> Result<(Vec<f32>, Vec<f32>, usize)> {
    let parts = map_batches(samples, text, batcher, batch_size, None, device, |b| {
        let v = clip_encoded(model, b.poses, b.pose_mask, b.layout)?.pooled;
        Ok((v, model.encode_text(b.tokens, b.token_mask).pooled))
    })?;
    let dim = parts.first().map_or(0, |(v, _)| v.dims()[1]);
    let (mut video, mut text) = (Vec::new(), Vec::new());
    for (v, t) in parts {
        video.extend(to_vec_f32(v));
        text.extend(to_vec_f32(t));
    }
    Ok((video, text, dim))
}

/// Concatenates token batches along the batch axis, zero-padding the token axis.
pub fn concat_tokens<B: Backend>(parts: Vec<Tokens<B>>) -> Tokens<B> {
    let n_max = parts.iter().map(|t| t.tokens.dims()[1]).max().unwrap_or(0);
    let (mut tokens, mut masks) = (Vec::new(), Vec::new());
    for t in parts {
        let [b, n, d] = t.tokens.dims();
        if n < n_max {
            let device = t.tokens.device();
            tokens.push(Tensor::cat(
                vec![t.tokens, Tensor::zeros([b, n_max - n, d], &device)],
                1,
            ));
            masks.push(Tensor::cat(
                vec![
                    t.mask,
                    Tensor::<B, 2, Int>::zeros([b, n_max - n], &device).bool(),
                ],
                1,
            ));
        } else {
            tokens.push(t.tokens);
            masks.push(t.mask);
        }
    }
    Tokens {
        tokens: Tensor::cat(tokens, 0),
        mask: Tensor::cat(masks, 0),
    }
}

/// Coarse retrieval over the split, plus fine-grained V2T and T2V when a benchmark is given.
///
/// Benchmark queries are matched to samples by name; unknown names are skipped. FG-V2T
/// covers the queries with at least one distractor caption, FG-T2V those with at least
/// one distractor video; a direction without such queries has no metric (`None`). See
/// [`score_fine_grained`].
#[allow(clippy::too_many_arguments)]
pub fn evaluate<B: Backend>(
    model: &RetrievalModel<B>,
    samples: &[Sample],
    text: &TextTokenizer,
    batcher: &BatcherConfig,
    clcl: &ClclConfig,
    benchmark: Option<&FineGrainedBenchmark>,
    policy: DuplicatePolicy,
    device: &B::Device,
) -> Result<RetrievalReport> {
    let (sign, captions) = encode_split(model, samples, text, batcher, clcl.chunk, device)?;
    let n = samples.len();
    let scores = clcl_gallery(
        sign.tokens.clone(),
        sign.mask.clone(),
        captions.tokens.clone(),
        captions.mask.clone(),
        clcl,
    );
    let host = to_vec_f32(scores.score());
    let ids: Vec<usize> = samples.iter().map(|s| s.text_id).collect();
    let mut report = coarse_report(&host, n, &ids, policy);
    let Some(benchmark) = benchmark else {
        return Ok(report);
    };
    let names: Vec<String> = samples.iter().map(|s| s.name.clone()).collect();
    // The benchmark's captions are tokenized up front, so a caption the tokenizer rejects
    // is an error here rather than inside the scoring.
    let mut coded = std::collections::HashMap::new();
    // Captions are whole here (not cut to `max_words`), as the benchmark holds them.
    for item in &benchmark.items {
        for c in std::iter::once(&item.caption).chain(&item.distractors) {
            if !coded.contains_key(c) {
                coded.insert(c.clone(), text.encode_ids(c, usize::MAX)?);
            }
        }
    }
    let scores = score_fine_grained(
        benchmark,
        &names,
        (sign.tokens, sign.mask),
        (captions.tokens, captions.mask),
        |captions| {
            let ids: Vec<Vec<usize>> = captions
                .iter()
                .map(|c| coded.get(c).cloned().unwrap_or_default())
                .collect();
            let k = ids.len();
            let (ids, mask) = pad_ids(&ids);
            let l = ids.len() / k;
            let tokens = model.encode_text_tokens(
                Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [k, l]), device),
                Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [k, l]), device),
            );
            (tokens.tokens, tokens.mask)
        },
        clcl,
    );
    report.fine_grained = scores.v2t;
    report.fine_grained_t2v = scores.t2v;
    report.fine_grained_detail = scores.v2t_detail;
    report.fine_grained_t2v_detail = scores.t2v_detail;
    report.fine_grained_v2t_only = scores.v2t_by_v2t;
    Ok(report)
}
