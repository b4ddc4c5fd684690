//! Late fusion of two sign streams: keypoints plus precomputed clip features, or keypoints
//! plus RGB frames (the SEDS setting). Each stream keeps its own encoder; their clip tokens
//! are concatenated along the token axis (with their masks), so CLCL aligns words with
//! clips of either stream, and the pooled embedding is a learned mix of the two streams'
//! pooled embeddings.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use crate::error::ModelError;
use crate::feature_encoder::{FeatureEncoder, FeatureEncoderConfig};
use crate::frame_encoder::{FrameEncoder, FrameEncoderConfig};
use crate::keypoint_encoder::{KeypointEncoder, KeypointEncoderConfig};
use crate::tokens::Tokens;

/// Settings of the fusion encoder: the keypoint stream and exactly one second stream.
#[derive(Config, Debug)]
pub struct FusionEncoderConfig {
    /// The keypoint stream.
    pub pose: KeypointEncoderConfig,
    /// A clip-feature stream.
    #[config(default = "None")]
    pub features: Option<FeatureEncoderConfig>,
    /// An RGB frame stream.
    #[config(default = "None")]
    pub frames: Option<FrameEncoderConfig>,
}

/// Two streams, fused late; see the module docs.
#[derive(Module, Debug)]
pub struct FusionEncoder<B: Backend> {
    /// The keypoint stream.
    pub pose: KeypointEncoder<B>,
    /// The clip-feature stream, when configured.
    pub features: Option<FeatureEncoder<B>>,
    /// The frame stream, when configured.
    pub frames: Option<FrameEncoder<B>>,
    /// Logit of the pose stream's weight in the pooled mix (0: half and half).
    pub mix: Param<Tensor<B, 1>>,
}

/// The second stream's input.
#[derive(Debug, Clone)]
pub enum SecondInput<B: Backend> {
    /// Clip features `[B, T, F]` and their mask `[B, T]`.
    Features(Tensor<B, 3>, Tensor<B, 2, Bool>),
    /// Frames `[B, T, 3, H, W]` and their mask `[B, T]`.
    Frames(Tensor<B, 5>, Tensor<B, 2, Bool>),
}

/// Tokens of both streams, concatenated, with the pooled mix.
#[derive(Debug, Clone)]
pub struct Fused<B: Backend> {
    /// `[B, M₁ + M₂, D]` with mask `[B, M₁ + M₂]`: the pose tokens, then the other stream's.
    pub tokens: Tokens<B>,
    /// `[B, D]`, L2-normalised: `σ(mix)·pooled₁ + (1 − σ(mix))·pooled₂`, renormalised.
    pub pooled: Tensor<B, 2>,
}

impl FusionEncoderConfig {
    /// Initialises the encoder. Returns an error unless exactly one second stream is
    /// configured, or when a stream's own settings are invalid or the token dimensions
    /// differ.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<FusionEncoder<B>, ModelError> {
        let second_dim = match (&self.features, &self.frames) {
            (Some(f), None) => f.dim,
            (None, Some(f)) => f.dim,
            _ => {
                return Err(ModelError::Config(
                    "FusionEncoderConfig: configure exactly one of features and frames".into(),
                ));
            }
        };
        if second_dim != self.pose.dim {
            return Err(ModelError::Config(format!(
                "FusionEncoderConfig: token dimensions differ (pose {}, other {second_dim})",
                self.pose.dim
            )));
        }
        Ok(FusionEncoder {
            pose: self.pose.init(device)?,
            features: self.features.as_ref().map(|c| c.init(device)).transpose()?,
            frames: self.frames.as_ref().map(|c| c.init(device)).transpose()?,
            mix: Param::from_tensor(Tensor::zeros([1], device)),
        })
    }
}

impl<B: Backend> FusionEncoder<B> {
    /// Encodes both streams.
    ///
    /// # Shapes
    /// - `keypoints`, `point_mask`, `mask`: as [`KeypointEncoder::forward`]
    /// - `second`: the configured second stream's input
    ///
    /// Returns an error when `second` is not the configured stream, or the keypoints do
    /// not have the joints the parts need.
    pub fn forward(
        &self,
        keypoints: Tensor<B, 4>,
        point_mask: Option<Tensor<B, 3, Bool>>,
        mask: Tensor<B, 2, Bool>,
        second: SecondInput<B>,
    ) -> Result<Fused<B>, ModelError> {
        let pose = self.pose.forward(keypoints, point_mask, mask)?;
        let other = match (second, &self.features, &self.frames) {
            (SecondInput::Features(x, m), Some(enc), _) => enc.forward(x, m),
            (SecondInput::Frames(x, m), _, Some(enc)) => enc.forward(x, m),
            (SecondInput::Features(..), None, _) => {
                return Err(ModelError::Input(
                    "clip features given, but the encoder has a frame stream".into(),
                ));
            }
            (SecondInput::Frames(..), _, None) => {
                return Err(ModelError::Input(
                    "frames given, but the encoder has a clip-feature stream".into(),
                ));
            }
        };
        let w = sigmoid(self.mix.val()).unsqueeze::<2>(); // [1, 1]
        let pooled = pose.pooled() * w.clone() + other.pooled() * (w.neg() + 1.0);
        Ok(Fused {
            pooled: san_core::similarity::l2_normalize(pooled),
            tokens: Tokens {
                tokens: Tensor::cat(vec![pose.tokens, other.tokens], 1),
                mask: Tensor::cat(vec![pose.mask, other.mask], 1),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::test_backend::B;

    fn pose() -> KeypointEncoderConfig {
        KeypointEncoderConfig::new()
            .with_part_dim(4)
            .with_hidden(8)
            .with_heads(2)
            .with_layers(1)
            .with_dim(6)
    }

    #[test]
    fn tokens_concatenate_and_the_pooled_mix_starts_half_and_half() {
        let dev = Default::default();
        let feats = FeatureEncoderConfig::new(5)
            .with_hidden(8)
            .with_heads(2)
            .with_layers(1)
            .with_dim(6);
        let enc = FusionEncoderConfig::new(pose())
            .with_features(Some(feats))
            .init::<B>(&dev)
            .unwrap();
        let kp = Tensor::<B, 4>::random([2, 8, 49, 3], Distribution::Normal(0.0, 1.0), &dev);
        let f = Tensor::<B, 3>::random([2, 4, 5], Distribution::Normal(0.0, 1.0), &dev);
        let out = enc
            .forward(
                kp.clone(),
                None,
                Tensor::ones([2, 8], &dev),
                SecondInput::Features(f.clone(), Tensor::ones([2, 4], &dev)),
            )
            .unwrap();
        // pose: floor(8 / 4) + 1 = 3 clips; features: 4 clips
        assert_eq!(out.tokens.tokens.dims(), [2, 7, 6]);
        assert_eq!(out.tokens.mask.dims(), [2, 7]);
        // σ(0) = 1/2: the mix is the normalised sum of the two pooled embeddings
        let a = enc
            .pose
            .forward(kp, None, Tensor::ones([2, 8], &dev))
            .unwrap()
            .pooled();
        let b = enc
            .features
            .as_ref()
            .unwrap()
            .forward(f, Tensor::ones([2, 4], &dev))
            .pooled();
        let expected = san_core::similarity::l2_normalize(a + b);
        assert!((out.pooled - expected).abs().max().into_scalar() < 1e-6);
    }

    #[test]
    fn the_wrong_second_input_or_config_is_an_error() {
        let dev = Default::default();
        assert!(
            FusionEncoderConfig::new(pose()).init::<B>(&dev).is_err(),
            "no second stream"
        );
        let frames = FrameEncoderConfig::new()
            .with_cnn(
                crate::frame_encoder::ResNetConfig::new()
                    .with_blocks([1, 1, 1, 1])
                    .with_width(2),
            )
            .with_hidden(8)
            .with_heads(2)
            .with_layers(1);
        assert!(
            FusionEncoderConfig::new(pose())
                .with_frames(Some(frames.clone()))
                .init::<B>(&dev)
                .is_err(),
            "token dimensions 6 and 256 differ"
        );
        let enc = FusionEncoderConfig::new(pose())
            .with_frames(Some(frames.with_dim(6)))
            .init::<B>(&dev)
            .unwrap();
        let e = enc
            .forward(
                Tensor::zeros([1, 4, 49, 3], &dev),
                None,
                Tensor::ones([1, 4], &dev),
                SecondInput::Features(Tensor::zeros([1, 2, 5], &dev), Tensor::ones([1, 2], &dev)),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("frame stream"), "{e}");
    }
}
