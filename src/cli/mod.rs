//! The `san` command line: `synth`, `train`, `eval`, `table build|show`, `finegrained`,
//! `search` and `embed`, one file per command. Each command parses its arguments, calls
//! the library crates and prints; every failure is a [`CliError`], printed as one line on
//! stderr with exit code 1 (argument errors are clap's, exit code 2).

mod common;
pub mod embed;
pub mod eval;
pub mod finegrained;
pub mod peers;
pub mod search;
pub mod table;
pub mod train;

use burn::tensor::backend::AutodiffBackend;

use crate::backend::{BackendJob, dispatch};
pub use crate::error::{CliError, Result};

/// `san`: sign-language retrieval with Sign-Aware Hard Negative Mining.
#[derive(Debug, clap::Parser)]
#[command(
    name = "san",
    version,
    about = "Sign-language retrieval with Sign-Aware Hard Negative Mining (SAN), on Burn."
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a signsim corpus (PHOENIX-2014-T layout, .pose files, signsim.json, wordvecs.vec).
    Synth(crate::synth_job::Args),
    /// Train both stages: stage 1, the SAN table, stage 2; checkpoints after every epoch,
    /// then reports, plots and the selected model in --out.
    Train(train::TrainArgs),
    /// Evaluate a trained model on a split: coarse retrieval both ways and fine-grained
    /// V2T/T2V.
    Eval(eval::EvalArgs),
    /// Build a confusability table, or print one.
    #[command(subcommand)]
    Table(table::TableCommand),
    /// Build and save the fine-grained benchmark of a split (up to N single-word
    /// substitutions per caption).
    Finegrained(finegrained::FinegrainedArgs),
    /// Rank the clips of a saved gallery index for a text query.
    Search(search::SearchArgs),
    /// Export a split's clip and text embeddings (safetensors, which `search` reads as a
    /// gallery index, or .npy).
    Embed(embed::EmbedArgs),
    /// Coordinate training on several machines (Burn's global collective orchestrator):
    /// start it once, then `san train --nodes … --orchestrator ws://HOST:PORT` on each.
    /// With burn-collective 0.21.0, `san train` refuses --nodes above 1 (its global mode
    /// hangs in the second all-reduce; README, "Several devices").
    Orchestrator(peers::OrchestratorArgs),
}

/// Runs a command.
pub fn run_cli(cli: Cli) -> Result<()> {
    // Commands without a model run here; the others on the chosen backend.
    let (device, job) = match cli.command {
        Command::Synth(args) => return crate::synth_job::synth_job(args).map(|_| ()),
        Command::Table(table::TableCommand::Show(args)) => return table::show(&args),
        Command::Finegrained(args) => return finegrained::run(&args),
        Command::Orchestrator(args) => return peers::orchestrator(&args),
        Command::Train(args) => (args.device, Job::Train(args)),
        Command::Eval(args) => (args.device, Job::Eval(args)),
        Command::Table(table::TableCommand::Build(args)) => (args.device, Job::Table(args)),
        Command::Search(args) => (args.device, Job::Search(args)),
        Command::Embed(args) => (args.device, Job::Embed(args)),
    };
    dispatch(device, job)?
}

enum Job {
    Train(train::TrainArgs),
    Eval(eval::EvalArgs),
    Table(table::TableBuildArgs),
    Search(search::SearchArgs),
    Embed(embed::EmbedArgs),
}

impl BackendJob for Job {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        match self {
            Job::Train(a) => train::run::<B>(&a, &device),
            Job::Eval(a) => eval::run::<B::InnerBackend>(&a, &device),
            Job::Table(a) => table::build::<B::InnerBackend>(&a, &device),
            Job::Search(a) => search::run::<B::InnerBackend>(&a, &device),
            Job::Embed(a) => embed::run::<B::InnerBackend>(&a, &device),
        }
    }
}
