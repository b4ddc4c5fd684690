//! The report of a run: both stages side by side, and the SAN table's statistics.

use std::fmt;

use san_core::metrics::RetrievalReport;
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark, ReliablePairs};
use serde::{Deserialize, Serialize};

use crate::config::{Miner, TrainConfig};
use crate::metric_rows::{metric_rows, value};
use crate::negatives::{Negatives, semantic_table};
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
    /// Where stage 2's hard negatives came from, and how many captions the miner could
    /// serve (the rest took other captions of their batch).
    #[serde(default)]
    pub stage2_negatives: Option<NegativesReport>,
}

/// What stage 2 trained against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NegativesReport {
    /// The miner (`mining.miner`).
    pub miner: String,
    /// Links of the table the hard captions were substituted through (0 without a table).
    pub table_links: usize,
    /// Training captions with at least one table word: those that got substituted hard
    /// captions (all captions for the instance miner, none without a miner).
    pub captions_served: usize,
    /// Training captions.
    pub captions: usize,
}

impl NegativesReport {
    /// The report of `negatives` built by `miner` over the training captions.
    pub fn new(miner: Miner, negatives: &Negatives, captions: &[Vec<String>]) -> Self {
        let (table_links, captions_served) = match negatives {
            Negatives::None => (0, 0),
            Negatives::Captions(t) => (t.pairs().len(), t.summary(captions).captions_covered),
            Negatives::Neighbours(n) => (0, n.iter().filter(|x| !x.is_empty()).count()),
        };
        Self {
            miner: format!("{miner:?}"),
            table_links,
            captions_served,
            captions: captions.len(),
        }
    }
}

impl fmt::Display for NegativesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = self.captions - self.captions_served.min(self.captions);
        match self.miner.as_str() {
            "None" => write!(f, "stage 2 negatives: none (miner None, coarse loss only)"),
            "Instance" => write!(
                f,
                "stage 2 negatives: mined neighbours; {}/{} training clips have neighbours, the other {rest} (and unfilled slots) take other captions of their batch",
                self.captions_served, self.captions
            ),
            miner if self.table_links == 0 => write!(
                f,
                "stage 2 negatives: the {miner} table is empty, so every training caption's hard captions were other captions of its batch (in-batch fallback)"
            ),
            miner => write!(
                f,
                "stage 2 negatives: {miner} table with {} links; {}/{} training captions got substituted hard captions, the other {rest} (and unfilled slots) took other captions of their batch",
                self.table_links, self.captions_served, self.captions
            ),
        }
    }
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
        let fg = self.fine_grained.is_some();
        let d1 = metric_rows(&self.stage1.dev, fg);
        let t1 = metric_rows(&self.stage1.test, fg);
        let d2 = metric_rows(&self.stage2.dev, fg);
        let t2 = metric_rows(&self.stage2.test, fg);
        let find = |rows: &[(&str, Option<f64>)], k: &str| {
            rows.iter().find(|r| r.0 == k).and_then(|r| r.1)
        };
        for (name, _) in &t2 {
            let (a, b) = (find(&t1, name), find(&t2, name));
            let change = match (a, b) {
                (Some(a), Some(b)) => format!("{:+.1}", b - a),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {change} |",
                value(find(&d1, name)),
                value(a),
                value(find(&d2, name)),
                value(b)
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
        if let Some(n) = &self.stage2_negatives {
            let _ = writeln!(s, "\n{n}.");
        }
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
                value(r.dev.fine_grained.map(|m| m.r1)),
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
            "{:<23} {:>9} {:>9} {:>8}",
            "metric", "stage 1", "stage 2", "change"
        )?;
        let mut row = |name: &str, a: Option<f64>, b: Option<f64>| {
            let change = match (a, b) {
                (Some(a), Some(b)) => format!("{:+.1}", b - a),
                _ => "n/a".to_string(),
            };
            writeln!(f, "{name:<23} {:>9} {:>9} {change:>8}", value(a), value(b))
        };
        // The rows both stages have, in `metric_rows` order.
        let fg = self.fine_grained.is_some();
        let before = metric_rows(s1, fg);
        for (name, b) in metric_rows(s2, fg) {
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
                "fine-grained benchmark ({}): {} queries, {} with at least one distractor caption ({} with fewer than {}, {} with none), {} with distractor videos",
                b.source,
                b.queries,
                b.queries - b.without_distractors.min(b.queries),
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
        if let Some(n) = &self.stage2_negatives {
            writeln!(f, "{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use san_core::metrics::RetrievalMetrics;

    fn stage(fine_grained: Option<RetrievalMetrics>) -> StageReport {
        let m = RetrievalMetrics::from_ranks(&[1, 2]);
        let r = RetrievalReport {
            t2v: m,
            v2t: m,
            fine_grained,
            fine_grained_t2v: None,
            fine_grained_detail: None,
            fine_grained_t2v_detail: None,
            fine_grained_v2t_only: None,
        };
        StageReport {
            best_epoch: 1,
            epochs: 1,
            seconds: 0.0,
            dev: r.clone(),
            test: r,
        }
    }

    fn report(fine_grained: Option<RetrievalMetrics>, negatives: NegativesReport) -> RunReport {
        RunReport {
            stage1: stage(fine_grained),
            stage2: stage(fine_grained),
            table: TableReport {
                occurrences: 10,
                reliable_pairs: 0,
                aligned_words: 0,
                linked_words: 0,
                links: 0,
                captions_covered: 0,
                captions: 4,
                sign_aware_pr: None,
                semantic_pr: None,
            },
            table_seconds: 0.0,
            final_table_words: 0,
            fine_grained: Some(BenchmarkReport {
                source: "stage-1 SAN table".into(),
                queries: 2,
                max_distractors: 40,
                short: 2,
                without_distractors: 2,
                with_distractor_videos: 0,
            }),
            stage2_negatives: Some(negatives),
        }
    }

    #[test]
    fn an_empty_table_prints_n_a_and_names_the_fallback() {
        let captions: Vec<Vec<String>> = vec![vec!["a".into()], vec!["b".into()]];
        let empty = NegativesReport::new(
            Miner::San,
            &Negatives::Captions(ConfusabilityTable::default()),
            &captions,
        );
        assert_eq!(
            (empty.table_links, empty.captions_served, empty.captions),
            (0, 0, 2)
        );
        let text = report(None, empty).to_string();
        // No query had a distractor: the FG rows say n/a, never 0.0.
        assert!(text.contains("FG-V2T R@1"), "{text}");
        let fg: Vec<&str> = text.lines().filter(|l| l.starts_with("FG-V2T")).collect();
        // R@1, R@5, MRR, the pairwise accuracy, four random levels and the z_v2t-only pair.
        assert_eq!(fg.len(), 10, "{text}");
        assert!(fg.iter().all(|l| l.matches("n/a").count() == 3), "{text}");
        assert!(text.contains("the San table is empty"), "{text}");
        assert!(text.contains("in-batch fallback"), "{text}");
        assert!(
            text.contains("2 queries, 0 with at least one distractor caption"),
            "{text}"
        );
        let md = report(
            None,
            NegativesReport::new(Miner::None, &Negatives::None, &captions),
        )
        .to_markdown(&TrainConfig::new(), &[], &[]);
        assert!(
            md.contains("| FG-V2T R@1 | n/a | n/a | n/a | n/a | – |"),
            "{md}"
        );
        assert!(md.contains("none (miner None, coarse loss only)"), "{md}");
    }

    #[test]
    fn table_coverage_counts_captions_with_a_table_word() {
        // "regen" is linked; 2 of the 3 captions hold it.
        let mut t = ConfusabilityTable::default();
        t.links.insert("regen".into(), vec![("sonne".into(), 0.9)]);
        t.links.insert("sonne".into(), vec![("regen".into(), 0.9)]);
        let captions: Vec<Vec<String>> = [["im", "regen"], ["regen", "nord"], ["im", "west"]]
            .iter()
            .map(|c| c.iter().map(|w| w.to_string()).collect())
            .collect();
        let n = NegativesReport::new(Miner::San, &Negatives::Captions(t), &captions);
        assert_eq!((n.table_links, n.captions_served, n.captions), (1, 2, 3));
        let line = n.to_string();
        assert!(
            line.contains("2/3 training captions") && line.contains("other 1"),
            "{line}"
        );
    }
}
