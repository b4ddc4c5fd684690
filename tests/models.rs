//! The retrieval model with every sign encoder and both text encoders: shapes, padding
//! invariance, gradients to every trainable parameter, and the record round trip. The
//! checks are generic over the backend; they run on the CPU backend, and on WGPU when the
//! `wgpu` feature is on (`cargo test --release --features wgpu --test tests models`).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Distribution, Int, Tensor, TensorData};
use san_core::loss::CoarseLossConfig;
use san_core::similarity::{ClclConfig, clcl_gallery};
use san_models::bert::{BertConfig, BertTextEncoderConfig};
use san_models::feature_encoder::FeatureEncoderConfig;
use san_models::frame_encoder::{FrameEncoderConfig, ResNetConfig};
use san_models::fusion_encoder::{FusionEncoderConfig, SecondInput};
use san_models::keypoint_encoder::KeypointEncoderConfig;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    Encoded, ModelError, RetrievalModel, RetrievalModelConfig, SignEncoderConfig, SignInput,
    TextEncoderConfig, load_model, save_model,
};
use san_models::text_encoder::WordEncoderConfig;

const D: usize = 8;
const VOCAB: usize = 30;

/// The sign encoders, small.
fn sign_configs() -> Vec<(&'static str, SignEncoderConfig)> {
    let keypoints = || {
        KeypointEncoderConfig::new()
            .with_part_dim(4)
            .with_hidden(16)
            .with_heads(2)
            .with_layers(1)
            .with_dim(D)
    };
    let features = || {
        FeatureEncoderConfig::new(12)
            .with_hidden(16)
            .with_heads(2)
            .with_layers(1)
            .with_dim(D)
    };
    let frames = || {
        FrameEncoderConfig::new()
            .with_cnn(ResNetConfig::new().with_blocks([1, 1, 1, 1]).with_width(2))
            .with_hidden(16)
            .with_heads(2)
            .with_layers(1)
            .with_dim(D)
    };
    vec![
        (
            "pose",
            SignEncoderConfig::Pose(PoseEncoderConfig::new(10).with_hidden(16).with_dim(D)),
        ),
        ("keypoints", SignEncoderConfig::Keypoints(keypoints())),
        ("features", SignEncoderConfig::Features(features())),
        ("frames", SignEncoderConfig::Frames(frames())),
        (
            "keypoints+features",
            SignEncoderConfig::Fusion(
                FusionEncoderConfig::new(keypoints()).with_features(Some(features())),
            ),
        ),
        (
            "keypoints+frames",
            SignEncoderConfig::Fusion(
                FusionEncoderConfig::new(keypoints()).with_frames(Some(frames())),
            ),
        ),
    ]
}

/// The text encoders, small.
fn text_configs() -> Vec<(&'static str, TextEncoderConfig)> {
    vec![
        (
            "words",
            TextEncoderConfig::Word(
                WordEncoderConfig::new(VOCAB)
                    .with_dim(D)
                    .with_layers(1)
                    .with_heads(2),
            ),
        ),
        (
            "bert",
            TextEncoderConfig::Bert(
                BertTextEncoderConfig::new(
                    BertConfig::new(VOCAB)
                        .with_hidden_size(16)
                        .with_num_hidden_layers(2)
                        .with_num_attention_heads(2)
                        .with_intermediate_size(32)
                        .with_max_position_embeddings(16),
                )
                .with_dim(D),
            ),
        ),
    ]
}

/// A frame mask `[B, T]` with `lengths[b]` real frames in row `b`.
fn prefix_mask<B: Backend>(lengths: &[usize], t: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    let values: Vec<bool> = lengths
        .iter()
        .flat_map(|&n| (0..t).map(move |i| i < n))
        .collect();
    Tensor::from_data(TensorData::new(values, [lengths.len(), t]), device)
}

/// A random input of `t` frames for `config`, with the given real lengths.
fn sign_input<B: Backend>(
    config: &SignEncoderConfig,
    lengths: &[usize],
    t: usize,
    device: &B::Device,
) -> SignInput<B> {
    let b = lengths.len();
    let mask = prefix_mask::<B>(lengths, t, device);
    let normal = Distribution::Normal(0.0, 1.0);
    let keypoints = || Tensor::<B, 4>::random([b, t, 49, 3], normal, device);
    let features = || Tensor::<B, 3>::random([b, t, 12], normal, device);
    let frames = || Tensor::<B, 5>::random([b, t, 3, 16, 16], normal, device);
    match config {
        SignEncoderConfig::Pose(_) => {
            SignInput::Pose(Tensor::random([b, t, 10], normal, device), mask)
        }
        SignEncoderConfig::Keypoints(_) => SignInput::Keypoints(keypoints(), None, mask),
        SignEncoderConfig::Features(_) => SignInput::Features(features(), mask),
        SignEncoderConfig::Frames(_) => SignInput::Frames(frames(), mask),
        SignEncoderConfig::Fusion(c) => {
            let second = if c.features.is_some() {
                SecondInput::Features(features(), mask.clone())
            } else {
                SecondInput::Frames(frames(), mask.clone())
            };
            SignInput::Fusion(keypoints(), None, mask, second)
        }
    }
}

/// `input` with `extra` padded frames of noise appended (mask false).
fn pad<B: Backend>(input: SignInput<B>, extra: usize) -> SignInput<B> {
    fn cat<B: Backend, const N: usize>(x: Tensor<B, N>, extra: usize) -> Tensor<B, N> {
        let mut dims = x.dims();
        dims[1] = extra;
        let noise = Tensor::random(dims, Distribution::Normal(0.0, 5.0), &x.device());
        Tensor::cat(vec![x, noise], 1)
    }
    fn mask<B: Backend>(m: Tensor<B, 2, Bool>, extra: usize) -> Tensor<B, 2, Bool> {
        let [b, _] = m.dims();
        let pad = Tensor::<B, 2, Bool>::zeros([b, extra], &m.device());
        Tensor::cat(vec![m, pad], 1)
    }
    match input {
        SignInput::Pose(x, m) => SignInput::Pose(cat(x, extra), mask(m, extra)),
        SignInput::Keypoints(x, p, m) => SignInput::Keypoints(cat(x, extra), p, mask(m, extra)),
        SignInput::Features(x, m) => SignInput::Features(cat(x, extra), mask(m, extra)),
        SignInput::Frames(x, m) => SignInput::Frames(cat(x, extra), mask(m, extra)),
        SignInput::Fusion(x, p, m, second) => {
            let second = match second {
                SecondInput::Features(y, n) => SecondInput::Features(cat(y, extra), mask(n, extra)),
                SecondInput::Frames(y, n) => SecondInput::Frames(cat(y, extra), mask(n, extra)),
            };
            SignInput::Fusion(cat(x, extra), p, mask(m, extra), second)
        }
    }
}

/// Word ids `[B, L]` with real lengths `lengths` (0 = padding id), and the mask.
fn text_input<B: Backend>(
    lengths: &[usize],
    l: usize,
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 2, Bool>) {
    let ids: Vec<i64> = lengths
        .iter()
        .enumerate()
        .flat_map(|(r, &n)| {
            (0..l).map(move |i| {
                if i < n {
                    1 + ((7 * r + 3 * i) % (VOCAB - 1)) as i64
                } else {
                    0
                }
            })
        })
        .collect();
    (
        Tensor::from_data(TensorData::new(ids, [lengths.len(), l]), device),
        prefix_mask::<B>(lengths, l, device),
    )
}

fn values<B: Backend, const N: usize>(t: Tensor<B, N>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

/// Largest absolute difference.
fn max_diff<B: Backend, const N: usize>(a: Tensor<B, N>, b: Tensor<B, N>) -> f32 {
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn model(sign: &SignEncoderConfig, text: &TextEncoderConfig) -> RetrievalModelConfig {
    RetrievalModelConfig::new(sign.clone(), text.clone())
}

/// Shapes and norms of every encoder pair: tokens `[B, N, D]` with mask `[B, N]`, pooled
/// `[B, D]`, every row of unit length.
pub fn shapes<B: Backend>(device: &B::Device) {
    for (sign_name, sign) in sign_configs() {
        for (text_name, text) in text_configs() {
            let m = model(&sign, &text).init::<B>(device).unwrap();
            let s = m
                .encode_sign(sign_input(&sign, &[9, 5], 9, device))
                .unwrap();
            let expected_clips = match &sign {
                SignEncoderConfig::Pose(_) => 3,      // ceil(9 / 4)
                SignEncoderConfig::Keypoints(_) => 3, // floor(9 / 4) + 1
                SignEncoderConfig::Features(_) => 9,  // one per clip feature
                SignEncoderConfig::Frames(_) => 5,    // ceil(9 / 2)
                SignEncoderConfig::Fusion(c) if c.features.is_some() => 3 + 9,
                SignEncoderConfig::Fusion(_) => 3 + 5,
            };
            let what = format!("{sign_name} + {text_name}");
            assert_eq!(s.tokens.tokens.dims(), [2, expected_clips, D], "{what}");
            assert_eq!(s.tokens.mask.dims(), [2, expected_clips], "{what}");
            assert_eq!(s.pooled.dims(), [2, D], "{what}");
            let (ids, mask) = text_input::<B>(&[6, 3], 6, device);
            let t = m.encode_text(ids, mask);
            assert_eq!(t.tokens.tokens.dims(), [2, 6, D], "{what}");
            assert_eq!(t.pooled.dims(), [2, D], "{what}");
            for e in [s, t] {
                for n in values(e.tokens.tokens.powi_scalar(2).sum_dim(2))
                    .into_iter()
                    .chain(values(e.pooled.powi_scalar(2).sum_dim(1)))
                {
                    assert!((n - 1.0).abs() < 1e-4, "{what}: squared norm {n}");
                }
            }
            let scale = values(m.log_scale().exp())[0];
            assert!((scale - 1.0 / 0.07).abs() < 1e-3, "{what}: scale {scale}");
        }
    }
}

/// Appending padded frames (mask false, noisy values) leaves the real tokens and the pooled
/// embedding unchanged, for every sign encoder; likewise padded words for both text
/// encoders.
pub fn padding_invariance<B: Backend>(device: &B::Device) {
    let text = &text_configs()[0].1;
    for (name, sign) in sign_configs() {
        let m = model(&sign, text).init::<B>(device).unwrap();
        let input = sign_input::<B>(&sign, &[9, 7], 9, device);
        let short = m.encode_sign(input.clone()).unwrap();
        let long = m.encode_sign(pad(input, 6)).unwrap();
        let (valid_short, valid_long) = (valid_tokens(&short), valid_tokens(&long));
        assert_eq!(valid_short.len(), valid_long.len(), "{name}");
        let worst = valid_short
            .iter()
            .zip(&valid_long)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{name}: real tokens moved by {worst}");
        let pooled = max_diff(short.pooled, long.pooled);
        assert!(pooled < 1e-4, "{name}: pooled moved by {pooled}");
    }
    let sign = &sign_configs()[0].1;
    for (name, text) in text_configs() {
        let m = model(sign, &text).init::<B>(device).unwrap();
        let (ids, mask) = text_input::<B>(&[5, 3], 5, device);
        let short = m.encode_text(ids, mask);
        let (ids, mask) = text_input::<B>(&[5, 3], 9, device);
        let long = m.encode_text(ids, mask);
        let moved = max_diff(short.tokens.tokens, long.tokens.tokens.narrow(1, 0, 5));
        assert!(moved < 1e-4, "{name}: word tokens moved by {moved}");
        let pooled = max_diff(short.pooled, long.pooled);
        assert!(pooled < 1e-4, "{name}: pooled moved by {pooled}");
    }
}

/// The real tokens' values, row by row (fusion: each stream's real tokens in order).
fn valid_tokens<B: Backend>(e: &Encoded<B>) -> Vec<f32> {
    let [b, n, d] = e.tokens.tokens.dims();
    let tokens = values(e.tokens.tokens.clone());
    // through a float tensor: WGPU stores booleans as u32, which bool data cannot read
    let mask: Vec<bool> = values(e.tokens.mask.clone().float())
        .into_iter()
        .map(|m| m > 0.5)
        .collect();
    let mut out = Vec::new();
    for row in 0..b {
        for j in 0..n {
            if mask[row * n + j] {
                out.extend_from_slice(&tokens[(row * n + j) * d..(row * n + j + 1) * d]);
            }
        }
    }
    out
}

/// Counts float parameters with and without a gradient.
struct GradCount<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    with: usize,
    without: Vec<String>,
    not_trainable: Vec<String>,
    path: Vec<String>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradCount<'_, B> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const N: usize>(&mut self, param: &Param<Tensor<B, N>>) {
        let tensor = param.val();
        if !tensor.is_require_grad() {
            self.not_trainable.push(self.path.join("."));
        } else if tensor.grad(self.grads).is_some() {
            self.with += 1;
        } else {
            self.without.push(self.path.join("."));
        }
    }
}

/// One step of the coarse loss (plus the pooled embeddings, which fusion's mix feeds)
/// gives every trainable parameter of every encoder pair a gradient.
pub fn gradients_reach_every_parameter<B: AutodiffBackend>(device: &B::Device) {
    for (sign_name, sign) in sign_configs() {
        for (text_name, text) in text_configs() {
            let what = format!("{sign_name} + {text_name}");
            let m: RetrievalModel<B> = model(&sign, &text).init::<B>(device).unwrap();
            let s = m
                .encode_sign(sign_input(&sign, &[9, 6, 8], 9, device))
                .unwrap();
            let (ids, mask) = text_input::<B>(&[6, 4, 5], 6, device);
            let t = m.encode_text(ids, mask);
            let scores = clcl_gallery(
                s.tokens.tokens,
                s.tokens.mask,
                t.tokens.tokens,
                t.tokens.mask,
                &ClclConfig::new(),
            );
            let loss = CoarseLossConfig::new().forward(&scores, m.log_scale(), &[0, 1, 2])
                + (s.pooled * t.pooled).sum().neg();
            let grads = loss.backward();
            let mut count = GradCount::<B> {
                grads: &grads,
                with: 0,
                without: Vec::new(),
                not_trainable: Vec::new(),
                path: Vec::new(),
            };
            m.visit(&mut count);
            assert!(
                count.without.is_empty(),
                "{what}: no gradient for {:?}",
                count.without
            );
            // Batch-norm running statistics are the only float tensors without gradients.
            assert!(
                count
                    .not_trainable
                    .iter()
                    .all(|p| p.ends_with(".running_mean") || p.ends_with(".running_var")),
                "{what}: {:?}",
                count.not_trainable
            );
            assert!(count.with > 0, "{what}");
        }
    }
}

/// A saved and reloaded model (config JSON beside Burn's record) gives identical outputs,
/// for every encoder pair.
pub fn record_round_trip<B: Backend>(device: &B::Device) {
    for (sign_name, sign) in sign_configs() {
        for (text_name, text) in text_configs() {
            let what = format!("{sign_name} + {text_name}");
            let config = model(&sign, &text);
            let m = config.init::<B>(device).unwrap();
            let dir = tempfile::tempdir().unwrap();
            save_model(&m, &config, dir.path()).unwrap();
            let (config2, loaded) = load_model(dir.path(), device).unwrap();
            assert_eq!(config2.to_string(), config.to_string(), "{what}");
            let input = sign_input::<B>(&sign, &[9, 4], 9, device);
            let a = m.encode_sign(input.clone()).unwrap();
            let b = loaded.encode_sign(input).unwrap();
            assert_eq!(values(a.tokens.tokens), values(b.tokens.tokens), "{what}");
            assert_eq!(values(a.pooled), values(b.pooled), "{what}");
            let (ids, mask) = text_input::<B>(&[6, 2], 6, device);
            let a = m.encode_text(ids.clone(), mask.clone());
            let b = loaded.encode_text(ids, mask);
            assert_eq!(values(a.tokens.tokens), values(b.tokens.tokens), "{what}");
            assert_eq!(values(m.log_scale()), values(loaded.log_scale()), "{what}");
        }
    }
}

/// Mismatched settings and inputs are errors, not panics.
pub fn bad_configs_and_inputs_are_errors<B: Backend>(device: &B::Device) {
    let signs = sign_configs();
    let texts = text_configs();
    let wrong_dim = RetrievalModelConfig::new(
        signs[0].1.clone(),
        TextEncoderConfig::Word(WordEncoderConfig::new(VOCAB).with_dim(D + 1)),
    );
    let e = wrong_dim.init::<B>(device).unwrap_err();
    assert!(matches!(e, ModelError::Config(_)), "{e}");
    assert!(e.to_string().contains("D = 9"), "{e}");
    let m = model(&signs[1].1, &texts[0].1).init::<B>(device).unwrap();
    let e = m
        .encode_sign(sign_input(&signs[2].1, &[4], 4, device))
        .unwrap_err()
        .to_string();
    assert!(e.contains("takes keypoints, but got clip features"), "{e}");
    let e = m.encode_poses(
        Tensor::zeros([1, 4, 10], device),
        prefix_mask::<B>(&[4], 4, device),
    );
    assert!(e.is_err());
    let few_joints = SignInput::Keypoints(
        Tensor::zeros([1, 4, 20, 3], device),
        None,
        prefix_mask::<B>(&[4], 4, device),
    );
    let e = m.encode_sign(few_joints).unwrap_err().to_string();
    assert!(e.contains("20 joints"), "{e}");
}

macro_rules! backend_tests {
    ($backend:ty) => {
        type B = $backend;
        type AD = burn::backend::Autodiff<$backend>;

        #[test]
        fn every_encoder_pair_gives_unit_tokens_and_pooled_of_dim_d() {
            // Model init draws from the backend's process-wide generator, which the
            // training tests' determinism checks share: take turns with them.
            let _turn = crate::end_to_end::training_turn();
            super::shapes::<B>(&Default::default());
        }

        #[test]
        fn padding_does_not_change_real_tokens_or_pooled() {
            // Model init draws from the backend's process-wide generator, which the
            // training tests' determinism checks share: take turns with them.
            let _turn = crate::end_to_end::training_turn();
            super::padding_invariance::<B>(&Default::default());
        }

        #[test]
        fn gradients_reach_every_parameter() {
            // Model init draws from the backend's process-wide generator, which the
            // training tests' determinism checks share: take turns with them.
            let _turn = crate::end_to_end::training_turn();
            super::gradients_reach_every_parameter::<AD>(&Default::default());
        }

        #[test]
        fn a_saved_model_reloads_with_identical_outputs() {
            // Model init draws from the backend's process-wide generator, which the
            // training tests' determinism checks share: take turns with them.
            let _turn = crate::end_to_end::training_turn();
            super::record_round_trip::<B>(&Default::default());
        }

        #[test]
        fn bad_configs_and_inputs_are_errors() {
            // Model init draws from the backend's process-wide generator, which the
            // training tests' determinism checks share: take turns with them.
            let _turn = crate::end_to_end::training_turn();
            super::bad_configs_and_inputs_are_errors::<B>(&Default::default());
        }
    };
}

#[cfg(feature = "ndarray")]
mod cpu {
    backend_tests!(burn::backend::NdArray<f32>);
}

#[cfg(feature = "flex")]
mod flex {
    backend_tests!(burn::backend::Flex);
}

#[cfg(feature = "wgpu")]
mod wgpu {
    backend_tests!(burn::backend::Wgpu);
}
