//! The two-stage SAN protocol (`DESIGN.md` §3.6): stage 1 with the coarse loss, the SAN
//! table from the selected stage-1 model, stage 2 with `L_coarse + λ·L_fine`. Models are
//! selected on dev; test is evaluated once per stage, with the selected model.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, ElementConversion, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark, ReliablePairs, substitute};
use san_core::similarity::{ClclConfig, clcl_candidates, clcl_gallery};
use san_data::batch::pad_ids;
use san_data::sample::Sample;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    RetrievalModel, RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig,
};
use san_models::text_encoder::WordEncoderConfig;

use crate::config::{SelectionMetric, Stage2Init, TrainConfig};
use crate::corpus::Corpus;
use crate::error::Result;
use crate::eval::{encode_split, evaluate};
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

/// A model ready to train, built from the config and the corpus.
pub fn init_model<B: Backend>(
    config: &TrainConfig,
    corpus: &Corpus,
    device: &B::Device,
) -> Result<RetrievalModel<B>> {
    let input_dim = corpus.train.first().map_or(1, |s| s.features.dim);
    Ok(RetrievalModelConfig::new(
        SignEncoderConfig::Pose(
            PoseEncoderConfig::new(input_dim)
                .with_hidden(config.hidden)
                .with_dim(config.dim),
        ),
        TextEncoderConfig::Word(WordEncoderConfig::new(corpus.vocab.len()).with_dim(config.dim)),
    )
    .init(device)?)
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
/// synonym filter scores words with signsim's `wordvecs.vec` when the corpus has one.
pub fn sign_aware_table(
    pairs: &ReliablePairs,
    corpus: &Corpus,
    config: &TrainConfig,
) -> ConfusabilityTable {
    let vectors = corpus
        .signsim
        .as_ref()
        .and_then(|_| san_data::wordvec::read_word_vectors(&corpus.root.join("wordvecs.vec")).ok());
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

/// One epoch; returns the mean loss.
#[allow(clippy::too_many_arguments)]
fn train_epoch<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    mut model: RetrievalModel<B>,
    optim: &mut O,
    corpus: &Corpus,
    config: &TrainConfig,
    table: Option<&ConfusabilityTable>,
    rng: &mut StdRng,
    device: &B::Device,
    (step, total_steps): (&mut usize, usize),
) -> Result<(RetrievalModel<B>, f64)> {
    let mut order: Vec<usize> = (0..corpus.train.len()).collect();
    order.shuffle(rng);
    let coarse = CoarseLossConfig::new();
    // The default chunk (16 videos) keeps each temporary of the batch similarity small enough
    // for the allocator to reuse, which is faster than one batch-sized chunk on the CPU.
    let clcl_cfg = ClclConfig::new().with_tau_tok(config.tau_tok);
    let (mut total, mut steps) = (0.0, 0usize);
    for idx in order.chunks(config.batch_size.max(2)) {
        if idx.len() < 2 {
            continue;
        }
        let items: Vec<&Sample> = idx.iter().map(|&i| &corpus.train[i]).collect();
        let batch = config
            .batcher
            .batch::<B, StdRng>(&items, &corpus.vocab, Some(rng), device);
        let sign = model.encode_poses(batch.poses, batch.pose_mask)?;
        let text = model.encode_text_tokens(batch.tokens, batch.token_mask);
        let scores = clcl_gallery(
            sign.tokens.clone(),
            sign.mask.clone(),
            text.tokens,
            text.mask,
            &clcl_cfg,
        );
        let mut loss = coarse.forward(&scores, model.log_scale(), &batch.text_ids);
        if let Some(table) = table {
            let n = items.len();
            let k1 = config.n_hard + 1;
            let (ids, mask) = pad_ids(&hard_captions(&items, table, corpus, config, rng));
            let l = ids.len() / (n * k1);
            let caps = model.encode_text_tokens(
                Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [n * k1, l]), device),
                Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [n * k1, l]), device),
            );
            let d = config.dim;
            let cand = clcl_candidates(
                sign.tokens,
                sign.mask,
                caps.tokens.reshape([n, k1, l, d]),
                caps.mask.reshape([n, k1, l]),
                config.tau_tok,
            );
            loss = loss + san_fine_loss(cand.v2t, model.log_scale()).mul_scalar(config.lambda_fine);
        }
        total += loss.clone().into_scalar().elem::<f64>();
        steps += 1;
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(max_norm) = config.grad_clip_norm {
            clip_grad_norm(&model, &mut grads, max_norm);
        }
        let lr = learning_rate(
            config.schedule,
            config.learning_rate,
            config.min_lr_ratio,
            config.warmup_steps,
            *step,
            total_steps,
        );
        model = optim.step(lr, model, grads);
        *step += 1;
    }
    Ok((model, total / steps.max(1) as f64))
}

/// Optimiser steps in one epoch of `n` training pairs: full batches, and a last partial
/// batch unless it holds a single pair (which is skipped).
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

/// Trains one stage, selecting the epoch with the best dev score.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_stage<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    stage: Stage,
    epochs: usize,
    corpus: &Corpus,
    config: &TrainConfig,
    table: Option<ConfusabilityTable>,
    dev_fg: Option<&FineGrainedBenchmark>,
    rng: &mut StdRng,
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<(
    RetrievalModel<B>,
    usize,
    RetrievalReport,
    Option<ConfusabilityTable>,
)> {
    match config.optimizer {
        OptimizerKind::AdamW => {
            let optim = AdamWConfig::new()
                .with_weight_decay(config.weight_decay)
                .init::<B, RetrievalModel<B>>();
            train_stage_with(
                optim, model, stage, epochs, corpus, config, table, dev_fg, rng, device, hook,
            )
        }
        OptimizerKind::Sgd => {
            let optim = SgdConfig::new()
                .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)))
                .with_momentum(Some(MomentumConfig::new().with_momentum(config.momentum)))
                .init::<B, RetrievalModel<B>>();
            train_stage_with(
                optim, model, stage, epochs, corpus, config, table, dev_fg, rng, device, hook,
            )
        }
    }
}

/// [`train_stage`] with a given optimiser.
#[allow(clippy::too_many_arguments)]
fn train_stage_with<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    mut optim: O,
    model: RetrievalModel<B>,
    stage: Stage,
    epochs: usize,
    corpus: &Corpus,
    config: &TrainConfig,
    mut table: Option<ConfusabilityTable>,
    dev_fg: Option<&FineGrainedBenchmark>,
    rng: &mut StdRng,
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<(
    RetrievalModel<B>,
    usize,
    RetrievalReport,
    Option<ConfusabilityTable>,
)> {
    let steps_per_epoch = steps_per_epoch(corpus.train.len(), config.batch_size);
    let total_steps = steps_per_epoch * epochs.max(1);
    let mut step = 0usize;
    let mut model = model;
    let inner_device = device.clone();
    let mut best: Option<(f64, usize, RetrievalModel<B>, RetrievalReport)> = None;
    for epoch in 1..=epochs.max(1) {
        if stage == Stage::San
            && epoch > 1
            && config
                .refresh_every
                .is_some_and(|r| r > 0 && (epoch - 1) % r == 0)
        {
            table = Some(build_table(&model.valid(), corpus, config, &inner_device)?.0);
        }
        let (m, loss) = train_epoch(
            model,
            &mut optim,
            corpus,
            config,
            table.as_ref(),
            rng,
            device,
            (&mut step, total_steps),
        )?;
        model = m;
        let report = evaluate(
            &model.valid(),
            &corpus.dev,
            &corpus.vocab,
            &config.batcher,
            &clcl(config),
            dev_fg,
            DuplicatePolicy::Strict,
            &inner_device,
        )?;
        hook(stage, epoch, loss, &report);
        let score = selection_score(&report, config.selection);
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, epoch, model.clone(), report));
        }
    }
    match best {
        Some((_, epoch, m, r)) => Ok((m, epoch, r, table)),
        None => unreachable!("at least one epoch runs"),
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
}

/// Runs the whole protocol on a loaded corpus.
///
/// Deterministic for a seed on ndarray, as long as nothing else in the process draws from
/// the backend's RNG meanwhile: `B::seed` seeds a process-global generator, which model
/// initialisation and dropout read.
pub fn run<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<RunOutput> {
    B::seed(device, config.seed);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let inner = device.clone();
    let clcl_cfg = clcl(config);
    let dev_truth = fine_grained_benchmark(corpus, "dev", &corpus.dev, None, config);
    let eval_split = |model: &RetrievalModel<B::InnerBackend>,
                      samples: &[Sample],
                      fg: Option<&FineGrainedBenchmark>| {
        evaluate(
            model,
            samples,
            &corpus.vocab,
            &config.batcher,
            &clcl_cfg,
            fg,
            DuplicatePolicy::Strict,
            &inner,
        )
    };

    // Stage 1.
    let t0 = Instant::now();
    let model = init_model::<B>(config, corpus, device)?;
    let (stage1, epoch1, dev1, _) = train_stage(
        model,
        Stage::Coarse,
        config.stage1_epochs,
        corpus,
        config,
        None,
        dev_truth.as_ref(),
        &mut rng,
        device,
        hook,
    )?;
    let secs1 = t0.elapsed().as_secs_f64();

    // The SAN table from the selected stage-1 model.
    let t_table = Instant::now();
    let (table, pairs) = build_table(&stage1.valid(), corpus, config, &inner)?;
    let table_report = TableReport::new(&table, &pairs, corpus, config);
    let table_secs = t_table.elapsed().as_secs_f64();

    let dev_fg = dev_truth
        .or_else(|| fine_grained_benchmark(corpus, "dev", &corpus.dev, Some(&table), config));
    let test_fg = fine_grained_benchmark(corpus, "test", &corpus.test, Some(&table), config);
    let test1 = eval_split(&stage1.valid(), &corpus.test, test_fg.as_ref())?;
    let dev1 = if dev1.fine_grained.is_none() {
        eval_split(&stage1.valid(), &corpus.dev, dev_fg.as_ref())?
    } else {
        dev1
    };

    // Stage 2.
    let t2 = Instant::now();
    let start = match config.stage2_init {
        Stage2Init::Continue => stage1,
        Stage2Init::Scratch => {
            B::seed(device, config.seed);
            init_model::<B>(config, corpus, device)?
        }
    };
    let (stage2, epoch2, dev2, final_table) = train_stage(
        start,
        Stage::San,
        config.stage2_epochs,
        corpus,
        config,
        Some(table.clone()),
        dev_fg.as_ref(),
        &mut rng,
        device,
        hook,
    )?;
    let secs2 = t2.elapsed().as_secs_f64();
    let test2 = eval_split(&stage2.valid(), &corpus.test, test_fg.as_ref())?;

    let report = RunReport {
        stage1: StageReport {
            best_epoch: epoch1,
            epochs: config.stage1_epochs,
            seconds: secs1,
            dev: dev1,
            test: test1,
        },
        stage2: StageReport {
            best_epoch: epoch2,
            epochs: config.stage2_epochs,
            seconds: secs2,
            dev: dev2,
            test: test2,
        },
        table: table_report,
        table_seconds: table_secs,
        final_table_words: final_table.map_or(0, |t| t.len()),
        fine_grained: test_fg.as_ref().map(BenchmarkReport::new),
    };
    Ok(RunOutput {
        report,
        table,
        test_benchmark: test_fg,
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
