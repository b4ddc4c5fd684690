//! The report of a run: both stages side by side, and the SAN table's statistics.

use std::fmt;

use san_core::metrics::RetrievalReport;
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark, ReliablePairs};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::negatives::semantic_table;
use crate::record::EpochRecord;
use san_data::corpus::Corpus;

/// What a run produces: the report, and the mining artefacts for inspection.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Metrics of both stages and the table's statistics.
    pub report: RunReport,
    /// The SAN table built from the selected stage-1 model.
    pub table: ConfusabilityTable,
    /// The test split's fine-grained benchmark.
    pub test_benchmark: Option<FineGrainedBenchmark>,
    /// Every epoch of both stages.
    pub history: Vec<EpochRecord>,
}

/// One stage's selected model, on dev and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The epoch selected on dev.
    pub best_epoch: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Wall time, seconds (training and per-epoch dev evaluation).
    pub seconds: f64,
    /// Dev metrics of the selected model.
    pub dev: RetrievalReport,
    /// Test metrics of the selected model (evaluated once).
    pub test: RetrievalReport,
}

/// What the SAN table holds, and how it compares with the truth where known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    /// Word occurrences examined.
    pub occurrences: usize,
    /// Reliable sign–word pairs (softmax max above α).
    pub reliable_pairs: usize,
    /// Words with at least one reliable pair.
    pub aligned_words: usize,
    /// Words with at least one link.
    pub linked_words: usize,
    /// Unordered links.
    pub links: usize,
    /// Training captions with at least one table word (those that get substituted
    /// negatives rather than the batch fallback).
    pub captions_covered: usize,
    /// Training captions.
    pub captions: usize,
    /// (precision, recall) of the links against signsim's families.
    pub sign_aware_pr: Option<(f64, f64)>,
    /// (precision, recall) of a semantic table (word vectors, same β) against the families.
    pub semantic_pr: Option<(f64, f64)>,
}

impl TableReport {
    /// Summarises a freshly built table.
    pub fn new(
        table: &ConfusabilityTable,
        pairs: &ReliablePairs,
        corpus: &Corpus,
        config: &TrainConfig,
    ) -> Self {
        let truth = corpus.signsim.as_ref().map(|m| m.truth());
        let semantic_pr = truth
            .as_ref()
            .and_then(|t| semantic_table(corpus, config).map(|s| s.precision_recall(t)));
        let captions: Vec<Vec<String>> = corpus.train.iter().map(|s| s.words.clone()).collect();
        let summary = table.summary(&captions);
        Self {
            captions_covered: summary.captions_covered,
            captions: summary.captions,
            occurrences: pairs.seen(),
            reliable_pairs: pairs.reliable(),
            aligned_words: pairs.words().len(),
            linked_words: table.len(),
            links: table.pairs().len(),
            sign_aware_pr: truth.as_ref().map(|t| table.precision_recall(t)),
            semantic_pr,
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Stage 1 (coarse loss).
    pub stage1: StageReport,
    /// Stage 2 (coarse + λ·fine with SAN hard negatives).
    pub stage2: StageReport,
    /// The table built from the stage-1 model.
    pub table: TableReport,
    /// Seconds to build the table.
    pub table_seconds: f64,
    /// Words with links in the table used at the end of stage 2.
    pub final_table_words: usize,
    /// The test split's fine-grained benchmark.
    pub fine_grained: Option<BenchmarkReport>,
}

/// What the fine-grained benchmark of a split holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkReport {
    /// Where the distractors came from.
    pub source: String,
    /// Queries.
    pub queries: usize,
    /// Most distractor captions per query.
    pub max_distractors: usize,
    /// Queries with fewer distractor captions than that.
    pub short: usize,
    /// Queries with none (left out of FG-V2T).
    pub without_distractors: usize,
    /// Queries with at least one distractor video (the FG-T2V queries).
    pub with_distractor_videos: usize,
}

impl BenchmarkReport {
    /// Summarises a benchmark.
    pub fn new(b: &FineGrainedBenchmark) -> Self {
        Self {
            source: b.source.clone(),
            queries: b.items.len(),
            max_distractors: b.max_distractors,
            short: b.short(),
            without_distractors: b.without_distractors(),
            with_distractor_videos: b.with_distractor_videos(),
        }
    }
}

fn metric_rows(r: &RetrievalReport) -> Vec<(&'static str, f64)> {
    let mut rows = vec![
        ("T2V R@1", r.t2v.r1),
        ("T2V R@5", r.t2v.r5),
        ("T2V R@10", r.t2v.r10),
        ("T2V MedR", r.t2v.medr),
        ("V2T R@1", r.v2t.r1),
        ("V2T R@5", r.v2t.r5),
        ("V2T R@10", r.v2t.r10),
        ("V2T MedR", r.v2t.medr),
    ];
    if let Some(m) = &r.fine_grained {
        rows.extend([
            ("FG-V2T R@1", m.r1),
            ("FG-V2T R@5", m.r5),
            ("FG-V2T MRR", 100.0 * m.mrr),
        ]);
    }
    if let Some(m) = &r.fine_grained_t2v {
        rows.extend([("FG-T2V R@1", m.r1), ("FG-T2V MRR", 100.0 * m.mrr)]);
    }
    rows
}

impl RunReport {
    /// `report.md`: the config, both stages on dev and test, the table, the fine-grained
    /// benchmark, every epoch, and the plots (file names relative to the report).
    pub fn to_markdown(
        &self,
        config: &TrainConfig,
        history: &[EpochRecord],
        plots: &[String],
    ) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "# SAN training report\n");
        let _ = writeln!(
            s,
            "Models are selected on dev ({}); test is evaluated once per stage, with the selected model.\n",
            if config.stage1.selection == config.stage2.selection {
                format!("{:?}", config.stage1.selection)
            } else {
                format!(
                    "stage 1: {:?}, stage 2: {:?}",
                    config.stage1.selection, config.stage2.selection
                )
            }
        );
        let _ = writeln!(s, "## Metrics\n");
        let _ = writeln!(
            s,
            "| metric | stage 1 dev | stage 1 test | stage 2 dev | stage 2 test | test change |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        let d1 = metric_rows(&self.stage1.dev);
        let t1 = metric_rows(&self.stage1.test);
        let d2 = metric_rows(&self.stage2.dev);
        let t2 = metric_rows(&self.stage2.test);
        let find = |rows: &[(&str, f64)], k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1);
        let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
        for (name, _) in &t2 {
            let (a, b) = (find(&t1, name), find(&t2, name));
            let change = match (a, b) {
                (Some(a), Some(b)) => format!("{:+.1}", b - a),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {change} |",
                cell(find(&d1, name)),
                cell(a),
                cell(find(&d2, name)),
                cell(b)
            );
        }
        let _ = writeln!(
            s,
            "\nTest queries: {}; chance T2V R@1 {:.2}%.\n",
            self.stage1.test.t2v.queries,
            100.0 / self.stage1.test.t2v.queries.max(1) as f64
        );
        let _ = writeln!(
            s,
            "Selected epochs: stage 1 {}/{} ({:.0} s), stage 2 {}/{} ({:.0} s).\n",
            self.stage1.best_epoch,
            self.stage1.epochs,
            self.stage1.seconds,
            self.stage2.best_epoch,
            self.stage2.epochs,
            self.stage2.seconds
        );
        let t = &self.table;
        let _ = writeln!(s, "## SAN table (from the selected stage-1 model)\n");
        let _ = writeln!(s, "| statistic | value |\n|---|---:|");
        let _ = writeln!(s, "| word occurrences examined | {} |", t.occurrences);
        let _ = writeln!(s, "| reliable sign–word pairs (α) | {} |", t.reliable_pairs);
        let _ = writeln!(s, "| aligned words | {} |", t.aligned_words);
        let _ = writeln!(s, "| linked words | {} |", t.linked_words);
        let _ = writeln!(s, "| links (β) | {} |", t.links);
        let _ = writeln!(
            s,
            "| training captions covered | {}/{} |",
            t.captions_covered, t.captions
        );
        let _ = writeln!(s, "| seconds to build | {:.1} |", self.table_seconds);
        if let Some((p, r)) = t.sign_aware_pr {
            let _ = writeln!(
                s,
                "| precision, recall vs signsim families | {p:.2}, {r:.2} |"
            );
        }
        if let Some((p, r)) = t.semantic_pr {
            let _ = writeln!(s, "| semantic table: precision, recall | {p:.2}, {r:.2} |");
        }
        let _ = writeln!(
            s,
            "| words with links at the end of stage 2 | {} |",
            self.final_table_words
        );
        if let Some(b) = &self.fine_grained {
            let _ = writeln!(s, "\n## Fine-grained benchmark (test)\n");
            let _ = writeln!(
                s,
                "Source: {}. {} queries; up to {} distractor captions each; {} with fewer, {} with none (left out of FG-V2T); {} with distractor videos (the FG-T2V queries).",
                b.source,
                b.queries,
                b.max_distractors,
                b.short,
                b.without_distractors,
                b.with_distractor_videos
            );
        }
        let _ = writeln!(s, "\n## Epochs\n");
        let _ = writeln!(
            s,
            "| stage | epoch | loss | lr | dev T2V R@1 | dev V2T R@1 | dev FG-V2T R@1 | selection | seconds |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in history {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.2e} | {:.1} | {:.1} | {} | {:.2} | {:.1} |",
                r.stage,
                r.epoch,
                r.loss,
                r.learning_rate,
                r.dev.t2v.r1,
                r.dev.v2t.r1,
                cell(r.dev.fine_grained.map(|m| m.r1)),
                r.selection,
                r.seconds
            );
        }
        if !plots.is_empty() {
            let _ = writeln!(s, "\n## Plots\n");
            for p in plots {
                let _ = writeln!(s, "![{p}]({p})\n");
            }
        }
        let _ = writeln!(s, "## Config\n\n```json");
        let _ = writeln!(
            s,
            "{}",
            serde_json::to_string_pretty(config).unwrap_or_default()
        );
        let _ = writeln!(s, "```");
        s
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s1, s2) = (&self.stage1.test, &self.stage2.test);
        writeln!(
            f,
            "test split ({} queries), selected on dev",
            s1.t2v.queries
        )?;
        writeln!(
            f,
            "{:<14} {:>9} {:>9} {:>8}",
            "metric", "stage 1", "stage 2", "change"
        )?;
        let mut row = |name: &str, a: f64, b: f64| {
            writeln!(f, "{name:<14} {a:>9.1} {b:>9.1} {:>+8.1}", b - a)
        };
        // The rows both stages have, in `metric_rows` order.
        let before = metric_rows(s1);
        for (name, b) in metric_rows(s2) {
            if let Some(&(_, a)) = before.iter().find(|r| r.0 == name) {
                row(name, a, b)?;
            }
        }
        writeln!(
            f,
            "chance T2V R@1: {:.1}",
            100.0 / s1.t2v.queries.max(1) as f64
        )?;
        if let Some(b) = &self.fine_grained {
            writeln!(
                f,
                "fine-grained benchmark ({}): {} queries, {} with fewer than {} distractor captions ({} with none), {} with distractor videos",
                b.source,
                b.queries,
                b.short,
                b.max_distractors,
                b.without_distractors,
                b.with_distractor_videos
            )?;
        }
        writeln!(
            f,
            "epochs selected: stage 1 {}/{} ({:.0} s), stage 2 {}/{} ({:.0} s)",
            self.stage1.best_epoch,
            self.stage1.epochs,
            self.stage1.seconds,
            self.stage2.best_epoch,
            self.stage2.epochs,
            self.stage2.seconds
        )?;
        let t = &self.table;
        writeln!(
            f,
            "SAN table: {} reliable pairs of {} word occurrences, {} aligned words, {} linked words, {} links, {}/{} training captions covered ({:.1} s)",
            t.reliable_pairs,
            t.occurrences,
            t.aligned_words,
            t.linked_words,
            t.links,
            t.captions_covered,
            t.captions,
            self.table_seconds
        )?;
        if let Some((p, r)) = t.sign_aware_pr {
            write!(
                f,
                "links vs signsim families: sign-aware P {:.2} R {:.2}",
                p, r
            )?;
            if let Some((sp, sr)) = t.semantic_pr {
                write!(f, "; semantic P {:.2} R {:.2}", sp, sr)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
