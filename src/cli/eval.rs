//! `san eval`: a saved model on one split, coarse retrieval both ways and fine-grained.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::Backend;
use san_core::metrics::{DuplicatePolicy, detail_line};
use san_train::eval::evaluate;
use san_train::model::clcl_config;
use san_train::negatives::fine_grained_benchmark;
use san_train::output::load_saved_model;

use super::common::{open_split, parse_split};
use crate::backend::DeviceChoice;
use crate::error::{CliError, Result, pretty};

/// `san eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// A model folder written by `san train` (`<out>/model`).
    #[arg(long)]
    pub model: PathBuf,
    /// Corpus root.
    #[arg(long)]
    pub data: PathBuf,
    /// Split: train, dev or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// A fine-grained benchmark written by `san finegrained`. Default: signsim's ground
    /// truth when the corpus has it, else one built from the model's SAN table.
    #[arg(long)]
    pub benchmark: Option<PathBuf>,
    /// Count any clip or caption with the same normalised text as correct (default: only
    /// the paired one, as in prior work).
    #[arg(long)]
    pub any_match: bool,
    /// Also write the metrics as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// `san eval`: coarse and fine-grained retrieval of a saved model on one split.
pub fn run<B: Backend>(args: &EvalArgs, device: &B::Device) -> Result<()> {
    let split = parse_split(&args.split)?;
    let saved = load_saved_model::<B>(&args.model, device)?;
    let corpus = open_split(&args.data, split, &saved)?;
    let samples = corpus.split(split);
    let benchmark = match &args.benchmark {
        Some(p) => {
            let b = san_data::tables::read_benchmark(p)?;
            // Items of another split would all be skipped, and the metrics computed over
            // nothing: a benchmark must be built for this split.
            let names: std::collections::HashSet<&str> =
                samples.iter().map(|s| s.name.as_str()).collect();
            if let Some(missing) = b.items.iter().find(|i| !names.contains(i.name.as_str())) {
                return Err(CliError::arg(
                    p.display().to_string(),
                    format!(
                        "benchmark item {:?} is not a video of the {split} split of {} (build the benchmark for this split with `san finegrained --split {split}`)",
                        missing.name,
                        args.data.display()
                    ),
                ));
            }
            Some(b)
        }
        None => fine_grained_benchmark(&corpus, split, saved.table.as_ref(), &saved.config),
    };
    // The gallery kernel is this device's, whichever device the model was trained on.
    let mut cfg = saved.config.clone();
    cfg.eval.kernel = args.device.clcl_kernel();
    let policy = if args.any_match {
        DuplicatePolicy::AnyMatch
    } else {
        DuplicatePolicy::Strict
    };
    let t = Instant::now();
    let report = evaluate(
        &saved.model,
        samples,
        &saved.text,
        &cfg.data.batcher,
        &clcl_config(&cfg),
        benchmark.as_ref(),
        policy,
        device,
    )?;
    println!(
        "{} split of {}: {} queries ({:?} duplicates), {:.1} s",
        args.split,
        args.data.display(),
        samples.len(),
        policy,
        t.elapsed().as_secs_f64()
    );
    println!(
        "{:<10} {:>6} {:>6} {:>6} {:>6} {:>7}",
        "direction", "R@1", "R@5", "R@10", "MedR", "MRR %"
    );
    let row = |name: &str, m: &san_core::metrics::RetrievalMetrics| {
        println!(
            "{name:<10} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>7.1}",
            m.r1,
            m.r5,
            m.r10,
            m.medr,
            100.0 * m.mrr
        );
    };
    row("T2V", &report.t2v);
    row("V2T", &report.v2t);
    match (&report.fine_grained, &benchmark) {
        (Some(m), _) => row("FG-V2T", m),
        // A benchmark none of whose queries has a distractor caption: no metric.
        (None, Some(_)) => println!(
            "{:<10} {:>6} (no query has a distractor caption)",
            "FG-V2T", "n/a"
        ),
        (None, None) => {}
    }
    if let Some(m) = &report.fine_grained_t2v {
        row("FG-T2V", m);
    }
    if let Some(m) = &report.fine_grained_v2t_only {
        row("FG-V2T*", m);
        println!("FG-V2T*: ranked by the video→text score alone (the research code's)");
    }
    for (name, detail) in [
        ("FG-V2T", &report.fine_grained_detail),
        ("FG-T2V", &report.fine_grained_t2v_detail),
    ] {
        if let Some(d) = detail {
            println!("{}", detail_line(name, d));
        }
    }
    if let Some(b) = &benchmark {
        println!(
            "fine-grained benchmark: {}, {} queries",
            b.source,
            b.items.len()
        );
    }
    if let Some(path) = &args.json {
        san_data::io::write_atomic(path, pretty(&report).as_bytes())?;
    }
    Ok(())
}
