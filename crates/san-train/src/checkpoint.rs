//! Checkpoints that survive `kill -9` (`DESIGN.md` §5).
//!
//! After every epoch the run writes `out/checkpoint.partial/` in full, then swaps it in:
//! `checkpoint/` becomes `checkpoint.old/`, the partial folder becomes `checkpoint/`, and
//! the old one is removed. A kill at any moment leaves `checkpoint/` or `checkpoint.old/`
//! complete, and loading takes whichever is. A checkpoint holds:
//!
//! | file | content |
//! |---|---|
//! | `state.json` | stage, epochs done, optimiser step (the schedule's position), seconds, best dev score and epoch, every epoch's metrics, stage 1's results and SAN table, the current negatives (table or mined neighbours) |
//! | `config.json` | the run's `TrainConfig`; resuming with another config is an error |
//! | `model.mpk` | the model after the last epoch |
//! | `best.mpk` | the stage's best model on dev so far |
//! | `optimizer.mpk` | the optimiser's state (AdamW moments or SGD momentum) |
//!
//! The random state needs no file: each epoch draws from [`epoch_seed`](crate::record::epoch_seed)
//! (run seed, stage, epoch), so a resumed epoch draws what it would have drawn.
//! `out/metrics.jsonl` is rewritten from the state after each swap, one line per epoch.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use san_core::mining::ConfusabilityTable;
use san_data::io::write_atomic;
use san_models::record_file::{load_module_file, load_optimizer_file};
use san_models::retrieval::RetrievalModel;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::negatives::Negatives;
use crate::record::{BestEpoch, EpochRecord};
use crate::report::{StageReport, TableReport};

/// Format version of `state.json`.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Stage 1's outcome, kept once stage 2 has begun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage1Summary {
    /// The selected stage-1 model on dev and test.
    pub report: StageReport,
    /// The SAN table's statistics.
    pub table: TableReport,
    /// Seconds to build it.
    pub table_seconds: f64,
    /// The SAN table of the selected stage-1 model (the fine-grained benchmarks of a corpus
    /// without ground truth are built from it).
    pub san_table: ConfusabilityTable,
}

/// Where a run stands; `state.json` of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The stage in progress, 1 or 2.
    pub stage: u8,
    /// Epochs of that stage completed.
    pub epochs_done: usize,
    /// Optimiser steps of that stage taken (the learning-rate schedule's position).
    pub step: usize,
    /// Seconds spent in that stage so far.
    pub stage_seconds: f64,
    /// The stage's best epoch on dev so far.
    pub best: Option<BestEpoch>,
    /// Every completed epoch of the run.
    pub history: Vec<EpochRecord>,
    /// Stage 1's outcome, once stage 2 has begun.
    pub stage1: Option<Stage1Summary>,
    /// Stage 2's current negatives.
    pub negatives: Negatives,
}

impl CheckpointState {
    /// The state at the start of `stage`.
    pub fn new(stage: u8) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            stage,
            epochs_done: 0,
            step: 0,
            stage_seconds: 0.0,
            best: None,
            history: Vec::new(),
            stage1: None,
            negatives: Negatives::None,
        }
    }
}

type Rec = NamedMpkFileRecorder<FullPrecisionSettings>;

fn io_err(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> TrainError {
    TrainError::checkpoint(path, message)
}

/// The checkpoint folder of a run's output folder.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    out: PathBuf,
    config: serde_json::Value,
}

impl Checkpoint {
    /// The checkpoint of a run writing to `out` with `config`; creates `out` and writes
    /// `out/config.json`.
    pub fn new(out: &Path, config: &TrainConfig) -> Result<Self> {
        std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
        let config = serde_json::to_value(config).map_err(|e| {
            invalid(
                &out.join("config.json"),
                format!("the config does not serialise: {e}"),
            )
        })?;
        let text = pretty(&config);
        write_atomic(&out.join("config.json"), text.as_bytes())?;
        Ok(Self {
            out: out.to_path_buf(),
            config,
        })
    }

    /// `out/checkpoint`.
    pub fn dir(&self) -> PathBuf {
        self.out.join("checkpoint")
    }

    /// The complete checkpoint folder, if any: `checkpoint/`, or `checkpoint.old/` when a
    /// kill fell between the two renames of a swap.
    pub fn existing(&self) -> Option<PathBuf> {
        existing_checkpoint(&self.out)
    }

    /// Loads the state, the last model and the best model (onto the structure of `fresh`),
    /// or `None` when there is no checkpoint.
    #[allow(clippy::type_complexity)]
    pub fn load<B: Backend>(
        &self,
        fresh: RetrievalModel<B>,
        device: &B::Device,
    ) -> Result<
        Option<(
            CheckpointState,
            RetrievalModel<B>,
            Option<RetrievalModel<B>>,
        )>,
    > {
        let Some(dir) = self.existing() else {
            return Ok(None);
        };
        let config_path = dir.join("config.json");
        let saved: serde_json::Value = serde_json::from_slice(&san_data::io::read(&config_path)?)
            .map_err(|e| {
            invalid(
                &config_path,
                format!("expected the run's config as JSON: {e}"),
            )
        })?;
        if saved != self.config {
            let keys = differing_keys(&saved, &self.config, "");
            return Err(TrainError::ConfigMismatch {
                path: config_path,
                keys,
            });
        }
        let state = read_state(&dir)?;
        let load = |name: &str| -> Result<RetrievalModel<B>> {
            let path = dir.join(format!("{name}.mpk"));
            Ok(load_module_file(fresh.clone(), &path, device)?)
        };
        let model = load("model")?;
        let best = if dir.join("best.mpk").is_file() {
            Some(load("best")?)
        } else {
            None
        };
        Ok(Some((state, model, best)))
    }

    /// Restores an optimiser's state from the checkpoint.
    pub fn load_optimizer<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
        &self,
        optim: O,
        device: &B::Device,
    ) -> Result<O> {
        let Some(dir) = self.existing() else {
            return Ok(optim);
        };
        let path = dir.join("optimizer.mpk");
        if !path.is_file() {
            return Ok(optim);
        }
        let record = load_optimizer_file::<B, O::Record>(&path, device)?;
        Ok(optim.load_record(record))
    }

    /// Writes a complete checkpoint and swaps it in, then rewrites `metrics.jsonl`.
    /// `write_optimizer` writes the optimiser's record at the stem it is given.
    pub fn save<B: Backend>(
        &self,
        state: &CheckpointState,
        model: &RetrievalModel<B>,
        best: Option<&RetrievalModel<B>>,
        write_optimizer: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let partial = self.out.join("checkpoint.partial");
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| io_err(&partial, e))?;
        }
        std::fs::create_dir_all(&partial).map_err(|e| io_err(&partial, e))?;
        std::fs::write(partial.join("config.json"), pretty(&self.config))
            .map_err(|e| io_err(&partial.join("config.json"), e))?;
        std::fs::write(partial.join("state.json"), pretty(state))
            .map_err(|e| io_err(&partial.join("state.json"), e))?;
        let save_model = |m: &RetrievalModel<B>, name: &str| -> Result<()> {
            m.clone()
                .save_file(partial.join(name), &Rec::new())
                .map_err(|e| invalid(&partial.join(format!("{name}.mpk")), e))
        };
        save_model(model, "model")?;
        if let Some(b) = best {
            save_model(b, "best")?;
        }
        write_optimizer(&partial.join("optimizer"))?;
        sync_dir(&partial);
        let (dir, old) = (self.dir(), self.out.join("checkpoint.old"));
        if old.exists() && dir.join("state.json").is_file() {
            std::fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
        }
        if dir.exists() {
            std::fs::rename(&dir, &old).map_err(|e| io_err(&dir, e))?;
        }
        std::fs::rename(&partial, &dir).map_err(|e| io_err(&dir, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
        }
        write_metrics(&self.out.join("metrics.jsonl"), &state.history)
    }
}

/// The complete checkpoint folder of a run's output folder `out`, if any: `checkpoint/`,
/// or `checkpoint.old/` when a kill fell between the two renames of a swap.
pub fn existing_checkpoint(out: &Path) -> Option<PathBuf> {
    [out.join("checkpoint"), out.join("checkpoint.old")]
        .into_iter()
        .find(|d| d.join("state.json").is_file())
}

/// Reads and checks `state.json` of a checkpoint folder.
pub fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join("state.json");
    let state: CheckpointState = serde_json::from_slice(&san_data::io::read(&path)?)
        .map_err(|e| invalid(&path, format!("expected a checkpoint state: {e}")))?;
    if state.version != CHECKPOINT_VERSION {
        return Err(invalid(
            &path,
            format!(
                "expected checkpoint version {CHECKPOINT_VERSION}, got {}",
                state.version
            ),
        ));
    }
    Ok(state)
}

/// Writes an optimiser's record at `stem` (`.mpk` is added).
pub fn save_optimizer<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    optim: &O,
    stem: &Path,
) -> Result<()> {
    Recorder::<B>::record(&Rec::new(), optim.to_record(), stem.to_path_buf())
        .map(|_| ())
        .map_err(|e| invalid(stem, format!("could not write the optimiser record: {e}")))
}

/// `metrics.jsonl`: one JSON object per epoch, written atomically.
pub fn write_metrics(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut text = String::new();
    for r in history {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    Ok(write_atomic(path, text.as_bytes())?)
}

/// Reads `metrics.jsonl`; errors name the line.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochRecord>> {
    let text = String::from_utf8(san_data::io::read(path)?)
        .map_err(|e| invalid(path, format!("expected UTF-8 text: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                invalid(
                    path,
                    format!("line {}: expected an epoch record: {e}", i + 1),
                )
            })
        })
        .collect()
}

/// Flushes a folder's files to disk where the platform allows (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(f) = std::fs::File::open(e.path()) {
                let _ = f.sync_all();
            }
        }
    }
}

/// Dotted paths of the keys whose values differ.
fn differing_keys(a: &serde_json::Value, b: &serde_json::Value, prefix: &str) -> Vec<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => differing_keys(u, v, &p),
                        _ => vec![p],
                    }
                })
                .collect()
        }
        _ if a == b => Vec::new(),
        _ => vec![if prefix.is_empty() {
            "(root)".into()
        } else {
            prefix.to_string()
        }],
    }
}

/// Pretty JSON of a value (serialising our plain data types cannot fail).
fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differing_keys_name_dotted_paths() {
        let a = json!({"seed": 7, "table": {"alpha": 0.5, "beta": 0.8}, "x": null});
        let b = json!({"seed": 7, "table": {"alpha": 0.6, "beta": 0.8}, "y": 1});
        assert_eq!(differing_keys(&a, &b, ""), vec!["table.alpha", "x", "y"]);
        assert!(differing_keys(&a, &a, "").is_empty());
    }

    #[test]
    fn metrics_round_trip_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "{\"stage\": 1}\n").unwrap_or_else(|e| panic!("{e}"));
        let err = read_metrics(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("metrics.jsonl") && err.contains("line 1"),
            "{err}"
        );
        write_metrics(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            read_metrics(&path)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }
}
