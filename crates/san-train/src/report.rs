//! The report of a run: both stages side by side, and the SAN table's statistics.

use std::fmt;

use san_core::metrics::RetrievalReport;
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark, ReliablePairs};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::corpus::Corpus;

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
        let semantic_pr = truth.as_ref().and_then(|t| {
            crate::experiment::semantic_table(corpus, config).map(|s| s.precision_recall(t))
        });
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
        row("T2V R@1", s1.t2v.r1, s2.t2v.r1)?;
        row("T2V R@5", s1.t2v.r5, s2.t2v.r5)?;
        row("T2V R@10", s1.t2v.r10, s2.t2v.r10)?;
        row("T2V MedR", s1.t2v.medr, s2.t2v.medr)?;
        row("V2T R@1", s1.v2t.r1, s2.v2t.r1)?;
        row("V2T R@5", s1.v2t.r5, s2.v2t.r5)?;
        row("V2T R@10", s1.v2t.r10, s2.v2t.r10)?;
        row("V2T MedR", s1.v2t.medr, s2.v2t.medr)?;
        if let (Some(a), Some(b)) = (&s1.fine_grained, &s2.fine_grained) {
            row("FG-V2T R@1", a.r1, b.r1)?;
            row("FG-V2T R@5", a.r5, b.r5)?;
            row("FG-V2T MRR", 100.0 * a.mrr, 100.0 * b.mrr)?;
        }
        if let (Some(a), Some(b)) = (&s1.fine_grained_t2v, &s2.fine_grained_t2v) {
            row("FG-T2V R@1", a.r1, b.r1)?;
            row("FG-T2V MRR", 100.0 * a.mrr, 100.0 * b.mrr)?;
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
