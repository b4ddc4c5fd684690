//! Sweeps that explain the signsim experiment, from one stage-1 model per seed:
//!
//! - **table**: the SAN table's size, precision and recall against the true families for
//!   each (α, β) of a grid: how robust the table is to its two thresholds;
//! - **hard**: stage 2 with SAN negatives (arm (c)) for each (K = `mining.n_hard`, λ) of a
//!   small grid, from the first seed's stage-1 model: dev and test FG-V2T R@1.
//!
//! [`SweepReport`] writes both as CSV; [`SweepReport::grids`] gives the heat maps.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use san_core::metrics::{DuplicatePolicy, RetrievalReport};
use san_data::corpus::Corpus;
use san_data::phoenix::Split;
use serde::{Deserialize, Serialize};

use crate::config::{Miner, TrainConfig};
use crate::error::Result;
use crate::eval::evaluate;
use crate::experiment::{mean_std, score, stage1_model};
use crate::heatmap::{Grid, value_range};
use crate::model::clcl_config;
use crate::negatives::{Negatives, fine_grained_benchmark, reliable_pairs, sign_aware_table};
use crate::record::Stage;
use crate::stage::train_stage;

/// The grids of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Seeds of the table sweep, one stage-1 model each; the first also runs the hard sweep.
    pub seeds: Vec<u64>,
    /// α values (reliable pairs).
    pub alphas: Vec<f64>,
    /// β values (table links).
    pub betas: Vec<f64>,
    /// Hard captions per caption, K (`mining.n_hard`); empty: no hard sweep.
    pub n_hards: Vec<usize>,
    /// Fine-loss weights λ.
    pub lambdas: Vec<f64>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            seeds: vec![1, 2, 3],
            alphas: vec![0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            betas: vec![0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9],
            n_hards: vec![1, 3, 5, 8],
            lambdas: vec![0.2, 0.4, 0.8],
        }
    }
}

/// One (seed, α, β) point of the table sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TablePoint {
    /// Seed of the stage-1 model.
    pub seed: u64,
    /// α.
    pub alpha: f64,
    /// β.
    pub beta: f64,
    /// Words with at least one reliable pair.
    pub words: usize,
    /// Unordered links.
    pub links: usize,
    /// Precision against the true families (0 for an empty table).
    pub precision: f64,
    /// Recall of the family pairs.
    pub recall: f64,
}

/// One (K, λ) point of the hard sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardPoint {
    /// Seed (the sweep's first).
    pub seed: u64,
    /// Hard captions per caption.
    pub n_hard: usize,
    /// Fine-loss weight.
    pub lambda: f64,
    /// Stage-2 epoch selected on dev.
    pub best_epoch: usize,
    /// Dev metrics of the selected epoch.
    pub dev: RetrievalReport,
    /// Test metrics of the selected epoch.
    pub test: RetrievalReport,
}

/// What a sweep measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The grids.
    pub config: SweepConfig,
    /// The table sweep, seed-major.
    pub table: Vec<TablePoint>,
    /// The hard sweep.
    pub hard: Vec<HardPoint>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Called after each epoch with the seed, `(K, λ)` of a stage-2 run (`None` for stage
/// 1), the epoch, its mean training loss and its dev metrics.
pub type SweepHook<'a> = &'a mut dyn FnMut(u64, Option<(usize, f64)>, usize, f64, &RetrievalReport);

/// Runs both sweeps. `config` gives everything else (epochs, sizes, the table's other
/// settings); `hook` sees each epoch as (seed, (K, λ) for stage 2 or `None` for stage 1,
/// epoch, loss, dev metrics).
pub fn run_sweep<B: AutodiffBackend>(
    corpus: &Corpus,
    config: &TrainConfig,
    sweep: &SweepConfig,
    device: &B::Device,
    hook: SweepHook<'_>,
) -> Result<SweepReport> {
    let t0 = Instant::now();
    let inner = device.clone();
    let dev_fg = fine_grained_benchmark(corpus, Split::Dev, None, config);
    let test_fg = fine_grained_benchmark(corpus, Split::Test, None, config);
    let mut table = Vec::new();
    let mut hard = Vec::new();
    for (i, &seed) in sweep.seeds.iter().enumerate() {
        let cfg = config.clone().with_seed(seed);
        let base = stage1_model::<B>(corpus, &cfg, dev_fg.as_ref(), device, &mut |e, l, d| {
            hook(seed, None, e, l, d)
        })?;
        let valid = base.valid();
        // The reliable pairs at the config's α, which the hard sweep's table needs: kept
        // from the grid when it holds that α, so the training split is not read twice.
        let mut config_pairs = None;
        for &alpha in &sweep.alphas {
            let mut c = cfg.clone();
            c.mining.reliable.alpha = alpha;
            let pairs = reliable_pairs(&valid, corpus, &c, &inner)?;
            for &beta in &sweep.betas {
                let t = sign_aware_table(&pairs, corpus, &c.san_table().with_beta(beta));
                let s = score(&t, corpus);
                table.push(TablePoint {
                    seed,
                    alpha,
                    beta,
                    words: pairs.words().len(),
                    links: t.pairs().len(),
                    precision: s.as_ref().map_or(f64::NAN, |s| s.precision),
                    recall: s.as_ref().map_or(f64::NAN, |s| s.recall),
                });
            }
            if alpha == cfg.mining.reliable.alpha {
                config_pairs = Some(pairs);
            }
        }
        if i > 0 || sweep.n_hards.is_empty() {
            continue;
        }
        // The hard sweep: arm (c) from this seed's stage-1 model and SAN table.
        let pairs = match config_pairs {
            Some(p) => p,
            None => reliable_pairs(&valid, corpus, &cfg, &inner)?,
        };
        let san = sign_aware_table(&pairs, corpus, &cfg.san_table());
        for &n_hard in &sweep.n_hards {
            for &lambda in &sweep.lambdas {
                let mut c = cfg.clone();
                c.mining.miner = Miner::San;
                c.mining.n_hard = n_hard;
                c.mining.lambda_fine = lambda;
                let (model, best_epoch, dev, _) = train_stage(
                    base.clone(),
                    2,
                    corpus,
                    &c,
                    Negatives::Captions(san.clone()),
                    dev_fg.as_ref(),
                    device,
                    &mut |_: Stage, e, l, d: &RetrievalReport| {
                        hook(seed, Some((n_hard, lambda)), e, l, d)
                    },
                )?;
                let test = evaluate(
                    &model.valid(),
                    &corpus.test,
                    &corpus.text,
                    &c.data.batcher,
                    &clcl_config(&c),
                    test_fg.as_ref(),
                    DuplicatePolicy::Strict,
                    &inner,
                )?;
                hard.push(HardPoint {
                    seed,
                    n_hard,
                    lambda,
                    best_epoch,
                    dev,
                    test,
                });
            }
        }
    }
    Ok(SweepReport {
        config: sweep.clone(),
        table,
        hard,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// `x` with 4 decimals, `n/a` for NaN.
fn num(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{x:.4}")
    }
}

/// FG-V2T R@1 of a report, NaN without a fine-grained benchmark.
fn fg_r1(r: &RetrievalReport) -> f64 {
    r.fine_grained.as_ref().map_or(f64::NAN, |m| m.r1)
}

impl SweepReport {
    /// The table sweep as CSV: `seed,alpha,beta,words,links,precision,recall`.
    pub fn table_csv(&self) -> String {
        let mut out = String::from("seed,alpha,beta,words,links,precision,recall\n");
        for p in &self.table {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                p.seed,
                p.alpha,
                p.beta,
                p.words,
                p.links,
                num(p.precision),
                num(p.recall)
            ));
        }
        out
    }

    /// The hard sweep as CSV: `seed,n_hard,lambda,best_epoch,dev_fg_r1,test_fg_r1,
    /// test_t2v_r1,test_v2t_r1`.
    pub fn hard_csv(&self) -> String {
        let mut out = String::from(
            "seed,n_hard,lambda,best_epoch,dev_fg_r1,test_fg_r1,test_t2v_r1,test_v2t_r1\n",
        );
        for p in &self.hard {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                p.seed,
                p.n_hard,
                p.lambda,
                p.best_epoch,
                num(fg_r1(&p.dev)),
                num(fg_r1(&p.test)),
                num(p.test.t2v.r1),
                num(p.test.v2t.r1)
            ));
        }
        out
    }

    /// Mean over seeds of `f` at each (α, β): rows α, columns β.
    fn table_grid(&self, f: fn(&TablePoint) -> f64) -> Vec<Vec<f64>> {
        let c = &self.config;
        c.alphas
            .iter()
            .map(|&a| {
                c.betas
                    .iter()
                    .map(|&b| {
                        let v: Vec<f64> = self
                            .table
                            .iter()
                            .filter(|p| p.alpha == a && p.beta == b)
                            .map(f)
                            .collect();
                        mean_std(&v).0
                    })
                    .collect()
            })
            .collect()
    }

    /// The heat maps, with the file name each is meant for: the table's precision,
    /// recall and links against α and β (mean over seeds), and dev FG-V2T R@1 of the
    /// hard sweep against K and λ (when it ran).
    pub fn grids(&self) -> Vec<(&'static str, Grid)> {
        let c = &self.config;
        let labels = |v: &[f64]| v.iter().map(|x| format!("{x}")).collect::<Vec<_>>();
        let seeds = format!(
            "{} seed{}",
            c.seeds.len(),
            if c.seeds.len() == 1 { "" } else { "s" }
        );
        let table = |title: &str, f: fn(&TablePoint) -> f64, decimals| {
            let values = self.table_grid(f);
            Grid {
                title: format!("SAN table {title} ({seeds}, mean)"),
                x: ("β (table link cosine)".into(), labels(&c.betas)),
                y: ("α (reliable)".into(), labels(&c.alphas)),
                range: value_range(&values, (0.0, 1.0)),
                values,
                decimals,
            }
        };
        let mut out = vec![
            (
                "sweep_table_precision.png",
                table("precision", |p| p.precision, 2),
            ),
            ("sweep_table_recall.png", table("recall", |p| p.recall, 2)),
            (
                "sweep_table_links.png",
                table("links", |p| p.links as f64, 0),
            ),
        ];
        if !self.hard.is_empty() {
            let values: Vec<Vec<f64>> = c
                .lambdas
                .iter()
                .map(|&l| {
                    c.n_hards
                        .iter()
                        .map(|&k| {
                            self.hard
                                .iter()
                                .find(|p| p.n_hard == k && p.lambda == l)
                                .map_or(f64::NAN, |p| fg_r1(&p.dev))
                        })
                        .collect()
                })
                .collect();
            out.push((
                "sweep_hard_dev_fg.png",
                Grid {
                    title: format!(
                        "dev FG-V2T R@1 of stage 2, arm (c) (seed {})",
                        self.hard[0].seed
                    ),
                    x: (
                        "K (hard captions per caption)".into(),
                        c.n_hards.iter().map(|k| k.to_string()).collect(),
                    ),
                    y: ("λ (fine-loss weight)".into(), labels(&c.lambdas)),
                    range: value_range(&values, (0.0, 100.0)),
                    values,
                    decimals: 1,
                },
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(seed: u64, alpha: f64, beta: f64, precision: f64) -> TablePoint {
        TablePoint {
            seed,
            alpha,
            beta,
            words: 10,
            links: 4,
            precision,
            recall: 0.5,
        }
    }

    #[test]
    fn grids_average_seeds_per_cell_and_csv_prints_na() {
        let report = SweepReport {
            config: SweepConfig {
                seeds: vec![1, 2],
                alphas: vec![0.3, 0.5],
                betas: vec![0.7],
                n_hards: vec![],
                lambdas: vec![],
            },
            table: vec![
                point(1, 0.3, 0.7, 0.5),
                point(1, 0.5, 0.7, 1.0),
                point(2, 0.3, 0.7, 0.7),
                point(2, 0.5, 0.7, f64::NAN),
            ],
            hard: vec![],
            seconds: 0.0,
        };
        let grids = report.grids();
        assert_eq!(grids.len(), 3, "no hard sweep ran");
        // Hand means: α 0.3 → (0.5 + 0.7) / 2 = 0.6; α 0.5 → NaN (one seed missing).
        let precision = &grids[0].1.values;
        assert!((precision[0][0] - 0.6).abs() < 1e-12);
        assert!(precision[1][0].is_nan());
        let csv = report.table_csv();
        assert_eq!(csv.lines().count(), 5);
        assert_eq!(csv.lines().nth(4), Some("2,0.5,0.7,10,4,n/a,0.5000"));
    }
}
