//! The main job behind `cargo run --release --example phoenix_train`: generate (or reuse) a
//! signsim corpus, or read a PHOENIX-2014-T root, then stage 1, the SAN table, stage 2,
//! and a side-by-side report.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use san_data::corpus::Corpus;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_train::config::{InputKind, SelectionMetric, TrainConfig};
use san_train::output::write_run_outputs;
use san_train::protocol::{RunOptions, run_with};
use san_train::record::Stage;
use san_train::report::RunOutput;
use san_train::report::RunReport;

use crate::backend::{BackendJob, DeviceChoice, dispatch};
use crate::error::{CliError, Result};
use crate::experiment_job::{DEFAULT_ALPHA, DEFAULT_BETA};

/// Command-line arguments of the main job.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "phoenix_train",
    about = "Train SAN end to end: stage 1, the SAN table, stage 2, and a report."
)]
pub struct Args {
    /// Corpus root in the PHOENIX-2014-T layout (annotations/manual/*.corpus.csv and
    /// pose/{split}/{name}.pose). Without it, a signsim corpus is generated under --out.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// What clips are read as with --data: pose (`pose/{split}/{name}.pose`), features
    /// (`features/{split}/{name}.npy|.safetensors`, e.g. I3D) or frames (the official
    /// 210×260 PNG folders). signsim is always pose.
    #[arg(long, value_enum, default_value_t = Input::Pose)]
    pub input: Input,
    /// Output folder: the generated corpus, config.json, checkpoint/, metrics.jsonl,
    /// model/, report.md, report.html, report.json, plots, san_table.json, fine_grained_test.json.
    #[arg(long, default_value = "target/san-phoenix-train")]
    pub out: PathBuf,
    /// Continue from the checkpoint in --out (same settings).
    #[arg(long)]
    pub resume: bool,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Several devices or machines (as `san train`).
    #[command(flatten)]
    pub peers: crate::cli::peers::PeerArgs,
    /// Random seed of training.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Stage-1 epochs.
    #[arg(long, default_value_t = 12)]
    pub stage1_epochs: usize,
    /// Stage-2 epochs.
    #[arg(long, default_value_t = 12)]
    pub stage2_epochs: usize,
    /// SAN table α (default: the signsim experiment's 0.4 on signsim, the paper's 0.7
    /// with --data).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// SAN table β (default: the signsim experiment's on signsim, the paper's 0.7 with
    /// --data).
    #[arg(long)]
    pub beta: Option<f64>,
    /// signsim training sentences (when no --data).
    #[arg(long, default_value_t = 1200)]
    pub signsim_train: usize,
    /// signsim dev and test sentences each (when no --data).
    #[arg(long, default_value_t = 200)]
    pub signsim_eval: usize,
    /// signsim handshape difference within a family (smaller = harder; default 0.05).
    #[arg(long)]
    pub signsim_delta: Option<f32>,
}

/// `--input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Input {
    /// `.pose` files.
    Pose,
    /// Precomputed clip features.
    Features,
    /// RGB frames.
    Frames,
}

struct Job {
    corpus: Corpus,
    config: TrainConfig,
    options: RunOptions,
}

impl BackendJob for Job {
    type Output = san_train::Result<RunOutput>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut hook = |stage: Stage,
                        epoch: usize,
                        loss: f64,
                        dev: &san_core::metrics::RetrievalReport| {
            let total = if stage == Stage::Coarse {
                self.config.stage1.epochs
            } else {
                self.config.stage2.epochs
            };
            let name = if stage == Stage::Coarse {
                "stage 1"
            } else {
                "stage 2"
            };
            let fg = dev
                .fine_grained
                .map(|m| format!(" FG R@1 {:5.1}", m.r1))
                .unwrap_or_default();
            println!(
                "{name} epoch {epoch:>3}/{total}: loss {loss:.4}  dev T2V R@1 {:5.1}  V2T R@1 {:5.1}{fg}",
                dev.t2v.r1, dev.v2t.r1
            );
        };
        run_with::<B>(
            &self.corpus,
            &self.config,
            &device,
            &self.options,
            &mut hook,
        )
    }
}

/// The main job's training settings for `args` and the input kind: the device's
/// defaults, the seed and epochs of the flags, and stage 2 selected on coarse and
/// fine-grained dev R@1; on signsim (no `--data`) the signsim experiment's α and β unless
/// given.
pub fn train_config(args: &Args, input: InputKind) -> TrainConfig {
    let mut config = args
        .device
        .train_config()
        .with_seed(args.seed)
        .with_epochs(args.stage1_epochs, args.stage2_epochs);
    config.data.input = input;
    // Stage 2 exists to teach fine-grained retrieval, so its epoch is selected on coarse
    // and fine-grained dev R@1 (stage 1 on coarse R@1 alone).
    config.stage2.selection = SelectionMetric::CoarseAndFineGrainedR1;
    let signsim = args.data.is_none();
    config.mining.reliable.alpha = args.alpha.unwrap_or(if signsim {
        DEFAULT_ALPHA
    } else {
        config.mining.reliable.alpha
    });
    config.mining.table.beta = args.beta.unwrap_or(if signsim {
        DEFAULT_BETA
    } else {
        config.mining.table.beta
    });
    config
}

/// Runs the main job.
pub fn main_job(args: Args) -> Result<RunReport> {
    let started = Instant::now();
    let root = match &args.data {
        Some(root) => {
            if !root.is_dir() {
                return Err(CliError::arg(
                    format!("--data {}", root.display()),
                    "no such folder (expected the PHOENIX-2014-T layout)",
                ));
            }
            root.clone()
        }
        None => {
            let root = args.out.join("signsim");
            let mut cfg = SignsimConfig::new()
                .with_train(args.signsim_train)
                .with_dev(args.signsim_eval)
                .with_test(args.signsim_eval);
            if let Some(delta) = args.signsim_delta {
                cfg.delta = delta;
            }
            let generated = ensure_corpus(&root, &cfg)?;
            println!(
                "{} signsim corpus at {} ({:.1} s)",
                if generated { "generated" } else { "reusing" },
                root.display(),
                started.elapsed().as_secs_f64()
            );
            root
        }
    };
    let input = match (args.data.is_some(), args.input) {
        (false, _) | (true, Input::Pose) => InputKind::Pose,
        (true, Input::Features) => InputKind::Features,
        (true, Input::Frames) => InputKind::Frames,
    };
    let config = train_config(&args, input);
    let corpus = Corpus::load_input(&root, input, &config.data.frames)?;
    println!(
        "corpus {}: {} train / {} dev / {} test, {} words; device {}; {} + {} epochs, α {} β {}",
        root.display(),
        corpus.train.len(),
        corpus.dev.len(),
        corpus.test.len(),
        corpus.vocab.len(),
        args.device,
        config.stage1.epochs,
        config.stage2.epochs,
        config.mining.reliable.alpha,
        config.mining.table.beta
    );
    let options = RunOptions {
        out: Some(args.out.clone()),
        resume: args.resume,
        progress: true,
        parallel: args.peers.options(args.device)?,
    };
    let writes = options.parallel.writes();
    if options.parallel.is_parallel() {
        println!(
            "{} peers; each batch of {} is split over them",
            options.parallel.world(),
            config.data.batch_size
        );
    }
    let output = dispatch(
        args.device,
        Job {
            corpus,
            config: config.clone(),
            options,
        },
    )??;
    if writes {
        write_run_outputs(&args.out, &config, &output)?;
    }
    let report = output.report;
    println!("\n{report}");
    println!(
        "total {:.1} s; report.md, report.html, report.json, plots, metrics.jsonl, the SAN table, the fine-grained benchmark and the selected model (model/) in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(report)
}
