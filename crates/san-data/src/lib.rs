//! # san-data
//!
//! Data for sign-language retrieval: the PHOENIX-2014-T corpus CSVs, `.pose` files and
//! per-frame pose features, a word-level vocabulary, batching with padding, masks and clip
//! sampling, and signsim, a synthetic corpus with known visual confusability.
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
pub mod error;
pub mod frames;
pub mod io;
pub mod phoenix;
pub mod pose;
pub mod sample;
pub mod signsim;
pub mod subword;
pub mod tables;
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
