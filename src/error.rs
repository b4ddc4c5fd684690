//! The error of the `san` binary, its examples and jobs: the crates' typed errors, plus
//! command-line arguments that cannot work. Printed as one `error:` line.

use std::path::PathBuf;

/// Why a command or job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Training, evaluation, checkpoints, settings.
    #[error(transparent)]
    Train(#[from] san_train::TrainError),
    /// Reading or writing data.
    #[error(transparent)]
    Data(#[from] san_data::DataError),
    /// Building, loading or running a model.
    #[error(transparent)]
    Model(#[from] san_models::ModelError),
    /// An argument that cannot work; names it and says what was expected.
    #[error("{arg}: {problem}")]
    Arg {
        /// The argument as given (`--data corpus/`).
        arg: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A device whose cargo feature is off.
    #[error(
        "device {device} needs the `{feature}` cargo feature: rebuild with --features {feature}"
    )]
    Backend {
        /// The device asked for (`cpu`, `wgpu`, `cuda`).
        device: String,
        /// The feature that enables it.
        feature: &'static str,
    },
    /// An output that could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl CliError {
    /// A [`CliError::Arg`].
    pub fn arg(arg: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Arg {
            arg: arg.into(),
            problem: problem.into(),
        }
    }
}

/// Result alias of the binary and its jobs.
pub type Result<T> = std::result::Result<T, CliError>;

/// `serde_json::to_string_pretty` for outputs whose types always serialise.
pub(crate) fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
