//! # san-core
//!
//! The backend-generic maths of SAN (Sign-Aware Hard Negative Mining, Lee et al., ACL 2026)
//! for sign-language retrieval: CLCL token similarity, the coarse and fine-grained losses,
//! confusability tables and hard-negative captions, and retrieval metrics. No file I/O.
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
pub mod host;
pub mod loss;
pub mod metrics;
pub mod mining;
pub mod similarity;
pub mod text;

/// The backend unit tests run on: ndarray, WGPU with the `test-wgpu` feature, or CUDA with
/// `test-cuda`.
#[cfg(test)]
pub(crate) mod test_backend {
    #[cfg(not(any(feature = "test-wgpu", feature = "test-cuda")))]
    pub(crate) type B = burn::backend::NdArray<f32>;
    #[cfg(all(feature = "test-wgpu", not(feature = "test-cuda")))]
    pub(crate) type B = burn::backend::Wgpu;
    #[cfg(feature = "test-cuda")]
    pub(crate) type B = burn::backend::Cuda;
}
