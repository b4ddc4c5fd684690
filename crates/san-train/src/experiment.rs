//! The signsim experiment: which hard negatives teach fine-grained retrieval?
//!
//! For each seed, one stage-1 model (coarse loss) is trained and selected on dev. From it,
//! one stage-2 run per [`Arm`] trains for the same number of epochs with the same epoch
//! seeds ([`ALL_ARMS`] by default):
//!
//! | arm | stage-2 loss | hard captions from |
//! |---|---|---|
//! | (a) [`Arm::None`] | coarse only | – |
//! | (b) [`Arm::Semantic`] | coarse + λ·fine | a semantic table (word vectors, same β) |
//! | (c) [`Arm::San`] | coarse + λ·fine | the SAN table of the stage-1 model |
//! | (d) [`Arm::SanSynonymFilter`] | coarse + λ·fine | (c) less links whose words are near-synonyms in the text space (`mining.table.tau_syn`) |
//! | (e) [`Arm::SanRefreshed`] | coarse + λ·fine | the SAN table of the current model, rebuilt every [`ExperimentConfig::refresh_every`] epochs |
//! | (f) [`Arm::Instance`] | coarse + λ·fine | the captions of each clip's nearest clips in sign space |
//!
//! Each arm selects its epoch on dev (coarse R@1 and fine-grained R@1 against the
//! ground-truth distractors) and is evaluated once on test. Tables are scored against
//! signsim's true families.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark};
use san_data::phoenix::Split;
use san_models::retrieval::RetrievalModel;
use serde::{Deserialize, Serialize};

pub use crate::arm::{ALL_ARMS, Arm};
use crate::config::{Stage2Init, TrainConfig};
use crate::error::{Result, TrainError};
use crate::eval::evaluate;
use crate::model::{clcl_config, init_model};
use crate::negatives::{Negatives, build_negatives, fine_grained_benchmark, reliable_pairs};
use crate::record::Stage;
use crate::stage::train_stage;
use san_data::corpus::Corpus;

/// Settings beyond the training configuration (the synonym filter of arm (d) is the
/// training config's `mining.table.tau_syn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Seeds; each trains its own stage-1 model and every arm.
    pub seeds: Vec<u64>,
    /// Arm (e) rebuilds its SAN table from the current model every this many stage-2
    /// epochs (before epochs 1 + k, 1 + 2k, …).
    #[serde(default = "default_refresh_every")]
    pub refresh_every: usize,
}

fn default_refresh_every() -> usize {
    3
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            seeds: vec![1, 2, 3],
            refresh_every: default_refresh_every(),
        }
    }
}

/// Called after each epoch with the seed, the arm (`None` for stage 1), the epoch, its
/// mean training loss and its dev metrics.
pub type ArmHook<'a> = &'a mut dyn FnMut(u64, Option<Arm>, usize, f64, &RetrievalReport);

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
    /// The arm.
    pub arm: Arm,
    /// The seed.
    pub seed: u64,
    /// Stage-2 epoch selected on dev.
    pub best_epoch: usize,
    /// Test metrics of the selected model (coarse both ways, fine-grained V2T).
    pub test: RetrievalReport,
    /// The table the arm drew hard captions from (for (e), the last one it built).
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

/// Runs the arms for every seed. `config.seed` is replaced by each seed in turn,
/// `config.mining.miner` by each arm's miner, and `config.stage2.refresh_every` by the
/// arm's (`experiment.refresh_every` for (e), none otherwise). An arm whose negatives
/// need word vectors the corpus does not have is skipped.
pub fn run_experiment<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    experiment: &ExperimentConfig,
    arms: &[Arm],
    device: &B::Device,
    hook: ArmHook<'_>,
) -> Result<ExperimentReport> {
    let t0 = Instant::now();
    let inner = device.clone();
    let mut runs = Vec::new();
    let mut stage1 = Vec::new();
    let has_vectors = corpus.word_vectors.is_some();
    // signsim's ground-truth benchmarks: the same for every seed.
    let dev_fg = fine_grained_benchmark(corpus, Split::Dev, None, config);
    let test_fg = fine_grained_benchmark(corpus, Split::Test, None, config);
    let fine_grained_chance = fine_grained_chance(test_fg.as_ref());
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

        let base = stage1_model::<B>(corpus, &cfg, dev_fg.as_ref(), device, &mut |e, l, d| {
            hook(seed, None, e, l, d)
        })?;
        stage1.push((seed, test_of(&base)?));

        // One pass over the training split serves every table arm.
        let pairs = reliable_pairs(&base.valid(), corpus, &cfg, &inner)?;
        for &arm in arms {
            if arm.needs_vectors() && !has_vectors {
                continue;
            }
            let arm_cfg = {
                let mut c = cfg.clone();
                c.mining.miner = arm.miner();
                c.stage2.refresh_every = arm.refreshes().then_some(experiment.refresh_every);
                c
            };
            let negatives = build_negatives(&base.valid(), corpus, &arm_cfg, Some(&pairs), &inner)?;
            // Every arm sees the same dropout stream and data order: the stage-2 epoch
            // seeds of `seed`.
            let t = Instant::now();
            // Stage 2 continues from the stage-1 model, or starts afresh
            // (`stage2.init = Scratch`, as the SAN research code starts it from the
            // pretrained encoders); the table comes from the stage-1 model either way.
            let start = match arm_cfg.stage2.init {
                Stage2Init::Continue => base.clone(),
                Stage2Init::Scratch => {
                    B::seed(device, seed);
                    init_model::<B>(&arm_cfg, corpus, device)?
                }
            };
            let (model, best_epoch, _, last) = train_stage(
                start,
                2,
                corpus,
                &arm_cfg,
                negatives,
                dev_fg.as_ref(),
                device,
                &mut |_: Stage, epoch, loss, dev: &RetrievalReport| {
                    hook(seed, Some(arm), epoch, loss, dev)
                },
            )?;
            let seconds = t.elapsed().as_secs_f64();
            runs.push(ArmResult {
                arm,
                seed,
                best_epoch,
                test: test_of(&model)?,
                table: last.table().and_then(|t| score(t, corpus)),
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

/// The stage-1 model of `config.seed`: a fresh model trained with the coarse loss and
/// selected on dev. `hook` sees each epoch, its loss and its dev metrics.
pub fn stage1_model<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    dev_fg: Option<&FineGrainedBenchmark>,
    device: &B::Device,
    hook: &mut dyn FnMut(usize, f64, &RetrievalReport),
) -> Result<RetrievalModel<B>> {
    B::seed(device, config.seed);
    let model = init_model::<B>(config, corpus, device)?;
    let (base, _, _, _) = train_stage(
        model,
        1,
        corpus,
        config,
        Negatives::None,
        dev_fg,
        device,
        &mut |_: Stage, epoch, loss, dev: &RetrievalReport| hook(epoch, loss, dev),
    )?;
    Ok(base)
}

/// A table's size and its precision and recall against signsim's true families (`None`
/// for a corpus without them).
pub fn score(table: &ConfusabilityTable, corpus: &Corpus) -> Option<TableScore> {
    let truth = corpus.signsim.as_ref()?.truth();
    let (precision, recall) = table.precision_recall(&truth);
    Some(TableScore {
        links: table.pairs().len(),
        precision,
        recall,
    })
}

/// FG-V2T R@1 of a random ranking (%) on `benchmark`: the mean over queries of
/// 1 / (1 + distractor captions); NaN without a benchmark.
pub fn fine_grained_chance(benchmark: Option<&FineGrainedBenchmark>) -> f64 {
    benchmark.map_or(f64::NAN, |b| {
        100.0
            * b.items
                .iter()
                .map(|i| 1.0 / (1.0 + i.distractors.len() as f64))
                .sum::<f64>()
            / b.items.len().max(1) as f64
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
    pub fn arm(&self, arm: Arm) -> Vec<&ArmResult> {
        self.runs.iter().filter(|r| r.arm == arm).collect()
    }

    /// Mean and std over seeds of (T2V R@1, V2T R@1, FG-V2T R@1) for one arm.
    pub fn summary(&self, arm: Arm) -> [(f64, f64); 3] {
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
            fine_grained.then(|| [fg(Arm::None), fg(Arm::Semantic), fg(Arm::San)]),
            [
                table(Arm::Semantic, |t| t.precision),
                table(Arm::San, |t| t.precision),
            ],
            table(Arm::San, |t| t.recall),
        )
    }

    /// One FG-V2T R@1 per seed of `arm`, in seed order (NaN where the arm did not run).
    pub fn per_seed_fg(&self, arm: Arm) -> Vec<f64> {
        self.config
            .seeds
            .iter()
            .map(|&seed| {
                self.runs
                    .iter()
                    .find(|r| r.arm == arm && r.seed == seed)
                    .and_then(|r| r.test.fine_grained.as_ref())
                    .map_or(f64::NAN, |m| m.r1)
            })
            .collect()
    }

    /// The results as markdown: a table of mean ± std over seeds (coarse R@1, FG-V2T R@1
    /// with its per-seed values, FG pairwise accuracy, FG-T2V R@1, and the tables'
    /// precision and recall against the true families), then each arm's per-seed FG-V2T
    /// gain over (a) and (b), and stage 1.
    pub fn markdown(&self) -> String {
        let pm = |(m, s): (f64, f64)| {
            if m.is_nan() {
                "n/a".to_string()
            } else {
                format!("{m:.1} ± {s:.1}")
            }
        };
        let list = |v: &[f64], signed: bool| {
            v.iter()
                .map(|x| match (x.is_nan(), signed) {
                    (true, _) => "n/a".to_string(),
                    (false, true) => format!("{x:+.1}"),
                    (false, false) => format!("{x:.1}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::from(
            "| arm | T2V R@1 | V2T R@1 | FG-V2T R@1 | per seed | FG-V2T R@1, z_v2t only | FG pairwise % | FG-T2V R@1 | table links | table P | table R |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for arm in ALL_ARMS {
            let runs = self.arm(arm);
            if runs.is_empty() {
                continue;
            }
            let [t2v, v2t, fg] = self.summary(arm);
            let col = |f: &dyn Fn(&ArmResult) -> Option<f64>| {
                mean_std(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            let pairwise = col(&|r| r.test.fine_grained_detail.as_ref().map(|d| d.pairwise));
            let fg_t2v = col(&|r| r.test.fine_grained_t2v.as_ref().map(|m| m.r1));
            let fg_v2t_only = col(&|r| r.test.fine_grained_v2t_only.as_ref().map(|m| m.r1));
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
                "| {} | {} | {} | {} | {} | {} | {} | {} | {links} | {p} | {r} |\n",
                arm.label(),
                pm(t2v),
                pm(v2t),
                pm(fg),
                list(&self.per_seed_fg(arm), false),
                pm(fg_v2t_only),
                pm(pairwise),
                pm(fg_t2v),
            ));
        }
        let (a, b) = (self.per_seed_fg(Arm::None), self.per_seed_fg(Arm::Semantic));
        let mut gains = String::new();
        for arm in [
            Arm::San,
            Arm::SanSynonymFilter,
            Arm::SanRefreshed,
            Arm::Instance,
        ] {
            let x = self.per_seed_fg(arm);
            if x.iter().all(|v| v.is_nan()) {
                continue;
            }
            let minus = |y: &[f64]| x.iter().zip(y).map(|(x, y)| x - y).collect::<Vec<_>>();
            gains.push_str(&format!(
                "- {}: over (a) {}; over (b) {}\n",
                arm,
                list(&minus(&a), true),
                list(&minus(&b), true)
            ));
        }
        if !gains.is_empty() {
            out.push_str(&format!(
                "\nFG-V2T R@1 gain per seed ({:?}):\n{gains}",
                self.config.seeds
            ));
        }
        let s1 = |f: &dyn Fn(&RetrievalReport) -> f64| {
            pm(mean_std(
                &self.stage1.iter().map(|(_, r)| f(r)).collect::<Vec<_>>(),
            ))
        };
        out.push_str(&format!(
            "\nStage 1 (common start): T2V R@1 {}, V2T R@1 {}, FG-V2T R@1 {}. FG-V2T R@1 of a random ranking: {:.1}. Seeds {:?}; (e) refreshes every {} epochs; {:.0} s in all.\n",
            s1(&|r| r.t2v.r1),
            s1(&|r| r.v2t.r1),
            s1(&|r| r.fine_grained.as_ref().map_or(f64::NAN, |m| m.r1)),
            self.fine_grained_chance,
            self.config.seeds,
            self.config.refresh_every,
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
    use san_core::metrics::RetrievalMetrics;

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

    fn report(fg: f64) -> RetrievalReport {
        let m = |r1: f64| RetrievalMetrics {
            r1,
            r5: 0.0,
            r10: 0.0,
            medr: 1.0,
            mnr: 1.0,
            mrr: 0.0,
            queries: 10,
        };
        RetrievalReport {
            t2v: m(90.0),
            v2t: m(80.0),
            fine_grained: Some(m(fg)),
            fine_grained_t2v: None,
            fine_grained_detail: None,
            fine_grained_t2v_detail: None,
            fine_grained_v2t_only: None,
        }
    }

    #[test]
    fn markdown_lists_per_seed_values_and_gains_by_hand() {
        let run = |arm, seed, fg| ArmResult {
            arm,
            seed,
            best_epoch: 1,
            test: report(fg),
            table: None,
            seconds: 1.0,
        };
        let r = ExperimentReport {
            config: ExperimentConfig {
                seeds: vec![1, 2],
                refresh_every: 3,
            },
            stage1: vec![(1, report(2.0)), (2, report(4.0))],
            runs: vec![
                run(Arm::None, 1, 5.0),
                run(Arm::None, 2, 7.0),
                run(Arm::Semantic, 1, 4.0),
                run(Arm::Semantic, 2, 6.0),
                run(Arm::San, 1, 25.0),
                run(Arm::San, 2, 20.0),
            ],
            fine_grained_chance: 7.5,
            seconds: 9.0,
        };
        assert_eq!(r.per_seed_fg(Arm::San), vec![25.0, 20.0]);
        assert!(r.per_seed_fg(Arm::Instance).iter().all(|v| v.is_nan()));
        let md = r.markdown();
        // (c): mean 22.5, sample std √((2.5² + 2.5²) / 1) = 3.5355 → "3.5".
        assert!(md.contains("| (c) + SAN table negatives | 90.0 ± 0.0 | 80.0 ± 0.0 | 22.5 ± 3.5 | 25.0, 20.0 | n/a | n/a | n/a |"), "{md}");
        // Gains by hand: 25 − 5 = +20, 20 − 7 = +13; over (b): +21, +14.
        assert!(
            md.contains("- (c): over (a) +20.0, +13.0; over (b) +21.0, +14.0"),
            "{md}"
        );
        assert!(
            !md.contains("- (d)"),
            "arms that did not run have no gain line"
        );
        assert_eq!(md.lines().filter(|l| l.starts_with("| (")).count(), 3);
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        // Values 1, 2, 3: mean 2, sample variance (1 + 0 + 1) / 2 = 1.
        assert_eq!(mean_std(&[1.0, 2.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }
}
