//! Loads a HuggingFace BERT-family checkpoint from a local folder into [`BertModel`].
//!
//! The folder holds `config.json`, `model.safetensors` and a tokenizer (`tokenizer.json`,
//! or `vocab.txt`; san-data's `SubwordTokenizer` reads either). Nothing is downloaded.
//!
//! # Key mapping
//!
//! A leading `bert.` (checkpoints saved from `BertFor…` heads) is removed first. Then, for
//! layer `i`:
//!
//! | checkpoint key | [`BertModel`] parameter |
//! |---|---|
//! | `embeddings.word_embeddings.weight` | `embeddings.word_embeddings.weight` |
//! | `embeddings.position_embeddings.weight` | `embeddings.position_embeddings.weight` |
//! | `embeddings.token_type_embeddings.weight` | `embeddings.token_type_embeddings.weight` |
//! | `embeddings.LayerNorm.{weight,bias}` | `embeddings.layer_norm.{gamma,beta}` |
//! | `encoder.layer.i.attention.self.query.{weight,bias}` | `layers[i].query` |
//! | `encoder.layer.i.attention.self.key.{weight,bias}` | `layers[i].key` |
//! | `encoder.layer.i.attention.self.value.{weight,bias}` | `layers[i].value` |
//! | `encoder.layer.i.attention.output.dense.{weight,bias}` | `layers[i].attention_output` |
//! | `encoder.layer.i.attention.output.LayerNorm.{weight,bias}` | `layers[i].attention_norm` |
//! | `encoder.layer.i.intermediate.dense.{weight,bias}` | `layers[i].intermediate` |
//! | `encoder.layer.i.output.dense.{weight,bias}` | `layers[i].output` |
//! | `encoder.layer.i.output.LayerNorm.{weight,bias}` | `layers[i].output_norm` |
//!
//! Linear weights are stored `[out, in]` and transposed to Burn's `[in, out]`. Layer norms
//! may also use the older `gamma`/`beta` names. Known keys that the encoder does not use are
//! skipped: `embeddings.position_ids` (a buffer), `pooler.*` (the next-sentence pooler) and
//! `cls.*` (pre-training heads). Any other key is an error ([`ModelError::UnknownKey`]), and
//! so is a parameter the checkpoint lacks ([`ModelError::MissingKey`]) or a shape that
//! differs from `config.json`'s ([`ModelError::Shape`]). F32, F16, BF16 and F64 tensors
//! are read; the model is built in the backend's float type.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::Deserialize;

use super::{BertConfig, BertModel};
use crate::error::ModelError;
use crate::weights::{Target, Weights};

/// A loaded checkpoint.
#[derive(Debug)]
pub struct BertCheckpoint<B: Backend> {
    /// The configuration read from `config.json`.
    pub config: BertConfig,
    /// The encoder with the checkpoint's weights.
    pub model: BertModel<B>,
    /// The tokenizer file: `tokenizer.json` when present, else `vocab.txt`.
    pub tokenizer: PathBuf,
}

/// The fields of HuggingFace's `config.json` that the encoder uses.
#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_dropout")]
    hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    attention_probs_dropout_prob: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    position_embedding_type: Option<String>,
}

fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_act() -> String {
    "gelu".into()
}

/// Reads `config.json` of a HuggingFace BERT-family checkpoint.
pub fn read_config(path: &Path) -> Result<BertConfig, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    let bad = |message: String| ModelError::CheckpointConfig {
        path: path.into(),
        message,
    };
    let hf: HfConfig = serde_json::from_str(&text)
        .map_err(|e| bad(format!("expected a BERT config.json: {e}")))?;
    if let Some(t) = &hf.model_type
        && !matches!(t.as_str(), "bert")
    {
        return Err(bad(format!("expected model_type \"bert\", got {t:?}")));
    }
    if let Some(p) = &hf.position_embedding_type
        && p != "absolute"
    {
        return Err(bad(format!(
            "expected position_embedding_type \"absolute\", got {p:?}"
        )));
    }
    let gelu_tanh = match hf.hidden_act.as_str() {
        "gelu" => false,
        "gelu_new" | "gelu_pytorch_tanh" => true,
        other => {
            return Err(bad(format!(
                "expected hidden_act gelu, gelu_new or gelu_pytorch_tanh, got {other:?}"
            )));
        }
    };
    Ok(BertConfig {
        vocab_size: hf.vocab_size,
        hidden_size: hf.hidden_size,
        num_hidden_layers: hf.num_hidden_layers,
        num_attention_heads: hf.num_attention_heads,
        intermediate_size: hf.intermediate_size,
        max_position_embeddings: hf.max_position_embeddings,
        type_vocab_size: hf.type_vocab_size,
        layer_norm_eps: hf.layer_norm_eps,
        hidden_dropout_prob: hf.hidden_dropout_prob,
        attention_probs_dropout_prob: hf.attention_probs_dropout_prob,
        gelu_tanh,
    })
}

/// Maps a checkpoint key to its parameter (see the module documentation), or `None` when
/// the key is unknown.
fn map_key(key: &str) -> Option<Target> {
    let key = key.strip_prefix("bert.").unwrap_or(key);
    if key == "embeddings.position_ids" || key.starts_with("pooler.") || key.starts_with("cls.") {
        return Some(Target::Skip);
    }
    let norm = |p: &str| match p {
        "weight" | "gamma" => Some("gamma"),
        "bias" | "beta" => Some("beta"),
        _ => None,
    };
    fn linear(p: &str) -> Option<&str> {
        matches!(p, "weight" | "bias").then_some(p)
    }
    if let Some(rest) = key.strip_prefix("embeddings.") {
        let (module, p) = rest.rsplit_once('.')?;
        let name = match module {
            "word_embeddings" | "position_embeddings" | "token_type_embeddings"
                if p == "weight" =>
            {
                format!("embeddings.{module}.weight")
            }
            "LayerNorm" => format!("embeddings.layer_norm.{}", norm(p)?),
            _ => return None,
        };
        return Some(Target::Param(name));
    }
    let rest = key.strip_prefix("encoder.layer.")?;
    let (index, rest) = rest.split_once('.')?;
    let i: usize = index.parse().ok()?;
    let (module, p) = rest.rsplit_once('.')?;
    let name = match module {
        "attention.self.query" => format!("query.{}", linear(p)?),
        "attention.self.key" => format!("key.{}", linear(p)?),
        "attention.self.value" => format!("value.{}", linear(p)?),
        "attention.output.dense" => format!("attention_output.{}", linear(p)?),
        "attention.output.LayerNorm" => format!("attention_norm.{}", norm(p)?),
        "intermediate.dense" => format!("intermediate.{}", linear(p)?),
        "output.dense" => format!("output.{}", linear(p)?),
        "output.LayerNorm" => format!("output_norm.{}", norm(p)?),
        _ => return None,
    };
    Some(Target::Param(format!("layers.{i}.{name}")))
}

/// BERT's modules, read from [`Weights`].
trait BertWeights {
    fn embedding<B: Backend>(
        &mut self,
        name: &str,
        module: &mut Embedding<B>,
    ) -> Result<(), ModelError>;
    fn norm<B: Backend>(&mut self, name: &str, module: &mut LayerNorm<B>)
    -> Result<(), ModelError>;
    fn linear<B: Backend>(&mut self, name: &str, module: &mut Linear<B>) -> Result<(), ModelError>;
}

impl BertWeights for Weights {
    fn embedding<B: Backend>(
        &mut self,
        name: &str,
        module: &mut Embedding<B>,
    ) -> Result<(), ModelError> {
        let dims = module.weight.dims();
        let values = self.take(&format!("{name}.weight"), &dims)?;
        let device = module.weight.device();
        module.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), &device));
        Ok(())
    }

    fn norm<B: Backend>(
        &mut self,
        name: &str,
        module: &mut LayerNorm<B>,
    ) -> Result<(), ModelError> {
        let dims = module.gamma.dims();
        let device = module.gamma.device();
        let gamma = self.take(&format!("{name}.gamma"), &dims)?;
        let beta = self.take(&format!("{name}.beta"), &dims)?;
        module.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(gamma, dims), &device));
        module.beta = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(beta, dims),
            &device,
        )));
        Ok(())
    }

    fn linear<B: Backend>(&mut self, name: &str, module: &mut Linear<B>) -> Result<(), ModelError> {
        let [d_in, d_out] = module.weight.dims();
        let device = module.weight.device();
        // stored [out, in]; Burn keeps [in, out]
        let w = self.take(&format!("{name}.weight"), &[d_out, d_in])?;
        let mut t = vec![0.0f32; w.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                t[i * d_out + o] = w[o * d_in + i];
            }
        }
        let b = self.take(&format!("{name}.bias"), &[d_out])?;
        module.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(t, [d_in, d_out]),
            &device,
        ));
        module.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [d_out]),
            &device,
        )));
        Ok(())
    }
}

/// The checkpoint key of a canonical parameter name, for error messages.
fn hf_key(name: &str) -> String {
    fn hf_param(p: &str) -> &str {
        match p {
            "gamma" => "weight",
            "beta" => "bias",
            other => other,
        }
    }
    let (module, p) = name.rsplit_once('.').unwrap_or((name, ""));
    if let Some(rest) = module.strip_prefix("embeddings.") {
        let m = if rest == "layer_norm" {
            "LayerNorm"
        } else {
            rest
        };
        return format!("embeddings.{m}.{}", hf_param(p));
    }
    if let Some(rest) = module.strip_prefix("layers.")
        && let Some((i, m)) = rest.split_once('.')
    {
        let m = match m {
            "query" | "key" | "value" => format!("attention.self.{m}"),
            "attention_output" => "attention.output.dense".into(),
            "attention_norm" => "attention.output.LayerNorm".into(),
            "intermediate" => "intermediate.dense".into(),
            "output" => "output.dense".into(),
            "output_norm" => "output.LayerNorm".into(),
            other => other.into(),
        };
        return format!("encoder.layer.{i}.{m}.{}", hf_param(p));
    }
    name.into()
}

/// The tokenizer file of the checkpoint in `dir`: `tokenizer.json` when present, else
/// `vocab.txt` (san-data's `SubwordTokenizer` reads either).
pub fn find_tokenizer(dir: &Path) -> Result<PathBuf, ModelError> {
    ["tokenizer.json", "vocab.txt"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .ok_or_else(|| ModelError::Io {
            path: dir.join("tokenizer.json"),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "expected tokenizer.json or vocab.txt beside the checkpoint",
            ),
        })
}

/// Loads `config.json` and `model.safetensors` from `dir` into a [`BertModel`] on
/// `device`, and finds the tokenizer file.
pub fn load_bert<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<BertCheckpoint<B>, ModelError> {
    let config_path = dir.join("config.json");
    let config = read_config(&config_path)?;
    let mut model = config
        .init::<B>(device)
        .map_err(|e| ModelError::CheckpointConfig {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
    let mut w = Weights::read(&dir.join("model.safetensors"), map_key, hf_key)?;
    let e = &mut model.embeddings;
    w.embedding("embeddings.word_embeddings", &mut e.word_embeddings)?;
    w.embedding("embeddings.position_embeddings", &mut e.position_embeddings)?;
    w.embedding(
        "embeddings.token_type_embeddings",
        &mut e.token_type_embeddings,
    )?;
    w.norm("embeddings.layer_norm", &mut e.layer_norm)?;
    for (i, layer) in model.layers.iter_mut().enumerate() {
        let p = |m: &str| format!("layers.{i}.{m}");
        w.linear(&p("query"), &mut layer.query)?;
        w.linear(&p("key"), &mut layer.key)?;
        w.linear(&p("value"), &mut layer.value)?;
        w.linear(&p("attention_output"), &mut layer.attention_output)?;
        w.norm(&p("attention_norm"), &mut layer.attention_norm)?;
        w.linear(&p("intermediate"), &mut layer.intermediate)?;
        w.linear(&p("output"), &mut layer.output)?;
        w.norm(&p("output_norm"), &mut layer.output_norm)?;
    }
    // Parameters of layers beyond num_hidden_layers are keys the model does not have.
    w.finish()?;
    let tokenizer = find_tokenizer(dir)?;
    Ok(BertCheckpoint {
        config,
        model,
        tokenizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::Dtype;

    #[test]
    fn keys_map_both_ways_and_unknown_keys_are_none() {
        for (hf, ours) in [
            ("embeddings.LayerNorm.weight", "embeddings.layer_norm.gamma"),
            (
                "bert.embeddings.LayerNorm.beta",
                "embeddings.layer_norm.beta",
            ),
            (
                "encoder.layer.3.attention.self.key.bias",
                "layers.3.key.bias",
            ),
            (
                "encoder.layer.0.attention.output.LayerNorm.bias",
                "layers.0.attention_norm.beta",
            ),
            (
                "encoder.layer.11.output.dense.weight",
                "layers.11.output.weight",
            ),
            (
                "embeddings.word_embeddings.weight",
                "embeddings.word_embeddings.weight",
            ),
        ] {
            assert_eq!(map_key(hf), Some(Target::Param(ours.into())), "{hf}");
        }
        assert_eq!(
            hf_key("layers.0.attention_norm.beta"),
            "encoder.layer.0.attention.output.LayerNorm.bias"
        );
        assert_eq!(
            hf_key("embeddings.layer_norm.gamma"),
            "embeddings.LayerNorm.weight"
        );
        for skip in [
            "pooler.dense.weight",
            "embeddings.position_ids",
            "bert.pooler.dense.bias",
            "cls.predictions.bias",
        ] {
            assert_eq!(map_key(skip), Some(Target::Skip), "{skip}");
        }
        for unknown in [
            "encoder.layer.x.output.dense.weight",
            "encoder.layer.0.crossattention.self.query.weight",
            "embeddings.word_embeddings.bias",
            "decoder.weight",
        ] {
            assert_eq!(map_key(unknown), None, "{unknown}");
        }
    }

    type B = crate::test_backend::B;

    const TINY: &str = r#"{"model_type": "bert", "vocab_size": 11, "hidden_size": 4,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
        "max_position_embeddings": 16, "type_vocab_size": 2, "hidden_act": "gelu"}"#;

    /// Every key of a one-layer checkpoint with HuggingFace shapes.
    fn tiny_keys() -> Vec<(String, Vec<usize>)> {
        let mut keys = vec![
            ("embeddings.word_embeddings.weight".to_string(), vec![11, 4]),
            ("embeddings.position_embeddings.weight".into(), vec![16, 4]),
            ("embeddings.token_type_embeddings.weight".into(), vec![2, 4]),
            ("embeddings.LayerNorm.weight".into(), vec![4]),
            ("embeddings.LayerNorm.bias".into(), vec![4]),
            ("pooler.dense.weight".into(), vec![4, 4]),
            ("pooler.dense.bias".into(), vec![4]),
        ];
        let l = "encoder.layer.0";
        for (m, o, i) in [
            ("attention.self.query", 4, 4),
            ("attention.self.key", 4, 4),
            ("attention.self.value", 4, 4),
            ("attention.output.dense", 4, 4),
            ("intermediate.dense", 8, 4),
            ("output.dense", 4, 8),
        ] {
            keys.push((format!("{l}.{m}.weight"), vec![o, i]));
            keys.push((format!("{l}.{m}.bias"), vec![o]));
        }
        for m in ["attention.output.LayerNorm", "output.LayerNorm"] {
            keys.push((format!("{l}.{m}.weight"), vec![4]));
            keys.push((format!("{l}.{m}.bias"), vec![4]));
        }
        keys
    }

    /// Writes a checkpoint folder; tensor k holds 0.01·k + 0.001·(element index).
    fn write_tiny(dir: &Path, keys: &[(String, Vec<usize>)], config: &str) {
        std::fs::write(dir.join("config.json"), config).unwrap();
        std::fs::write(dir.join("vocab.txt"), "[PAD]\n").unwrap();
        let data: Vec<Vec<u8>> = keys
            .iter()
            .enumerate()
            .map(|(k, (_, shape))| {
                let n: usize = shape.iter().product();
                (0..n)
                    .flat_map(|e| (0.01 * k as f32 + 0.001 * e as f32).to_le_bytes())
                    .collect()
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = keys
            .iter()
            .zip(&data)
            .map(|((name, shape), bytes)| {
                (
                    name.clone(),
                    safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        let bytes = safetensors::serialize(views, None).unwrap();
        std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
    }

    #[test]
    fn a_complete_checkpoint_loads_with_linear_weights_transposed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tiny_keys();
        write_tiny(dir.path(), &keys, TINY);
        let ckpt = load_bert::<B>(dir.path(), &Default::default()).unwrap();
        assert_eq!(ckpt.config.hidden_size, 4);
        assert!(ckpt.tokenizer.ends_with("vocab.txt"));
        // query weight is key k = position in tiny_keys(); file [out=o, in=i] holds
        // 0.01·k + 0.001·(o·4 + i); Burn's [in, out] must hold it at [i, o].
        let k = keys
            .iter()
            .position(|(n, _)| n == "encoder.layer.0.attention.self.query.weight")
            .unwrap();
        let w = ckpt.model.layers[0]
            .query
            .weight
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let (i, o) = (1, 3);
        let expected = 0.01 * k as f32 + 0.001 * (o * 4 + i) as f32;
        assert!(
            (w[i * 4 + o] - expected).abs() < 1e-7,
            "{} vs {expected}",
            w[i * 4 + o]
        );
    }

    #[test]
    fn missing_unknown_and_misshapen_keys_are_errors_naming_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        let mut missing = tiny_keys();
        missing.retain(|(n, _)| n != "encoder.layer.0.output.LayerNorm.bias");
        write_tiny(dir.path(), &missing, TINY);
        let e = load_bert::<B>(dir.path(), &Default::default()).unwrap_err();
        assert!(
            matches!(&e, ModelError::MissingKey { path, key }
            if *path == file && key == "encoder.layer.0.output.LayerNorm.bias"),
            "{e}"
        );

        for extra in [
            "encoder.layer.0.crossattention.self.query.weight",
            "encoder.layer.1.output.dense.bias", // a second layer the config does not have
        ] {
            let mut keys = tiny_keys();
            keys.push((extra.into(), vec![4]));
            write_tiny(dir.path(), &keys, TINY);
            let e = load_bert::<B>(dir.path(), &Default::default()).unwrap_err();
            assert!(
                matches!(&e, ModelError::UnknownKey { path, key } if *path == file && key == extra),
                "{e}"
            );
            assert!(e.to_string().contains(extra));
        }

        let mut keys = tiny_keys();
        keys[0].1 = vec![12, 4];
        write_tiny(dir.path(), &keys, TINY);
        let e = load_bert::<B>(dir.path(), &Default::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: tensor \"embeddings.word_embeddings.weight\": expected shape [11, 4], got [12, 4]",
                file.display()
            )
        );

        write_tiny(
            dir.path(),
            &tiny_keys(),
            &TINY.replace("\"gelu\"", "\"relu\""),
        );
        let e = load_bert::<B>(dir.path(), &Default::default()).unwrap_err();
        assert!(
            matches!(e, ModelError::CheckpointConfig { .. }) && e.to_string().contains("relu"),
            "{e}"
        );
    }
}
