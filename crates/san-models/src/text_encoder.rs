//! A word-level text encoder: one token per word of the normalised sentence.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

use crate::tokens::Tokens;

/// Settings of the word encoder.
#[derive(Config, Debug)]
pub struct WordEncoderConfig {
    /// Vocabulary size, padding and unknown included.
    pub vocab_size: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
}

/// Word embedding followed by a residual pointwise MLP; each word stays its own token, so
/// word-level mining sees one feature per word.
#[derive(Module, Debug)]
pub struct WordEncoder<B: Backend> {
    embedding: Embedding<B>,
    mlp: Linear<B>,
}

impl WordEncoderConfig {
    /// Initialises the encoder on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> WordEncoder<B> {
        WordEncoder {
            embedding: EmbeddingConfig::new(self.vocab_size, self.dim).init(device),
            mlp: LinearConfig::new(self.dim, self.dim).init(device),
        }
    }
}

impl<B: Backend> WordEncoder<B> {
    /// Encodes word ids.
    ///
    /// # Shapes
    /// - `ids`: `[B, L]`; `mask`: `[B, L]`
    /// - output `[B, L, D]` (rows L2-normalised), mask `[B, L]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        let x = self.embedding.forward(ids); // [B, L, D]
        let x = x.clone() + self.mlp.forward(gelu(x)); // [B, L, D]
        Tokens {
            tokens: san_core::similarity::l2_normalize(x),
            mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    #[test]
    fn same_word_same_token() {
        let dev = Default::default();
        let enc = WordEncoderConfig::new(5)
            .with_dim(8)
            .init::<NdArray<f32>>(&dev);
        let ids = Tensor::from_data(TensorData::new(vec![2i64, 3, 2], [1, 3]), &dev);
        let out = enc.forward(ids, Tensor::<NdArray<f32>, 2, Bool>::ones([1, 3], &dev));
        let v: Vec<f32> = out.tokens.into_data().to_vec().unwrap();
        assert_eq!(&v[0..8], &v[16..24]);
    }
}
