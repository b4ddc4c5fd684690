//! # san-models
//!
//! Encoders for sign-language retrieval, generic over the Burn backend: a pose encoder that
//! turns per-frame keypoint features into clip tokens, a word-level text encoder, and the
//! dual-encoder [`RetrievalModel`](retrieval::RetrievalModel) with its learnable logit scale.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Bool, Tensor};
//! use san_models::pose_encoder::PoseEncoderConfig;
//!
//! let dev = Default::default();
//! let enc = PoseEncoderConfig::new(10).with_hidden(16).with_dim(8).init::<NdArray<f32>>(&dev);
//! let tokens = enc.forward(Tensor::zeros([2, 12, 10], &dev), Tensor::<NdArray<f32>, 2, Bool>::ones([2, 12], &dev));
//! assert_eq!(tokens.tokens.dims(), [2, 3, 8]);
//! ```
#![warn(missing_docs)]

pub mod bert;
pub mod feature_encoder;
pub mod frame_encoder;
pub mod fusion_encoder;
pub mod keypoint_encoder;
pub mod pose_encoder;
pub mod retrieval;
pub mod text_encoder;
pub mod tokens;
