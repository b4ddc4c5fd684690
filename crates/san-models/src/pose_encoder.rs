//! A pose encoder: per-frame pose features → clip tokens.
//!
//! Every 4 frames (≈ 0.16 s at 25 fps) become one clip token, the granularity at which
//! CLCL aligns clips with words. The temporal layers are written as matrix products over
//! stacked frames (a stride-4 patch projection, then a width-3 context mix), which is the
//! same function as a strided 1-D convolution but runs on every backend's fast matmul.

use crate::dropout::dropout;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

use crate::tokens::{Tokens, gelu, linear_rows};

/// Frames per clip token.
pub const FRAMES_PER_CLIP: usize = 4;

/// Settings of the pose encoder.
#[derive(Config, Debug)]
pub struct PoseEncoderConfig {
    /// Features per frame (see `san_data::pose::feature_dim`).
    pub input_dim: usize,
    /// Hidden width.
    #[config(default = 256)]
    pub hidden: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Dropout on the frame embedding.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Pose encoder; see the module docs.
#[derive(Module, Debug)]
pub struct PoseEncoder<B: Backend> {
    input: Linear<B>,
    patch: Linear<B>,
    context: Linear<B>,
    output: Linear<B>,
    dropout: Dropout,
}

impl PoseEncoderConfig {
    /// Initialises the encoder on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> PoseEncoder<B> {
        let h = self.hidden;
        PoseEncoder {
            input: LinearConfig::new(self.input_dim, h).init(device),
            patch: LinearConfig::new(FRAMES_PER_CLIP * h, h).init(device),
            context: LinearConfig::new(3 * h, h).init(device),
            output: LinearConfig::new(h, self.dim).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl<B: Backend> PoseEncoder<B> {
    /// Encodes frames into clip tokens.
    ///
    /// # Shapes
    /// - `poses`: `[B, T, F]`; `mask`: `[B, T]` (true = real frame, a prefix per row)
    /// - output tokens `[B, M, D]` with `M = ceil(T / 4)`, mask `[B, M]`
    pub fn forward(&self, poses: Tensor<B, 3>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        let [b, t, _] = poses.dims();
        let device = poses.device();
        let frame_valid = mask.clone().float().reshape([b, t, 1]);
        let x = gelu(linear_rows(&self.input, poses)) * frame_valid; // [B, T, H]
        let x = dropout(&self.dropout, x);
        let [_, _, h] = x.dims();
        let m = t.div_ceil(FRAMES_PER_CLIP);
        let x = if m * FRAMES_PER_CLIP > t {
            Tensor::cat(
                vec![x, Tensor::zeros([b, m * FRAMES_PER_CLIP - t, h], &device)],
                1,
            ) // [B, 4M, H]
        } else {
            x
        };
        let clips = clip_mask(mask, m); // [B, M]
        // Padded clips are zeroed, so the context mix of the last real clip sees exactly
        // what it sees without padding (the zeros past the end).
        let x = gelu(linear_rows(
            &self.patch,
            x.reshape([b, m, FRAMES_PER_CLIP * h]),
        )) * clips.clone().float().reshape([b, m, 1]); // [B, M, H]
        let zero = Tensor::zeros([b, 1, h], &device);
        let (prev, next) = if m > 1 {
            (
                Tensor::cat(vec![zero.clone(), x.clone().slice([0..b, 0..m - 1])], 1), // [B, M, H]
                Tensor::cat(vec![x.clone().slice([0..b, 1..m]), zero], 1),             // [B, M, H]
            )
        } else {
            (zero.clone(), zero)
        };
        let mixed = linear_rows(&self.context, Tensor::cat(vec![prev, x.clone(), next], 2)); // [B, M, H]
        let x = x + gelu(mixed); // [B, M, H]
        let x = linear_rows(&self.output, x); // [B, M, D]
        Tokens {
            tokens: san_core::similarity::l2_normalize(x),
            mask: clips,
        }
    }
}

/// Clip `j` is valid when its first frame `4j` is a real frame.
///
/// # Shapes
/// - `frame_mask`: `[B, T]`; output `[B, M]`
pub fn clip_mask<B: Backend>(frame_mask: Tensor<B, 2, Bool>, clips: usize) -> Tensor<B, 2, Bool> {
    strided_clip_mask(frame_mask, clips, FRAMES_PER_CLIP)
}

/// Clip `j` is valid when its first frame `stride·j` is a real frame (frame masks are a
/// prefix per row).
///
/// # Shapes
/// - `frame_mask`: `[B, T]`; output `[B, M]`
pub fn strided_clip_mask<B: Backend>(
    frame_mask: Tensor<B, 2, Bool>,
    clips: usize,
    stride: usize,
) -> Tensor<B, 2, Bool> {
    let [b, _] = frame_mask.dims();
    let lengths = frame_mask.int().sum_dim(1); // [B, 1]
    let starts = Tensor::<B, 1, Int>::arange(0..clips as i64, &lengths.device())
        .mul_scalar(stride as i64)
        .reshape([1, clips])
        .expand([b, clips]); // [B, M]
    starts.lower(lengths.expand([b, clips]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    type B = crate::test_backend::B;

    #[test]
    fn shapes_masks_and_unit_norm() {
        let dev = Default::default();
        let enc = PoseEncoderConfig::new(6)
            .with_hidden(8)
            .with_dim(4)
            .init::<B>(&dev);
        let poses = Tensor::<B, 3>::ones([2, 9, 6], &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new(
                (0..18).map(|i| i < 9 || i - 9 < 4).collect::<Vec<_>>(),
                [2, 9],
            ),
            &dev,
        );
        let out = enc.forward(poses, mask);
        assert_eq!(out.tokens.dims(), [2, 3, 4]);
        let m: Vec<bool> = san_core::host::to_vec_i64(out.mask.int())
            .iter()
            .map(|&v| v != 0)
            .collect();
        // 9 frames → clips at 0, 4, 8 all valid; 4 frames → only clip 0.
        assert_eq!(m, vec![true, true, true, true, false, false]);
        let norms: Vec<f32> = out
            .tokens
            .powi_scalar(2)
            .sum_dim(2)
            .into_data()
            .to_vec()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4));
    }

    #[test]
    fn padding_does_not_change_real_clips() {
        use burn::tensor::Distribution;
        let dev = Default::default();
        let enc = PoseEncoderConfig::new(5)
            .with_hidden(8)
            .with_dim(4)
            .init::<B>(&dev);
        // 9 real frames: clip 2 holds frame 8 and the encoder's own zero padding.
        let poses = Tensor::<B, 3>::random([1, 9, 5], Distribution::Normal(0.0, 1.0), &dev);
        let short = enc.forward(poses.clone(), Tensor::ones([1, 9], &dev));
        let noise = Tensor::<B, 3>::random([1, 7, 5], Distribution::Normal(0.0, 3.0), &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new((0..16).map(|i| i < 9).collect::<Vec<_>>(), [1, 16]),
            &dev,
        );
        let long = enc.forward(Tensor::cat(vec![poses, noise], 1), mask);
        assert_eq!(long.tokens.dims(), [1, 4, 4]);
        let diff: f32 = (long.tokens.slice([0..1, 0..3]) - short.tokens)
            .abs()
            .max()
            .into_scalar();
        assert!(diff < 1e-6, "real clips moved by {diff}");
    }
}
