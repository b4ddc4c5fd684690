//! Which hard negatives teach fine-grained retrieval? Four stage-2 arms on signsim:
//! `cargo run --release --example signsim_experiment [-- --quick]`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match san::experiment_job::experiment_job(san::experiment_job::Args::parse()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
