//! The error type of san-models: one variant per cause. Errors about a file name it.

use std::path::PathBuf;

/// Errors of building, running, loading or saving a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Settings that cannot work together.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// An input the configured encoder cannot take.
    #[error("invalid model input: {0}")]
    Input(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint's `config.json` is not a configuration this encoder supports.
    #[error("{path}: {message}")]
    CheckpointConfig {
        /// The file.
        path: PathBuf,
        /// What was expected.
        message: String,
    },
    /// A weights file does not parse, or a tensor has an unsupported dtype.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected.
        message: String,
    },
    /// A key that the weight mapping does not know.
    #[error("{path}: unknown key {key:?} (expected the mapped keys; see san_models::bert::loader)")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A parameter that the checkpoint lacks.
    #[error("{path}: missing key {key:?}")]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The expected key.
        key: String,
    },
    /// A tensor whose shape differs from the configuration's.
    #[error("{path}: tensor {key:?}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Shape from the configuration.
        expected: Vec<usize>,
        /// Shape in the file.
        got: Vec<usize>,
    },
    /// A saved model (`config.json`, `model.mpk`) that could not be written or read.
    #[error("{path}: {message}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What went wrong, and what was expected.
        message: String,
    },
}

/// Result alias of san-models.
pub type Result<T> = std::result::Result<T, ModelError>;
