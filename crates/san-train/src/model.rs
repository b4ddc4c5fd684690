//! The model a training config builds: the sign encoder of `model.encoder` over the
//! input's width, the text encoder of `model.text` (the word encoder over the vocabulary,
//! or a BERT checkpoint with its tokenizer), and the CLCL settings it is scored with.

use std::path::Path;

use burn::tensor::backend::Backend;
use san_core::similarity::ClclConfig;
use san_models::bert::BertTextEncoderConfig;
use san_models::feature_encoder::FeatureEncoderConfig;
use san_models::frame_encoder::FrameEncoderConfig;
use san_models::keypoint_encoder::KeypointEncoderConfig;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    RetrievalModel, RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig,
};
use san_models::text_encoder::WordEncoderConfig;

use crate::config::{EncoderKind, InputKind, TextKind, TrainConfig};
use crate::error::{Result, TrainError};
use san_data::corpus::Corpus;
use san_data::text_tokens::TextTokenizer;

/// The model a config builds for a corpus: the sign encoder of `config.model.encoder` over
/// the corpus's input width, and the text encoder of `config.model.text` (the word encoder
/// over its vocabulary, or the BERT checkpoint), both at `config.model.dim`.
pub fn model_config(config: &TrainConfig, corpus: &Corpus) -> Result<RetrievalModelConfig> {
    model_config_for(config, corpus.input_dim(), corpus.vocab.len())
}

/// The model a config builds for clips of `input_dim` values per step and a vocabulary of
/// `vocab_size` words (padding and unknown included); see [`model_config`].
pub fn model_config_for(
    config: &TrainConfig,
    input_dim: usize,
    vocab_size: usize,
) -> Result<RetrievalModelConfig> {
    let m = &config.model;
    let input = config.data.input;
    let kind = match (m.encoder, input) {
        (EncoderKind::Auto, InputKind::Pose) => EncoderKind::Pose,
        (EncoderKind::Auto, InputKind::Features) => EncoderKind::Features,
        (EncoderKind::Auto, InputKind::Frames) => EncoderKind::Frames,
        (kind, _) => kind,
    };
    let bad = |what: &str| {
        Err(TrainError::Config(format!(
            "model.encoder {kind:?} cannot read data.input {input:?}: {what}"
        )))
    };
    let sign = match kind {
        EncoderKind::Pose | EncoderKind::Auto => SignEncoderConfig::Pose(
            PoseEncoderConfig::new(input_dim)
                .with_hidden(m.hidden)
                .with_dim(m.dim),
        ),
        EncoderKind::Keypoints => {
            if input != InputKind::Pose {
                return bad("it needs pose input");
            }
            SignEncoderConfig::Keypoints(
                KeypointEncoderConfig::new()
                    .with_channels(2)
                    .with_hidden(m.hidden)
                    .with_dim(m.dim),
            )
        }
        EncoderKind::Features => SignEncoderConfig::Features(
            FeatureEncoderConfig::new(input_dim)
                .with_hidden(m.hidden)
                .with_dim(m.dim),
        ),
        EncoderKind::Frames => {
            if input != InputKind::Frames {
                return bad("it needs frame input");
            }
            SignEncoderConfig::Frames(
                FrameEncoderConfig::new()
                    .with_cnn(m.cnn.clone())
                    .with_hidden(m.hidden)
                    .with_dim(m.dim)
                    .with_pretrained(m.pretrained_cnn.weights.clone())
                    .with_freeze_cnn(m.pretrained_cnn.freeze),
            )
        }
    };
    let mut model = RetrievalModelConfig::new(sign, text_encoder_config(config, vocab_size)?);
    if let Some(p) = m.dropout {
        model = with_dropout(model, p)?;
    }
    model.dim()?;
    Ok(model)
}

/// `model` with every dropout probability (every numeric setting whose name contains
/// `dropout`, at any depth) set to `p`.
fn with_dropout(model: RetrievalModelConfig, p: f64) -> Result<RetrievalModelConfig> {
    if !(0.0..=1.0).contains(&p) {
        return Err(TrainError::Config(format!(
            "model.dropout is {p}: expected a probability in [0, 1]"
        )));
    }
    fn set(v: &mut serde_json::Value, p: f64) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k.contains("dropout") && x.is_number() {
                        *x = serde_json::json!(p);
                    } else {
                        set(x, p);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| set(x, p)),
            _ => {}
        }
    }
    let bad = |e: serde_json::Error| TrainError::Config(format!("model.dropout: {e}"));
    let mut json = serde_json::to_value(&model).map_err(bad)?;
    set(&mut json, p);
    serde_json::from_value(json).map_err(bad)
}

/// The text encoder of `config.model.text`: the word encoder over `vocab_size` ids, or the
/// BERT checkpoint's architecture (its `config.json`), frozen and pooled as configured.
pub fn text_encoder_config(config: &TrainConfig, vocab_size: usize) -> Result<TextEncoderConfig> {
    let m = &config.model;
    let t = &m.text;
    Ok(match t.kind {
        TextKind::Word => {
            TextEncoderConfig::Word(WordEncoderConfig::new(vocab_size).with_dim(m.dim))
        }
        TextKind::Bert => {
            let dir = bert_checkpoint(config)?;
            let bert = BertTextEncoderConfig::from_checkpoint(dir, m.dim)?
                .with_freeze(t.freeze_all)
                .with_freeze_lower(t.freeze_lower)
                .with_pooling(t.pooling);
            let positions = bert.bert.max_position_embeddings;
            if t.max_len < 2 || t.max_len > positions {
                return Err(TrainError::Config(format!(
                    "model.text.max_len is {}, but {} allows 2 to {positions} word pieces",
                    t.max_len,
                    dir.join("config.json").display()
                )));
            }
            if t.freeze_lower > bert.bert.num_hidden_layers {
                return Err(TrainError::Config(format!(
                    "model.text.freeze_lower is {}, but {} has {} layers",
                    t.freeze_lower,
                    dir.join("config.json").display(),
                    bert.bert.num_hidden_layers
                )));
            }
            TextEncoderConfig::Bert(bert)
        }
    })
}

/// The checkpoint folder of `model.text.kind = "Bert"`; an error when none is set or it
/// is not a folder.
fn bert_checkpoint(config: &TrainConfig) -> Result<&Path> {
    let dir = config
        .model
        .text
        .checkpoint
        .as_deref()
        .map(Path::new)
        .ok_or_else(|| {
            TrainError::Config(
                "model.text.kind Bert needs model.text.checkpoint, a folder with config.json, \
                 model.safetensors and tokenizer.json or vocab.txt"
                    .into(),
            )
        })?;
    if !dir.is_dir() {
        return Err(TrainError::Config(format!(
            "model.text.checkpoint {}: no such folder (expected config.json, model.safetensors \
             and tokenizer.json or vocab.txt in it)",
            dir.display()
        )));
    }
    Ok(dir)
}

/// How the config's text encoder reads captions: the corpus's words for the word encoder,
/// the checkpoint's word pieces (cut to `model.text.max_len`) for BERT.
pub fn text_tokenizer(config: &TrainConfig, corpus: &Corpus) -> Result<TextTokenizer> {
    Ok(match config.model.text.kind {
        TextKind::Word => TextTokenizer::Words(corpus.vocab.clone()),
        TextKind::Bert => {
            TextTokenizer::from_checkpoint(bert_checkpoint(config)?, config.model.text.max_len)?
        }
    })
}

/// The corpus with its captions tokenized for the config's text encoder; `None` when it
/// already is (the word encoder over the corpus's own vocabulary).
pub fn prepare_corpus(config: &TrainConfig, corpus: &Corpus) -> Result<Option<Corpus>> {
    let want_pieces = config.model.text.kind == TextKind::Bert;
    if want_pieces == corpus.text.is_pieces() {
        return Ok(None);
    }
    Ok(Some(
        corpus.clone().with_text(text_tokenizer(config, corpus)?),
    ))
}

/// A model ready to train, built from the config and the corpus, with the pretrained
/// weights it names (the BERT checkpoint, the CNN's weights) loaded.
pub fn init_model<B: Backend>(
    config: &TrainConfig,
    corpus: &Corpus,
    device: &B::Device,
) -> Result<RetrievalModel<B>> {
    Ok(model_config(config, corpus)?.init_pretrained(device)?)
}

/// The CLCL settings of evaluation (`model.tau_tok`, `model.token_padding`, `eval.chunk`,
/// `eval.kernel`).
pub fn clcl_config(config: &TrainConfig) -> ClclConfig {
    ClclConfig::new()
        .with_tau_tok(config.model.tau_tok)
        .with_padding(config.model.token_padding)
        .with_chunk(config.eval.chunk)
        .with_kernel(config.eval.kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_dropout_sets_every_dropout_probability() {
        let mut config = TrainConfig::new();
        let json =
            |c: &TrainConfig| serde_json::to_string(&model_config_for(c, 10, 20).unwrap()).unwrap();
        assert!(
            json(&config).contains("\"dropout\":0.1"),
            "{}",
            json(&config)
        );
        config.model.dropout = Some(0.0);
        let zeroed = json(&config);
        assert!(
            zeroed.contains("\"dropout\":0.0") && !zeroed.contains("\"dropout\":0.1"),
            "{zeroed}"
        );
        config.model.dropout = Some(1.5);
        assert!(
            matches!(model_config_for(&config, 10, 20), Err(TrainError::Config(m)) if m.contains("[0, 1]"))
        );
    }
}
