//! # san-data
//!
//! Data for sign-language retrieval, read directly from what researchers have on disk.
//! Modules, in data-flow order:
//!
//! - [`phoenix`]: the PHOENIX-2014-T corpus CSVs, [`phoenix::Split`], text ids
//!   ([`phoenix::text_ids`]), [`phoenix::CorpusStats`];
//! - the clip readers, each clip a `[T, F]` matrix with its [`pose::StepLayout`]:
//!   [`pose`] (`.pose` files v0.0–0.2 and `[T, J, C]` arrays, keypoint selection, shoulder
//!   normalisation, per-frame features), [`clips`] (precomputed clip features, `.npy` and
//!   safetensors, sampled as CiCo does), [`frames`] (the official PNG frame folders) and
//!   `video` (feature `video`: any video FFmpeg decodes);
//! - [`sample`], [`corpus`]: samples, and a loaded corpus of every input kind
//!   ([`corpus::InputKind`]) with its vocabulary, stop words, word vectors and signsim
//!   metadata;
//! - [`vocab`], [`subword`], [`text_tokens`], [`wordvec`], [`augment`]: word vocabulary,
//!   HuggingFace tokenizers with word indices, the caption tokenizer of a text encoder
//!   (words or word pieces), FastText vectors, EDA random swap;
//! - [`batch`], [`loader`]: batching with padding and masks, seeded epoch order; a batcher
//!   per input kind, implementing Burn's `Batcher` with the `dataloader` feature;
//! - [`tables`], [`gallery`], [`io`]: JSON files of SAN tables and fine-grained
//!   benchmarks, gallery indexes and `.npy` exports, atomic writes;
//! - [`signsim`]: a synthetic corpus with known visual confusability;
//! - [`error`]: [`DataError`], the one error type.
//!
//! Every error names the file, and the line or frame where there is one.
//!
//! ```
//! use std::path::Path;
//! use san_data::phoenix::parse_corpus_csv;
//!
//! let rows = parse_corpus_csv(
//!     "a-1|a-1/1/*.png|-1|-1|Signer08|REGEN NORD|im norden regen\n",
//!     Path::new("train.csv"),
//! )
//! .unwrap();
//! assert_eq!(rows[0].translation, "im norden regen");
//! ```
#![warn(missing_docs)]

pub mod augment;
pub mod batch;
pub mod clips;
pub mod corpus;
pub mod error;
pub mod frames;
pub mod gallery;
pub mod io;
pub mod loader;
pub mod phoenix;
pub mod pose;
pub mod sample;
pub mod signsim;
pub mod subword;
pub mod tables;
pub mod text_tokens;
#[cfg(feature = "video")]
pub mod video;
pub mod vocab;
pub mod wordvec;

pub use error::{DataError, Result};

/// A path under `../shared/data` (real data CI has), or `None` with the skip reason printed
/// when it is absent, as in a fresh clone.
#[cfg(test)]
pub(crate) fn shared_data(relative: &str) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} not found", path.display());
        None
    }
}
