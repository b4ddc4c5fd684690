//! The two-stage SAN protocol (`DESIGN.md` §3.6): stage 1 with the coarse loss, the SAN
//! table from the selected stage-1 model, stage 2 with `L_coarse + λ·L_fine`. Models are
//! selected on dev; test is evaluated once per stage, with the selected model. A run
//! checkpoints after every epoch and resumes exactly.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use san_core::metrics::DuplicatePolicy;
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark};
use san_data::phoenix::Split;
use san_data::sample::Sample;
use san_models::retrieval::{RetrievalModel, RetrievalModelConfig};

use crate::checkpoint::{Checkpoint, CheckpointState, Stage1Summary};
use crate::config::{Stage2Init, TrainConfig};
use crate::error::Result;
use crate::eval::evaluate;
use crate::model::{clcl_config, model_config, prepare_corpus};
use crate::negatives::{build_negatives, build_table, fine_grained_benchmark};
use crate::output::save_selected_model;
use crate::parallel::ParallelOptions;
use crate::progress::EpochProgress;
use crate::record::EpochHook;
use crate::report::{
    BenchmarkReport, NegativesReport, RunOutput, RunReport, StageReport, TableReport,
};
use crate::stage::{StageRun, run_stage};
use san_data::corpus::Corpus;

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
    /// The peers that share each batch: devices of this machine and other machines
    /// (one device by default). Only machine 0 writes into `out`; the others read a
    /// checkpoint there when resuming.
    pub parallel: ParallelOptions,
}

/// Runs the whole protocol on a loaded corpus, in memory.
///
/// Deterministic for a seed on ndarray: every epoch reseeds the backend (dropout) and its
/// own generator (order, frame sampling, substitutions) from [`epoch_seed`](crate::record::epoch_seed).
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
    options.parallel.validate()?;
    let devices = options.parallel.peer_devices::<B>(device);
    let writes = options.parallel.writes();
    // A BERT text side reads the captions as the checkpoint's word pieces.
    let prepared = prepare_corpus(config, corpus)?;
    let corpus = prepared.as_ref().unwrap_or(corpus);
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
    let clcl_cfg = clcl_config(config);
    let eval_split = |model: &RetrievalModel<B::InnerBackend>,
                      samples: &[Sample],
                      fg: Option<&FineGrainedBenchmark>| {
        evaluate(
            model,
            samples,
            &corpus.text,
            &config.data.batcher,
            &clcl_cfg,
            fg,
            DuplicatePolicy::Strict,
            &inner,
        )
    };
    let dev_truth = fine_grained_benchmark(corpus, Split::Dev, None, config);

    B::seed(device, config.seed);
    let fresh = model_cfg.init_pretrained::<B>(device)?;
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
            dev_truth
                .clone()
                .or_else(|| fine_grained_benchmark(corpus, Split::Dev, Some(table), config)),
            fine_grained_benchmark(corpus, Split::Test, Some(table), config),
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
                    corpus,
                    config,
                    dev_fg: dev_truth.as_ref(),
                    refresh: false,
                    hook: &mut *hook,
                    checkpoint: checkpoint.as_ref(),
                    progress: progress(),
                    parallel: &options.parallel,
                    writes,
                },
                &devices,
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
                    epochs: config.stage1.epochs,
                    seconds: state.stage_seconds,
                    dev: dev1,
                    test: test1,
                },
                table: table_report,
                table_seconds,
                san_table: table,
            };
            // Stage 2 starts here: a checkpoint with its first model and negatives.
            let start = match config.stage2.init {
                Stage2Init::Continue => stage1,
                Stage2Init::Scratch => {
                    B::seed(device, config.seed);
                    model_cfg.init_pretrained::<B>(device)?
                }
            };
            let mut next = CheckpointState::new(2);
            next.history = std::mem::take(&mut state.history);
            next.stage1 = Some(summary.clone());
            next.negatives = negatives;
            state = next;
            if let Some(ckpt) = checkpoint.as_ref().filter(|_| writes) {
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
        &devices,
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
    devices: &[B::Device],
) -> Result<RunOutput> {
    let inner = devices[0].clone();
    let (stage2, epoch2, dev2, final_negatives) = run_stage(
        model,
        best_model,
        &mut state,
        StageRun {
            stage: 2,
            corpus,
            config,
            dev_fg: dev_fg.as_ref(),
            refresh: true,
            hook,
            checkpoint,
            progress,
            parallel: &options.parallel,
            writes: options.parallel.writes(),
        },
        devices,
    )?;
    let test2 = evaluate(
        &stage2.valid(),
        &corpus.test,
        &corpus.text,
        &config.data.batcher,
        &clcl_config(config),
        test_fg.as_ref(),
        DuplicatePolicy::Strict,
        &inner,
    )?;
    let report = RunReport {
        stage1: stage1.report.clone(),
        stage2: StageReport {
            best_epoch: epoch2,
            epochs: config.stage2.epochs,
            seconds: state.stage_seconds,
            dev: dev2,
            test: test2,
        },
        table: stage1.table.clone(),
        table_seconds: stage1.table_seconds,
        final_table_words: final_negatives.table().map_or(0, |t| t.len()),
        fine_grained: test_fg.as_ref().map(BenchmarkReport::new),
        stage2_negatives: Some(NegativesReport::new(
            config.mining.miner,
            &final_negatives,
            &corpus
                .train
                .iter()
                .map(|s| s.words.clone())
                .collect::<Vec<_>>(),
        )),
    };
    if let Some(out) = options.out.as_ref().filter(|_| options.parallel.writes()) {
        save_selected_model(
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
