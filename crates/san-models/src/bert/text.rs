//! [`BertTextEncoder`]: a BERT-family encoder with a projection to the shared token
//! dimension, SAN's text side (bert-base-german-cased in the paper).
//!
//! Every word piece, `[CLS]` and `[SEP]` included, becomes one token; the pooled embedding
//! is the masked mean of the projected tokens, as sentence encoders pool, or the projected
//! `[CLS]` token ([`TextPooling`]).

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

use super::loader::{find_tokenizer, load_bert, read_config};
use super::{BertConfig, BertModel};
use crate::error::ModelError;
use crate::tokens::{Tokens, linear_rows};

/// How a caption's tokens pool into its embedding (the pooled embedding serves embedding
/// and instance mining; the CLCL scores use the tokens).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum TextPooling {
    /// The masked mean of the tokens, as sentence encoders pool.
    Mean,
    /// The first token (`[CLS]`), as BERT's classification head reads it.
    Cls,
}

/// Settings of the BERT text encoder.
#[derive(Config, Debug)]
pub struct BertTextEncoderConfig {
    /// The BERT architecture (from the checkpoint's `config.json`).
    pub bert: BertConfig,
    /// Token dimension `D` of the projection.
    #[config(default = 256)]
    pub dim: usize,
    /// The checkpoint folder (`config.json`, `model.safetensors`, tokenizer) whose weights
    /// [`init_pretrained`](Self::init_pretrained) loads; `None` keeps random weights.
    #[config(default = "None")]
    pub checkpoint: Option<String>,
    /// Freeze the embeddings and the lowest `n` layers (0: train everything).
    #[config(default = 0)]
    pub freeze_lower: usize,
    /// Freeze all of BERT; only the projection trains.
    #[config(default = false)]
    pub freeze: bool,
    /// How the pooled embedding is formed.
    #[config(default = "TextPooling::Mean")]
    pub pooling: TextPooling,
}

/// BERT plus a linear projection to `D`; see the module docs.
#[derive(Module, Debug)]
pub struct BertTextEncoder<B: Backend> {
    /// The BERT-family encoder.
    pub bert: BertModel<B>,
    /// `H → D`.
    pub projection: Linear<B>,
    /// How [`pooled`](BertTextEncoder::pooled) pools (not a parameter).
    pub pooling: TextPooling,
}

impl BertTextEncoderConfig {
    /// The settings for the checkpoint in `dir`: its `config.json` gives the architecture,
    /// and [`init_pretrained`](Self::init_pretrained) will load its weights.
    pub fn from_checkpoint(dir: &Path, dim: usize) -> Result<Self, ModelError> {
        let bert = read_config(&dir.join("config.json"))?;
        Ok(Self::new(bert)
            .with_dim(dim)
            .with_checkpoint(Some(dir.to_string_lossy().into_owned())))
    }

    /// The checkpoint's tokenizer file (`tokenizer.json`, else `vocab.txt`), for san-data's
    /// `SubwordTokenizer`; an error when no checkpoint is configured or it has neither.
    pub fn tokenizer(&self) -> Result<PathBuf, ModelError> {
        let dir = self
            .checkpoint
            .as_deref()
            .ok_or_else(|| ModelError::CheckpointConfig {
                path: "config.json".into(),
                message: "no checkpoint folder is configured".into(),
            })?;
        find_tokenizer(Path::new(dir))
    }

    /// Initialises the encoder with random weights (the checkpoint is not read), frozen as
    /// configured. Returns an error when the heads do not divide the hidden size.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<BertTextEncoder<B>, ModelError> {
        let bert = self.bert.init(device)?;
        Ok(self.assemble(bert, device))
    }

    /// Initialises the encoder with the checkpoint's weights when one is configured (else
    /// as [`init`](Self::init)), frozen as configured. The projection starts random.
    pub fn init_pretrained<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<BertTextEncoder<B>, ModelError> {
        let Some(dir) = &self.checkpoint else {
            return self.init(device);
        };
        let checkpoint = load_bert::<B>(Path::new(dir), device)?;
        if checkpoint.config != self.bert {
            return Err(ModelError::CheckpointConfig {
                path: Path::new(dir).join("config.json"),
                message: "the checkpoint's architecture differs from the configured one".into(),
            });
        }
        Ok(self.assemble(checkpoint.model, device))
    }

    fn assemble<B: Backend>(&self, bert: BertModel<B>, device: &B::Device) -> BertTextEncoder<B> {
        let bert = if self.freeze {
            bert.freeze()
        } else if self.freeze_lower > 0 {
            bert.freeze_lower(self.freeze_lower)
        } else {
            bert
        };
        BertTextEncoder {
            projection: LinearConfig::new(self.bert.hidden_size, self.dim).init(device),
            bert,
            pooling: self.pooling,
        }
    }
}

impl<B: Backend> BertTextEncoder<B> {
    /// Encodes word pieces.
    ///
    /// # Shapes
    /// - `ids`: `[B, L]` word-piece ids; `mask`: `[B, L]`, true for real pieces
    /// - output tokens `[B, L, D]` (rows L2-normalised), mask `[B, L]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        let hidden = self.bert.forward(ids, mask.clone(), None); // [B, L, H]
        Tokens {
            tokens: san_core::similarity::l2_normalize(linear_rows(&self.projection, hidden)),
            mask,
        }
    }

    /// The pooled embedding of encoded tokens, as configured: the masked mean or the first
    /// token, L2-normalised.
    ///
    /// # Shapes
    /// - `tokens`: `[B, L, D]` with mask `[B, L]`; output `[B, D]`
    pub fn pooled(&self, tokens: &Tokens<B>) -> Tensor<B, 2> {
        match self.pooling {
            TextPooling::Mean => tokens.pooled(),
            TextPooling::Cls => {
                let [b, _, d] = tokens.tokens.dims();
                san_core::similarity::l2_normalize(
                    tokens.tokens.clone().slice([0..b, 0..1]).reshape([b, d]),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::TensorData;

    type AD = Autodiff<crate::test_backend::B>;

    fn tiny() -> BertTextEncoderConfig {
        BertTextEncoderConfig::new(
            BertConfig::new(20)
                .with_hidden_size(8)
                .with_num_hidden_layers(2)
                .with_num_attention_heads(2)
                .with_intermediate_size(16)
                .with_max_position_embeddings(12),
        )
        .with_dim(4)
    }

    fn batch() -> (Tensor<AD, 2, Int>, Tensor<AD, 2, Bool>) {
        let dev = Default::default();
        let ids = Tensor::from_data(
            TensorData::new(vec![1i64, 5, 7, 2, 1, 9, 2, 0], [2, 4]),
            &dev,
        );
        let mask = Tensor::from_data(
            TensorData::new(
                vec![true, true, true, true, true, true, true, false],
                [2, 4],
            ),
            &dev,
        );
        (ids, mask)
    }

    /// Parameters that got a gradient, and those that did not, by path.
    fn gradient_split(enc: &BertTextEncoder<AD>) -> (usize, usize) {
        let (ids, mask) = batch();
        let loss = enc.forward(ids, mask).tokens.sum();
        let grads = loss.backward();
        struct Count<'a> {
            grads: &'a <AD as burn::tensor::backend::AutodiffBackend>::Gradients,
            with: usize,
            without: usize,
        }
        impl burn::module::ModuleVisitor<AD> for Count<'_> {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<AD, D>>) {
                if p.val().grad(self.grads).is_some() {
                    self.with += 1;
                } else {
                    self.without += 1;
                }
            }
        }
        let mut c = Count {
            grads: &grads,
            with: 0,
            without: 0,
        };
        enc.visit(&mut c);
        (c.with, c.without)
    }

    #[test]
    fn shapes_and_unit_norm() {
        let enc = tiny().init::<AD>(&Default::default()).unwrap();
        let (ids, mask) = batch();
        let out = enc.forward(ids, mask);
        assert_eq!(out.tokens.dims(), [2, 4, 4]);
        let norms: Vec<f32> = out
            .tokens
            .powi_scalar(2)
            .sum_dim(2)
            .into_data()
            .to_vec()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
    }

    #[test]
    fn freezing_stops_gradients_where_asked() {
        let dev = Default::default();
        // BERT: 5 embedding tensors (3 tables, LN γ and β) + 16 per layer; projection: 2.
        let (with, without) = gradient_split(&tiny().init::<AD>(&dev).unwrap());
        assert_eq!((with, without), (5 + 2 * 16 + 2, 0));
        let (with, without) =
            gradient_split(&tiny().with_freeze_lower(1).init::<AD>(&dev).unwrap());
        assert_eq!((with, without), (16 + 2, 5 + 16));
        let (with, without) = gradient_split(&tiny().with_freeze(true).init::<AD>(&dev).unwrap());
        assert_eq!((with, without), (2, 5 + 2 * 16));
    }

    #[test]
    fn cls_pooling_is_the_first_token() {
        let enc = tiny()
            .with_pooling(TextPooling::Cls)
            .init::<AD>(&Default::default())
            .unwrap();
        let (ids, mask) = batch();
        let tokens = enc.forward(ids, mask);
        let pooled: Vec<f32> = enc.pooled(&tokens).into_data().to_vec().unwrap();
        let all: Vec<f32> = tokens.tokens.into_data().to_vec().unwrap();
        // rows are unit already, so the first token of each caption is its embedding
        let first: Vec<f32> = [&all[0..4], &all[16..20]].concat();
        let diff = pooled
            .iter()
            .zip(&first)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{pooled:?} vs {first:?}");
    }

    #[test]
    fn a_missing_checkpoint_is_an_error_naming_the_file() {
        let e = BertTextEncoderConfig::from_checkpoint(Path::new("/no/such/bert"), 8)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/bert/config.json"), "{e}");
    }
}
