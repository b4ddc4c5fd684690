//! The `san` command line: `synth`, `train`, `eval`, `table build|show`, `finegrained`,
//! `search` and `embed`. Every failure is one line on stderr and exit code 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Int, Tensor, TensorData};
use san_core::host::to_vec_f32;
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark};
use san_core::similarity::clcl_gallery;
use san_data::phoenix::read_corpus_csv;
use san_data::sample::corpus_csv_path;
use san_data::signsim::SignsimMeta;
use san_train::checkpoint::{existing_checkpoint, read_state};
use san_train::config::TrainConfig;
use san_train::corpus::{Corpus, load_samples};
use san_train::eval::{
    clip_encoded, concat_tokens, embed_split, evaluate, frame_hw, map_batches, max_frames,
};
use san_train::output::{SavedModel, load_saved_model, write_run_outputs};
use san_train::training::{
    RunOptions, Stage, build_table, clcl_config, fine_grained_benchmark, run_with,
};

use crate::backend::{BackendJob, DeviceChoice, dispatch};

/// `san`: sign-language retrieval with Sign-Aware Hard Negative Mining.
#[derive(Debug, clap::Parser)]
#[command(
    name = "san",
    version,
    about = "Sign-language retrieval with Sign-Aware Hard Negative Mining (SAN), on Burn."
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a signsim corpus (PHOENIX-2014-T layout, .pose files, signsim.json, wordvecs.vec).
    Synth(crate::synth_job::Args),
    /// Train both stages: stage 1, the SAN table, stage 2; checkpoints after every epoch,
    /// then reports, plots and the selected model in --out.
    Train(TrainArgs),
    /// Evaluate a trained model on a split: coarse retrieval both ways and fine-grained
    /// V2T/T2V.
    Eval(EvalArgs),
    /// Build a confusability table, or print one.
    #[command(subcommand)]
    Table(TableCommand),
    /// Build and save the fine-grained benchmark of a split (up to N single-word
    /// substitutions per caption).
    Finegrained(FinegrainedArgs),
    /// Rank the clips of a saved gallery index for a text query.
    Search(SearchArgs),
    /// Export a split's clip and text embeddings (safetensors, which `search` reads as a
    /// gallery index, or .npy).
    Embed(EmbedArgs),
}

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
    /// A TOML file of TrainConfig settings (keys as in the output's config.json; tables for
    /// nested settings, e.g. [table] alpha = 0.5). Unset keys keep their defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one setting, KEY=VALUE with a dotted key and a TOML value, e.g.
    /// --set stage1_epochs=4 --set table.beta=0.8 --set optimizer='"Sgd"'. Repeatable;
    /// applied after --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue from --out's checkpoint (the config must be the same).
    #[arg(long)]
    pub resume: bool,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// `san eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// A model folder written by `san train` (<out>/model).
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

/// `san table`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TableCommand {
    /// Build a table over the training split and save it as JSON (word → [(word, score)]).
    Build(TableBuildArgs),
    /// Print a table's most confusable word pairs.
    Show(TableShowArgs),
}

/// Which table to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableKind {
    /// Sign-aware: from a trained model's sign–word alignments (needs --model).
    San,
    /// Semantic: from the corpus's word vectors (wordvecs.vec).
    Semantic,
}

/// `san table build`.
#[derive(Debug, Clone, clap::Args)]
pub struct TableBuildArgs {
    /// Which table.
    #[arg(long, value_enum, default_value_t = TableKind::San)]
    pub kind: TableKind,
    /// A model folder written by `san train` (needed for --kind san; its config supplies
    /// α, β and the input kind).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Corpus root.
    #[arg(long)]
    pub data: PathBuf,
    /// Reliability threshold α (default: the model's config).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Link threshold β (default: the model's config, or 0.8 without a model).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Output JSON file.
    #[arg(long)]
    pub out: PathBuf,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// `san table show`.
#[derive(Debug, Clone, clap::Args)]
pub struct TableShowArgs {
    /// A table JSON file (from `san table build`, or san_table.json of a training run).
    pub table: PathBuf,
    /// Pairs to print, most confusable first.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

/// `san finegrained`.
#[derive(Debug, Clone, clap::Args)]
pub struct FinegrainedArgs {
    /// Corpus root.
    #[arg(long)]
    pub data: PathBuf,
    /// Split.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Substitute words through this table. Default: signsim's ground truth when the corpus
    /// has it (required otherwise).
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Distractor captions per query.
    #[arg(long, default_value_t = 40)]
    pub distractors: usize,
    /// Seed of the substitutions.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Output JSON file.
    #[arg(long)]
    pub out: PathBuf,
}

/// `san search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// A model folder written by `san train`.
    #[arg(long)]
    pub model: PathBuf,
    /// A gallery index written by `san embed` (safetensors).
    #[arg(long)]
    pub index: PathBuf,
    /// The query sentence (German, as in the corpus).
    #[arg(long)]
    pub query: String,
    /// Clips to return.
    #[arg(short, long, default_value_t = 5)]
    pub k: usize,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// Export format of `san embed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbedFormat {
    /// One safetensors file: pooled `video` and `text` [N, D], clip tokens `video_tokens`
    /// [N, M, D] with `video_mask` [N, M] (a gallery index for `search`), names and
    /// captions in the metadata.
    Safetensors,
    /// A folder: video.npy and text.npy [N, D], names.txt.
    Npy,
}

/// `san embed`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmbedArgs {
    /// A model folder written by `san train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Corpus root.
    #[arg(long)]
    pub data: PathBuf,
    /// Split.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Output file (safetensors) or folder (npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Format.
    #[arg(long, value_enum, default_value_t = EmbedFormat::Safetensors)]
    pub format: EmbedFormat,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// Runs a command; the error is the one-line message for the user.
pub fn run_cli(cli: Cli) -> Result<(), String> {
    // Commands without a model run here; the others on the chosen backend.
    let (device, job) = match cli.command {
        Command::Synth(args) => return crate::synth_job::synth_job(args).map(|_| ()),
        Command::Table(TableCommand::Show(args)) => return table_show(&args),
        Command::Finegrained(args) => return finegrained(&args),
        Command::Train(args) => (args.device, Job::Train(args)),
        Command::Eval(args) => (args.device, Job::Eval(args)),
        Command::Table(TableCommand::Build(args)) => (args.device, Job::Table(args)),
        Command::Search(args) => (args.device, Job::Search(args)),
        Command::Embed(args) => (args.device, Job::Embed(args)),
    };
    dispatch(device, job)?
}

enum Job {
    Train(TrainArgs),
    Eval(EvalArgs),
    Table(TableBuildArgs),
    Search(SearchArgs),
    Embed(EmbedArgs),
}

impl BackendJob for Job {
    type Output = Result<(), String>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        match self {
            Job::Train(a) => train::<B>(&a, &device),
            Job::Eval(a) => eval::<B::InnerBackend>(&a, &device),
            Job::Table(a) => table_build::<B::InnerBackend>(&a, &device),
            Job::Search(a) => search::<B::InnerBackend>(&a, &device),
            Job::Embed(a) => embed::<B::InnerBackend>(&a, &device),
        }
    }
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------------------
// Configuration: defaults, then the TOML file, then --set.

/// The training config from defaults, a TOML file and `KEY=VALUE` overrides. Unknown keys
/// are errors naming the key (and the file).
pub fn load_config(file: Option<&Path>, sets: &[String]) -> Result<TrainConfig, String> {
    let mut value = serde_json::to_value(TrainConfig::new()).map_err(s)?;
    let defaults = value.clone();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            format!(
                "{}: expected TOML: {}",
                path.display(),
                one_line(&e.to_string())
            )
        })?;
        let json = serde_json::to_value(table).map_err(s)?;
        merge(&mut value, &json, &defaults, "").map_err(|key| {
            format!(
                "{}: unknown setting {key:?} (see the keys of a run's config.json)",
                path.display()
            )
        })?;
    }
    for set in sets {
        let Some((key, raw)) = set.split_once('=') else {
            return Err(format!("--set {set}: expected KEY=VALUE"));
        };
        let key = key.trim();
        let parsed: serde_json::Value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            Ok(mut t) => serde_json::to_value(t.remove("v")).map_err(s)?,
            // A bare word (e.g. Sgd) is taken as a string.
            Err(_) => serde_json::Value::String(raw.trim().to_string()),
        };
        let mut patch = parsed;
        for part in key.rsplit('.') {
            let mut m = serde_json::Map::new();
            m.insert(part.to_string(), patch);
            patch = serde_json::Value::Object(m);
        }
        merge(&mut value, &patch, &defaults, "")
            .map_err(|k| format!("--set {set}: unknown setting {k:?}"))?;
    }
    serde_json::from_value(value).map_err(|e| {
        let origin = file.map_or(String::new(), |p| format!("{}: ", p.display()));
        format!("{origin}invalid setting: {e}")
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Merges `patch` into `value`, refusing keys the defaults do not have. Objects merge
/// key by key, except where the default is not an object (an enum with data, or an
/// option), which the patch replaces whole.
fn merge(
    value: &mut serde_json::Value,
    patch: &serde_json::Value,
    defaults: &serde_json::Value,
    prefix: &str,
) -> Result<(), String> {
    use serde_json::Value;
    let (Value::Object(v), Value::Object(p), Value::Object(d)) = (&mut *value, patch, defaults)
    else {
        *value = patch.clone();
        return Ok(());
    };
    for (k, pv) in p {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let Some(dv) = d.get(k) else {
            return Err(path);
        };
        match v.get_mut(k) {
            Some(slot) if dv.is_object() && pv.is_object() => merge(slot, pv, dv, &path)?,
            Some(slot) => *slot = pv.clone(),
            None => return Err(path),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// train

fn train<B: AutodiffBackend>(args: &TrainArgs, device: &B::Device) -> Result<(), String> {
    let started = Instant::now();
    let config = load_config(args.config.as_deref(), &args.set)?;
    if !args.data.is_dir() {
        return Err(format!(
            "--data {}: no such folder (expected a corpus in the PHOENIX-2014-T layout, e.g. from `san synth`)",
            args.data.display()
        ));
    }
    let checkpoint = args.out.join("checkpoint");
    if !args.resume && (checkpoint.exists() || args.out.join("checkpoint.old").exists()) {
        return Err(format!(
            "{}: a checkpoint exists; pass --resume to continue it, or choose another --out",
            checkpoint.display()
        ));
    }
    let corpus = Corpus::load_input(&args.data, config.input, &config.frames).map_err(s)?;
    println!(
        "corpus {}: {} train / {} dev / {} test, {} words, input {:?} ({} values per step)",
        args.data.display(),
        corpus.train.len(),
        corpus.dev.len(),
        corpus.test.len(),
        corpus.vocab.len(),
        config.input,
        corpus.input_dim()
    );
    let options = RunOptions {
        out: Some(args.out.clone()),
        resume: args.resume,
        progress: true,
    };
    if args.resume {
        match existing_checkpoint(&args.out) {
            None => println!("no checkpoint in {}: starting afresh", args.out.display()),
            Some(dir) => {
                let state = read_state(&dir).map_err(s)?;
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
    let output = run_with::<B>(&corpus, &config, device, &options, &mut print).map_err(s)?;
    write_run_outputs(&args.out, &config, &output).map_err(s)?;
    println!("\n{}", output.report);
    println!(
        "total {:.1} s; report.md, report.json, plots, metrics.jsonl and the selected model (model/) in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Loading a split with a saved model's settings.

fn check_split(split: &str) -> Result<(), String> {
    if ["train", "dev", "test"].contains(&split) {
        Ok(())
    } else {
        Err(format!("--split {split}: expected train, dev or test"))
    }
}

fn check_data(root: &Path) -> Result<(), String> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "--data {}: no such folder (expected a corpus in the PHOENIX-2014-T layout)",
            root.display()
        ))
    }
}

/// A corpus holding one split (in `dev` and `test` alike) with the saved vocabulary.
fn open_split<B: Backend>(
    root: &Path,
    split: &str,
    saved: &SavedModel<B>,
) -> Result<Corpus, String> {
    check_split(split)?;
    check_data(root)?;
    let samples = load_samples(root, split, saved.config.input, &saved.config.frames).map_err(s)?;
    if samples.is_empty() {
        return Err(format!(
            "{}: the {split} split is empty",
            corpus_csv_path(root, split).display()
        ));
    }
    Corpus::with_split(root, split, samples, saved.vocab.clone()).map_err(s)
}

// ---------------------------------------------------------------------------------------
// eval

fn eval<B: Backend>(args: &EvalArgs, device: &B::Device) -> Result<(), String> {
    let saved = load_saved_model::<B>(&args.model, device).map_err(s)?;
    let corpus = open_split(&args.data, &args.split, &saved)?;
    let samples = corpus.split(&args.split);
    let benchmark = match &args.benchmark {
        Some(p) => Some(san_data::tables::read_benchmark(p).map_err(s)?),
        None => fine_grained_benchmark(
            &corpus,
            &args.split,
            samples,
            saved.table.as_ref(),
            &saved.config,
        ),
    };
    let cfg = &saved.config;
    let policy = if args.any_match {
        DuplicatePolicy::AnyMatch
    } else {
        DuplicatePolicy::Strict
    };
    let t = Instant::now();
    let report = evaluate(
        &saved.model,
        samples,
        &saved.vocab,
        &cfg.batcher,
        &clcl_config(cfg),
        frame_hw(&cfg.frames),
        benchmark.as_ref(),
        policy,
        device,
    )
    .map_err(s)?;
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
        "direction", "R@1", "R@5", "R@10", "MedR", "MRR"
    );
    let row = |name: &str, m: &san_core::metrics::RetrievalMetrics| {
        println!(
            "{name:<10} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>7.3}",
            m.r1, m.r5, m.r10, m.medr, m.mrr
        );
    };
    row("T2V", &report.t2v);
    row("V2T", &report.v2t);
    if let Some(m) = &report.fine_grained {
        row("FG-V2T", m);
    }
    if let Some(m) = &report.fine_grained_t2v {
        row("FG-T2V", m);
    }
    if let Some(b) = &benchmark {
        println!(
            "fine-grained benchmark: {}, {} queries",
            b.source,
            b.items.len()
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(s)?;
        san_data::io::write_atomic(path, text.as_bytes()).map_err(s)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// table build | show

fn table_build<B: Backend>(args: &TableBuildArgs, device: &B::Device) -> Result<(), String> {
    check_data(&args.data)?;
    let t = Instant::now();
    let table = match args.kind {
        TableKind::San => {
            let Some(model) = &args.model else {
                return Err(
                    "table build --kind san needs --model (a model folder written by `san train`)"
                        .into(),
                );
            };
            let saved = load_saved_model::<B>(model, device).map_err(s)?;
            let corpus = open_split(&args.data, "train", &saved)?;
            let mut cfg = saved.config.clone();
            if let Some(a) = args.alpha {
                cfg.table.alpha = a;
            }
            if let Some(b) = args.beta {
                cfg.table.beta = b;
            }
            build_table(&saved.model, &corpus, &cfg, device)
                .map_err(s)?
                .0
        }
        TableKind::Semantic => {
            let mut cfg = match &args.model {
                Some(m) => load_saved_model::<B>(m, device).map_err(s)?.config,
                None => TrainConfig::new(),
            };
            if let Some(b) = args.beta {
                cfg.table.beta = b;
            }
            let vectors = args.data.join("wordvecs.vec");
            if !vectors.is_file() {
                return Err(format!(
                    "{}: no such file (the semantic table needs word vectors in the FastText text format)",
                    vectors.display()
                ));
            }
            let rows = read_corpus_csv(&corpus_csv_path(&args.data, "train")).map_err(s)?;
            let words = rows
                .iter()
                .map(|r| san_core::text::words(&r.translation))
                .collect::<Vec<_>>();
            let vocab = san_data::vocab::Vocabulary::build(words.iter().map(|w| w.as_slice()), 1);
            let corpus = Corpus::with_split(&args.data, "train", Vec::new(), vocab).map_err(s)?;
            san_train::experiment::semantic_table(&corpus, &cfg)
                .ok_or_else(|| format!("{}: could not read the word vectors", vectors.display()))?
        }
    };
    san_data::tables::write_table(&args.out, &table).map_err(s)?;
    println!(
        "{:?} table: {} linked words, {} links, written to {} ({:.1} s)",
        args.kind,
        table.len(),
        table.pairs().len(),
        args.out.display(),
        t.elapsed().as_secs_f64()
    );
    print_pairs(&table, 10);
    Ok(())
}

/// The table's unordered links, most confusable first (score descending, then words).
pub fn ranked_pairs(table: &ConfusabilityTable) -> Vec<(String, String, f32)> {
    let mut best: BTreeMap<(String, String), f32> = BTreeMap::new();
    for (a, links) in &table.links {
        for (b, score) in links {
            let key = if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            let e = best.entry(key).or_insert(*score);
            *e = e.max(*score);
        }
    }
    let mut pairs: Vec<(String, String, f32)> =
        best.into_iter().map(|((a, b), s)| (a, b, s)).collect();
    pairs.sort_by(|x, y| {
        y.2.total_cmp(&x.2)
            .then_with(|| (&x.0, &x.1).cmp(&(&y.0, &y.1)))
    });
    pairs
}

fn print_pairs(table: &ConfusabilityTable, top: usize) {
    let pairs = ranked_pairs(table);
    if pairs.is_empty() {
        println!("(no links)");
    }
    for (a, b, score) in pairs.iter().take(top) {
        println!("{score:>7.3}  {a} ~ {b}");
    }
}

fn table_show(args: &TableShowArgs) -> Result<(), String> {
    let table = san_data::tables::read_table(&args.table).map_err(s)?;
    println!(
        "{}: {} linked words, {} links; the {} most confusable pairs:",
        args.table.display(),
        table.len(),
        table.pairs().len(),
        args.top.min(table.pairs().len())
    );
    print_pairs(&table, args.top);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// finegrained

fn finegrained(args: &FinegrainedArgs) -> Result<(), String> {
    check_split(&args.split)?;
    check_data(&args.data)?;
    let rows = read_corpus_csv(&corpus_csv_path(&args.data, &args.split)).map_err(s)?;
    let queries: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|r| (r.name.clone(), san_core::text::words(&r.translation)))
        .collect();
    let benchmark = match &args.table {
        Some(path) => {
            let table = san_data::tables::read_table(path).map_err(s)?;
            FineGrainedBenchmark::build(
                &queries,
                &table,
                args.distractors,
                args.seed,
                path.display().to_string(),
            )
        }
        None => {
            if !args.data.join("signsim.json").exists() {
                return Err(format!(
                    "{}: not a signsim corpus, so there is no ground truth; pass --table (e.g. <out>/san_table.json)",
                    args.data.display()
                ));
            }
            let meta = SignsimMeta::load(&args.data).map_err(s)?;
            let truth = meta.distractors.get(&args.split).ok_or_else(|| {
                format!(
                    "{}/signsim.json: no distractors for the {} split",
                    args.data.display(),
                    args.split
                )
            })?;
            let pairs = ConfusabilityTable::from_pairs(&meta.confusable_pairs, 1.0);
            FineGrainedBenchmark::from_ground_truth(
                &queries,
                truth,
                &pairs,
                args.distractors,
                "signsim ground truth",
            )
        }
    };
    san_data::tables::write_benchmark(&args.out, &benchmark).map_err(s)?;
    println!(
        "fine-grained benchmark of {} ({}): {} queries, {} with fewer than {} distractor captions ({} with none), {} with distractor videos; written to {}",
        args.split,
        benchmark.source,
        benchmark.items.len(),
        benchmark.short(),
        benchmark.max_distractors,
        benchmark.without_distractors(),
        benchmark.with_distractor_videos(),
        args.out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// embed and search

/// Format tag of a gallery index in the safetensors metadata.
pub const INDEX_FORMAT: &str = "san-gallery-1";

fn embed<B: Backend>(args: &EmbedArgs, device: &B::Device) -> Result<(), String> {
    let saved = load_saved_model::<B>(&args.model, device).map_err(s)?;
    let corpus = open_split(&args.data, &args.split, &saved)?;
    let samples = corpus.split(&args.split);
    let cfg = &saved.config;
    let hw = frame_hw(&cfg.frames);
    let t = Instant::now();
    let n = samples.len();
    let names: Vec<String> = samples.iter().map(|x| x.name.clone()).collect();
    let dim = match args.format {
        EmbedFormat::Npy => {
            let (video, text, dim) = embed_split(
                &saved.model,
                samples,
                &saved.vocab,
                &cfg.batcher,
                cfg.batch_size,
                hw,
                device,
            )
            .map_err(s)?;
            std::fs::create_dir_all(&args.out)
                .map_err(|e| format!("{}: {e}", args.out.display()))?;
            write_npy(&args.out.join("video.npy"), &video, &[n as u64, dim as u64])?;
            write_npy(&args.out.join("text.npy"), &text, &[n as u64, dim as u64])?;
            san_data::io::write_atomic(
                &args.out.join("names.txt"),
                (names.join("\n") + "\n").as_bytes(),
            )
            .map_err(s)?;
            dim
        }
        EmbedFormat::Safetensors => {
            // One pass: the clip tokens (padded to the split's longest clip, as `search`
            // scores them) and both pooled embeddings.
            let parts = map_batches(
                samples,
                &saved.vocab,
                &cfg.batcher,
                cfg.batch_size,
                Some(max_frames(samples)),
                device,
                |b| {
                    let sign = clip_encoded(&saved.model, b.poses, b.pose_mask, hw)?;
                    let text = saved.model.encode_text(b.tokens, b.token_mask).pooled;
                    Ok((sign.tokens, (sign.pooled, text)))
                },
            )
            .map_err(s)?;
            let (tokens, pooled): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
            let (video, text): (Vec<_>, Vec<_>) = pooled.into_iter().unzip();
            let sign = concat_tokens(tokens);
            let (video, text) = (
                to_vec_f32(Tensor::cat(video, 0)),
                to_vec_f32(Tensor::cat(text, 0)),
            );
            let [_, m, d] = sign.tokens.dims();
            let dim = d;
            let tokens = to_vec_f32(sign.tokens);
            let mask: Vec<u8> = to_vec_f32(sign.mask.float())
                .iter()
                .map(|&x| u8::from(x > 0.5))
                .collect();
            let captions: Vec<String> = samples.iter().map(|x| x.words.join(" ")).collect();
            let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
            let (vb, tb, kb) = (bytes(&video), bytes(&text), bytes(&tokens));
            use safetensors::{Dtype, tensor::TensorView};
            fn view(
                dtype: Dtype,
                shape: Vec<usize>,
                data: &[u8],
            ) -> Result<TensorView<'_>, String> {
                TensorView::new(dtype, shape, data).map_err(|e| e.to_string())
            }
            let tensors = vec![
                ("video", view(Dtype::F32, vec![n, dim], &vb)?),
                ("text", view(Dtype::F32, vec![n, dim], &tb)?),
                ("video_tokens", view(Dtype::F32, vec![n, m, d], &kb)?),
                ("video_mask", view(Dtype::U8, vec![n, m], &mask)?),
            ];
            let mut meta = std::collections::HashMap::new();
            meta.insert("format".to_string(), INDEX_FORMAT.to_string());
            meta.insert(
                "names".to_string(),
                serde_json::to_string(&names).map_err(s)?,
            );
            meta.insert(
                "captions".to_string(),
                serde_json::to_string(&captions).map_err(s)?,
            );
            meta.insert("tau_tok".to_string(), cfg.tau_tok.to_string());
            let data = safetensors::serialize(tensors, Some(meta)).map_err(s)?;
            san_data::io::write_atomic(&args.out, &data).map_err(s)?;
            dim
        }
    };
    println!(
        "{n} clips and captions of {} embedded (D = {dim}) in {:.1} s; written to {}",
        args.split,
        t.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

fn write_npy(path: &Path, values: &[f32], shape: &[u64]) -> Result<(), String> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        w.extend(values.iter().copied())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        w.finish().map_err(|e| format!("{}: {e}", path.display()))?;
    }
    san_data::io::write_atomic(path, &buf).map_err(s)
}

/// A gallery index read back: clip tokens, masks and names.
struct Gallery {
    tokens: Vec<f32>,
    mask: Vec<bool>,
    shape: [usize; 3],
    names: Vec<String>,
    captions: Vec<String>,
}

fn read_gallery(path: &Path) -> Result<Gallery, String> {
    let bytes = san_data::io::read(path).map_err(s)?;
    let bad = |what: String| format!("{}: {what}", path.display());
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
        bad(format!(
            "expected a safetensors gallery index from `san embed`: {e}"
        ))
    })?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        bad(format!(
            "expected a safetensors gallery index from `san embed`: {e}"
        ))
    })?;
    let info = meta.metadata().clone().unwrap_or_default();
    if info.get("format").map(String::as_str) != Some(INDEX_FORMAT) {
        return Err(bad(format!(
            "expected a gallery index written by `san embed` (format {INDEX_FORMAT})"
        )));
    }
    let tokens = st
        .tensor("video_tokens")
        .map_err(|e| bad(format!("expected tensor video_tokens: {e}")))?;
    let mask = st
        .tensor("video_mask")
        .map_err(|e| bad(format!("expected tensor video_mask: {e}")))?;
    let shape: [usize; 3] = tokens.shape().try_into().map_err(|_| {
        bad(format!(
            "expected video_tokens [N, M, D], got {:?}",
            tokens.shape()
        ))
    })?;
    let names: Vec<String> = serde_json::from_str(info.get("names").map_or("[]", String::as_str))
        .map_err(|e| {
        bad(format!(
            "expected the clip names as a JSON list in the metadata: {e}"
        ))
    })?;
    let captions: Vec<String> =
        serde_json::from_str(info.get("captions").map_or("[]", String::as_str)).map_err(|e| {
            bad(format!(
                "expected the captions as a JSON list in the metadata: {e}"
            ))
        })?;
    if tokens.dtype() != safetensors::Dtype::F32
        || mask.shape() != [shape[0], shape[1]]
        || names.len() != shape[0]
    {
        return Err(bad(format!(
            "expected f32 video_tokens [N, M, D], video_mask [N, M] and N names; got {:?}, {:?} and {} names",
            tokens.shape(),
            mask.shape(),
            names.len()
        )));
    }
    let values = tokens
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Gallery {
        tokens: values,
        mask: mask.data().iter().map(|&b| b != 0).collect(),
        shape,
        names,
        captions,
    })
}

fn search<B: Backend>(args: &SearchArgs, device: &B::Device) -> Result<(), String> {
    let saved = load_saved_model::<B>(&args.model, device).map_err(s)?;
    let gallery = read_gallery(&args.index)?;
    let [n, m, d] = gallery.shape;
    let words = san_core::text::words(&args.query);
    let ids: Vec<i64> = saved
        .vocab
        .encode(&words)
        .iter()
        .map(|&i| i as i64)
        .collect();
    if ids.is_empty() {
        return Err(format!("--query {:?}: no words to search for", args.query));
    }
    let known = words
        .iter()
        .filter(|w| saved.vocab.id(w) > san_data::vocab::UNK)
        .count();
    let l = ids.len();
    let text = saved.model.encode_text_tokens(
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, l]), device),
        Tensor::<B, 2, Bool>::from_data(TensorData::new(vec![true; l], [1, l]), device),
    );
    let [_, _, dt] = text.tokens.dims();
    if dt != d {
        return Err(format!(
            "{}: the index has D = {d} but the model's tokens have D = {dt}; embed with this model",
            args.index.display()
        ));
    }
    let sign = Tensor::<B, 3>::from_data(TensorData::new(gallery.tokens, [n, m, d]), device);
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(gallery.mask, [n, m]), device);
    let scores = to_vec_f32(
        clcl_gallery(
            sign,
            mask,
            text.tokens,
            text.mask,
            &clcl_config(&saved.config),
        )
        .score(),
    );
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    println!(
        "query {:?} ({known} of {} words in the vocabulary); top {} of {n} clips:",
        args.query,
        words.len(),
        args.k.min(n)
    );
    for (rank, &i) in order.iter().take(args.k).enumerate() {
        let caption = gallery.captions.get(i).map_or("", String::as_str);
        println!(
            "{:>3}. {:>8.4}  {}  \"{caption}\"",
            rank + 1,
            scores[i],
            gallery.names[i]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_layers_file_then_sets_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "stage1_epochs = 3\noptimizer = \"Sgd\"\n[table]\nbeta = 0.7\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c = load_config(
            Some(&path),
            &[
                "stage1_epochs=5".into(),
                "grad_clip_norm=1.5".into(),
                "miner=Instance".into(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.stage1_epochs, 5, "--set wins over the file");
        assert_eq!(c.optimizer, san_train::schedule::OptimizerKind::Sgd);
        assert_eq!(c.table.beta, 0.7);
        assert_eq!(
            c.table.alpha,
            TrainConfig::new().table.alpha,
            "untouched keys keep defaults"
        );
        assert_eq!(c.grad_clip_norm, Some(1.5));
        assert_eq!(c.miner, san_train::config::Miner::Instance);

        std::fs::write(&path, "[table]\nbetta = 0.7\n").unwrap_or_else(|e| panic!("{e}"));
        let e = load_config(Some(&path), &[]).err().unwrap_or_default();
        assert!(e.contains("c.toml") && e.contains("table.betta"), "{e}");
        let e = load_config(None, &["nope=1".into()])
            .err()
            .unwrap_or_default();
        assert!(e.contains("nope"), "{e}");
        let e = load_config(None, &["stage1_epochs=many".into()])
            .err()
            .unwrap_or_default();
        assert!(e.contains("invalid setting"), "{e}");
        let e = load_config(None, &["seed".into()])
            .err()
            .unwrap_or_default();
        assert!(e.contains("KEY=VALUE"), "{e}");
    }

    #[test]
    fn ranked_pairs_are_unordered_and_sorted_by_score() {
        let mut t = ConfusabilityTable::default();
        t.links
            .insert("a".into(), vec![("b".into(), 0.9), ("c".into(), 0.5)]);
        t.links.insert("b".into(), vec![("a".into(), 0.9)]);
        t.links.insert("c".into(), vec![("a".into(), 0.5)]);
        let p = ranked_pairs(&t);
        assert_eq!(
            p,
            vec![("a".into(), "b".into(), 0.9), ("a".into(), "c".into(), 0.5)]
        );
    }
}
