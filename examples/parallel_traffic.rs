//! What a data-parallel step all-reduces, per peer, for the main job's model on signsim
//! and for the paper's PHOENIX-2014-T setting (1024-d clip features, BERT-base with its
//! lower 6 layers frozen, D = 512, 64 clips, 64 word pieces): the sizes are read from the
//! models themselves (their trainable parameters, the clip tokens a batch gives), then
//! scaled to other batch sizes.
//!
//! `cargo run --release --example parallel_traffic` prints a markdown table.

use std::error::Error;

use burn::backend::Autodiff;
use burn::tensor::{Bool, Distribution, Tensor};
use clap::Parser;
use san::backend::Cpu;
use san::main_job::{Args, train_config};
use san::san_data::corpus::Corpus;
use san::san_data::pose::StepLayout;
use san::san_data::sample::Sample;
use san::san_data::signsim::{SignsimConfig, ensure_corpus};
use san::san_models::bert::{BertConfig, BertTextEncoderConfig};
use san::san_models::feature_encoder::FeatureEncoderConfig;
use san::san_models::retrieval::{RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig};
use san::san_train::config::InputKind;
use san::san_train::eval::clip_tokens;
use san::san_train::model::init_model;
use san::san_train::parallel::{StepTraffic, trainable_parameters};

type B = Autodiff<Cpu>;

const MB: f64 = 1e6;

fn row(name: &str, batch: usize, t: &StepTraffic) {
    println!(
        "| {name} | {batch} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        4.0 * t.token_floats as f64 / MB,
        4.0 * t.gradient_floats as f64 / MB,
        t.bytes() as f64 / MB,
        t.ring_bytes_per_peer(2) / MB,
        t.ring_bytes_per_peer(4) / MB,
        t.ring_bytes_per_peer(8) / MB,
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let device = Default::default();
    println!(
        "| setting | batch | tokens MB | gradients MB | all-reduced MB | ring MB sent per peer, W = 2 | W = 4 | W = 8 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");

    // The main job on signsim: its model, and the first batch of its config.
    let root = std::path::Path::new("target/parallel-traffic/signsim");
    ensure_corpus(root, &SignsimConfig::new())?;
    let corpus = Corpus::load(root)?;
    let config = train_config(&Args::parse_from(["phoenix_train"]), InputKind::Pose);
    let model = init_model::<B>(&config, &corpus, &device)?;
    let n = config.data.batch_size;
    let items: Vec<&Sample> = corpus.train[..n].iter().collect();
    let batch =
        config
            .data
            .batcher
            .batch::<B, rand::rngs::StdRng>(&items, &corpus.text, None, &device)?;
    let tokens = clip_tokens(&model, batch.poses, batch.pose_mask, batch.layout)?;
    let [_, t, d] = tokens.tokens.dims();
    let words = batch.tokens.dims()[1];
    let params = trainable_parameters(&model);
    eprintln!(
        "signsim main job: {} trainable values in {} tensors; {t} clip tokens, {words} words, D {d} (batch {n})",
        params.0, params.1
    );
    for b in [16, 32, 64, 128] {
        row(
            "signsim main job",
            b,
            &StepTraffic::new(b, t, words, d, params),
        );
    }

    // The paper's setting on PHOENIX-2014-T (random weights: only the shapes matter).
    let text = BertTextEncoderConfig::new(BertConfig::new(30_000))
        .with_dim(512)
        .with_freeze_lower(6);
    let sign = FeatureEncoderConfig::new(1024).with_dim(512);
    let paper = RetrievalModelConfig::new(
        SignEncoderConfig::Features(sign),
        TextEncoderConfig::Bert(text),
    )
    .init::<B>(&device)?;
    let clips = Tensor::<B, 3>::random([1, 64, 1024], Distribution::Default, &device);
    let mask = Tensor::<B, 2, Bool>::from_bool(
        burn::tensor::TensorData::new(vec![true; 64], [1, 64]),
        &device,
    );
    let tokens = clip_tokens(&paper, clips, mask, StepLayout::Flat)?;
    let [_, t, d] = tokens.tokens.dims();
    let params = trainable_parameters(&paper);
    eprintln!(
        "PHOENIX paper setting: {} trainable values in {} tensors; {t} clip tokens, 64 word pieces, D {d}",
        params.0, params.1
    );
    for b in [16, 32, 64, 128] {
        row(
            "PHOENIX paper setting",
            b,
            &StepTraffic::new(b, t, 64, d, params),
        );
    }
    Ok(())
}
