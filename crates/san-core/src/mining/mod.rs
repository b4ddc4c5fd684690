//! Sign-aware hard-negative mining: reliable pairs → per-word features → links → filters →
//! substitution, each a small pure function; and instance-level mining of neighbours.

mod benchmark;
mod instance;
mod reliable;
mod sampler;
mod substitute;
mod table;
mod table_stats;

pub use benchmark::{FineGrainedBenchmark, FineGrainedItem, t2v_distractors};
pub use instance::{
    Embeddings, InstanceMinerConfig, MinedNeighbours, MiningSpace, Sampling, mine_instances,
};
pub use reliable::{ReliablePairs, WordFeatures, WordPieces};
pub use sampler::NeighbourBatches;
pub use substitute::{
    HardDraw, draw_hard, single_word_substitutions, substitute, substitute_with_repeats,
};
pub use table::{Aggregation, ConfusabilityTable, TableConfig, TextSimilarity, cosine, ordered};
pub use table_stats::{TableDiagnostics, TableSummary, family_pairs};
