//! The `san` command line; see `san --help` and the README.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match san::cli::run_cli(san::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = e.to_string();
            eprintln!("error: {}", message.lines().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}
