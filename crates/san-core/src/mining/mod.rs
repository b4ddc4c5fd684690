//! Sign-aware hard-negative mining: reliable pairs → per-word features → links → filters →
//! substitution. Each step is a small pure function.

mod reliable;
mod substitute;
mod table;

pub use reliable::{ReliablePairs, WordFeatures};
pub use substitute::{single_word_substitutions, substitute};
pub use table::{Aggregation, ConfusabilityTable, TableConfig, TextSimilarity, cosine, ordered};
