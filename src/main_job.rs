//! The main job behind `cargo run --release --example phoenix_train`: generate (or reuse) a
//! signsim corpus, or read a PHOENIX-2014-T root, then stage 1, the SAN table, stage 2,
//! and a side-by-side report.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_train::config::TrainConfig;
use san_train::corpus::Corpus;
use san_train::report::RunReport;
use san_train::training::{RunOutput, Stage, run};

use crate::backend::{BackendJob, DeviceChoice, dispatch};

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
    /// Output folder (generated corpus, config.json, report.json, san_table.json,
    /// fine_grained_test.json).
    #[arg(long, default_value = "target/san-phoenix-train")]
    pub out: PathBuf,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Random seed of training.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Stage-1 epochs.
    #[arg(long, default_value_t = 12)]
    pub stage1_epochs: usize,
    /// Stage-2 epochs.
    #[arg(long, default_value_t = 8)]
    pub stage2_epochs: usize,
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

struct Job {
    corpus: Corpus,
    config: TrainConfig,
}

impl BackendJob for Job {
    type Output = san_train::Result<RunOutput>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut hook = |stage: Stage,
                        epoch: usize,
                        loss: f64,
                        dev: &san_core::metrics::RetrievalReport| {
            let total = if stage == Stage::Coarse {
                self.config.stage1_epochs
            } else {
                self.config.stage2_epochs
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
        run::<B>(&self.corpus, &self.config, &device, &mut hook)
    }
}

/// Runs the main job; errors are messages for the user.
pub fn main_job(args: Args) -> Result<RunReport, String> {
    let started = Instant::now();
    let root = match &args.data {
        Some(root) => {
            if !root.is_dir() {
                return Err(format!(
                    "--data {}: no such folder (expected the PHOENIX-2014-T layout)",
                    root.display()
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
            let generated = ensure_corpus(&root, &cfg).map_err(|e| e.to_string())?;
            println!(
                "{} signsim corpus at {} ({:.1} s)",
                if generated { "generated" } else { "reusing" },
                root.display(),
                started.elapsed().as_secs_f64()
            );
            root
        }
    };
    let corpus = Corpus::load(&root).map_err(|e| e.to_string())?;
    println!(
        "corpus {}: {} train / {} dev / {} test, {} words; device {}",
        root.display(),
        corpus.train.len(),
        corpus.dev.len(),
        corpus.test.len(),
        corpus.vocab.len(),
        args.device
    );
    let config = TrainConfig::new()
        .with_seed(args.seed)
        .with_stage1_epochs(args.stage1_epochs)
        .with_stage2_epochs(args.stage2_epochs);
    let save = |name: &str, text: String| {
        san_data::io::write_atomic(&args.out.join(name), text.as_bytes()).map_err(|e| e.to_string())
    };
    save(
        "config.json",
        serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?,
    )?;
    let output = dispatch(args.device, Job { corpus, config })?.map_err(|e| e.to_string())?;
    let report = output.report;
    save(
        "report.json",
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?,
    )?;
    san_data::tables::write_table(&args.out.join("san_table.json"), &output.table)
        .map_err(|e| e.to_string())?;
    if let Some(b) = &output.test_benchmark {
        san_data::tables::write_benchmark(&args.out.join("fine_grained_test.json"), b)
            .map_err(|e| e.to_string())?;
    }
    println!("\n{report}");
    println!(
        "total {:.1} s; report, SAN table and fine-grained benchmark in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(report)
}
