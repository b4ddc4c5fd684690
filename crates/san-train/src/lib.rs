//! # san-train
//!
//! The two-stage SAN protocol on a corpus in the PHOENIX-2014-T layout: stage 1 trains a
//! dual encoder with the coarse CLCL InfoNCE; the SAN table is built from it; stage 2 adds
//! the fine loss over sign-aware hard-negative captions. Models are selected on dev, and
//! test is evaluated once per stage.
//!
//! Modules, in data-flow order (each imports only those above it):
//!
//! | module | what |
//! |---|---|
//! | [`error`] | [`TrainError`], one variant per cause |
//! | [`config`] | [`TrainConfig`](config::TrainConfig), in sections (`data`, `model`, `optimizer`, `stage1`, `stage2`, `mining`, `eval`) |
//! | [`settings`] | a config from defaults, a TOML file and `--set key=value` |
//! | [`schedule`] | optimiser kinds, learning-rate schedule, gradient clipping |
//! | [`model`] | the model a config builds, and its CLCL settings |
//! | [`eval`] | encoding a split, and evaluating it (coarse and fine-grained) |
//! | [`record`] | epoch records, best epoch, epoch seeds |
//! | [`negatives`] | reliable pairs, SAN and semantic tables, mined neighbours, the fine-grained benchmark |
//! | [`captions`] | the batches of an epoch and each item's hard captions |
//! | [`step`] | one optimiser step: the loss, backward, clipping, update |
//! | [`progress`] | progress bars |
//! | [`report`] | the run's report and outputs |
//! | [`checkpoint`] | checkpoints that survive `kill -9`, and exact resumption |
//! | [`plots`], [`heatmap`], [`output`] | PNG plots and heat maps; the output folder and the saved model |
//! | [`html`], [`preview`] | self-contained HTML pages (escaped text, inline images) and clip previews |
//! | [`parallel`] | data-parallel steps: shares, gathered tokens, summed gradients, peer threads |
//! | [`stage`] | the epoch and stage loops |
//! | [`protocol`] | the two-stage run |
//! | [`arm`], [`experiment`] | the signsim experiment: six stage-2 arms from one stage-1 model per seed |
//! | [`sweep`] | the sweeps: the SAN table over α × β, stage 2 over K × λ |
//!
//! ```
//! use san_train::config::TrainConfig;
//! use san_train::settings::load_config;
//!
//! let config = TrainConfig::new().with_epochs(2, 1);
//! assert_eq!(config.mining.n_hard, 5);
//! let tuned = load_config(None, &["mining.reliable.alpha=0.4".into()])?;
//! assert_eq!(tuned.mining.reliable.alpha, 0.4);
//! # Ok::<(), san_train::TrainError>(())
//! ```
#![warn(missing_docs)]

pub mod arm;
pub mod captions;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod groups;
pub mod heatmap;
pub mod html;
mod metric_rows;
pub mod model;
pub mod negatives;
pub mod output;
pub mod parallel;
pub mod plots;
pub mod preview;
pub mod progress;
pub mod protocol;
pub mod record;
pub mod report;
pub mod schedule;
pub mod settings;
pub mod stage;
pub mod step;
pub mod sweep;

pub use error::{Result, TrainError};
