//! The `san` command line; see `san --help` and the README.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
    match san::cli::run_cli(san::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = e.to_string();
            eprintln!("error: {}", message.lines().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}

/// A closed stdout (`san table show t.json | head -1`) ends the command quietly, as it
/// ends other Unix tools. Rust's runtime ignores SIGPIPE, so a write to a closed pipe
/// returns an error that `println!` turns into a panic (exit 101); with the signal's
/// default action restored, the write ends the process instead, with no message.
#[cfg(unix)]
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: `signal` with `SIG_DFL` only changes the disposition of SIGPIPE; it runs
    // first thing in `main`, before any thread is started, and no handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
