//! WGPU against the CPU backend (`cargo test --release -p san-models --features test-wgpu`):
//! one model, saved on the CPU and loaded on WGPU, gives the same clip tokens, word tokens,
//! pooled embeddings, training loss and gradient of every weight, for every sign encoder
//! and both text encoders. Dropout is off so that both sides compute the same function.
#![cfg(feature = "test-wgpu")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use burn::backend::{Autodiff, NdArray, Wgpu};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Distribution, Int, Tensor, TensorData};
use san_core::loss::CoarseLossConfig;
use san_core::similarity::{ClclConfig, ClclKernel, clcl_gallery};
use san_models::bert::{BertConfig, BertTextEncoderConfig};
use san_models::feature_encoder::FeatureEncoderConfig;
use san_models::frame_encoder::{FrameEncoderConfig, ResNetConfig};
use san_models::fusion_encoder::{FusionEncoderConfig, SecondInput};
use san_models::keypoint_encoder::KeypointEncoderConfig;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    RetrievalModel, RetrievalModelConfig, SignEncoderConfig, SignInput, TextEncoderConfig,
    load_model, save_model,
};
use san_models::text_encoder::WordEncoderConfig;

type Cpu = Autodiff<NdArray<f32>>;
type Gpu = Autodiff<Wgpu>;

const D: usize = 8;
const VOCAB: usize = 30;
const B: usize = 3;
const T: usize = 6;
const L: usize = 5;

fn configs() -> Vec<(&'static str, SignEncoderConfig, TextEncoderConfig)> {
    let keypoints = || {
        KeypointEncoderConfig::new()
            .with_part_dim(4)
            .with_hidden(16)
            .with_heads(2)
            .with_layers(1)
            .with_dim(D)
            .with_dropout(0.0)
    };
    let features = || {
        FeatureEncoderConfig::new(12)
            .with_hidden(16)
            .with_heads(2)
            .with_layers(1)
            .with_dim(D)
            .with_dropout(0.0)
    };
    let frames = FrameEncoderConfig::new()
        .with_cnn(ResNetConfig::new().with_blocks([1, 1, 1, 1]).with_width(2))
        .with_hidden(16)
        .with_heads(2)
        .with_layers(1)
        .with_dim(D)
        .with_dropout(0.0);
    let word = || {
        TextEncoderConfig::Word(
            WordEncoderConfig::new(VOCAB)
                .with_dim(D)
                .with_layers(1)
                .with_heads(2)
                .with_dropout(0.0),
        )
    };
    let bert = BertConfig::new(VOCAB)
        .with_hidden_size(8)
        .with_num_hidden_layers(2)
        .with_num_attention_heads(2)
        .with_intermediate_size(16)
        .with_max_position_embeddings(12)
        .with_hidden_dropout_prob(0.0)
        .with_attention_probs_dropout_prob(0.0);
    vec![
        (
            "pose",
            SignEncoderConfig::Pose(
                PoseEncoderConfig::new(10)
                    .with_hidden(16)
                    .with_dim(D)
                    .with_dropout(0.0),
            ),
            word(),
        ),
        (
            "keypoints",
            SignEncoderConfig::Keypoints(keypoints()),
            word(),
        ),
        (
            "features + BERT",
            SignEncoderConfig::Features(features()),
            TextEncoderConfig::Bert(BertTextEncoderConfig::new(bert).with_dim(D)),
        ),
        ("frames", SignEncoderConfig::Frames(frames), word()),
        (
            "keypoints+features",
            SignEncoderConfig::Fusion(
                FusionEncoderConfig::new(keypoints()).with_features(Some(features())),
            ),
            word(),
        ),
    ]
}

/// Host inputs: random values made once on the CPU and copied to each backend.
struct Host {
    keypoints: TensorData,
    pose: TensorData,
    features: TensorData,
    frames: TensorData,
    mask: TensorData,
    ids: TensorData,
    word_mask: TensorData,
}

impl Host {
    fn new() -> Self {
        let dev = Default::default();
        let normal = Distribution::Normal(0.0, 1.0);
        let data = |dims: Vec<usize>| {
            Tensor::<NdArray<f32>, 1>::random([dims.iter().product::<usize>()], normal, &dev)
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map(|v| TensorData::new(v, dims))
                .unwrap()
        };
        let lengths = [T, 4, 2];
        let mask: Vec<bool> = lengths
            .iter()
            .flat_map(|&n| (0..T).map(move |i| i < n))
            .collect();
        let word_lengths = [L, 3, 1];
        let ids: Vec<i64> = (0..B * L)
            .map(|i| 1 + (7 * i % (VOCAB - 1)) as i64)
            .collect();
        let word_mask: Vec<bool> = word_lengths
            .iter()
            .flat_map(|&n| (0..L).map(move |i| i < n))
            .collect();
        Self {
            keypoints: data(vec![B, T, 49, 3]),
            pose: data(vec![B, T, 10]),
            features: data(vec![B, T, 12]),
            frames: data(vec![B, T, 3, 16, 16]),
            mask: TensorData::new(mask, [B, T]),
            ids: TensorData::new(ids, [B, L]),
            word_mask: TensorData::new(word_mask, [B, L]),
        }
    }

    fn sign<E: Backend>(&self, config: &SignEncoderConfig, dev: &E::Device) -> SignInput<E> {
        let mask = Tensor::<E, 2, Bool>::from_data(self.mask.clone(), dev);
        let keypoints = || Tensor::<E, 4>::from_data(self.keypoints.clone(), dev);
        let features = || Tensor::<E, 3>::from_data(self.features.clone(), dev);
        match config {
            SignEncoderConfig::Pose(_) => {
                SignInput::Pose(Tensor::from_data(self.pose.clone(), dev), mask)
            }
            SignEncoderConfig::Keypoints(_) => SignInput::Keypoints(keypoints(), None, mask),
            SignEncoderConfig::Features(_) => SignInput::Features(features(), mask),
            SignEncoderConfig::Frames(_) => {
                SignInput::Frames(Tensor::from_data(self.frames.clone(), dev), mask)
            }
            SignEncoderConfig::Fusion(_) => SignInput::Fusion(
                keypoints(),
                None,
                mask.clone(),
                SecondInput::Features(features(), mask),
            ),
        }
    }

    fn text<E: Backend>(&self, dev: &E::Device) -> (Tensor<E, 2, Int>, Tensor<E, 2, Bool>) {
        (
            Tensor::from_data(self.ids.clone(), dev),
            Tensor::from_data(self.word_mask.clone(), dev),
        )
    }
}

/// Every output and gradient of one model on one backend, by name.
fn run<E: AutodiffBackend>(
    model: &RetrievalModel<E>,
    config: &SignEncoderConfig,
    host: &Host,
    dev: &E::Device,
) -> Vec<(String, Vec<f32>)> {
    let sign = model.encode_sign(host.sign(config, dev)).unwrap();
    let (ids, word_mask) = host.text(dev);
    let text = model.encode_text(ids, word_mask);
    let cfg = ClclConfig::new().with_kernel(ClclKernel::Tensor);
    let scores = clcl_gallery(
        sign.tokens.tokens.clone(),
        sign.tokens.mask.clone(),
        text.tokens.tokens.clone(),
        text.tokens.mask.clone(),
        &cfg,
    );
    let loss = CoarseLossConfig::new().forward(&scores, model.log_scale(), &[0, 1, 2]);
    let grads = loss.backward();
    let host = |t: Tensor<E::InnerBackend, 3>| t.into_data().convert::<f32>().to_vec().unwrap();
    let mut out = vec![
        ("clip tokens".to_string(), host(sign.tokens.tokens.inner())),
        ("word tokens".to_string(), host(text.tokens.tokens.inner())),
        (
            "clip pooled".to_string(),
            host(sign.pooled.inner().unsqueeze()),
        ),
        (
            "word pooled".to_string(),
            host(text.pooled.inner().unsqueeze()),
        ),
        ("loss".to_string(), host(loss.inner().unsqueeze())),
    ];
    struct Grads<'a, E: AutodiffBackend> {
        path: Vec<String>,
        grads: &'a E::Gradients,
        out: &'a mut Vec<(String, Vec<f32>)>,
    }
    impl<E: AutodiffBackend> ModuleVisitor<E> for Grads<'_, E> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const N: usize>(&mut self, param: &Param<Tensor<E, N>>) {
            if let Some(g) = param.val().grad(self.grads) {
                let v = g.into_data().convert::<f32>().to_vec().unwrap();
                self.out.push((format!("grad {}", self.path.join(".")), v));
            }
        }
    }
    model.visit(&mut Grads {
        path: Vec::new(),
        grads: &grads,
        out: &mut out,
    });
    out
}

#[test]
fn wgpu_outputs_and_gradients_agree_with_the_cpu_backend() {
    let host = Host::new();
    let (cpu_dev, gpu_dev) = (Default::default(), Default::default());
    let mut failures = Vec::new();
    for (name, sign, text) in configs() {
        let config = RetrievalModelConfig::new(sign.clone(), text);
        let cpu_model = config.init::<Cpu>(&cpu_dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save_model(&cpu_model, &config, dir.path()).unwrap();
        let (_, gpu_model) = load_model::<Gpu>(dir.path(), &gpu_dev).unwrap();
        let ours = run(&cpu_model, &sign, &host, &cpu_dev);
        let theirs = run(&gpu_model, &sign, &host, &gpu_dev);
        assert_eq!(
            ours.iter().map(|o| &o.0).collect::<Vec<_>>(),
            theirs.iter().map(|o| &o.0).collect::<Vec<_>>(),
            "{name}: the same outputs and gradients"
        );
        assert!(ours.len() > 6, "{name}: gradients reached the weights");
        for ((what, a), (_, b)) in ours.iter().zip(&theirs) {
            assert_eq!(a.len(), b.len(), "{name}: {what}");
            // float32 on both sides, in different summation orders: within 1e-4 of the
            // output's largest entry.
            let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
            let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            if diff > 1e-4 * scale + 1e-7 {
                failures.push(format!(
                    "{name}: {what} differs by {diff:e} (largest entry {scale:e})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
