//! The error type of san-train: one variant per cause, each message naming the file or the
//! setting and what was expected.

use std::path::PathBuf;

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading or writing data failed.
    #[error(transparent)]
    Data(#[from] san_data::DataError),
    /// A model that cannot be built, saved or loaded, or an input it cannot take.
    #[error(transparent)]
    Model(#[from] san_models::ModelError),
    /// Settings that cannot work together, or with the data.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A setting that does not exist; `hint` names its new home when it moved.
    #[error("{origin}unknown setting {key:?}{}", hint.as_ref().map_or(String::new(), |h| format!(" ({h})")))]
    UnknownSetting {
        /// Where it was given (`"path: "`, `"--set k=v: "`), or empty.
        origin: String,
        /// The dotted key.
        key: String,
        /// Where the setting lives now, or how to find the keys.
        hint: Option<String>,
    },
    /// A setting file or `--set` value that cannot be read.
    #[error("{origin}{problem}")]
    BadSetting {
        /// Where it was given (`"path: "`, `"--set k=v: "`), or empty.
        origin: String,
        /// What was expected.
        problem: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} at step {step} of stage {stage}; lower optimizer.learning_rate or set optimizer.grad_clip_norm"
    )]
    NonFiniteLoss {
        /// The loss.
        value: f64,
        /// The stage, 1 or 2 (0 outside a stage).
        stage: u8,
        /// 1-based optimiser step within the stage (0 outside a stage).
        step: usize,
    },
    /// A checkpoint or saved model that cannot be read back.
    #[error("{}: {problem}", path.display())]
    Checkpoint {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A checkpoint made with another configuration.
    #[error(
        "{}: the checkpoint was made with another configuration (differs in {}); resume with the same settings or choose another output folder",
        path.display(),
        keys.join(", ")
    )]
    ConfigMismatch {
        /// The checkpoint's `config.json`.
        path: PathBuf,
        /// The dotted keys that differ.
        keys: Vec<String>,
    },
    /// The signsim experiment's effect does not have the expected direction; one entry
    /// per failed comparison.
    #[error("direction does not hold: {}", .0.join("; "))]
    NoEffect(Vec<String>),
    /// A plot could not be drawn.
    #[error("{}: could not draw the plot: {problem}", path.display())]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// What failed.
        problem: String,
    },
    /// A collective operation between peers failed, or the peers fell out of step.
    #[error("peer {rank}: {problem}")]
    Collective {
        /// The peer concerned (0-based rank).
        rank: usize,
        /// What failed.
        problem: String,
    },
    /// An output could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl TrainError {
    /// A [`TrainError::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, problem: impl std::fmt::Display) -> Self {
        Self::Checkpoint {
            path: path.into(),
            problem: problem.to_string(),
        }
    }
}

/// Result alias of san-train.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
