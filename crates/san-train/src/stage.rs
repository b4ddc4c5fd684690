//! The epoch and stage loops: one epoch of optimiser steps over the training split, and a
//! stage of epochs, each evaluated on dev, the best one selected, and a checkpoint written
//! after each.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_core::mining::FineGrainedBenchmark;
use san_data::batch::pad_ids;
use san_data::sample::Sample;
use san_models::retrieval::RetrievalModel;

use crate::captions::{epoch_batches, hard_captions, neighbour_captions};
use crate::checkpoint::{Checkpoint, CheckpointState, save_optimizer};
use crate::config::{Miner, TrainConfig};
use crate::error::{Result, TrainError};
use crate::eval::evaluate;
use crate::model::clcl_config;
use crate::negatives::{Negatives, build_negatives};
use crate::parallel::ParallelOptions;
use crate::parallel::peers::{Stepper, with_peers};
use crate::progress::EpochProgress;
use crate::record::{BestEpoch, EpochHook, EpochRecord, Stage, epoch_seed, selection_score};
use crate::schedule::{OptimizerKind, learning_rate};
use crate::step::{StepBatch, adamw, sgd, steps_per_epoch};
use san_data::corpus::Corpus;

/// Where an epoch sits in its stage's schedule.
struct StepCounter<'a> {
    stage: u8,
    step: &'a mut usize,
    total: usize,
}

/// One epoch; returns the mean loss and the last learning rate.
#[allow(clippy::too_many_arguments)]
fn train_epoch<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    mut model: RetrievalModel<B>,
    optim: &mut O,
    stepper: &Stepper<'_, B>,
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
    let (mut total, mut count, mut lr) = (0.0, 0usize, 0.0);
    progress.start(batches.len());
    for idx in &batches {
        let items: Vec<&Sample> = idx.iter().map(|&i| &corpus.train[i]).collect();
        let batch =
            config
                .data
                .batcher
                .batch::<B, StdRng>(&items, &corpus.text, Some(&mut rng), device)?;
        let captions = match negatives {
            Negatives::None => None,
            Negatives::Captions(table) => {
                Some(hard_captions(&items, table, corpus, config, &mut rng)?)
            }
            Negatives::Neighbours(n) => Some(neighbour_captions(idx, n, corpus, config, &mut rng)?),
        };
        let candidates = captions.map(|captions| {
            let n = items.len();
            let k1 = config.mining.n_hard + 1;
            let (ids, mask) = pad_ids(&captions);
            let l = ids.len() / (n * k1);
            (
                Tensor::<B, 3, Int>::from_data(TensorData::new(ids, [n, k1, l]), device),
                Tensor::<B, 3, Bool>::from_data(TensorData::new(mask, [n, k1, l]), device),
            )
        });
        let step = StepBatch {
            clips: batch.poses,
            layout: batch.layout,
            clip_mask: batch.pose_mask,
            tokens: batch.tokens,
            token_mask: batch.token_mask,
            text_ids: batch.text_ids,
            candidates,
        };
        let o = &config.optimizer;
        lr = learning_rate(
            o.schedule,
            o.learning_rate,
            o.min_lr_ratio,
            o.warmup_steps,
            *steps.step,
            steps.total,
        );
        let (next, value) = stepper
            .step(model, optim, step, config, lr)
            .map_err(|e| match e {
                TrainError::NonFiniteLoss { value, .. } => TrainError::NonFiniteLoss {
                    value,
                    stage: steps.stage,
                    step: *steps.step + 1,
                },
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

/// What a stage needs besides its model.
pub struct StageRun<'a, 'h> {
    /// 1 or 2: the stage's settings (`stage1`/`stage2`) and epoch seeds.
    pub stage: u8,
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
    /// The peers that share each batch (one device by default).
    pub parallel: &'a ParallelOptions,
    /// Whether checkpoints are written (false on every machine but the first).
    pub writes: bool,
}

/// A stage's outcome: the selected model, its epoch and dev metrics, and the negatives in
/// use at the end.
pub type StageOutcome<B> = (RetrievalModel<B>, usize, RetrievalReport, Negatives);

/// Trains one stage in memory (no checkpoints), selecting the epoch with the best dev
/// score. `stage` (1 or 2) picks the settings (`config.stage1`, `config.stage2`, whose
/// `refresh_every` rebuilds the negatives from the current model) and the epoch seeds;
/// `negatives` add the fine loss.
#[allow(clippy::too_many_arguments)]
pub fn train_stage<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    stage: u8,
    corpus: &Corpus,
    config: &TrainConfig,
    negatives: Negatives,
    dev_fg: Option<&FineGrainedBenchmark>,
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<StageOutcome<B>> {
    let one = ParallelOptions::default();
    train_stage_on(
        model,
        stage,
        corpus,
        config,
        negatives,
        dev_fg,
        std::slice::from_ref(device),
        &one,
        hook,
    )
}

/// [`train_stage`] with each batch split over `parallel`'s peers, on `devices` (one per
/// peer of this machine; `devices[0]` evaluates).
#[allow(clippy::too_many_arguments)]
pub fn train_stage_on<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    stage: u8,
    corpus: &Corpus,
    config: &TrainConfig,
    negatives: Negatives,
    dev_fg: Option<&FineGrainedBenchmark>,
    devices: &[B::Device],
    parallel: &ParallelOptions,
    hook: EpochHook<'_>,
) -> Result<StageOutcome<B>> {
    let mut state = CheckpointState::new(stage);
    state.negatives = negatives;
    let run = StageRun {
        stage,
        corpus,
        config,
        dev_fg,
        refresh: true,
        hook,
        checkpoint: None,
        progress: EpochProgress::hidden(),
        parallel,
        writes: true,
    };
    run_stage(model, None, &mut state, run, devices)
}

/// Runs the remaining epochs of a stage from `state`, checkpointing after each, on
/// `devices` (one per peer of this machine).
pub(crate) fn run_stage<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    best_model: Option<RetrievalModel<B>>,
    state: &mut CheckpointState,
    run: StageRun<'_, '_>,
    devices: &[B::Device],
) -> Result<StageOutcome<B>> {
    // Stage 2 may have its own optimiser (`stage2.optimizer`).
    let staged = run.config.for_stage(run.stage);
    let run = StageRun {
        config: &staged,
        ..run
    };
    match staged.optimizer.kind {
        OptimizerKind::AdamW => {
            run_stage_with(&|| adamw(&staged), model, best_model, state, run, devices)
        }
        OptimizerKind::Sgd => {
            run_stage_with(&|| sgd(&staged), model, best_model, state, run, devices)
        }
    }
}

/// [`run_stage`] with the optimiser `fresh` makes (one per peer).
fn run_stage_with<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    fresh: &(dyn Fn() -> O + Sync),
    model: RetrievalModel<B>,
    best_model: Option<RetrievalModel<B>>,
    state: &mut CheckpointState,
    run: StageRun<'_, '_>,
    devices: &[B::Device],
) -> Result<StageOutcome<B>> {
    let StageRun {
        stage,
        corpus,
        config,
        dev_fg,
        refresh,
        hook,
        checkpoint,
        progress,
        parallel,
        writes,
    } = run;
    let loss_kind = if matches!(state.negatives, Negatives::None) {
        Stage::Coarse
    } else {
        Stage::San
    };
    // Each peer's optimiser: fresh, or read from the checkpoint when resuming mid-stage.
    let resume = state.epochs_done > 0;
    let make_optim = |device: &B::Device| -> Result<O> {
        match checkpoint {
            Some(ckpt) if resume => ckpt.load_optimizer(fresh(), device),
            _ => Ok(fresh()),
        }
    };
    let device = &devices[0];
    let mut optim = make_optim(device)?;
    let (epochs, selection, refresh_every) = if stage == 1 {
        (config.stage1.epochs, config.stage1.selection, None)
    } else {
        let s2 = &config.stage2;
        (
            s2.epochs,
            s2.selection,
            s2.refresh_every.filter(|_| refresh),
        )
    };
    let epochs = epochs.max(1);
    let total_steps = steps_per_epoch(corpus.train.len(), config.data.batch_size) * epochs;
    let inner = device.clone();
    // Peers get copies of the model: its lazily drawn parameters must be drawn first (on
    // one device they are drawn as the first step uses them, which this leaves as it was).
    if parallel.is_parallel() {
        san_models::retrieval::materialize(&model);
    }
    let start = model.clone();
    let mut model = Some(model);
    let mut best_model = best_model;
    with_peers(parallel, devices, &start, config, &make_optim, |stepper| {
        for epoch in state.epochs_done + 1..=epochs {
            let t = Instant::now();
            let seed = epoch_seed(config.seed, stage, epoch);
            B::seed(device, seed);
            let current = model.take().ok_or_else(|| {
                TrainError::Config("the stage lost its model after an error".into())
            })?;
            if epoch > 1
                && refresh_every.is_some_and(|r| r > 0 && (epoch - 1) % r == 0)
                && config.mining.miner != Miner::Semantic
            {
                state.negatives = build_negatives(&current.valid(), corpus, config, None, &inner)?;
            }
            progress.set_epoch(stage, epoch, epochs);
            let (m, loss, lr) = train_epoch(
                current,
                &mut optim,
                stepper,
                corpus,
                config,
                &state.negatives,
                seed,
                device,
                StepCounter {
                    stage,
                    step: &mut state.step,
                    total: total_steps,
                },
                &progress,
            )?;
            stepper.check(&m)?;
            let report = evaluate(
                &m.valid(),
                &corpus.dev,
                &corpus.text,
                &config.data.batcher,
                &clcl_config(config),
                dev_fg,
                DuplicatePolicy::Strict,
                &inner,
            )?;
            hook(loss_kind, epoch, loss, &report);
            let score = selection_score(&report, selection);
            if state.best.as_ref().is_none_or(|b| score > b.score) {
                state.best = Some(BestEpoch {
                    score,
                    epoch,
                    dev: report.clone(),
                });
                best_model = Some(m.clone());
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
            if let Some(ckpt) = checkpoint.filter(|_| writes) {
                ckpt.save(state, &m, best_model.as_ref(), |stem| {
                    save_optimizer(&optim, stem)
                })?;
            }
            model = Some(m);
        }
        Ok(())
    })?;
    match (state.best.clone(), best_model) {
        (Some(best), Some(m)) => Ok((m, best.epoch, best.dev, state.negatives.clone())),
        _ => Err(TrainError::checkpoint(
            checkpoint.map_or_else(|| "checkpoint".into(), Checkpoint::dir),
            "the checkpoint names a best epoch but holds no best model",
        )),
    }
}
