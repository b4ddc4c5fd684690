//! The dual-encoder retrieval model of SAN: a sign encoder, a text encoder and the
//! learnable logit scale `λ_s` (Lee et al., ACL 2026; CLCL scoring after CiCo).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

use crate::pose_encoder::{PoseEncoder, PoseEncoderConfig};
use crate::text_encoder::{WordEncoder, WordEncoderConfig};
use crate::tokens::Tokens;

/// Settings of the retrieval model.
#[derive(Config, Debug)]
pub struct RetrievalModelConfig {
    /// Sign encoder.
    pub sign: PoseEncoderConfig,
    /// Text encoder.
    pub text: WordEncoderConfig,
    /// Initial `λ_s`; `ln(1/0.07)` as in CLIP.
    #[config(default = 2.659_260_036_932_778)]
    pub init_log_scale: f64,
    /// Upper bound of `λ_s` (`ln 100`, as in CLIP).
    #[config(default = 4.605_170_185_988_091)]
    pub max_log_scale: f64,
}

/// Dual encoder with a learnable logit scale.
#[derive(Module, Debug)]
pub struct RetrievalModel<B: Backend> {
    /// Sign encoder.
    pub sign_encoder: PoseEncoder<B>,
    /// Text encoder.
    pub text_encoder: WordEncoder<B>,
    /// `λ_s`, shape `[1]`.
    pub log_scale: Param<Tensor<B, 1>>,
    max_log_scale: f64,
}

impl RetrievalModelConfig {
    /// Initialises the model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RetrievalModel<B> {
        RetrievalModel {
            sign_encoder: self.sign.init(device),
            text_encoder: self.text.init(device),
            log_scale: Param::from_tensor(Tensor::from_floats(
                [self.init_log_scale as f32],
                device,
            )),
            max_log_scale: self.max_log_scale,
        }
    }
}

impl<B: Backend> RetrievalModel<B> {
    /// Clip tokens of a pose batch; see [`PoseEncoder::forward`].
    pub fn encode_sign(&self, poses: Tensor<B, 3>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        self.sign_encoder.forward(poses, mask)
    }

    /// Word tokens of a text batch; see [`WordEncoder::forward`].
    pub fn encode_text(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        self.text_encoder.forward(ids, mask)
    }

    /// `λ_s`, clamped to `[0, max_log_scale]`, shape `[1]`.
    pub fn log_scale(&self) -> Tensor<B, 1> {
        self.log_scale.val().clamp(0.0, self.max_log_scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn initial_scale_is_one_over_0_07() {
        let cfg = RetrievalModelConfig::new(PoseEncoderConfig::new(4), WordEncoderConfig::new(6));
        let m = cfg.init::<NdArray<f32>>(&Default::default());
        let s: f32 = m.log_scale().exp().into_scalar();
        assert!((s - 1.0 / 0.07).abs() < 1e-3);
    }
}
