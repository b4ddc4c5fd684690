//! `san train`: the two-stage protocol on a corpus, checkpointing into `--out`.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use san_core::metrics::RetrievalReport;
use san_data::corpus::Corpus;
use san_train::checkpoint::{existing_checkpoint, read_state};
use san_train::model::prepare_corpus;
use san_train::output::write_run_outputs;
use san_train::protocol::{RunOptions, run_with};
use san_train::record::Stage;
use san_train::settings::load_config_over;

use crate::backend::DeviceChoice;
use crate::cli::peers::PeerArgs;
use crate::error::{CliError, Result};

/// `san train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Corpus root in the PHOENIX-2014-T layout (e.g. one written by `san synth`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: config.json, checkpoint/, metrics.jsonl, model/, report.md,
    /// report.json, plots.
    #[arg(long)]
    pub out: PathBuf,
    /// A TOML file of TrainConfig settings, in sections as in the output's config.json
    /// (e.g. [mining.reliable] alpha = 0.5; see configs/signsim.toml). Unset keys keep
    /// their defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one setting, KEY=VALUE with a dotted key and a TOML value, e.g.
    /// --set stage1.epochs=4 --set mining.reliable.alpha=0.4 --set optimizer.kind=Sgd.
    /// Repeatable; applied after --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue from --out's checkpoint (the config must be the same).
    #[arg(long)]
    pub resume: bool,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Several devices or machines.
    #[command(flatten)]
    pub peers: PeerArgs,
}

/// `san train`: both stages with checkpoints, then the reports and the selected model.
pub fn run<B: AutodiffBackend>(args: &TrainArgs, device: &B::Device) -> Result<()> {
    let started = Instant::now();
    let parallel = args.peers.options(args.device)?;
    let config = load_config_over(
        args.device.train_config(),
        args.config.as_deref(),
        &args.set,
    )?;
    if !args.data.is_dir() {
        return Err(CliError::arg(
            format!("--data {}", args.data.display()),
            "no such folder (expected a corpus in the PHOENIX-2014-T layout, e.g. from `san synth`)",
        ));
    }
    let checkpoint = args.out.join("checkpoint");
    if !args.resume && (checkpoint.exists() || args.out.join("checkpoint.old").exists()) {
        return Err(CliError::arg(
            checkpoint.display().to_string(),
            "a checkpoint exists; pass --resume to continue it, or choose another --out",
        ));
    }
    let corpus = Corpus::load_input(&args.data, config.data.input, &config.data.frames)?;
    // The captions as the text encoder reads them (a BERT checkpoint's word pieces).
    let corpus = prepare_corpus(&config, &corpus)?.unwrap_or(corpus);
    println!(
        "corpus {}: {} train / {} dev / {} test, {} words, input {:?} ({} values per step); text: {}; device {}",
        args.data.display(),
        corpus.train.len(),
        corpus.dev.len(),
        corpus.test.len(),
        corpus.vocab.len(),
        config.data.input,
        corpus.input_dim(),
        corpus.text.describe(),
        args.device
    );
    let options = RunOptions {
        out: Some(args.out.clone()),
        resume: args.resume,
        progress: true,
        parallel: parallel.clone(),
    };
    if parallel.is_parallel() {
        println!(
            "{} peers ({} on this machine); each batch of {} is split over them",
            parallel.world(),
            parallel.local_peers(),
            config.data.batch_size
        );
    }
    if args.resume {
        match existing_checkpoint(&args.out) {
            None => println!("no checkpoint in {}: starting afresh", args.out.display()),
            Some(dir) => {
                let state = read_state(&dir)?;
                println!(
                    "resuming from {}: stage {}, {} epochs of it done",
                    dir.display(),
                    state.stage,
                    state.epochs_done
                );
            }
        }
    }
    let mut print = |stage: Stage, epoch: usize, loss: f64, dev: &RetrievalReport| {
        let fg = dev
            .fine_grained
            .map(|m| format!("  FG R@1 {:5.1}", m.r1))
            .unwrap_or_default();
        let kind = if stage == Stage::San {
            "coarse+fine"
        } else {
            "coarse"
        };
        println!(
            "epoch {epoch:>3} ({kind}): loss {loss:.4}  dev T2V R@1 {:5.1}  V2T R@1 {:5.1}{fg}",
            dev.t2v.r1, dev.v2t.r1
        );
    };
    let output = run_with::<B>(&corpus, &config, device, &options, &mut print)?;
    if !parallel.writes() {
        println!(
            "\n{}\nmachine {:?} done; machine 0 writes the outputs",
            output.report,
            parallel.global.as_ref().map(|g| g.node_rank)
        );
        return Ok(());
    }
    write_run_outputs(&args.out, &config, &output)?;
    println!("\n{}", output.report);
    println!(
        "total {:.1} s; report.md, report.html, report.json, plots, metrics.jsonl and the selected model (model/) in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
