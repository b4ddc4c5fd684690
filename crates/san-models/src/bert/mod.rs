//! The BERT-family text encoder (BERT, German BERT, MiniLM, …): the architecture of
//! HuggingFace's `BertModel`, so that a checkpoint on disk loads into it unchanged
//! ([`loader`] maps its keys).
//!
//! The layer is post-norm, as in BERT: `x = LN(x + Attn(x)); x = LN(x + FFN(x))`, with GELU
//! in the feed-forward block. Padded keys get no attention weight, so the output at real
//! positions does not depend on padding.

pub mod loader;
pub mod text;

use crate::dropout::dropout;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::activation::{gelu_approximate, softmax};
use burn::tensor::backend::Backend;

use crate::error::ModelError;
use crate::tokens::gelu;
use burn::tensor::{Bool, Int, Tensor};

pub use loader::{BertCheckpoint, load_bert};
pub use text::{BertTextEncoder, BertTextEncoderConfig, TextPooling};

/// The hyper-parameters of a BERT-family encoder, as in HuggingFace's `config.json`.
#[derive(Config, Debug, PartialEq)]
pub struct BertConfig {
    /// Word-piece vocabulary size.
    pub vocab_size: usize,
    /// Hidden size `H`.
    #[config(default = 768)]
    pub hidden_size: usize,
    /// Transformer layers.
    #[config(default = 12)]
    pub num_hidden_layers: usize,
    /// Attention heads (divides `H`).
    #[config(default = 12)]
    pub num_attention_heads: usize,
    /// Feed-forward width.
    #[config(default = 3072)]
    pub intermediate_size: usize,
    /// Longest input, in pieces.
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Segment (token type) ids.
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Dropout on embeddings and sub-layer outputs (training only).
    #[config(default = 0.1)]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention weights (training only).
    #[config(default = 0.1)]
    pub attention_probs_dropout_prob: f64,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`) instead of the
    /// exact one (`gelu`).
    #[config(default = false)]
    pub gelu_tanh: bool,
}

impl BertConfig {
    /// Initialises a randomly weighted encoder (load a checkpoint with [`load_bert`]).
    /// Returns an error when the heads do not divide the hidden size.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<BertModel<B>, ModelError> {
        let (h, heads) = (self.hidden_size, self.num_attention_heads);
        if heads == 0 || !h.is_multiple_of(heads) {
            return Err(ModelError::Config(format!(
                "BERT config: hidden_size {h} is not a multiple of num_attention_heads {heads}"
            )));
        }
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let layers = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                query: linear(h, h),
                key: linear(h, h),
                value: linear(h, h),
                attention_output: linear(h, h),
                attention_norm: norm(),
                intermediate: linear(h, self.intermediate_size),
                output: linear(self.intermediate_size, h),
                output_norm: norm(),
                attention_dropout: DropoutConfig::new(self.attention_probs_dropout_prob).init(),
                dropout: DropoutConfig::new(self.hidden_dropout_prob).init(),
                heads,
                gelu_tanh: self.gelu_tanh,
            })
            .collect();
        Ok(BertModel {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, h).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_position_embeddings, h)
                    .init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab_size.max(1), h)
                    .init(device),
                layer_norm: norm(),
                dropout: DropoutConfig::new(self.hidden_dropout_prob).init(),
            },
            layers,
        })
    }
}

/// Word, position and segment embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    /// `[vocab, H]`.
    pub word_embeddings: Embedding<B>,
    /// `[max_positions, H]`.
    pub position_embeddings: Embedding<B>,
    /// `[type_vocab, H]`.
    pub token_type_embeddings: Embedding<B>,
    /// Layer norm over the sum.
    pub layer_norm: LayerNorm<B>,
    dropout: Dropout,
}

/// One post-norm transformer layer.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// Query projection.
    pub query: Linear<B>,
    /// Key projection.
    pub key: Linear<B>,
    /// Value projection.
    pub value: Linear<B>,
    /// Attention output projection.
    pub attention_output: Linear<B>,
    /// Norm after the attention residual.
    pub attention_norm: LayerNorm<B>,
    /// Feed-forward up-projection.
    pub intermediate: Linear<B>,
    /// Feed-forward down-projection.
    pub output: Linear<B>,
    /// Norm after the feed-forward residual.
    pub output_norm: LayerNorm<B>,
    attention_dropout: Dropout,
    dropout: Dropout,
    heads: usize,
    gelu_tanh: bool,
}

/// A BERT-family encoder.
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    /// The embedding block.
    pub embeddings: BertEmbeddings<B>,
    /// The transformer layers, bottom first.
    pub layers: Vec<BertLayer<B>>,
}

impl<B: Backend> BertLayer<B> {
    /// # Shapes
    /// - `x`: `[B, L, H]`; `key_bias`: `[B, 1, 1, L]` (0 for real keys, very negative for
    ///   padding)
    /// - output `[B, L, H]`
    fn forward(&self, x: Tensor<B, 3>, key_bias: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, l, h] = x.dims();
        let dh = h / self.heads;
        // The linear layers see rows [B·L, H]: see `crate::tokens::linear_rows`.
        let x = x.reshape([b * l, h]);
        let split = |t: Tensor<B, 2>| t.reshape([b, l, self.heads, dh]).swap_dims(1, 2); // [B, nh, L, dh]
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt() + key_bias; // [B, nh, L, L]
        let weights = dropout(&self.attention_dropout, softmax(scores, 3));
        let context = weights.matmul(v).swap_dims(1, 2).reshape([b * l, h]); // [B·L, H]
        let attended = dropout(&self.dropout, self.attention_output.forward(context));
        let x = self.attention_norm.forward(x + attended);
        let inner = self.intermediate.forward(x.clone());
        let inner = if self.gelu_tanh {
            gelu_approximate(inner)
        } else {
            gelu(inner)
        };
        let out = dropout(&self.dropout, self.output.forward(inner));
        self.output_norm.forward(x + out).reshape([b, l, h])
    }
}

impl<B: Backend> BertModel<B> {
    /// The last hidden state.
    ///
    /// # Shapes
    /// - `ids`: `[B, L]` word-piece ids; `mask`: `[B, L]`, true for real pieces;
    ///   `token_types`: `[B, L]` or `None` (all segment 0)
    /// - output `[B, L, H]`; rows at padded positions are computed but meaningless
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        mask: Tensor<B, 2, Bool>,
        token_types: Option<Tensor<B, 2, Int>>,
    ) -> Tensor<B, 3> {
        let [b, l] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..l as i64, &device)
            .reshape([1, l])
            .repeat_dim(0, b);
        let types = token_types.unwrap_or_else(|| Tensor::zeros([b, l], &device));
        let e = &self.embeddings;
        let x = e.word_embeddings.forward(ids)
            + e.position_embeddings.forward(positions)
            + e.token_type_embeddings.forward(types);
        let mut x = dropout(&e.dropout, e.layer_norm.forward(x));
        // HuggingFace adds the float minimum to padded keys; any value that makes their
        // softmax weight exactly 0 in f32 gives the same result.
        let key_bias = Tensor::<B, 2>::zeros([b, l], &device)
            .mask_fill(mask.bool_not(), -1.0e9)
            .reshape([b, 1, 1, l]);
        for layer in &self.layers {
            x = layer.forward(x, key_bias.clone());
        }
        x
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.dims()[1]
    }

    /// Freezes the embeddings and the lowest `n` layers (all of them when `n` is at least
    /// the depth): their parameters get no gradient.
    pub fn freeze_lower(mut self, n: usize) -> Self {
        self.embeddings = self.embeddings.no_grad();
        let n = n.min(self.layers.len());
        self.layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| if i < n { layer.no_grad() } else { layer })
            .collect();
        self
    }

    /// Freezes every parameter.
    pub fn freeze(self) -> Self {
        self.no_grad()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::{Distribution, TensorData};

    type B = crate::test_backend::B;
    type AD = Autodiff<B>;

    fn tiny() -> BertConfig {
        BertConfig::new(20)
            .with_hidden_size(8)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(2)
            .with_intermediate_size(16)
            .with_max_position_embeddings(12)
    }

    #[test]
    fn output_shape_and_padding_invariance() {
        let dev = Default::default();
        let model = tiny().init::<B>(&dev).unwrap();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![3i64, 5, 7], [1, 3]), &dev);
        let short = model.forward(ids, Tensor::ones([1, 3], &dev), None);
        assert_eq!(short.dims(), [1, 3, 8]);
        // the same sentence padded to 6 with other ids behind the mask
        let padded_ids = Tensor::<B, 2, Int>::from_data(
            TensorData::new(vec![3i64, 5, 7, 9, 1, 2], [1, 6]),
            &dev,
        );
        let mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new(vec![true, true, true, false, false, false], [1, 6]),
            &dev,
        );
        let long = model.forward(padded_ids, mask, None).slice([0..1, 0..3]);
        let diff = (long - short).abs().max().into_scalar();
        assert!(diff < 1e-6, "{diff}");
    }

    #[test]
    fn heads_must_divide_the_hidden_size() {
        let err = tiny()
            .with_num_attention_heads(3)
            .init::<B>(&Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("multiple"), "{err}");
    }

    #[test]
    fn gradients_reach_every_unfrozen_parameter_and_no_frozen_one() {
        let dev = Default::default();
        let ids =
            Tensor::<AD, 2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [2, 2]), &dev);
        let run = |model: BertModel<AD>| {
            let x = model.forward(ids.clone(), Tensor::ones([2, 2], &dev), None);
            let w = Tensor::<AD, 3>::random([2, 2, 8], Distribution::Normal(0.0, 1.0), &dev)
                .require_grad();
            let grads = (x * w).sum().backward();
            let q0 = model.layers[0].query.weight.grad(&grads).is_some();
            let out1 = model.layers[1].output_norm.gamma.grad(&grads).is_some();
            let emb = model
                .embeddings
                .word_embeddings
                .weight
                .grad(&grads)
                .is_some();
            let bias1 = model.layers[1]
                .intermediate
                .bias
                .as_ref()
                .unwrap()
                .grad(&grads)
                .is_some();
            (emb, q0, out1, bias1)
        };
        let model = tiny().init::<AD>(&dev).unwrap();
        assert_eq!(run(model.clone()), (true, true, true, true));
        assert_eq!(
            run(model.clone().freeze_lower(1)),
            (false, false, true, true)
        );
        assert_eq!(run(model.freeze()), (false, false, false, false));
    }
}
