//! The sweeps behind `cargo run --release --example signsim_sweep`: the SAN table's
//! precision and recall against α and β (one stage-1 model per seed), and stage 2's
//! FG-V2T R@1 against K and λ (the first seed), as CSV, heat maps and markdown.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use san_data::corpus::Corpus;
use san_train::config::TrainConfig;
use san_train::heatmap::heat_map;
use san_train::sweep::{SweepConfig, SweepReport, run_sweep};

use crate::backend::{BackendJob, DeviceChoice, dispatch};
use crate::error::{CliError, Result, pretty};
use crate::experiment_job::{SignsimSetup, print_epoch};

/// Command-line arguments of the sweep.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "signsim_sweep",
    about = "How robust is the SAN table to α and β, and how does stage 2 depend on K and λ? Heat maps and CSV on signsim."
)]
pub struct Args {
    /// Output folder (the generated corpus, sweep.json, the CSVs and PNGs).
    #[arg(long, default_value = "target/san-signsim-sweep")]
    pub out: PathBuf,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Seeds of the table sweep (comma-separated); the first also runs the K × λ grid.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// α values of the table sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.2,0.3,0.4,0.5,0.6,0.7,0.8"
    )]
    pub alphas: Vec<f64>,
    /// β values of the table sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.5,0.6,0.65,0.7,0.75,0.8,0.9"
    )]
    pub betas: Vec<f64>,
    /// K values (hard captions per caption) of the stage-2 grid; `--n-hards ''` skips it.
    #[arg(long, value_delimiter = ',', default_value = "1,3,5,8")]
    pub n_hards: Vec<usize>,
    /// λ values (fine-loss weight) of the stage-2 grid.
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.4,0.8")]
    pub lambdas: Vec<f64>,
    /// Redraw the CSVs and heat maps from a saved sweep.json (no training).
    #[arg(long, value_name = "SWEEP_JSON")]
    pub replot: Option<PathBuf>,
    /// A small size (400/100/100 sentences, 8 + 4 epochs) unless sizes are given.
    #[arg(long)]
    pub quick: bool,
    /// Corpus, epochs and the table thresholds of the stage-2 grid.
    #[command(flatten)]
    pub setup: SignsimSetup,
}

struct Job {
    corpus: Corpus,
    config: TrainConfig,
    sweep: SweepConfig,
}

impl BackendJob for Job {
    type Output = san_train::Result<SweepReport>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut hook = |seed: u64,
                        grid: Option<(usize, f64)>,
                        epoch: usize,
                        loss: f64,
                        dev: &san_core::metrics::RetrievalReport| {
            let who = grid.map_or_else(|| "stage 1".to_string(), |(k, l)| format!("K {k} λ {l}"));
            print_epoch(seed, &who, epoch, loss, dev);
        };
        run_sweep::<B>(&self.corpus, &self.config, &self.sweep, &device, &mut hook)
    }
}

/// Runs the sweeps and writes `sweep.json`, `sweep_table.csv`, `sweep_hard.csv` and the
/// heat maps under `--out`.
pub fn sweep_job(args: Args) -> Result<SweepReport> {
    let started = Instant::now();
    if let Some(path) = &args.replot {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::arg(path.display().to_string(), e.to_string()))?;
        let report: SweepReport = serde_json::from_str(&text).map_err(|e| {
            CliError::arg(
                path.display().to_string(),
                format!("expected a sweep.json: {e}"),
            )
        })?;
        write_outputs(&args.out, &report)?;
        return Ok(report);
    }
    let (root, corpus, config) = args.setup.prepare(&args.out, args.quick, args.device)?;
    let sweep = SweepConfig {
        seeds: args.seeds.clone(),
        alphas: args.alphas.clone(),
        betas: args.betas.clone(),
        n_hards: args.n_hards.clone(),
        lambdas: args.lambdas.clone(),
    };
    println!(
        "signsim at {}; seeds {:?}; α {:?} × β {:?}; K {:?} × λ {:?} (seed {:?}, α {} β {}); stage 1 {} epochs, stage 2 {} epochs",
        root.display(),
        sweep.seeds,
        sweep.alphas,
        sweep.betas,
        sweep.n_hards,
        sweep.lambdas,
        sweep.seeds.first(),
        config.mining.reliable.alpha,
        config.mining.table.beta,
        config.stage1.epochs,
        config.stage2.epochs,
    );
    let report = dispatch(
        args.device,
        Job {
            corpus,
            config,
            sweep,
        },
    )??;
    let written = write_outputs(&args.out, &report)?;
    println!("\n{}", report.table_csv());
    println!("{}", report.hard_csv());
    println!(
        "total {:.1} s; sweep.json, sweep_table.csv, sweep_hard.csv and {} in {}",
        started.elapsed().as_secs_f64(),
        written.join(", "),
        args.out.display()
    );
    Ok(report)
}

/// Writes `sweep.json`, the two CSVs and the heat maps into `out`; returns the PNG names.
fn write_outputs(out: &std::path::Path, report: &SweepReport) -> Result<Vec<&'static str>> {
    let save =
        |name: &str, text: String| san_data::io::write_atomic(&out.join(name), text.as_bytes());
    save("sweep.json", pretty(report))?;
    save("sweep_table.csv", report.table_csv())?;
    save("sweep_hard.csv", report.hard_csv())?;
    let mut written = Vec::new();
    for (name, grid) in report.grids() {
        heat_map(&out.join(name), &grid)?;
        written.push(name);
    }
    Ok(written)
}
