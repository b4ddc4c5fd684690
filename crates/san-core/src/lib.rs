//! # san-core
//!
//! The backend-generic maths of SAN (Sign-Aware Hard Negative Mining, Lee et al., ACL 2026)
//! for sign-language retrieval. No file I/O: inputs are tensors and host slices.
//!
//! Modules, in data-flow order:
//!
//! | module | what |
//! |---|---|
//! | [`error`] | [`CoreError`], what a check of caller data found |
//! | [`text`] | sentence normalisation and words (duplicate detection, word-level mining) |
//! | [`host`] | where tensors and host slices meet: [`host::to_vec_f32`], [`host::to_vec_i64`] |
//! | [`similarity`] | CLCL token similarity of clips and captions, in a gallery or against candidates |
//! | [`cpu`] | host kernels a caller picks for CPU backends: the fused CLCL kernel, the GEMM, the worker pool |
//! | [`loss`] | the coarse InfoNCE, the SAN fine loss over hard captions, a hinge baseline |
//! | [`mining`] | reliable sign–word pairs, confusability tables, substitution, the fine-grained benchmark, instance mining |
//! | [`metrics`] | ranks with ties against the model, R@K/MedR/MRR, coarse and fine-grained reports |
//!
//! The random draws of the API take a `rand` generator; [`rand`] is re-exported, so a
//! program that depends only on san-core (and Burn, for its backend) needs no `rand` of its
//! own. `examples/core_api.rs` walks the whole method on this crate alone.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Bool, Tensor};
//! use san_core::similarity::{ClclConfig, clcl_gallery};
//!
//! type B = NdArray<f32>;
//! let dev = Default::default();
//! // 2 videos × 3 clips and 2 texts × 4 words, 8-d unit tokens.
//! let sign = san_core::similarity::l2_normalize(Tensor::<B, 3>::ones([2, 3, 8], &dev));
//! let words = san_core::similarity::l2_normalize(Tensor::<B, 3>::ones([2, 4, 8], &dev));
//! let scores = clcl_gallery(
//!     sign,
//!     Tensor::<B, 2, Bool>::ones([2, 3], &dev),
//!     words,
//!     Tensor::<B, 2, Bool>::ones([2, 4], &dev),
//!     &ClclConfig::new(),
//! );
//! assert_eq!(scores.score().dims(), [2, 2]);
//! ```
#![warn(missing_docs)]

pub mod cpu;
pub mod error;
pub mod host;
pub mod loss;
pub mod metrics;
pub mod mining;
pub mod similarity;
pub mod text;

/// The `rand` crate the API's random draws take ([`mining::substitute`] and others).
pub use rand;

pub use error::CoreError;

/// The backend unit tests run on: ndarray, WGPU with the `test-wgpu` feature, or CUDA with
/// `test-cuda`.
#[cfg(test)]
pub(crate) mod test_backend {
    #[cfg(not(any(feature = "test-wgpu", feature = "test-cuda", feature = "test-flex")))]
    pub(crate) type B = burn::backend::NdArray<f32>;
    #[cfg(all(
        feature = "test-flex",
        not(any(feature = "test-wgpu", feature = "test-cuda"))
    ))]
    pub(crate) type B = burn::backend::Flex;
    #[cfg(all(feature = "test-wgpu", not(feature = "test-cuda")))]
    pub(crate) type B = burn::backend::Wgpu;
    #[cfg(feature = "test-cuda")]
    pub(crate) type B = burn::backend::Cuda;
}
