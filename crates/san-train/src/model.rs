//! The model a training config builds: the sign encoder of `model.encoder` over the
//! input's width, the word encoder over the vocabulary, and the CLCL settings it is scored
//! with.

use burn::tensor::backend::Backend;
use san_core::similarity::ClclConfig;
use san_models::feature_encoder::FeatureEncoderConfig;
use san_models::frame_encoder::FrameEncoderConfig;
use san_models::keypoint_encoder::KeypointEncoderConfig;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    RetrievalModel, RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig,
};
use san_models::text_encoder::WordEncoderConfig;

use crate::config::{EncoderKind, InputKind, TrainConfig};
use crate::error::{Result, TrainError};
use san_data::corpus::Corpus;

/// The model a config builds for a corpus: the sign encoder of `config.model.encoder` over
/// the corpus's input width, and the word encoder over its vocabulary, both at
/// `config.model.dim`.
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
                    .with_dim(m.dim),
            )
        }
    };
    let model = RetrievalModelConfig::new(
        sign,
        TextEncoderConfig::Word(WordEncoderConfig::new(vocab_size).with_dim(m.dim)),
    );
    model.dim()?;
    Ok(model)
}

/// A model ready to train, built from the config and the corpus.
pub fn init_model<B: Backend>(
    config: &TrainConfig,
    corpus: &Corpus,
    device: &B::Device,
) -> Result<RetrievalModel<B>> {
    Ok(model_config(config, corpus)?.init(device)?)
}

/// The CLCL settings of evaluation (`model.tau_tok`, `eval.chunk`, `eval.kernel`).
pub fn clcl_config(config: &TrainConfig) -> ClclConfig {
    ClclConfig::new()
        .with_tau_tok(config.model.tau_tok)
        .with_chunk(config.eval.chunk)
        .with_kernel(config.eval.kernel)
}
