//! # san-models
//!
//! Encoders for sign-language retrieval, generic over the Burn backend. Every encoder is a
//! `XConfig` (`#[derive(Config)]`, saved as JSON) plus a module, and gives L2-normalised
//! tokens `[B, N, D]` with a mask, plus a pooled `[B, D]`.
//!
//! | sign encoder | input | setting |
//! |---|---|---|
//! | [`PoseEncoder`](pose_encoder::PoseEncoder) | flattened pose features `[B, T, F]` | the main job |
//! | [`KeypointEncoder`](keypoint_encoder::KeypointEncoder) | keypoints `[B, T, J, C]`, part-wise | SEDS-style pose |
//! | [`FeatureEncoder`](feature_encoder::FeatureEncoder) | clip features `[B, T, F]` | CiCo / SAN (I3D, F = 1024) |
//! | [`FrameEncoder`](frame_encoder::FrameEncoder) | RGB frames `[B, T, 3, H, W]`, ResNet-18 layout | GFSLT-VLP |
//! | [`FusionEncoder`](fusion_encoder::FusionEncoder) | keypoints plus features or frames | late fusion |
//!
//! The text encoders are [`WordEncoder`](text_encoder::WordEncoder) (trained from scratch)
//! and [`BertTextEncoder`](bert::BertTextEncoder) (a BERT-family checkpoint from a local
//! HuggingFace folder, with a projection to `D`). [`RetrievalModel`](retrieval::RetrievalModel)
//! pairs one of each with the learnable logit scale.
//!
//! Modules, from the building blocks up: [`error`] ([`ModelError`], the one error type),
//! [`tokens`] (token sets, row-wise linear layers, the exact-gradient GELU),
//! [`transformer`], the sign encoders ([`pose_encoder`], [`keypoint_encoder`],
//! [`feature_encoder`], [`frame_encoder`], [`fusion_encoder`]), the text encoders
//! ([`text_encoder`], [`bert`], with its safetensors loader), and [`retrieval`] (the dual
//! encoder, saving and loading it).
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Bool, Distribution, Int, Tensor};
//! use san_models::feature_encoder::FeatureEncoderConfig;
//! use san_models::retrieval::{
//!     RetrievalModelConfig, SignEncoderConfig, SignInput, TextEncoderConfig,
//! };
//! use san_models::text_encoder::WordEncoderConfig;
//!
//! type B = NdArray<f32>;
//! let dev = Default::default();
//! let config = RetrievalModelConfig::new(
//!     SignEncoderConfig::Features(FeatureEncoderConfig::new(1024).with_dim(64)),
//!     TextEncoderConfig::Word(WordEncoderConfig::new(100).with_dim(64)),
//! );
//! let model = config.init::<B>(&dev)?;
//! let clips = Tensor::<B, 3>::random([2, 16, 1024], Distribution::Normal(0.0, 1.0), &dev);
//! let sign = model.encode_sign(SignInput::Features(clips, Tensor::<B, 2, Bool>::ones([2, 16], &dev)))?;
//! assert_eq!(sign.tokens.tokens.dims(), [2, 16, 64]);
//! assert_eq!(sign.pooled.dims(), [2, 64]);
//! let words = model.encode_text(Tensor::<B, 2, Int>::ones([2, 5], &dev), Tensor::ones([2, 5], &dev));
//! assert_eq!(words.tokens.tokens.dims(), [2, 5, 64]);
//! # Ok::<(), san_models::retrieval::ModelError>(())
//! ```
//!
//! With a pretrained text encoder on disk (`config.json`, `model.safetensors` and the
//! tokenizer of, say, bert-base-german-cased):
//!
//! ```no_run
//! # use burn::backend::NdArray;
//! # use san_models::feature_encoder::FeatureEncoderConfig;
//! # use san_models::retrieval::{RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig};
//! use san_models::bert::BertTextEncoderConfig;
//!
//! let bert = BertTextEncoderConfig::from_checkpoint("models/bert-base-german-cased".as_ref(), 256)?
//!     .with_freeze_lower(8);
//! let config = RetrievalModelConfig::new(
//!     SignEncoderConfig::Features(FeatureEncoderConfig::new(1024)),
//!     TextEncoderConfig::Bert(bert),
//! );
//! let model = config.init_pretrained::<NdArray<f32>>(&Default::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod bert;
pub mod dropout;
pub mod error;
pub mod feature_encoder;
pub mod frame_encoder;
pub mod fusion_encoder;
pub mod keypoint_encoder;
pub mod pose_encoder;
pub mod record_file;
pub mod retrieval;
pub mod text_encoder;
pub mod tokens;
pub mod transformer;
mod weights;

pub use error::{ModelError, Result};

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
