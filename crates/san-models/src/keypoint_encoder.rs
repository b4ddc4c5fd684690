//! A keypoint encoder: keypoints `[B, T, J, C]` → clip tokens, with one embedding per body
//! part (body, left hand, right hand, face), a temporal convolution that downsamples, and
//! a pre-norm transformer encoder. Parts are configurable: a corpus without face points
//! leaves the face part out, and a part whose points are missing in a frame (confidence 0,
//! or masked) contributes zeros there.

use crate::dropout::dropout;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::transformer::TransformerEncoder;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use crate::error::ModelError;
use crate::feature_encoder::{check_heads, pre_norm_transformer, sinusoidal_positions};
use crate::pose_encoder::strided_clip_mask;
use crate::tokens::{Tokens, gelu, linear_rows};

/// One body part: a contiguous range of joints.
#[derive(Config, Debug, PartialEq)]
pub struct PartConfig {
    /// Name, for messages (`body`, `left_hand`, …).
    pub name: String,
    /// First joint index.
    pub start: usize,
    /// Number of joints.
    pub joints: usize,
}

/// Body (7 points), left hand and right hand (21 each): the layout of signsim and of
/// san-data's `mediapipe_body_hands` selection after its body subset.
pub fn body_hands_parts() -> Vec<PartConfig> {
    vec![
        PartConfig::new("body".into(), 0, 7),
        PartConfig::new("left_hand".into(), 7, 21),
        PartConfig::new("right_hand".into(), 28, 21),
    ]
}

/// Settings of the keypoint encoder.
#[derive(Config, Debug)]
pub struct KeypointEncoderConfig {
    /// The parts, each embedded on its own.
    #[config(default = "body_hands_parts()")]
    pub parts: Vec<PartConfig>,
    /// Channels per joint `C` (x, y and a confidence, for example).
    #[config(default = 3)]
    pub channels: usize,
    /// Embedding width of each part.
    #[config(default = 64)]
    pub part_dim: usize,
    /// Transformer width.
    #[config(default = 256)]
    pub hidden: usize,
    /// Frames per clip token (the temporal convolution's stride; its kernel is one wider
    /// on each side).
    #[config(default = 4)]
    pub stride: usize,
    /// Transformer layers.
    #[config(default = 2)]
    pub layers: usize,
    /// Attention heads (divides `hidden`).
    #[config(default = 4)]
    pub heads: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Dropout.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Keypoints → clip tokens; see the module docs.
#[derive(Module, Debug)]
pub struct KeypointEncoder<B: Backend> {
    parts: Vec<Linear<B>>,
    ranges: Vec<[usize; 2]>,
    mix: Linear<B>,
    temporal: Conv1d<B>,
    encoder: TransformerEncoder<B>,
    output: Linear<B>,
    dropout: Dropout,
    stride: usize,
}

impl KeypointEncoderConfig {
    /// Initialises the encoder on `device`. Returns an error for an empty part list, an
    /// empty part, or heads that do not divide the width.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<KeypointEncoder<B>, ModelError> {
        if self.parts.is_empty() {
            return Err(ModelError::Config(
                "KeypointEncoderConfig: at least one part is needed".into(),
            ));
        }
        if let Some(p) = self.parts.iter().find(|p| p.joints == 0) {
            return Err(ModelError::Config(format!(
                "KeypointEncoderConfig: part {:?} has no joints",
                p.name
            )));
        }
        check_heads("KeypointEncoderConfig", self.hidden, self.heads)?;
        let stride = self.stride.max(1);
        Ok(KeypointEncoder {
            parts: self
                .parts
                .iter()
                .map(|p| LinearConfig::new(p.joints * self.channels, self.part_dim).init(device))
                .collect(),
            ranges: self.parts.iter().map(|p| [p.start, p.joints]).collect(),
            mix: LinearConfig::new(self.parts.len() * self.part_dim, self.hidden).init(device),
            temporal: Conv1dConfig::new(self.hidden, self.hidden, stride + 2)
                .with_stride(stride)
                .with_padding(PaddingConfig1d::Explicit(1, stride + 1))
                .init(device),
            encoder: pre_norm_transformer(
                self.hidden,
                self.heads,
                self.layers,
                self.dropout,
                device,
            ),
            output: LinearConfig::new(self.hidden, self.dim).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            stride,
        })
    }
}

impl<B: Backend> KeypointEncoder<B> {
    /// The joints the parts need: one past the last joint of any part.
    pub fn joints_needed(&self) -> usize {
        self.ranges.iter().map(|[s, n]| s + n).max().unwrap_or(0)
    }

    /// Encodes keypoints into clip tokens.
    ///
    /// # Shapes
    /// - `keypoints`: `[B, T, J, C]` with `J` at least [`joints_needed`](Self::joints_needed)
    ///   (extra joints are ignored); `point_mask`: `[B, T, J]` or `None` (true = detected);
    ///   `mask`: `[B, T]` (true = real frame, a prefix per row)
    /// - output tokens `[B, M, D]` with `M = floor(T / s) + 1` for stride `s` (rows
    ///   L2-normalised), mask `[B, M]`: clip `j` covers frames `s·j − 1 … s·j + s` and is
    ///   real when frame `s·j` is
    ///
    /// Returns an error when `J` is smaller than the parts need.
    pub fn forward(
        &self,
        keypoints: Tensor<B, 4>,
        point_mask: Option<Tensor<B, 3, Bool>>,
        mask: Tensor<B, 2, Bool>,
    ) -> Result<Tokens<B>, ModelError> {
        let [b, t, j, c] = keypoints.dims();
        if j < self.joints_needed() {
            return Err(ModelError::Input(format!(
                "keypoints have {j} joints; the parts need {}",
                self.joints_needed()
            )));
        }
        let device = keypoints.device();
        let keypoints = match point_mask {
            Some(m) => keypoints * m.float().reshape([b, t, j, 1]),
            None => keypoints,
        };
        let embedded: Vec<Tensor<B, 3>> = self
            .parts
            .iter()
            .zip(&self.ranges)
            .map(|(linear, &[start, n])| {
                let part = keypoints
                    .clone()
                    .slice([0..b, 0..t, start..start + n, 0..c])
                    .reshape([b, t, n * c]);
                gelu(linear_rows(linear, part)) // [B, T, P]
            })
            .collect();
        let x = gelu(linear_rows(&self.mix, Tensor::cat(embedded, 2))); // [B, T, H]
        // Padded frames contribute zeros, like the convolution's own padding.
        let x = dropout(&self.dropout, x) * mask.clone().float().reshape([b, t, 1]);
        let x = self.temporal.forward(x.swap_dims(1, 2)).swap_dims(1, 2); // [B, M, H]
        let [_, m, h] = x.dims();
        let x = gelu(x) + sinusoidal_positions::<B>(m, h, &device).unsqueeze::<3>();
        let clip_mask = strided_clip_mask(mask, m, self.stride); // [B, M]
        let x = crate::transformer::encode(&self.encoder, x, Some(clip_mask.clone().bool_not()));
        Ok(Tokens {
            tokens: san_core::similarity::l2_normalize(linear_rows(&self.output, x)),
            mask: clip_mask,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    type B = crate::test_backend::B;

    fn small() -> KeypointEncoderConfig {
        KeypointEncoderConfig::new()
            .with_part_dim(4)
            .with_hidden(8)
            .with_heads(2)
            .with_layers(1)
            .with_dim(6)
    }

    #[test]
    fn shapes_clip_mask_and_padding_invariance() {
        let dev = Default::default();
        let enc = small().init::<B>(&dev).unwrap();
        assert_eq!(enc.joints_needed(), 49);
        let x = Tensor::<B, 4>::random([1, 9, 49, 3], Distribution::Normal(0.0, 1.0), &dev);
        let short = enc
            .forward(x.clone(), None, Tensor::ones([1, 9], &dev))
            .unwrap();
        // M = floor(9 / 4) + 1 = 3; clips start at frames 0, 4, 8, all real
        assert_eq!(short.tokens.dims(), [1, 3, 6]);
        let noise = Tensor::<B, 4>::random([1, 7, 49, 3], Distribution::Normal(0.0, 4.0), &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new((0..16).map(|i| i < 9).collect::<Vec<_>>(), [1, 16]),
            &dev,
        );
        let long = enc
            .forward(Tensor::cat(vec![x, noise], 1), None, mask)
            .unwrap();
        // M = floor(16 / 4) + 1 = 5; clips at 12 and 16 lie past frame 9
        let m: Vec<bool> = san_core::host::to_vec_i64(long.mask.clone().int())
            .iter()
            .map(|&v| v != 0)
            .collect();
        assert_eq!(m, [true, true, true, false, false]);
        let diff = (long.tokens.slice([0..1, 0..3]) - short.tokens)
            .abs()
            .max()
            .into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn masked_points_count_as_zeros_and_missing_parts_are_configurable() {
        let dev = Default::default();
        let enc = small().init::<B>(&dev).unwrap();
        let x = Tensor::<B, 4>::random([1, 8, 49, 3], Distribution::Normal(0.0, 1.0), &dev);
        // hide the left hand (joints 7..28) through the point mask, or zero it by hand
        let hidden: Vec<bool> = (0..8 * 49).map(|i| !(7..28).contains(&(i % 49))).collect();
        let pm = Tensor::<B, 3, Bool>::from_data(TensorData::new(hidden.clone(), [1, 8, 49]), &dev);
        let zeroed = x.clone() * pm.clone().float().reshape([1, 8, 49, 1]);
        let frames = || Tensor::<B, 2, Bool>::ones([1, 8], &dev);
        let a = enc.forward(x, Some(pm), frames()).unwrap().tokens;
        let b = enc.forward(zeroed, None, frames()).unwrap().tokens;
        assert!((a - b).abs().max().into_scalar() < 1e-6);

        // a body-and-right-hand model reads only joints 0..7 and 28..49
        let parts = vec![
            PartConfig::new("body".into(), 0, 7),
            PartConfig::new("right_hand".into(), 28, 21),
        ];
        let enc2 = small().with_parts(parts).init::<B>(&dev).unwrap();
        let few = Tensor::<B, 4>::zeros([1, 8, 30, 3], &dev);
        let e = enc2.forward(few, None, frames()).unwrap_err().to_string();
        assert!(e.contains("30 joints") && e.contains("49"), "{e}");
        assert!(small().with_parts(vec![]).init::<B>(&dev).is_err());
        assert!(small().with_heads(3).init::<B>(&dev).is_err());
    }
}
