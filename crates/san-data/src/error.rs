//! The error type of san-data: every variant names the file and says what was expected.

use std::path::PathBuf;
use std::sync::Arc;

/// Errors reading or writing corpora, poses and vocabularies.
///
/// `Clone` (the underlying errors are shared), so a dataset item can be a `Result` that Burn's
/// data loader moves between threads.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A malformed line of a text file.
    #[error("{path}:{line}: expected {expected}, got {got}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the line should hold.
        expected: String,
        /// What it held.
        got: String,
    },
    /// A malformed binary file (e.g. a truncated `.pose`).
    #[error("{path}: at byte {offset}{}: expected {expected}", frame.map(|f| format!(" (frame {f})")).unwrap_or_default())]
    Binary {
        /// The file.
        path: PathBuf,
        /// Byte offset where reading failed.
        offset: usize,
        /// The frame being read, where there is one.
        frame: Option<usize>,
        /// What was expected there.
        expected: String,
    },
    /// Valid syntax but unusable content (NaN keypoints, an empty split, bad sizes).
    #[error("{path}: {message}")]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A JSON file that does not parse into the expected structure.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// A value that names nothing known (e.g. a split name).
    #[error("expected {expected}, got {got}")]
    Value {
        /// What it should have been.
        expected: String,
        /// What it was.
        got: String,
    },
    /// Items of one batch that cannot be stacked (different feature, point or frame sizes),
    /// or an empty batch.
    #[error("batch item {item}: expected {expected}, got {got}")]
    Batch {
        /// 0-based position of the first item at fault.
        item: usize,
        /// What it should have been.
        expected: String,
        /// What it was.
        got: String,
    },
}

impl DataError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// An `Invalid` error.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result alias of san-data.
pub type Result<T> = std::result::Result<T, DataError>;
