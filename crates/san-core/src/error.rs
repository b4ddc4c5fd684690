//! The error type of san-core: what a check of caller data found. san-core reads no files;
//! the callers that read tables and benchmarks from disk (san-data) wrap these with the
//! file's name.

/// Why a table or benchmark given to san-core is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A table links a word to itself.
    #[error("word {0:?} is linked to itself")]
    SelfLink(String),
    /// A table link's score is NaN or infinite.
    #[error("link {0:?} → {1:?}: expected a finite score")]
    NonFiniteScore(String, String),
    /// A table word lists the same confusable word twice.
    #[error("word {0:?} lists {1:?} more than once")]
    RepeatedLink(String, String),
    /// A fine-grained benchmark query that breaks the benchmark's rules.
    #[error("query {name:?}: {message}")]
    Benchmark {
        /// The query's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
}
