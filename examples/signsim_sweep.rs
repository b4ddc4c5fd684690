//! How robust is the SAN table to α and β, and how does stage 2 depend on K and λ?
//! `cargo run --release --example signsim_sweep [-- --quick]`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match san::sweep_job::sweep_job(san::sweep_job::Args::parse()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
