//! `san finegrained`: the fine-grained benchmark of a split, from a table or from
//! signsim's ground truth.

use std::path::PathBuf;

use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark};
use san_data::phoenix::read_corpus_csv;
use san_data::sample::corpus_csv_path;
use san_data::signsim::SignsimMeta;

use super::common::{check_data, parse_split};
use crate::error::{CliError, Result};

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

/// `san finegrained`: the fine-grained benchmark of a split.
pub fn run(args: &FinegrainedArgs) -> Result<()> {
    let split = parse_split(&args.split)?;
    check_data(&args.data)?;
    let rows = read_corpus_csv(&corpus_csv_path(&args.data, split))?;
    let queries: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|r| (r.name.clone(), san_core::text::words(&r.translation)))
        .collect();
    let benchmark = match &args.table {
        Some(path) => {
            let table = san_data::tables::read_table(path)?;
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
                return Err(CliError::arg(
                    args.data.display().to_string(),
                    "not a signsim corpus, so there is no ground truth; pass --table (e.g. <out>/san_table.json)",
                ));
            }
            let meta = SignsimMeta::load(&args.data)?;
            let truth = meta.distractors.get(split.name()).ok_or_else(|| {
                CliError::arg(
                    args.data.join("signsim.json").display().to_string(),
                    format!("no distractors for the {split} split"),
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
    san_data::tables::write_benchmark(&args.out, &benchmark)?;
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
