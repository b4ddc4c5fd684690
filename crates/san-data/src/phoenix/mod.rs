//! The PHOENIX-2014-T corpus layout.

mod csv;
mod split;
mod stats;

pub use csv::{CorpusEntry, HEADER, parse_corpus_csv, read_corpus_csv, write_corpus_csv};
pub use split::{AnnotatedSample, Split, annotate, text_ids};
pub use stats::{CorpusStats, SplitStats};
