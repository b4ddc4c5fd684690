//! The signsim experiment: which hard negatives teach fine-grained retrieval?
//!
//! For each seed, one stage-1 model (coarse loss) is trained and selected on dev. From it,
//! one stage-2 arm per [`Miner`] trains for the same number of epochs with the same data
//! order ([`ARMS`] by default):
//!
//! | arm | stage-2 loss | hard captions from |
//! |---|---|---|
//! | (a) [`Miner::None`] | coarse only | – |
//! | (b) [`Miner::Semantic`] | coarse + λ·fine | a semantic table (word vectors, same β) |
//! | (c) [`Miner::San`] | coarse + λ·fine | the SAN table of the stage-1 model |
//! | (d) [`Miner::SanSynonymFilter`] | coarse + λ·fine | (c) less links whose words are near-synonyms in the text space (`mining.table.tau_syn`) |
//! | (e) [`Miner::Instance`] | coarse + λ·fine | the captions of mined neighbour clips |
//!
//! Each arm selects its epoch on dev (coarse R@1 and fine-grained R@1 against the
//! ground-truth distractors) and is evaluated once on test. Tables are scored against
//! signsim's true families.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_core::mining::ConfusabilityTable;
use san_data::phoenix::Split;
use san_models::retrieval::RetrievalModel;
use serde::{Deserialize, Serialize};

use crate::config::{Miner, TrainConfig};
use crate::error::{Result, TrainError};
use crate::eval::evaluate;
use crate::model::{clcl_config, init_model};
use crate::negatives::{Negatives, build_negatives, fine_grained_benchmark, reliable_pairs};
use crate::record::EpochHook;
use crate::stage::train_stage;
use san_data::corpus::Corpus;

/// The experiment's four arms, in the order of its results table.
pub const ARMS: [Miner; 4] = [
    Miner::None,
    Miner::Semantic,
    Miner::San,
    Miner::SanSynonymFilter,
];

/// Settings beyond the training configuration (the synonym filter of arm (d) is the
/// training config's `mining.table.tau_syn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Seeds; each trains its own stage-1 model and every arm.
    pub seeds: Vec<u64>,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            seeds: vec![1, 2, 3],
        }
    }
}

/// A table's size and its agreement with the true families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableScore {
    /// Unordered links.
    pub links: usize,
    /// Precision of the links against the families.
    pub precision: f64,
    /// Recall of the family pairs.
    pub recall: f64,
}

/// One arm trained with one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// The arm: the stage-2 miner.
    pub arm: Miner,
    /// The seed.
    pub seed: u64,
    /// Stage-2 epoch selected on dev.
    pub best_epoch: usize,
    /// Test metrics of the selected model (coarse both ways, fine-grained V2T).
    pub test: RetrievalReport,
    /// The table the arm drew hard captions from.
    pub table: Option<TableScore>,
    /// Stage-2 training time, seconds.
    pub seconds: f64,
}

/// Everything the experiment measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// The settings.
    pub config: ExperimentConfig,
    /// Stage-1 test metrics per seed (the common starting point of the arms).
    pub stage1: Vec<(u64, RetrievalReport)>,
    /// One entry per arm and seed.
    pub runs: Vec<ArmResult>,
    /// FG-V2T R@1 of a random ranking (%): the mean over test queries of
    /// 1 / (1 + distractor captions).
    pub fine_grained_chance: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

fn score(table: &ConfusabilityTable, corpus: &Corpus) -> Option<TableScore> {
    let truth = corpus.signsim.as_ref()?.truth();
    let (precision, recall) = table.precision_recall(&truth);
    Some(TableScore {
        links: table.pairs().len(),
        precision,
        recall,
    })
}

/// Runs the arms for every seed. `config.seed` is replaced by each seed in turn, and
/// `config.mining.miner` by each arm. An arm whose negatives need word vectors the corpus
/// does not have is skipped.
pub fn run_experiment<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    experiment: &ExperimentConfig,
    arms: &[Miner],
    device: &B::Device,
    hook: EpochHook<'_>,
) -> Result<ExperimentReport> {
    let t0 = Instant::now();
    let inner = device.clone();
    let mut runs = Vec::new();
    let mut stage1 = Vec::new();
    let has_vectors = corpus.word_vectors.is_some();
    // signsim's ground-truth benchmarks: the same for every seed.
    let dev_fg = fine_grained_benchmark(corpus, Split::Dev, None, config);
    let test_fg = fine_grained_benchmark(corpus, Split::Test, None, config);
    let fine_grained_chance = test_fg.as_ref().map_or(f64::NAN, |b| {
        100.0
            * b.items
                .iter()
                .map(|i| 1.0 / (1.0 + i.distractors.len() as f64))
                .sum::<f64>()
            / b.items.len().max(1) as f64
    });
    for &seed in &experiment.seeds {
        let cfg = config.clone().with_seed(seed);
        let clcl_cfg = clcl_config(&cfg);
        let test_of = |model: &RetrievalModel<B>| {
            evaluate(
                &model.valid(),
                &corpus.test,
                &corpus.text,
                &cfg.data.batcher,
                &clcl_cfg,
                test_fg.as_ref(),
                DuplicatePolicy::Strict,
                &inner,
            )
        };

        B::seed(device, seed);
        let model = init_model::<B>(&cfg, corpus, device)?;
        let (base, _, _, _) = train_stage(
            model,
            1,
            corpus,
            &cfg,
            Negatives::None,
            dev_fg.as_ref(),
            device,
            hook,
        )?;
        stage1.push((seed, test_of(&base)?));

        // One pass over the training split serves every table arm.
        let pairs = reliable_pairs(&base.valid(), corpus, &cfg, &inner)?;
        for &arm in arms {
            let needs_vectors = matches!(arm, Miner::Semantic | Miner::SanSynonymFilter);
            if needs_vectors && !has_vectors {
                continue;
            }
            let arm_cfg = {
                let mut c = cfg.clone();
                c.mining.miner = arm;
                c
            };
            let negatives = build_negatives(&base.valid(), corpus, &arm_cfg, Some(&pairs), &inner)?;
            let table = negatives.table().cloned();
            // Every arm sees the same dropout stream and data order: the stage-2 epoch
            // seeds of `seed`.
            let t = Instant::now();
            let (model, best_epoch, _, _) = train_stage(
                base.clone(),
                2,
                corpus,
                &arm_cfg,
                negatives,
                dev_fg.as_ref(),
                device,
                hook,
            )?;
            let seconds = t.elapsed().as_secs_f64();
            runs.push(ArmResult {
                arm,
                seed,
                best_epoch,
                test: test_of(&model)?,
                table: table.as_ref().and_then(|t| score(t, corpus)),
                seconds,
            });
        }
    }
    Ok(ExperimentReport {
        config: experiment.clone(),
        stage1,
        runs,
        fine_grained_chance,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

impl ExperimentReport {
    /// The runs of one arm.
    pub fn arm(&self, arm: Miner) -> Vec<&ArmResult> {
        self.runs.iter().filter(|r| r.arm == arm).collect()
    }

    /// Mean and std over seeds of (T2V R@1, V2T R@1, FG-V2T R@1) for one arm.
    pub fn summary(&self, arm: Miner) -> [(f64, f64); 3] {
        let runs = self.arm(arm);
        let pick = |f: &dyn Fn(&ArmResult) -> f64| -> (f64, f64) {
            mean_std(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        [
            pick(&|r| r.test.t2v.r1),
            pick(&|r| r.test.v2t.r1),
            pick(&|r| r.test.fine_grained.as_ref().map_or(f64::NAN, |m| m.r1)),
        ]
    }

    /// Checks the direction of the effect. With `fine_grained`, SAN negatives (c) must
    /// give a higher mean FG-V2T R@1 than (a) and than (b); always, the SAN table must be
    /// more precise than the semantic table and recall some true link. `Ok` holds a
    /// one-line summary; [`TrainError::NoEffect`] says which comparisons failed.
    pub fn direction(&self, fine_grained: bool) -> Result<String> {
        let fg = |arm| self.summary(arm)[2].0;
        let table = |arm, f: fn(&TableScore) -> f64| {
            mean_std(
                &self
                    .arm(arm)
                    .iter()
                    .filter_map(|r| r.table.as_ref().map(f))
                    .collect::<Vec<_>>(),
            )
            .0
        };
        direction_check(
            fine_grained.then(|| [fg(Miner::None), fg(Miner::Semantic), fg(Miner::San)]),
            [
                table(Miner::Semantic, |t| t.precision),
                table(Miner::San, |t| t.precision),
            ],
            table(Miner::San, |t| t.recall),
        )
    }

    /// The results as a markdown table (mean ± std over seeds), with the tables'
    /// precision and recall against the true families.
    pub fn markdown(&self) -> String {
        let pm = |(m, s): (f64, f64)| format!("{m:.1} ± {s:.1}");
        let mut out = String::from(
            "| arm | T2V R@1 | V2T R@1 | FG-V2T R@1 | table links | table P | table R |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        for arm in [
            Miner::None,
            Miner::Semantic,
            Miner::San,
            Miner::SanSynonymFilter,
            Miner::Instance,
        ] {
            let runs = self.arm(arm);
            if runs.is_empty() {
                continue;
            }
            let [t2v, v2t, fg] = self.summary(arm);
            let tables: Vec<&TableScore> = runs.iter().filter_map(|r| r.table.as_ref()).collect();
            let (links, p, r) = if tables.is_empty() {
                ("–".to_string(), "–".to_string(), "–".to_string())
            } else {
                let col = |f: &dyn Fn(&TableScore) -> f64| {
                    mean_std(&tables.iter().map(|t| f(t)).collect::<Vec<_>>())
                };
                let pm2 = |(m, s): (f64, f64)| format!("{m:.2} ± {s:.2}");
                (
                    pm(col(&|t| t.links as f64)),
                    pm2(col(&|t| t.precision)),
                    pm2(col(&|t| t.recall)),
                )
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {links} | {p} | {r} |\n",
                arm.label(),
                pm(t2v),
                pm(v2t),
                pm(fg)
            ));
        }
        let s1 = |f: &dyn Fn(&RetrievalReport) -> f64| {
            pm(mean_std(
                &self.stage1.iter().map(|(_, r)| f(r)).collect::<Vec<_>>(),
            ))
        };
        out.push_str(&format!(
            "\nStage 1 (common start): T2V R@1 {}, V2T R@1 {}, FG-V2T R@1 {}. FG-V2T R@1 of a random ranking: {:.1}. Seeds {:?}; {:.0} s in all.\n",
            s1(&|r| r.t2v.r1),
            s1(&|r| r.v2t.r1),
            s1(&|r| r.fine_grained.as_ref().map_or(f64::NAN, |m| m.r1)),
            self.fine_grained_chance,
            self.config.seeds,
            self.seconds
        ));
        out
    }
}

/// `x > y`, false when either is NaN.
fn above(x: f64, y: f64) -> bool {
    x.partial_cmp(&y) == Some(std::cmp::Ordering::Greater)
}

/// The comparisons of [`ExperimentReport::direction`]: `fg` = FG-V2T R@1 of (a), (b),
/// (c) when checked; `precision` = table precision of (b) and (c); `recall` = the SAN
/// table's recall. A missing value (NaN) fails.
pub fn direction_check(fg: Option<[f64; 3]>, precision: [f64; 2], recall: f64) -> Result<String> {
    let [p_sem, p_san] = precision;
    let mut failed = Vec::new();
    let mut held = Vec::new();
    if let Some([a, b, c]) = fg {
        if !above(c, a) {
            failed.push(format!("FG-V2T R@1 of (c) {c:.1} is not above (a) {a:.1}"));
        }
        if !above(c, b) {
            failed.push(format!("FG-V2T R@1 of (c) {c:.1} is not above (b) {b:.1}"));
        }
        held.push(format!("FG-V2T R@1 (c) {c:.1} > (a) {a:.1}, (b) {b:.1}"));
    }
    if !above(p_san, p_sem) {
        failed.push(format!(
            "SAN table precision {p_san:.2} is not above the semantic table's {p_sem:.2}"
        ));
    }
    if !above(recall, 0.0) {
        failed.push(format!("SAN table recall {recall:.2} is not above 0"));
    }
    held.push(format!(
        "table precision SAN {p_san:.2} > semantic {p_sem:.2}, SAN recall {recall:.2}"
    ));
    if failed.is_empty() {
        Ok(format!("direction holds: {}", held.join("; ")))
    } else {
        Err(TrainError::NoEffect(failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_check_compares_each_pair_and_fails_on_missing_values() {
        assert!(direction_check(Some([4.0, 1.0, 13.0]), [0.0, 1.0], 0.7).is_ok());
        let e = direction_check(Some([4.0, 14.0, 13.0]), [0.0, 1.0], 0.7)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not above (b) 14.0") && !e.contains("(a)"),
            "{e}"
        );
        let e = direction_check(Some([4.0, 1.0, 13.0]), [0.5, 0.5], 0.7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("precision"), "{e}");
        assert!(direction_check(Some([4.0, 1.0, f64::NAN]), [0.0, 1.0], 0.7).is_err());
        assert!(
            direction_check(Some([4.0, 1.0, 4.0]), [0.0, 1.0], 0.7).is_err(),
            "a tie is no effect"
        );
        // tables only: FG values are not looked at; an empty SAN table fails
        assert!(direction_check(None, [0.0, 0.94], 0.67).is_ok());
        assert!(direction_check(None, [0.0, f64::NAN], f64::NAN).is_err());
        assert!(direction_check(None, [0.0, 1.0], 0.0).is_err());
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        // Values 1, 2, 3: mean 2, sample variance (1 + 0 + 1) / 2 = 1.
        assert_eq!(mean_std(&[1.0, 2.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }
}
