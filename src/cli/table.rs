//! `san table build` (the SAN table of a saved model, or the semantic table from word
//! vectors) and `san table show` (a table's most confusable pairs).

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::Backend;
use san_core::mining::ConfusabilityTable;
use san_data::corpus::Corpus;
use san_data::phoenix::{Split, read_corpus_csv};
use san_data::sample::corpus_csv_path;
use san_train::config::TrainConfig;
use san_train::negatives::{build_table, semantic_table};
use san_train::output::load_saved_model;

use super::common::{check_data, open_split};
use crate::backend::DeviceChoice;
use crate::error::{CliError, Result};

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
    /// A model folder written by `san train` (required with --kind san, the default; its
    /// config supplies α (mining.reliable.alpha), β (mining.table.beta) and the input
    /// kind). A run's saved model is its stage-2 model, so its table differs from the
    /// run's san_table.json, which stage 2 trained with (built from the stage-1 model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Corpus root.
    #[arg(long)]
    pub data: PathBuf,
    /// Reliability threshold α (default: the model's config).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Link threshold β (default: the model's config, or the library's 0.7 without a
    /// model).
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

/// `san table build`: the SAN table of a saved model, or the semantic table.
pub fn build<B: Backend>(args: &TableBuildArgs, device: &B::Device) -> Result<()> {
    check_data(&args.data)?;
    let t = Instant::now();
    let table = match args.kind {
        TableKind::San => {
            let Some(model) = &args.model else {
                return Err(CliError::arg(
                    "table build --kind san",
                    "needs --model (a model folder written by `san train`)",
                ));
            };
            let saved = load_saved_model::<B>(model, device)?;
            let corpus = open_split(&args.data, Split::Train, &saved)?;
            let mut cfg = saved.config.clone();
            if let Some(a) = args.alpha {
                cfg.mining.reliable.alpha = a;
            }
            if let Some(b) = args.beta {
                cfg.mining.table.beta = b;
            }
            build_table(&saved.model, &corpus, &cfg, device)?.0
        }
        TableKind::Semantic => {
            let mut cfg = match &args.model {
                Some(m) => load_saved_model::<B>(m, device)?.config,
                None => TrainConfig::new(),
            };
            if let Some(b) = args.beta {
                cfg.mining.table.beta = b;
            }
            let vectors = args.data.join("wordvecs.vec");
            if !vectors.is_file() {
                return Err(CliError::arg(
                    vectors.display().to_string(),
                    "no such file (the semantic table needs word vectors in the FastText text format)",
                ));
            }
            let rows = read_corpus_csv(&corpus_csv_path(&args.data, Split::Train))?;
            let words = rows
                .iter()
                .map(|r| san_core::text::words(&r.translation))
                .collect::<Vec<_>>();
            let vocab = san_data::vocab::Vocabulary::build(words.iter().map(|w| w.as_slice()), 1);
            let corpus = Corpus::with_split(&args.data, Split::Train, Vec::new(), vocab)?;
            semantic_table(&corpus, &cfg).ok_or_else(|| {
                CliError::arg(
                    vectors.display().to_string(),
                    "could not read the word vectors",
                )
            })?
        }
    };
    san_data::tables::write_table(&args.out, &table)?;
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

fn print_pairs(table: &ConfusabilityTable, top: usize) {
    let pairs = table.ranked_pairs();
    if pairs.is_empty() {
        println!("(no links)");
    }
    for (a, b, score) in pairs.iter().take(top) {
        println!("{score:>7.3}  {a} ~ {b}");
    }
}

/// `san table show`: a table's most confusable pairs.
pub fn show(args: &TableShowArgs) -> Result<()> {
    let table = san_data::tables::read_table(&args.table)?;
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
