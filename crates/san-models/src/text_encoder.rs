//! A word-level text encoder: one token per word of the normalised sentence.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use std::collections::BTreeMap;

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

    /// The encoder's own word vectors, `words[id]` → its unit token, for a semantic table
    /// (`ConfusabilityTable::semantic`) in the model's text space. Ids past the embedding
    /// table are left out. The encoder is context-free, so these are exactly the tokens
    /// `forward` gives each word.
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

    #[test]
    fn word_vectors_are_the_forward_tokens() {
        let dev = Default::default();
        let enc = WordEncoderConfig::new(3)
            .with_dim(4)
            .init::<NdArray<f32>>(&dev);
        let names: Vec<String> = ["a", "b", "c", "beyond"].map(String::from).to_vec();
        let vectors = enc.word_vectors(&names);
        assert_eq!(
            vectors.len(),
            3,
            "ids past the embedding table are left out"
        );
        let ids = Tensor::from_data(TensorData::new(vec![1i64], [1, 1]), &dev);
        let out = enc.forward(ids, Tensor::<NdArray<f32>, 2, Bool>::ones([1, 1], &dev));
        let b: Vec<f32> = out.tokens.into_data().to_vec().unwrap();
        assert_eq!(vectors["b"], b);
    }
}
