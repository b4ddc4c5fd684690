//! # san-train
//!
//! The two-stage SAN protocol on a corpus in the PHOENIX-2014-T layout: stage 1 trains a
//! dual encoder with the coarse CLCL InfoNCE; the SAN table is built from it; stage 2 adds
//! the fine loss over sign-aware hard-negative captions. Models are selected on dev, and
//! test is evaluated once per stage.
//!
//! ```
//! use san_train::config::TrainConfig;
//!
//! let config = TrainConfig::new().with_stage1_epochs(2).with_stage2_epochs(1);
//! assert_eq!(config.n_hard, 5);
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod output;
pub mod plots;
pub mod progress;
pub mod report;
pub mod schedule;
pub mod training;

pub use error::{Result, TrainError};
