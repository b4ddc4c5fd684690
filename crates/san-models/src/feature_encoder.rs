//! A clip-feature encoder: precomputed clip features (I3D and the like) → clip tokens. This
//! is the CiCo / SAN setting: `F = 1024` features per clip, at most 64 clips per video.

use crate::dropout::dropout;
use burn::config::Config;
use burn::module::Module;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};

use crate::error::ModelError;
use crate::tokens::{Tokens, linear_rows};

/// `Err` naming `config` unless `heads` divides `hidden` (shared by the transformer
/// encoders' configs).
pub(crate) fn check_heads(config: &str, hidden: usize, heads: usize) -> Result<(), ModelError> {
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(ModelError::Config(format!(
            "{config}: hidden {hidden} is not a multiple of heads {heads}"
        )));
    }
    Ok(())
}

/// Settings of the feature encoder.
#[derive(Config, Debug)]
pub struct FeatureEncoderConfig {
    /// Features per clip `F` (I3D: 1024).
    pub input_dim: usize,
    /// Transformer width.
    #[config(default = 512)]
    pub hidden: usize,
    /// Transformer layers.
    #[config(default = 2)]
    pub layers: usize,
    /// Attention heads (divides `hidden`).
    #[config(default = 8)]
    pub heads: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Dropout.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Linear input projection, sinusoidal positions, a pre-norm transformer encoder, and a
/// projection to `D`; see the module docs.
#[derive(Module, Debug)]
pub struct FeatureEncoder<B: Backend> {
    input: Linear<B>,
    encoder: TransformerEncoder<B>,
    output: Linear<B>,
    dropout: Dropout,
}

impl FeatureEncoderConfig {
    /// Initialises the encoder on `device`. Returns an error when the heads do not divide
    /// the width.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<FeatureEncoder<B>, ModelError> {
        check_heads("FeatureEncoderConfig", self.hidden, self.heads)?;
        Ok(FeatureEncoder {
            input: LinearConfig::new(self.input_dim, self.hidden).init(device),
            encoder: pre_norm_transformer(
                self.hidden,
                self.heads,
                self.layers,
                self.dropout,
                device,
            ),
            output: LinearConfig::new(self.hidden, self.dim).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        })
    }
}

/// The encoders' transformer: `layers` pre-norm layers of width `hidden`, feed-forward
/// `4·hidden`, `heads` heads.
pub(crate) fn pre_norm_transformer<B: Backend>(
    hidden: usize,
    heads: usize,
    layers: usize,
    dropout: f64,
    device: &B::Device,
) -> TransformerEncoder<B> {
    TransformerEncoderConfig::new(hidden, 4 * hidden, heads, layers)
        .with_dropout(dropout)
        .with_norm_first(true)
        .init(device)
}

/// Sinusoidal position encodings (Vaswani et al.): `[T, H]`, `sin` on even and `cos` on
/// odd channels. Any length works, so no input is too long.
pub fn sinusoidal_positions<B: Backend>(t: usize, h: usize, device: &B::Device) -> Tensor<B, 2> {
    let mut values = vec![0.0f32; t * h];
    for p in 0..t {
        for i in 0..h {
            let rate = 10_000f64.powf(-((i / 2 * 2) as f64) / h as f64);
            let angle = p as f64 * rate;
            values[p * h + i] = if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    Tensor::from_data(TensorData::new(values, [t, h]), device)
}

impl<B: Backend> FeatureEncoder<B> {
    /// Encodes clip features into clip tokens, one per clip.
    ///
    /// # Shapes
    /// - `features`: `[B, T, F]`; `mask`: `[B, T]` (true = real clip)
    /// - output tokens `[B, T, D]` (rows L2-normalised), mask `[B, T]` (the input mask)
    pub fn forward(&self, features: Tensor<B, 3>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        let [_, t, _] = features.dims();
        let x = linear_rows(&self.input, features); // [B, T, H]
        let [_, _, h] = x.dims();
        let x = x + sinusoidal_positions::<B>(t, h, &mask.device()).unsqueeze::<3>(); // [B, T, H]
        let x = dropout(&self.dropout, x);
        let x = crate::transformer::encode(&self.encoder, x, Some(mask.clone().bool_not())); // [B, T, H]
        Tokens {
            tokens: san_core::similarity::l2_normalize(linear_rows(&self.output, x)),
            mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::test_backend::B;

    fn small() -> FeatureEncoderConfig {
        FeatureEncoderConfig::new(12)
            .with_hidden(16)
            .with_heads(4)
            .with_dim(8)
    }

    #[test]
    fn positions_by_hand() {
        // position 1, channel 0: sin(1 · 10000^0) = sin 1; channel 1: cos(1) (same rate);
        // channel 2: sin(1 · 10000^(-2/4)) = sin(0.01).
        let p = sinusoidal_positions::<B>(2, 4, &Default::default())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(&p[..4], &[0.0, 1.0, 0.0, 1.0]);
        let expected = [1f32.sin(), 1f32.cos(), 0.01f32.sin(), 0.01f32.cos()];
        for (a, b) in p[4..].iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn shapes_unit_norm_and_padding_invariance() {
        let dev = Default::default();
        let enc = small().init::<B>(&dev).unwrap();
        let x = Tensor::<B, 3>::random([1, 5, 12], Distribution::Normal(0.0, 1.0), &dev);
        let short = enc.forward(x.clone(), Tensor::ones([1, 5], &dev));
        assert_eq!(short.tokens.dims(), [1, 5, 8]);
        let norms = short.tokens.clone().powi_scalar(2).sum_dim(2);
        assert!((norms - 1.0).abs().max().into_scalar() < 1e-5);
        // three more clips of noise behind the mask change nothing at the real ones
        let noise = Tensor::<B, 3>::random([1, 3, 12], Distribution::Normal(0.0, 5.0), &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new(
                vec![true, true, true, true, true, false, false, false],
                [1, 8],
            ),
            &dev,
        );
        let long = enc.forward(Tensor::cat(vec![x, noise], 1), mask);
        let diff = (long.tokens.slice([0..1, 0..5]) - short.tokens)
            .abs()
            .max()
            .into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn heads_must_divide_the_width() {
        assert!(
            small()
                .with_heads(3)
                .init::<B>(&Default::default())
                .is_err()
        );
    }
}
