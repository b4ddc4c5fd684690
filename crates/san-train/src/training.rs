//! The two-stage SAN protocol (`DESIGN.md` §3.6): stage 1 with the coarse loss, the SAN
//! table from the selected stage-1 model, stage 2 with `L_coarse + λ·L_fine`. Models are
//! selected on dev; test is evaluated once per stage, with the selected model.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, ElementConversion, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_core::mining::{
    ConfusabilityTable, Embeddings, FineGrainedBenchmark, InstanceMinerConfig, MiningSpace,
    NeighbourBatches, ReliablePairs, mine_instances, substitute,
};
use san_core::similarity::{ClclConfig, clcl_candidates, clcl_gallery};
use san_data::batch::pad_ids;
use san_data::sample::Sample;
use san_models::feature_encoder::FeatureEncoderConfig;
use san_models::frame_encoder::FrameEncoderConfig;
use san_models::keypoint_encoder::KeypointEncoderConfig;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    RetrievalModel, RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig,
};
use san_models::text_encoder::WordEncoderConfig;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointState, Stage1Summary};
use crate::config::{EncoderKind, InputKind, Miner, SelectionMetric, Stage2Init, TrainConfig};
use crate::corpus::Corpus;
use crate::error::{Result, TrainError};
use crate::eval::{clip_tokens, embed_split, encode_split, evaluate, frame_hw};
use crate::progress::EpochProgress;
use crate::report::{BenchmarkReport, RunReport, StageReport, TableReport};
use crate::schedule::{OptimizerKind, clip_grad_norm, learning_rate};

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

/// The model a config builds for a corpus: the sign encoder of `config.encoder` over the
/// corpus's input width, and the word encoder over its vocabulary, both at `config.dim`.
pub fn model_config(config: &TrainConfig, corpus: &Corpus) -> Result<RetrievalModelConfig> {
    model_config_for(config, corpus.input_dim(), corpus.vocab.len())
}

/// The model a config builds for clips of `input_dim` values per step and a vocabulary of
/// `vocab_size` words (padding and unknown included); see [`model_config`].
pub fn model_config_for(
    config: &TrainConfig,
    input_dim: usize,
    vocab_size: usize,
) -> Result<RetrievalModelConfig> {
    let kind = match (config.encoder, config.input) {
        (EncoderKind::Auto, InputKind::Pose) => EncoderKind::Pose,
        (EncoderKind::Auto, InputKind::Features) => EncoderKind::Features,
        (EncoderKind::Auto, InputKind::Frames) => EncoderKind::Frames,
        (kind, _) => kind,
    };
    let bad = |what: &str| {
        Err(TrainError::Config(format!(
            "encoder {kind:?} cannot read input {:?}: {what}",
            config.input
        )))
    };
    let sign = match kind {
        EncoderKind::Pose | EncoderKind::Auto => SignEncoderConfig::Pose(
            PoseEncoderConfig::new(input_dim)
                .with_hidden(config.hidden)
                .with_dim(config.dim),
        ),
        EncoderKind::Keypoints => {
            if config.input != InputKind::Pose {
                return bad("it needs pose input");
            }
            SignEncoderConfig::Keypoints(
                KeypointEncoderConfig::new()
                    .with_channels(2)
                    .with_hidden(config.hidden)
                    .with_dim(config.dim),
            )
        }
        EncoderKind::Features => SignEncoderConfig::Features(
            FeatureEncoderConfig::new(input_dim)
                .with_hidden(config.hidden)
                .with_dim(config.dim),
        ),
        EncoderKind::Frames => {
            if config.input != InputKind::Frames {
                return bad("it needs frame input");
            }
            SignEncoderConfig::Frames(
                FrameEncoderConfig::new()
                    .with_cnn(config.cnn.clone())
                    .with_hidden(config.hidden)
                    .with_dim(config.dim),
            )
        }
    };
    let model = RetrievalModelConfig::new(
        sign,
        TextEncoderConfig::Word(WordEncoderConfig::new(vocab_size).with_dim(config.dim)),
    );
    model.dim()?;
    Ok(model)
}

/// A model ready to train, built from the config and the corpus.
pub fn init_model<B: Backend>(
    config: &TrainConfig,
    corpus: &Corpus,
    device: &B::Device,
) -> Result<RetrievalModel<B>> {
    Ok(model_config(config, corpus)?.init(device)?)
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

/// The CLCL settings of evaluation (τ_tok, chunk) from a training config.
pub fn clcl_config(config: &TrainConfig) -> ClclConfig {
    clcl(config)
}

pub(crate) fn clcl(config: &TrainConfig) -> ClclConfig {
    ClclConfig::new()
        .with_tau_tok(config.tau_tok)
        .with_chunk(config.eval_chunk)
}

/// The fine-grained benchmark of a split: signsim's ground-truth distractors when the
/// corpus has them, otherwise single-word substitutions from `table` (the stage-1 model's).
/// T2V distractor videos come from the ground-truth pairs, or from `table`.
pub fn fine_grained_benchmark(
    corpus: &Corpus,
    split: &str,
    samples: &[Sample],
    table: Option<&ConfusabilityTable>,
    config: &TrainConfig,
) -> Option<FineGrainedBenchmark> {
    let queries: Vec<(String, Vec<String>)> = samples
        .iter()
        .map(|s| (s.name.clone(), s.words.clone()))
        .collect();
    if let (Some(meta), Some(truth)) = (&corpus.signsim, corpus.distractors(split)) {
        let pairs = ConfusabilityTable::from_pairs(&meta.confusable_pairs, 1.0);
        return Some(FineGrainedBenchmark::from_ground_truth(
            &queries,
            truth,
            &pairs,
            config.fine_grained_distractors,
            "signsim ground truth",
        ));
    }
    Some(FineGrainedBenchmark::build(
        &queries,
        table?,
        config.fine_grained_distractors,
        config.seed ^ 0xF6,
        "stage-1 SAN table",
    ))
}

/// Builds the SAN table from a model over the training split.
pub fn build_table<B: Backend>(
    model: &RetrievalModel<B>,
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
) -> Result<(ConfusabilityTable, ReliablePairs)> {
    let pairs = reliable_pairs(model, corpus, config, device)?;
    Ok((sign_aware_table(&pairs, corpus, config), pairs))
}

/// The reliable sign–word pairs (α) of the training split under `model`.
pub fn reliable_pairs<B: Backend>(
    model: &RetrievalModel<B>,
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
) -> Result<ReliablePairs> {
    let mut pairs = ReliablePairs::new(16);
    for chunk in corpus.train.chunks(config.batch_size.max(1)) {
        let (sign, text) = encode_split(
            model,
            chunk,
            &corpus.vocab,
            &config.batcher,
            config.batch_size,
            frame_hw(&config.frames),
            device,
        )?;
        let ids: Vec<Vec<Option<usize>>> = chunk
            .iter()
            .map(|s| {
                let mut v = corpus.mining_ids(&s.words);
                v.truncate(config.batcher.max_words);
                v
            })
            .collect();
        pairs.add_batch(
            sign.tokens,
            sign.mask,
            text.tokens,
            &ids,
            config.tau_tok,
            config.table.alpha,
        );
    }
    Ok(pairs)
}

/// The SAN table from reliable pairs with `config.table` (β, aggregation, filters); the
/// synonym filter scores words with the corpus's `wordvecs.vec` (FastText text format)
/// when it has one.
pub fn sign_aware_table(
    pairs: &ReliablePairs,
    corpus: &Corpus,
    config: &TrainConfig,
) -> ConfusabilityTable {
    let vectors = san_data::wordvec::read_word_vectors(&corpus.root.join("wordvecs.vec")).ok();
    let sim = |a: &str, b: &str| -> Option<f32> {
        let v = vectors.as_ref()?;
        Some(san_core::mining::cosine(v.get(a)?, v.get(b)?))
    };
    ConfusabilityTable::sign_aware(pairs, corpus.vocab.words(), &config.table, Some(&sim))
}

/// Word ids of `[own caption, hard captions…]` for each item of a batch; what the table
/// cannot fill (all of it for items with no table word) comes from other captions of the
/// batch.
fn hard_captions(
    items: &[&Sample],
    table: &ConfusabilityTable,
    corpus: &Corpus,
    config: &TrainConfig,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let k = config.n_hard;
    let mut out = Vec::with_capacity(items.len() * (k + 1));
    for (i, s) in items.iter().enumerate() {
        let words: Vec<String> = s
            .words
            .iter()
            .take(config.batcher.max_words)
            .cloned()
            .collect();
        out.push(corpus.vocab.encode(&words));
        let mut hard = substitute(&words, table, config.n_swap, k, rng);
        // Fallback (DESIGN §3.3 step 4): other captions of the batch fill what the table
        // cannot (all of it when no word of the caption is in the table).
        let others: Vec<usize> = (0..items.len())
            .filter(|&j| j != i && items[j].text_id != s.text_id)
            .collect();
        while hard.len() < k {
            let j = if others.is_empty() {
                i
            } else {
                others[rng.random_range(0..others.len())]
            };
            hard.push(
                items[j]
                    .words
                    .iter()
                    .take(config.batcher.max_words)
                    .cloned()
                    .collect(),
            );
        }
        out.extend(hard.iter().map(|h| corpus.vocab.encode(h)));
    }
    out
}

/// Stage 2's hard negatives, built from a model (or, for the semantic baseline, from word
/// vectors) at the start of stage 2 and again at each refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Negatives {
    /// No hard negatives: the coarse loss only.
    None,
    /// Captions with words swapped through this table.
    Captions(ConfusabilityTable),
    /// Each training clip's mined neighbours (indices into the training split): they share
    /// its batch, and their captions are its hard captions.
    Neighbours(Vec<Vec<usize>>),
}

impl Negatives {
    /// The table, for `Captions`.
    pub fn table(&self) -> Option<&ConfusabilityTable> {
        match self {
            Negatives::Captions(t) => Some(t),
            _ => None,
        }
    }
}

/// Builds `config.miner`'s negatives from `model` (the SAN tables reuse `pairs` when given).
pub fn build_negatives<B: Backend>(
    model: &RetrievalModel<B>,
    corpus: &Corpus,
    config: &TrainConfig,
    pairs: Option<&ReliablePairs>,
    device: &B::Device,
) -> Result<Negatives> {
    let san = |config: &TrainConfig| -> Result<ConfusabilityTable> {
        Ok(match pairs {
            Some(p) => sign_aware_table(p, corpus, config),
            None => build_table(model, corpus, config, device)?.0,
        })
    };
    let vectors = corpus.root.join("wordvecs.vec");
    Ok(match config.miner {
        Miner::None => Negatives::None,
        Miner::San => Negatives::Captions(san(config)?),
        Miner::SanSynonymFilter => {
            if !vectors.is_file() {
                return Err(TrainError::Config(format!(
                    "miner SanSynonymFilter needs word vectors in the FastText text format at {}",
                    vectors.display()
                )));
            }
            let cfg = config
                .clone()
                .with_table(config.table.clone().with_tau_syn(Some(config.tau_syn)));
            Negatives::Captions(san(&cfg)?)
        }
        Miner::Semantic => Negatives::Captions(
            crate::experiment::semantic_table(corpus, config).ok_or_else(|| {
                TrainError::Config(format!(
                    "miner Semantic needs word vectors in the FastText text format at {}",
                    vectors.display()
                ))
            })?,
        ),
        Miner::Instance => {
            let (video, text, dim) = embed_split(
                model,
                &corpus.train,
                &corpus.vocab,
                &config.batcher,
                config.batch_size,
                frame_hw(&config.frames),
                device,
            )?;
            let ids: Vec<usize> = corpus.train.iter().map(|s| s.text_id).collect();
            let mined = mine_instances(
                Embeddings {
                    video: &video,
                    text: &text,
                    n: corpus.train.len(),
                    dim,
                },
                &ids,
                &InstanceMinerConfig {
                    space: MiningSpace::SignAware,
                    k: config.instance_k,
                    tau_sem: Some(config.instance_tau_sem),
                    seed: config.seed,
                    ..InstanceMinerConfig::default()
                },
            );
            Negatives::Neighbours(mined.indices)
        }
    })
}

/// Word ids of `[own caption, hard captions…]` for each item, the hard captions being the
/// captions of the item's mined neighbours; the batch fills what they cannot.
fn neighbour_captions(
    idx: &[usize],
    neighbours: &[Vec<usize>],
    corpus: &Corpus,
    config: &TrainConfig,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let k = config.n_hard;
    let words = |j: usize| -> Vec<String> {
        corpus.train[j]
            .words
            .iter()
            .take(config.batcher.max_words)
            .cloned()
            .collect()
    };
    let mut out = Vec::with_capacity(idx.len() * (k + 1));
    for (pos, &i) in idx.iter().enumerate() {
        out.push(corpus.vocab.encode(&words(i)));
        let mut hard: Vec<usize> = neighbours
            .get(i)
            .map(|n| {
                n.iter()
                    .copied()
                    .filter(|&j| j < corpus.train.len())
                    .take(k)
                    .collect()
            })
            .unwrap_or_default();
        let others: Vec<usize> = idx
            .iter()
            .enumerate()
            .filter(|&(p, &j)| p != pos && corpus.train[j].text_id != corpus.train[i].text_id)
            .map(|(_, &j)| j)
            .collect();
        while hard.len() < k {
            hard.push(if others.is_empty() {
                i
            } else {
                others[rng.random_range(0..others.len())]
            });
        }
        out.extend(hard.iter().map(|&j| corpus.vocab.encode(&words(j))));
    }
    out
}

/// The batches of one epoch: a seeded shuffle cut into `batch_size` chunks, or, with mined
/// neighbours, anchors grouped with their neighbours. Batches of one item are dropped.
fn epoch_batches(
    n: usize,
    config: &TrainConfig,
    negatives: &Negatives,
    seed: u64,
) -> Vec<Vec<usize>> {
    let size = config.batch_size.max(2);
    let batches = match negatives {
        Negatives::Neighbours(neighbours) => NeighbourBatches {
            batch_size: size,
            seed,
        }
        .epoch(neighbours, 0),
        _ => {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut StdRng::seed_from_u64(seed));
            order.chunks(size).map(<[usize]>::to_vec).collect()
        }
    };
    batches.into_iter().filter(|b| b.len() >= 2).collect()
}

/// Where an epoch sits in its stage's schedule.
struct StepCounter<'a> {
    step: &'a mut usize,
    total: usize,
}

/// One epoch; returns the mean loss and the last learning rate.
#[allow(clippy::too_many_arguments)]
fn train_epoch<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    mut model: RetrievalModel<B>,
    optim: &mut O,
    corpus: &Corpus,
    config: &TrainConfig,
    negatives: &Negatives,
    seed: u64,
    device: &B::Device,
    steps: StepCounter<'_>,
    progress: &EpochProgress,
) -> Result<(RetrievalModel<B>, f64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let batches = epoch_batches(corpus.train.len(), config, negatives, seed);
    let hw = frame_hw(&config.frames);
    let (mut total, mut count, mut lr) = (0.0, 0usize, 0.0);
    progress.start(batches.len());
    for idx in &batches {
        let items: Vec<&Sample> = idx.iter().map(|&i| &corpus.train[i]).collect();
        let batch =
            config
                .batcher
                .batch::<B, StdRng>(&items, &corpus.vocab, Some(&mut rng), device);
        let captions = match negatives {
            Negatives::None => None,
            Negatives::Captions(table) => {
                Some(hard_captions(&items, table, corpus, config, &mut rng))
            }
            Negatives::Neighbours(n) => Some(neighbour_captions(idx, n, corpus, config, &mut rng)),
        };
        let candidates = captions.map(|captions| {
            let n = items.len();
            let k1 = config.n_hard + 1;
            let (ids, mask) = pad_ids(&captions);
            let l = ids.len() / (n * k1);
            (
                Tensor::<B, 3, Int>::from_data(TensorData::new(ids, [n, k1, l]), device),
                Tensor::<B, 3, Bool>::from_data(TensorData::new(mask, [n, k1, l]), device),
            )
        });
        let step = StepBatch {
            clips: batch.poses,
            clip_mask: batch.pose_mask,
            tokens: batch.tokens,
            token_mask: batch.token_mask,
            text_ids: batch.text_ids,
            candidates,
        };
        lr = learning_rate(
            config.schedule,
            config.learning_rate,
            config.min_lr_ratio,
            config.warmup_steps,
            *steps.step,
            steps.total,
        );
        let (next, value) =
            train_step(model, optim, step, config, hw, lr).map_err(|e| match e {
                TrainError::Config(msg) => {
                    TrainError::Config(format!("{msg} (step {} of the stage)", *steps.step + 1))
                }
                e => e,
            })?;
        model = next;
        total += value;
        count += 1;
        *steps.step += 1;
        progress.step(value);
    }
    progress.finish();
    Ok((model, total / count.max(1) as f64, lr))
}

/// One training batch on the device, as [`train_step`] takes it.
#[derive(Debug, Clone)]
pub struct StepBatch<B: Backend> {
    /// The clips, `[N, T, F]` (pose features, clip features or flattened frames).
    pub clips: Tensor<B, 3>,
    /// `[N, T]`, true for real clips.
    pub clip_mask: Tensor<B, 2, Bool>,
    /// Word ids of the captions, `[N, L]`.
    pub tokens: Tensor<B, 2, Int>,
    /// `[N, L]`, true for real words.
    pub token_mask: Tensor<B, 2, Bool>,
    /// Id of each caption's normalised text (equal ids are duplicates), length N.
    pub text_ids: Vec<usize>,
    /// Stage 2: each item's own caption followed by its K hard captions, as word ids
    /// `[N, 1+K, L']` and mask `[N, 1+K, L']`; `None` trains the coarse loss only.
    pub candidates: Option<(Tensor<B, 3, Int>, Tensor<B, 3, Bool>)>,
}

/// The training loss of one batch (`DESIGN.md` §3.2): coarse InfoNCE over the batch's CLCL
/// scores, plus `λ_fine ·` the SAN fine loss over the candidates when the batch has them.
/// `frame_hw` is the frame size of frame input ([`frame_hw`]).
pub fn step_loss<B: Backend>(
    model: &RetrievalModel<B>,
    batch: StepBatch<B>,
    config: &TrainConfig,
    frame_hw: (usize, usize),
) -> Result<Tensor<B, 1>> {
    // The default chunk (16 videos) keeps each temporary of the batch similarity small enough
    // for the allocator to reuse, which is faster than one batch-sized chunk on the CPU.
    let clcl_cfg = ClclConfig::new().with_tau_tok(config.tau_tok);
    let sign = clip_tokens(model, batch.clips, batch.clip_mask, frame_hw)?;
    let text = model.encode_text_tokens(batch.tokens, batch.token_mask);
    let scores = clcl_gallery(
        sign.tokens.clone(),
        sign.mask.clone(),
        text.tokens,
        text.mask,
        &clcl_cfg,
    );
    let mut loss = CoarseLossConfig::new().forward(&scores, model.log_scale(), &batch.text_ids);
    if let Some((ids, mask)) = batch.candidates {
        let [n, k1, l] = ids.dims();
        let caps = model.encode_text_tokens(ids.reshape([n * k1, l]), mask.reshape([n * k1, l]));
        let d = caps.tokens.dims()[2];
        let cand = clcl_candidates(
            sign.tokens,
            sign.mask,
            caps.tokens.reshape([n, k1, l, d]),
            caps.mask.reshape([n, k1, l]),
            config.tau_tok,
        );
        loss = loss + san_fine_loss(cand.v2t, model.log_scale()).mul_scalar(config.lambda_fine);
    }
    Ok(loss)
}

/// The trainer's AdamW (`config.weight_decay`; Burn's defaults β = (0.9, 0.999), ε = 1e-5).
pub fn adamw<B: AutodiffBackend>(
    config: &TrainConfig,
) -> OptimizerAdaptor<AdamW, RetrievalModel<B>, B> {
    AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .init::<B, RetrievalModel<B>>()
}

/// One optimiser step: [`step_loss`], its backward pass, gradient clipping
/// (`config.grad_clip_norm`) and `optim`'s update at learning rate `lr`. Returns the updated
/// model and the batch's loss; a non-finite loss is an error and leaves no update.
pub fn train_step<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    model: RetrievalModel<B>,
    optim: &mut O,
    batch: StepBatch<B>,
    config: &TrainConfig,
    frame_hw: (usize, usize),
    lr: f64,
) -> Result<(RetrievalModel<B>, f64)> {
    let loss = step_loss(&model, batch, config, frame_hw)?;
    let value = loss.clone().into_scalar().elem::<f64>();
    if !value.is_finite() {
        return Err(TrainError::Config(format!(
            "the loss became {value}; lower learning_rate or set grad_clip_norm"
        )));
    }
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    if let Some(max_norm) = config.grad_clip_norm {
        clip_grad_norm(&model, &mut grads, max_norm);
    }
    Ok((optim.step(lr, model, grads), value))
}

/// Optimiser steps in one epoch of `n` training pairs: full batches, and a last partial
/// batch unless it holds a single pair (which is skipped). With mined neighbours the
/// batches differ, but their count is the same.
pub fn steps_per_epoch(n: usize, batch_size: usize) -> usize {
    let b = batch_size.max(2);
    n / b + usize::from(n % b >= 2)
}

/// Dev selection score; see [`SelectionMetric`].
fn selection_score(r: &RetrievalReport, metric: SelectionMetric) -> f64 {
    match (&r.fine_grained, metric) {
        (Some(fg), SelectionMetric::CoarseAndFineGrainedR1) => (r.t2v.r1 + r.v2t.r1 + fg.r1) / 3.0,
        _ => (r.t2v.r1 + r.v2t.r1) / 2.0,
    }
}

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

/// What a stage needs besides its model.
pub struct StageRun<'a, 'h> {
    /// 1 or 2: which stage's epoch seeds to use.
    pub stage: u8,
    /// Epochs of the stage.
    pub epochs: usize,
    /// The corpus.
    pub corpus: &'a Corpus,
    /// The run's settings.
    pub config: &'a TrainConfig,
    /// Dev's fine-grained benchmark.
    pub dev_fg: Option<&'a FineGrainedBenchmark>,
    /// Rebuilds the negatives at each refresh.
    pub refresh: bool,
    /// Called after each epoch.
    pub hook: EpochHook<'h>,
    /// Where checkpoints go, and the state to continue from.
    pub checkpoint: Option<&'a Checkpoint>,
    /// Progress bars.
    pub progress: EpochProgress,
}

/// A stage's outcome: the selected model, its epoch and dev metrics, and the negatives in
/// use at the end.
pub type StageOutcome<B> = (RetrievalModel<B>, usize, RetrievalReport, Negatives);

/// Trains one stage in memory (no checkpoints), selecting the epoch with the best dev
/// score. `stage` picks the epoch seeds (1 or 2); `negatives` add the fine loss.
#[allow(clippy::too_many_arguments)]
pub fn train_stage<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    stage: u8,
    epochs: usize,
    corpus: &Corpus,
    config: &TrainConfig,
    negatives: Negatives,
    dev_fg: Option<&FineGrainedBenchmark>,
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<StageOutcome<B>> {
    let mut state = CheckpointState::new(stage);
    state.negatives = negatives;
    let run = StageRun {
        stage,
        epochs,
        corpus,
        config,
        dev_fg,
        refresh: false,
        hook,
        checkpoint: None,
        progress: EpochProgress::hidden(),
    };
    run_stage(model, None, &mut state, run, device)
}

/// Runs the remaining epochs of a stage from `state`, checkpointing after each.
fn run_stage<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    best_model: Option<RetrievalModel<B>>,
    state: &mut CheckpointState,
    run: StageRun<'_, '_>,
    device: &B::Device,
) -> Result<StageOutcome<B>> {
    let config = run.config;
    match config.optimizer {
        OptimizerKind::AdamW => {
            let optim = adamw(config);
            run_stage_with(optim, model, best_model, state, run, device)
        }
        OptimizerKind::Sgd => {
            let optim = SgdConfig::new()
                .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)))
                .with_momentum(Some(MomentumConfig::new().with_momentum(config.momentum)))
                .init::<B, RetrievalModel<B>>();
            run_stage_with(optim, model, best_model, state, run, device)
        }
    }
}

/// [`run_stage`] with a given optimiser.
fn run_stage_with<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    mut optim: O,
    mut model: RetrievalModel<B>,
    mut best_model: Option<RetrievalModel<B>>,
    state: &mut CheckpointState,
    run: StageRun<'_, '_>,
    device: &B::Device,
) -> Result<StageOutcome<B>> {
    let StageRun {
        stage,
        epochs,
        corpus,
        config,
        dev_fg,
        refresh,
        hook,
        checkpoint,
        progress,
    } = run;
    let loss_kind = if matches!(state.negatives, Negatives::None) {
        Stage::Coarse
    } else {
        Stage::San
    };
    if state.epochs_done > 0
        && let Some(ckpt) = checkpoint
    {
        optim = ckpt.load_optimizer(optim, device)?;
    }
    let epochs = epochs.max(1);
    let total_steps = steps_per_epoch(corpus.train.len(), config.batch_size) * epochs;
    let inner = device.clone();
    for epoch in state.epochs_done + 1..=epochs {
        let t = Instant::now();
        let seed = epoch_seed(config.seed, stage, epoch);
        B::seed(device, seed);
        if refresh
            && epoch > 1
            && config
                .refresh_every
                .is_some_and(|r| r > 0 && (epoch - 1) % r == 0)
            && config.miner != Miner::Semantic
        {
            state.negatives = build_negatives(&model.valid(), corpus, config, None, &inner)?;
        }
        progress.set_epoch(stage, epoch, epochs);
        let (m, loss, lr) = train_epoch(
            model,
            &mut optim,
            corpus,
            config,
            &state.negatives,
            seed,
            device,
            StepCounter {
                step: &mut state.step,
                total: total_steps,
            },
            &progress,
        )?;
        model = m;
        let report = evaluate(
            &model.valid(),
            &corpus.dev,
            &corpus.vocab,
            &config.batcher,
            &clcl(config),
            frame_hw(&config.frames),
            dev_fg,
            DuplicatePolicy::Strict,
            &inner,
        )?;
        hook(loss_kind, epoch, loss, &report);
        let score = selection_score(&report, config.selection);
        if state.best.as_ref().is_none_or(|b| score > b.score) {
            state.best = Some(BestEpoch {
                score,
                epoch,
                dev: report.clone(),
            });
            best_model = Some(model.clone());
        }
        let seconds = t.elapsed().as_secs_f64();
        state.stage_seconds += seconds;
        state.epochs_done = epoch;
        state.history.push(EpochRecord {
            stage,
            epoch,
            loss,
            learning_rate: lr,
            seconds,
            selection: score,
            dev: report,
        });
        if let Some(ckpt) = checkpoint {
            ckpt.save(state, &model, best_model.as_ref(), |stem| {
                crate::checkpoint::save_optimizer(&optim, stem)
            })?;
        }
    }
    match (state.best.clone(), best_model) {
        (Some(best), Some(m)) => Ok((m, best.epoch, best.dev, state.negatives.clone())),
        _ => Err(TrainError::Config(
            "the checkpoint names a best epoch but holds no best model".into(),
        )),
    }
}

/// What a run produces: the report, and the mining artefacts for inspection.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Metrics of both stages and the table's statistics.
    pub report: RunReport,
    /// The SAN table built from the selected stage-1 model.
    pub table: ConfusabilityTable,
    /// The test split's fine-grained benchmark.
    pub test_benchmark: Option<FineGrainedBenchmark>,
    /// Every epoch of both stages.
    pub history: Vec<EpochRecord>,
}

/// How a run keeps its work.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output folder: `checkpoint/` after every epoch, `metrics.jsonl`, and at the end the
    /// selected model in `model/`. `None`: nothing is written.
    pub out: Option<PathBuf>,
    /// Continue from `out/checkpoint` when there is one (its config must equal this run's).
    pub resume: bool,
    /// Progress bars on stderr (drawn only when it is a terminal).
    pub progress: bool,
}

/// Runs the whole protocol on a loaded corpus, in memory.
///
/// Deterministic for a seed on ndarray: every epoch reseeds the backend (dropout) and its
/// own generator (order, frame sampling, substitutions) from [`epoch_seed`].
pub fn run<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<RunOutput> {
    run_with::<B>(corpus, config, device, &RunOptions::default(), hook)
}

/// Runs the whole protocol, checkpointing into `options.out` after every epoch and
/// resuming from it when asked. A resumed run ends with the metrics of an uninterrupted
/// one (on ndarray) and repeats at most the epoch that was interrupted.
pub fn run_with<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
    options: &RunOptions,
    hook: EpochHook<'_>,
) -> Result<RunOutput> {
    let model_cfg = model_config(config, corpus)?;
    let checkpoint = options
        .out
        .as_deref()
        .map(|out| Checkpoint::new(out, config))
        .transpose()?;
    let progress = || {
        if options.progress {
            EpochProgress::stderr()
        } else {
            EpochProgress::hidden()
        }
    };
    let inner = device.clone();
    let clcl_cfg = clcl(config);
    let hw = frame_hw(&config.frames);
    let eval_split = |model: &RetrievalModel<B::InnerBackend>,
                      samples: &[Sample],
                      fg: Option<&FineGrainedBenchmark>| {
        evaluate(
            model,
            samples,
            &corpus.vocab,
            &config.batcher,
            &clcl_cfg,
            hw,
            fg,
            DuplicatePolicy::Strict,
            &inner,
        )
    };
    let dev_truth = fine_grained_benchmark(corpus, "dev", &corpus.dev, None, config);

    B::seed(device, config.seed);
    let fresh = model_cfg.init::<B>(device)?;
    let resumed = match (&checkpoint, options.resume) {
        (Some(c), true) => c.load(fresh.clone(), device)?,
        _ => None,
    };
    let (mut state, model, best_model) = match resumed {
        Some(r) => r,
        None => (CheckpointState::new(1), fresh, None),
    };

    // The fine-grained benchmarks of dev and test: the ground truth where the corpus has
    // it, else built from stage 1's SAN table.
    let benchmarks = |table: &ConfusabilityTable| {
        (
            dev_truth.clone().or_else(|| {
                fine_grained_benchmark(corpus, "dev", &corpus.dev, Some(table), config)
            }),
            fine_grained_benchmark(corpus, "test", &corpus.test, Some(table), config),
        )
    };

    // Stage 1, unless the checkpoint is past it.
    let (model, best_model, stage1, (dev_fg, test_fg)) = match state.stage1.clone() {
        Some(done) => {
            let fg = benchmarks(&done.san_table);
            (model, best_model, done, fg)
        }
        None => {
            let (stage1, epoch1, dev1, _) = run_stage(
                model,
                best_model,
                &mut state,
                StageRun {
                    stage: 1,
                    epochs: config.stage1_epochs,
                    corpus,
                    config,
                    dev_fg: dev_truth.as_ref(),
                    refresh: false,
                    hook: &mut *hook,
                    checkpoint: checkpoint.as_ref(),
                    progress: progress(),
                },
                device,
            )?;
            // The SAN table from the selected stage-1 model.
            let t_table = Instant::now();
            let (table, pairs) = build_table(&stage1.valid(), corpus, config, &inner)?;
            let table_report = TableReport::new(&table, &pairs, corpus, config);
            let table_seconds = t_table.elapsed().as_secs_f64();
            let (dev_fg, test_fg) = benchmarks(&table);
            let test1 = eval_split(&stage1.valid(), &corpus.test, test_fg.as_ref())?;
            let dev1 = if dev1.fine_grained.is_none() {
                eval_split(&stage1.valid(), &corpus.dev, dev_fg.as_ref())?
            } else {
                dev1
            };
            let negatives = build_negatives(&stage1.valid(), corpus, config, Some(&pairs), &inner)?;
            let summary = Stage1Summary {
                report: StageReport {
                    best_epoch: epoch1,
                    epochs: config.stage1_epochs,
                    seconds: state.stage_seconds,
                    dev: dev1,
                    test: test1,
                },
                table: table_report,
                table_seconds,
                san_table: table,
            };
            // Stage 2 starts here: a checkpoint with its first model and negatives.
            let start = match config.stage2_init {
                Stage2Init::Continue => stage1,
                Stage2Init::Scratch => {
                    B::seed(device, config.seed);
                    model_cfg.init::<B>(device)?
                }
            };
            let mut next = CheckpointState::new(2);
            next.history = std::mem::take(&mut state.history);
            next.stage1 = Some(summary.clone());
            next.negatives = negatives;
            state = next;
            if let Some(ckpt) = &checkpoint {
                ckpt.save(&state, &start, None, |_| Ok(()))?;
            }
            (start, None, summary, (dev_fg, test_fg))
        }
    };
    finish(
        model,
        best_model,
        state,
        stage1,
        corpus,
        config,
        (dev_fg, test_fg),
        checkpoint.as_ref(),
        &model_cfg,
        options,
        progress(),
        hook,
        device,
    )
}

/// Stage 2 from `state`, the test evaluation, and the run's outputs.
#[allow(clippy::too_many_arguments)]
fn finish<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    best_model: Option<RetrievalModel<B>>,
    mut state: CheckpointState,
    stage1: Stage1Summary,
    corpus: &Corpus,
    config: &TrainConfig,
    (dev_fg, test_fg): (Option<FineGrainedBenchmark>, Option<FineGrainedBenchmark>),
    checkpoint: Option<&Checkpoint>,
    model_cfg: &RetrievalModelConfig,
    options: &RunOptions,
    progress: EpochProgress,
    hook: EpochHook<'_>,
    device: &B::Device,
) -> Result<RunOutput> {
    let inner = device.clone();
    let (stage2, epoch2, dev2, final_negatives) = run_stage(
        model,
        best_model,
        &mut state,
        StageRun {
            stage: 2,
            epochs: config.stage2_epochs,
            corpus,
            config,
            dev_fg: dev_fg.as_ref(),
            refresh: true,
            hook,
            checkpoint,
            progress,
        },
        device,
    )?;
    let test2 = evaluate(
        &stage2.valid(),
        &corpus.test,
        &corpus.vocab,
        &config.batcher,
        &clcl(config),
        frame_hw(&config.frames),
        test_fg.as_ref(),
        DuplicatePolicy::Strict,
        &inner,
    )?;
    let report = RunReport {
        stage1: stage1.report.clone(),
        stage2: StageReport {
            best_epoch: epoch2,
            epochs: config.stage2_epochs,
            seconds: state.stage_seconds,
            dev: dev2,
            test: test2,
        },
        table: stage1.table.clone(),
        table_seconds: stage1.table_seconds,
        final_table_words: final_negatives.table().map_or(0, |t| t.len()),
        fine_grained: test_fg.as_ref().map(BenchmarkReport::new),
    };
    if let Some(out) = &options.out {
        crate::output::save_selected_model(
            &out.join("model"),
            &stage2.valid(),
            model_cfg,
            config,
            corpus,
            &stage1.san_table,
        )?;
    }
    Ok(RunOutput {
        report,
        table: stage1.san_table,
        test_benchmark: test_fg,
        history: state.history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_per_epoch_counts_partial_batches_of_two_or_more() {
        // 100 pairs in 32s: 3 full + 4 left → 4; 97: 3 full + 1 left (skipped) → 3
        assert_eq!(steps_per_epoch(100, 32), 4);
        assert_eq!(steps_per_epoch(97, 32), 3);
        assert_eq!(steps_per_epoch(96, 32), 3);
        assert_eq!(steps_per_epoch(5, 1), 2); // batch size 1 is raised to 2: 2 + 2, last 1 skipped
    }
    use san_core::metrics::RetrievalMetrics;
    use san_data::pose::PoseFeatures;
    use san_data::vocab::Vocabulary;
    use std::sync::Arc;

    fn sample(text: &str, text_id: usize) -> Sample {
        Sample {
            name: text.into(),
            speaker: "S".into(),
            features: Arc::new(PoseFeatures {
                frames: 4,
                dim: 1,
                values: vec![0.0; 4],
            }),
            words: text.split(' ').map(String::from).collect(),
            text_id,
        }
    }

    fn corpus(samples: Vec<Sample>) -> Corpus {
        let vocab = Vocabulary::build(samples.iter().map(|s| s.words.as_slice()), 1);
        Corpus {
            root: "unused".into(),
            dev: samples.clone(),
            test: samples.clone(),
            train: samples,
            vocab,
            stop_words: ["im".to_string()].into_iter().collect(),
            signsim: None,
        }
    }

    #[test]
    fn hard_captions_substitute_table_words_and_fall_back_to_the_batch() {
        let c = corpus(vec![
            sample("im nord regen", 0),
            sample("im sued sonne", 1),
            sample("im west", 2),
        ]);
        let mut table = ConfusabilityTable::default();
        table
            .links
            .insert("regen".into(), vec![("sonne".into(), 0.9)]);
        let config = TrainConfig::new().with_n_hard(2).with_n_swap(2);
        let items: Vec<&Sample> = c.train.iter().collect();
        let mut rng = StdRng::seed_from_u64(1);
        let caps = hard_captions(&items, &table, &c, &config, &mut rng);
        assert_eq!(caps.len(), 3 * 3, "[own, hard, hard] per item");
        let v = &c.vocab;
        assert_eq!(caps[0], v.encode(&c.train[0].words));
        // Item 0 has one table word with one option: one distinct negative swaps
        // regen → sonne, and a batch caption fills the second slot.
        let swapped: Vec<String> = ["im", "nord", "sonne"].map(String::from).to_vec();
        assert_eq!(caps[1], v.encode(&swapped));
        assert!(caps[2] == v.encode(&c.train[1].words) || caps[2] == v.encode(&c.train[2].words));
        // Item 1 has none: its hard captions are other captions of the batch.
        for h in &caps[4..6] {
            assert!(*h == v.encode(&c.train[0].words) || *h == v.encode(&c.train[2].words));
        }
    }

    #[test]
    fn mining_ids_skip_stop_words_and_unknown_words() {
        let c = corpus(vec![sample("im nord regen", 0)]);
        let ids = c.mining_ids(&["im".into(), "nord".into(), "zzz".into()]);
        assert_eq!(ids, vec![None, Some(c.vocab.id("nord")), None]);
    }

    #[test]
    fn selection_uses_fine_grained_when_measured() {
        let m = |r1: usize| RetrievalMetrics::from_ranks(&if r1 == 1 { vec![1] } else { vec![2] });
        let coarse = RetrievalReport {
            t2v: m(1),
            v2t: m(2),
            fine_grained: None,
            fine_grained_t2v: None,
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
}
