//! The error type of san-train.

use std::path::PathBuf;

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading or writing data failed.
    #[error(transparent)]
    Data(#[from] san_data::DataError),
    /// A model that cannot be built, or an input it cannot take.
    #[error(transparent)]
    Model(#[from] san_models::retrieval::ModelError),
    /// A setting that cannot work with the data.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint that cannot be resumed from; names the file.
    #[error("{0}")]
    Checkpoint(String),
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

/// Result alias of san-train.
pub type Result<T> = std::result::Result<T, TrainError>;
