//! Write a signsim corpus: `cargo run --release --example signsim_synth -- --out <dir>`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match san::synth_job::synth_job(san::synth_job::Args::parse()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
