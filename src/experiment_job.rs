//! The signsim experiment behind `cargo run --release --example signsim_experiment`: six
//! stage-2 arms (coarse only, SemanticTable negatives, SAN table negatives, SAN with the
//! synonym filter, SAN with a refreshed table, sign-aware instance neighbours) from a
//! common stage-1 model, over several seeds, as a markdown table.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use san_data::corpus::Corpus;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_train::config::{SelectionMetric, TrainConfig};
use san_train::experiment::{Arm, ExperimentConfig, ExperimentReport, run_experiment};
use san_train::settings::load_config_over;

use crate::backend::{BackendJob, DeviceChoice, dispatch};
use crate::error::{CliError, Result, pretty};

/// Command-line arguments of the experiment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "signsim_experiment",
    about = "Which hard negatives teach fine-grained retrieval? Six arms on signsim, mean ± std over seeds."
)]
pub struct Args {
    /// Output folder (the generated corpus, experiment.json, experiment.md).
    #[arg(long, default_value = "target/san-signsim-experiment")]
    pub out: PathBuf,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// A small size: 1 seed, 400/100/100 sentences, 8 + 4 epochs (45.7 s on 2 cores
    /// for all six arms). Its tables are already clear (SAN precise, semantic not); its FG-V2T
    /// differences are within noise. Explicit size options below override it.
    #[arg(long)]
    pub quick: bool,
    /// Seeds (comma-separated; default 1,2,3, quick 1).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Corpus, epochs and table thresholds.
    #[command(flatten)]
    pub setup: SignsimSetup,
    /// The arms to run, by letter (comma-separated): a coarse only, b semantic table, c SAN
    /// table, d SAN + synonym filter, e SAN table refreshed, f sign-aware instance
    /// neighbours.
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d,e,f")]
    pub arms: Vec<Arm>,
    /// Arm (e) rebuilds its SAN table from the current model every this many stage-2
    /// epochs.
    #[arg(long, default_value_t = ExperimentConfig::default().refresh_every)]
    pub refresh_every: usize,
    /// Text cosine at or above which arm (d) drops a link as a near-synonym.
    #[arg(long, default_value_t = 0.95)]
    pub tau_syn: f64,
    /// Fail (exit 1) unless the effect has the expected direction. `tables`: the SAN table
    /// is more precise than the semantic table and recalls some true link (what CI checks
    /// with `--quick`). `all`: also (c) above (a) and (b) in mean FG-V2T R@1, which needs
    /// the default size (at `--quick` size the FG differences are within noise).
    #[arg(long, value_enum)]
    pub check: Option<Check>,
}

/// The corpus, epochs and table thresholds that the experiment and the sweep share.
#[derive(Debug, Clone, clap::Args)]
pub struct SignsimSetup {
    /// Stage-1 epochs (default 12, quick 8).
    #[arg(long)]
    pub stage1_epochs: Option<usize>,
    /// Stage-2 epochs (default 12, quick 4).
    #[arg(long)]
    pub stage2_epochs: Option<usize>,
    /// signsim training sentences (default 1200, quick 400).
    #[arg(long)]
    pub signsim_train: Option<usize>,
    /// signsim dev and test sentences each (default 200, quick 100).
    #[arg(long)]
    pub signsim_eval: Option<usize>,
    /// signsim handshape difference within a family (default 0.05).
    #[arg(long)]
    pub signsim_delta: Option<f32>,
    /// SAN table α: a word's most-attended clip is reliable above this softmax weight.
    #[arg(long, default_value_t = DEFAULT_ALPHA)]
    pub alpha: f64,
    /// Table β: two words are linked above this cosine (SAN and semantic tables alike).
    #[arg(long, default_value_t = DEFAULT_BETA)]
    pub beta: f64,
    /// Any other training setting, as `san train --set` takes it (repeatable), applied
    /// last: e.g. --set mining.hard_draw=Repeats --set stage2.init=Scratch.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// A size of the experiment and the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Stage-1 epochs.
    pub stage1: usize,
    /// Stage-2 epochs.
    pub stage2: usize,
    /// signsim training sentences.
    pub train: usize,
    /// signsim dev and test sentences each.
    pub eval: usize,
}

/// The default size (what `--help` states as "default").
pub const FULL: Size = Size {
    stage1: 12,
    stage2: 12,
    train: 1200,
    eval: 200,
};

/// The `--quick` size (what `--help` states as "quick").
pub const QUICK: Size = Size {
    stage1: 8,
    stage2: 4,
    train: 400,
    eval: 100,
};

/// The experiment's α (the library's default is the paper's 0.7).
pub const DEFAULT_ALPHA: f64 = 0.4;
/// The experiment's β (the paper's is 0.7; chosen from the α × β sweep of the training
/// tables, `signsim_sweep`).
pub const DEFAULT_BETA: f64 = 0.8;

impl SignsimSetup {
    /// Generates (or reuses) the corpus under `out` and returns it with the training
    /// settings for `device`: full size, or the quick size where `quick` and no explicit
    /// size is given. Stage 2 selects its epoch on coarse and fine-grained dev R@1.
    pub fn prepare(
        &self,
        out: &std::path::Path,
        quick: bool,
        device: DeviceChoice,
    ) -> Result<(PathBuf, Corpus, TrainConfig)> {
        let pick = |given: Option<usize>, full: usize, small: usize| {
            given.unwrap_or(if quick { small } else { full })
        };
        let (train, eval) = (
            pick(self.signsim_train, FULL.train, QUICK.train),
            pick(self.signsim_eval, FULL.eval, QUICK.eval),
        );
        let root = out.join(format!("signsim-{train}-{eval}"));
        let mut signsim = SignsimConfig::new()
            .with_train(train)
            .with_dev(eval)
            .with_test(eval);
        if let Some(delta) = self.signsim_delta {
            signsim.delta = delta;
        }
        ensure_corpus(&root, &signsim)?;
        let corpus = Corpus::load(&root)?;
        if corpus.signsim.is_none() {
            return Err(CliError::arg(
                root.display().to_string(),
                "not a signsim corpus",
            ));
        }
        let mut config = device.train_config().with_epochs(
            pick(self.stage1_epochs, FULL.stage1, QUICK.stage1),
            pick(self.stage2_epochs, FULL.stage2, QUICK.stage2),
        );
        config.mining.reliable.alpha = self.alpha;
        config.mining.table.beta = self.beta;
        config.stage2.selection = SelectionMetric::CoarseAndFineGrainedR1;
        let config = load_config_over(config, None, &self.set)?;
        Ok((root, corpus, config))
    }
}

/// One line of the experiment's or the sweep's per-epoch log: the seed, which run
/// (`who`), the epoch, its mean loss and its dev R@1.
pub(crate) fn print_epoch(
    seed: u64,
    who: &str,
    epoch: usize,
    loss: f64,
    dev: &san_core::metrics::RetrievalReport,
) {
    let fg = dev
        .fine_grained
        .map(|m| format!(" FG R@1 {:5.1}", m.r1))
        .unwrap_or_default();
    println!(
        "  seed {seed} {who} epoch {epoch:>2}: loss {loss:.4}  dev T2V R@1 {:5.1}  V2T R@1 {:5.1}{fg}",
        dev.t2v.r1, dev.v2t.r1
    );
}

/// What `--check` asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Check {
    /// Table precision and recall only.
    Tables,
    /// Tables and fine-grained retrieval.
    All,
}

struct Job {
    corpus: Corpus,
    config: TrainConfig,
    experiment: ExperimentConfig,
    arms: Vec<Arm>,
}

impl BackendJob for Job {
    type Output = san_train::Result<ExperimentReport>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut hook = |seed: u64,
                        arm: Option<Arm>,
                        epoch: usize,
                        loss: f64,
                        dev: &san_core::metrics::RetrievalReport| {
            let who = arm.map_or_else(|| "stage 1".to_string(), |a| format!("arm {a}  "));
            print_epoch(seed, &who, epoch, loss, dev);
        };
        run_experiment::<B>(
            &self.corpus,
            &self.config,
            &self.experiment,
            &self.arms,
            &device,
            &mut hook,
        )
    }
}

/// Runs the experiment and writes `experiment.json` and `experiment.md` under `--out`.
pub fn experiment_job(args: Args) -> Result<ExperimentReport> {
    let started = Instant::now();
    let quick = args.quick;
    let (root, corpus, mut config) = args.setup.prepare(&args.out, quick, args.device)?;
    config.mining.table.tau_syn = Some(args.tau_syn);
    let seeds = args
        .seeds
        .clone()
        .unwrap_or_else(|| if quick { vec![1] } else { vec![1, 2, 3] });
    let experiment = ExperimentConfig {
        seeds,
        refresh_every: args.refresh_every,
    };
    let mut arms = args.arms.clone();
    arms.sort();
    arms.dedup();
    println!(
        "signsim {}/{}/{} at {}; seeds {:?}; stage 1 {} epochs, stage 2 {} epochs per arm; α {} β {}; device {}",
        corpus.train.len(),
        corpus.dev.len(),
        corpus.test.len(),
        root.display(),
        experiment.seeds,
        config.stage1.epochs,
        config.stage2.epochs,
        config.mining.reliable.alpha,
        config.mining.table.beta,
        args.device
    );
    let report = dispatch(
        args.device,
        Job {
            corpus,
            config,
            experiment,
            arms,
        },
    )??;
    let markdown = report.markdown();
    let save = |name: &str, text: String| {
        san_data::io::write_atomic(&args.out.join(name), text.as_bytes())
    };
    save("experiment.json", pretty(&report))?;
    save("experiment.md", markdown.clone())?;
    println!("\n{markdown}");
    println!(
        "total {:.1} s; experiment.json and experiment.md in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    if let Some(check) = args.check {
        println!("{}", report.direction(check == Check::All)?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_states_the_sizes_the_code_uses() {
        let help = Args::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for (flag, full, quick) in [
            ("Stage-1 epochs", FULL.stage1, QUICK.stage1),
            ("Stage-2 epochs", FULL.stage2, QUICK.stage2),
            ("signsim training sentences", FULL.train, QUICK.train),
            ("signsim dev and test sentences each", FULL.eval, QUICK.eval),
        ] {
            let said = format!("{flag} (default {full}, quick {quick})");
            assert!(help.contains(&said), "--help lacks {said:?}");
        }
        let delta = SignsimConfig::new().delta;
        assert!(help.contains(&format!("(default {delta})")), "δ {delta}");
        for (flag, value) in [("--alpha", DEFAULT_ALPHA), ("--beta", DEFAULT_BETA)] {
            assert!(
                help.contains(&format!("{flag} <ALPHA>"))
                    || help.contains(&format!("{flag} <BETA>")),
                "{flag}"
            );
            assert!(
                help.contains(&format!("[default: {value}]")),
                "{flag} {value}"
            );
        }
        let refresh = ExperimentConfig::default().refresh_every;
        assert!(
            help.contains(&format!("[default: {refresh}]")),
            "--refresh-every"
        );
    }
}
