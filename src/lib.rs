//! # san
//!
//! Sign-language retrieval with Sign-Aware Hard Negative Mining (SAN; Lee et al., ACL 2026)
//! on Burn. This facade re-exports the four crates and picks a backend by cargo feature:
//! `ndarray` (default, CPU), `wgpu`, `cuda`.
//!
//! - [`san_core`]: CLCL similarity, losses, mining and metrics, generic over the backend;
//! - [`san_data`]: PHOENIX-2014-T CSVs, `.pose` files, batching, and the signsim corpus;
//! - [`san_models`]: pose and text encoders and the retrieval model;
//! - [`san_train`]: the two-stage protocol, evaluation and reports.
//!
//! ```
//! use san::backend::DeviceChoice;
//! assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
//! ```
#![warn(missing_docs)]

pub use san_core;
pub use san_data;
pub use san_models;
pub use san_train;

pub mod backend;
pub mod cli;
pub mod error;
pub mod experiment_job;
pub mod main_job;
pub mod sweep_job;
pub mod synth_job;
