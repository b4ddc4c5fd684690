//! End-to-end tests through the public API (one test binary; topics are modules).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod backend;
mod bad_inputs_cli;
mod bert_parity;
mod browser;
mod cli;
mod end_to_end;
mod models;
mod paper_setting;
mod settings;
