//! A word-level text encoder trained from scratch: one token per word of the normalised
//! sentence. With `layers = 0` (the default) each token depends on its word only, which
//! keeps word-level mining exact; with `layers > 0` a pre-norm transformer over the words
//! (sinusoidal positions) gives contextual tokens.

use burn::config::Config;
use burn::module::Module;
use burn::nn::transformer::TransformerEncoder;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use std::collections::BTreeMap;

use crate::feature_encoder::{pre_norm_transformer, sinusoidal_positions};
use crate::tokens::{Tokens, gelu, linear_rows};

/// Settings of the word encoder.
#[derive(Config, Debug)]
pub struct WordEncoderConfig {
    /// Vocabulary size, padding and unknown included.
    pub vocab_size: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Transformer layers over the words (0: context-free tokens).
    #[config(default = 0)]
    pub layers: usize,
    /// Attention heads of those layers (divides `dim`).
    #[config(default = 4)]
    pub heads: usize,
    /// Dropout of those layers.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Word embedding, optional transformer layers, then a residual pointwise MLP; each word
/// stays its own token, so word-level mining sees one feature per word.
#[derive(Module, Debug)]
pub struct WordEncoder<B: Backend> {
    embedding: Embedding<B>,
    context: Option<TransformerEncoder<B>>,
    mlp: Linear<B>,
}

impl WordEncoderConfig {
    /// Initialises the encoder on `device`. With `layers > 0`, heads that do not divide
    /// `dim` are rounded down to the largest divisor.
    pub fn init<B: Backend>(&self, device: &B::Device) -> WordEncoder<B> {
        let heads = (1..=self.heads.max(1))
            .rev()
            .find(|h| self.dim.is_multiple_of(*h))
            .unwrap_or(1);
        WordEncoder {
            embedding: EmbeddingConfig::new(self.vocab_size, self.dim).init(device),
            context: (self.layers > 0)
                .then(|| pre_norm_transformer(self.dim, heads, self.layers, self.dropout, device)),
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
        let x = match &self.context {
            None => x,
            Some(encoder) => {
                let [_, l, d] = x.dims();
                let x = x + sinusoidal_positions::<B>(l, d, &mask.device()).unsqueeze::<3>();
                crate::transformer::encode(encoder, x, Some(mask.clone().bool_not()))
            }
        }; // [B, L, D]
        let x = x.clone() + linear_rows(&self.mlp, gelu(x)); // [B, L, D]
        Tokens {
            tokens: san_core::similarity::l2_normalize(x),
            mask,
        }
    }

    /// The encoder's own word vectors, `words[id]` → its unit token, for a semantic table
    /// (`ConfusabilityTable::semantic`) in the model's text space. Ids past the embedding
    /// table are left out. Each word is encoded alone, so with `layers = 0` these are
    /// exactly the tokens `forward` gives the word in any caption.
    pub fn word_vectors(&self, words: &[String]) -> BTreeMap<String, Vec<f32>> {
        let [vocab, dim] = self.embedding.weight.dims();
        let n = words.len().min(vocab);
        if n == 0 {
            return BTreeMap::new();
        }
        let device = self.embedding.weight.device();
        let ids: Vec<i64> = (0..n as i64).collect();
        let tokens = self.forward(
            Tensor::from_data(TensorData::new(ids, [n, 1]), &device),
            Tensor::<B, 2, Bool>::ones([n, 1], &device),
        );
        let values = san_core::host::to_vec_f32(tokens.tokens);
        words
            .iter()
            .take(n)
            .zip(values.chunks_exact(dim))
            .map(|(w, v)| (w.clone(), v.to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::B as TestBackend;
    use burn::tensor::TensorData;

    #[test]
    fn same_word_same_token() {
        let dev = Default::default();
        let enc = WordEncoderConfig::new(5)
            .with_dim(8)
            .init::<TestBackend>(&dev);
        let ids = Tensor::from_data(TensorData::new(vec![2i64, 3, 2], [1, 3]), &dev);
        let out = enc.forward(ids, Tensor::<TestBackend, 2, Bool>::ones([1, 3], &dev));
        let v: Vec<f32> = out.tokens.into_data().to_vec().unwrap();
        assert_eq!(&v[0..8], &v[16..24]);
    }

    #[test]
    fn word_vectors_are_the_forward_tokens() {
        let dev = Default::default();
        let enc = WordEncoderConfig::new(3)
            .with_dim(4)
            .init::<TestBackend>(&dev);
        let names: Vec<String> = ["a", "b", "c", "beyond"].map(String::from).to_vec();
        let vectors = enc.word_vectors(&names);
        assert_eq!(
            vectors.len(),
            3,
            "ids past the embedding table are left out"
        );
        let ids = Tensor::from_data(TensorData::new(vec![1i64], [1, 1]), &dev);
        let out = enc.forward(ids, Tensor::<TestBackend, 2, Bool>::ones([1, 1], &dev));
        let b: Vec<f32> = out.tokens.into_data().to_vec().unwrap();
        assert_eq!(vectors["b"], b);
    }

    #[test]
    fn transformer_layers_give_context_and_respect_padding() {
        let dev = Default::default();
        let enc = WordEncoderConfig::new(6)
            .with_dim(8)
            .with_layers(1)
            .with_heads(2)
            .init::<TestBackend>(&dev);
        let run = |ids: Vec<i64>, mask: Vec<bool>| {
            let n = ids.len();
            let out = enc.forward(
                Tensor::from_data(TensorData::new(ids, [1, n]), &dev),
                Tensor::<TestBackend, 2, Bool>::from_data(TensorData::new(mask, [1, n]), &dev),
            );
            out.tokens.into_data().to_vec::<f32>().unwrap()
        };
        let a = run(vec![2, 3], vec![true, true]);
        let b = run(vec![2, 4], vec![true, true]);
        assert_ne!(&a[0..8], &b[0..8], "word 0's token depends on word 1");
        let padded = run(vec![2, 3, 5, 1], vec![true, true, false, false]);
        let diff = a
            .iter()
            .zip(&padded[..16])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }
}
