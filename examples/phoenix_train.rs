//! Train SAN end to end: `cargo run --release --example phoenix_train [-- --data <root>]`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match san::main_job::main_job(san::main_job::Args::parse()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
