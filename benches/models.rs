//! san-models benchmarks: forward, and forward plus backward, of each encoder at the
//! shapes of its setting:
//! - keypoints (SEDS-style pose): B=32, T=256, J=75 (33 body + two hands of 21), C=3;
//! - clip features (CiCo/SAN): B=64, T=64, F=1024;
//! - RGB frames (GFSLT-VLP): B=2, T=64, 3×224×224 through ResNet-18;
//! - BERT (bert-base-german-cased architecture, random weights): B=64, L=32;
//!
//! and one full training step of san-train (`train_step`: the trainer's default model for
//! clip features, coarse + 0.4·fine loss over K=5 hard captions, backward, AdamW) on a
//! PHOENIX-2014T-shaped batch: B=32 (the trainer's default), T=64, F=1024, L=32, 2887 words.
//! `scripts/compare-pytorch.sh` times the same step in PyTorch.
//!
//! `cargo bench --bench models` runs them on the CPU backend; add `--features wgpu` or
//! `--features cuda` for those backends. A ResNet-18 pass over 128 frames takes minutes on a
//! small CPU, so there the frame encoder's forward runs at T=8 (the shape is in the
//! benchmark's name) and its backward (about 200 s a pass at T=8 on 2 cores) is skipped,
//! unless `SAN_BENCH_FULL=1` is set. Every encoder uses its default width, depth and
//! `D = 256`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function
#![allow(clippy::expect_used)] // fixed settings and inputs: a failure is a bug in the bench

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Distribution, Int, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use san_data::pose::StepLayout;
use san_models::bert::{BertConfig, BertTextEncoderConfig};
use san_models::dropout::{DropoutMasks, set_dropout_masks};
use san_models::feature_encoder::FeatureEncoderConfig;
use san_models::frame_encoder::FrameEncoderConfig;
use san_models::keypoint_encoder::{KeypointEncoderConfig, PartConfig};
use san_models::retrieval::TextEncoder;
use san_models::retrieval::{SignEncoder, SignEncoderConfig, SignInput, TextEncoderConfig};
use san_train::config::{InputKind, TrainConfig};
use san_train::model::model_config_for;
use san_train::step::{StepBatch, adamw, train_step};

/// MediaPipe Holistic's 33 body points, then the two hands.
fn pose_parts() -> Vec<PartConfig> {
    vec![
        PartConfig::new("body".into(), 0, 33),
        PartConfig::new("left_hand".into(), 33, 21),
        PartConfig::new("right_hand".into(), 54, 21),
    ]
}

/// One encoder case: its name (with the input shape), config and input shape.
struct SignCase {
    name: String,
    config: SignEncoderConfig,
    shape: Vec<usize>,
    /// Backward pass too slow to repeat on a small CPU.
    cpu_skip_backward: bool,
}

fn sign_cases(full_frames: bool) -> Vec<SignCase> {
    let frames_t = if full_frames { 64 } else { 8 };
    vec![
        SignCase {
            name: "keypoints/b32_t256_j75_c3".into(),
            config: SignEncoderConfig::Keypoints(
                KeypointEncoderConfig::new().with_parts(pose_parts()),
            ),
            shape: vec![32, 256, 75, 3],
            cpu_skip_backward: false,
        },
        SignCase {
            name: "features/b64_t64_f1024".into(),
            config: SignEncoderConfig::Features(FeatureEncoderConfig::new(1024)),
            shape: vec![64, 64, 1024],
            cpu_skip_backward: false,
        },
        SignCase {
            name: format!("frames_resnet18/b2_t{frames_t}_224x224"),
            config: SignEncoderConfig::Frames(FrameEncoderConfig::new()),
            shape: vec![2, frames_t, 3, 224, 224],
            cpu_skip_backward: !full_frames,
        },
    ]
}

fn input<B: Backend>(shape: &[usize], device: &B::Device) -> SignInput<B> {
    let normal = Distribution::Normal(0.0, 1.0);
    let mask = Tensor::<B, 2, Bool>::ones([shape[0], shape[1]], device);
    match shape.len() {
        3 => SignInput::Features(
            Tensor::random([shape[0], shape[1], shape[2]], normal, device),
            mask,
        ),
        4 => SignInput::Keypoints(
            Tensor::random([shape[0], shape[1], shape[2], shape[3]], normal, device),
            None,
            mask,
        ),
        _ => SignInput::Frames(
            Tensor::random(
                [shape[0], shape[1], shape[2], shape[3], shape[4]],
                normal,
                device,
            ),
            mask,
        ),
    }
}

fn bench_sign<B: AutodiffBackend>(
    c: &mut Criterion,
    backend: &str,
    device: &B::Device,
    full: bool,
) {
    for case in sign_cases(full) {
        let encoder = case
            .config
            .init::<B>(device)
            .expect("valid encoder settings");
        let mut group = c.benchmark_group(format!("encoder/{backend}"));
        group.sample_size(10);
        let inference: SignEncoder<B::InnerBackend> = encoder.valid();
        let x = input::<B::InnerBackend>(&case.shape, device);
        group.bench_function(format!("{}/forward", case.name), |b| {
            b.iter(|| {
                let out = inference
                    .forward(x.clone())
                    .expect("input of the encoder's kind");
                let _ = B::InnerBackend::sync(device);
                out
            })
        });
        if case.cpu_skip_backward && !full {
            eprintln!(
                "{}/forward_backward skipped on {backend}: one pass takes minutes there; \
                 set SAN_BENCH_FULL=1 to run it",
                case.name
            );
            group.finish();
            continue;
        }
        let x = input::<B>(&case.shape, device);
        group.bench_function(format!("{}/forward_backward", case.name), |b| {
            b.iter(|| {
                let loss = encoder
                    .forward(x.clone())
                    .expect("input of the encoder's kind")
                    .pooled
                    .sum();
                let grads = loss.backward();
                let _ = B::sync(device);
                grads
            })
        });
        group.finish();
    }
}

fn bench_bert<B: AutodiffBackend>(c: &mut Criterion, backend: &str, device: &B::Device) {
    let (b, l) = (64, 32);
    // bert-base-german-cased: 30000 pieces, 768 wide, 12 layers.
    let config = TextEncoderConfig::Bert(BertTextEncoderConfig::new(BertConfig::new(30_000)));
    let encoder = config.init::<B>(device).expect("valid BERT settings");
    let ids: Vec<i64> = (0..b * l)
        .map(|i| ((i * 7919) % 29_000) as i64 + 100)
        .collect();
    let mut group = c.benchmark_group(format!("encoder/{backend}"));
    group.sample_size(10);
    let inference: TextEncoder<B::InnerBackend> = encoder.valid();
    let ids_inner =
        Tensor::<B::InnerBackend, 2, Int>::from_data(TensorData::new(ids.clone(), [b, l]), device);
    let mask_inner = Tensor::<B::InnerBackend, 2, Bool>::ones([b, l], device);
    let name = format!("bert_base/b{b}_l{l}");
    group.bench_function(format!("{name}/forward"), |bench| {
        bench.iter(|| {
            let out = inference.forward(ids_inner.clone(), mask_inner.clone());
            let _ = B::InnerBackend::sync(device);
            out
        })
    });
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, l]), device);
    let mask = Tensor::<B, 2, Bool>::ones([b, l], device);
    group.bench_function(format!("{name}/forward_backward"), |bench| {
        bench.iter(|| {
            let grads = encoder
                .forward(ids.clone(), mask.clone())
                .pooled
                .sum()
                .backward();
            let _ = B::sync(device);
            grads
        })
    });
    group.finish();
}

/// One full training step: `san_train::step::train_step` with the trainer's AdamW.
fn bench_train_step<B: AutodiffBackend>(c: &mut Criterion, backend: &str, device: &B::Device) {
    let (n, t, f, l, k, vocab) = (32, 64, 1024, 32, 5, 2887);
    let mut config = TrainConfig::new();
    config.data.input = InputKind::Features;
    config.data.batch_size = n;
    let mut model = Some(
        model_config_for(&config, f, vocab)
            .expect("valid model settings")
            .init::<B>(device)
            .expect("valid model settings"),
    );
    let mut optim = adamw::<B>(&config);
    // Every row has between half and all of its clips and words, as padding gives.
    let mask = |rows: usize, len: usize| {
        let v: Vec<bool> = (0..rows)
            .flat_map(|r| (0..len).map(move |i| i < len / 2 + (r * 7) % (len / 2 + 1)))
            .collect();
        TensorData::new(v, [rows, len])
    };
    let ids = |rows: usize| {
        let v: Vec<i64> = (0..rows * l)
            .map(|i| 2 + (i * 7919 % (vocab - 2)) as i64)
            .collect();
        TensorData::new(v, [rows, l])
    };
    let batch = StepBatch::<B> {
        clips: Tensor::random([n, t, f], Distribution::Normal(0.0, 1.0), device),
        layout: StepLayout::Flat,
        clip_mask: Tensor::from_data(mask(n, t), device),
        tokens: Tensor::from_data(ids(n), device),
        token_mask: Tensor::from_data(mask(n, l), device),
        text_ids: (0..n).collect(),
        candidates: Some((
            Tensor::<B, 2, Int>::from_data(ids(n * (k + 1)), device).reshape([n, k + 1, l]),
            Tensor::<B, 2, Bool>::from_data(mask(n * (k + 1), l), device).reshape([n, k + 1, l]),
        )),
    };
    let mut group = c.benchmark_group(format!("train_step/{backend}"));
    group.sample_size(10);
    group.bench_function(format!("features_b{n}_t{t}_f{f}_l{l}_k{k}"), |b| {
        b.iter(|| {
            let m = model
                .take()
                .expect("the model is put back after every step");
            let (m, loss) =
                train_step(m, &mut optim, batch.clone(), &config, 1e-3).expect("a finite loss");
            model = Some(m);
            let _ = B::sync(device);
            loss
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let full = std::env::var("SAN_BENCH_FULL").is_ok_and(|v| v == "1");
    // Dropout masks where `san train` draws them on each device (`DeviceChoice::dropout_masks`).
    set_dropout_masks(DropoutMasks::Host);
    #[cfg(feature = "ndarray")]
    {
        type Cpu = Autodiff<burn::backend::NdArray<f32>>;
        bench_sign::<Cpu>(c, "ndarray", &Default::default(), full);
        bench_bert::<Cpu>(c, "ndarray", &Default::default());
        bench_train_step::<Cpu>(c, "ndarray", &Default::default());
    }
    #[cfg(feature = "flex")]
    {
        type Cpu = Autodiff<burn::backend::Flex>;
        bench_sign::<Cpu>(c, "flex", &Default::default(), full);
        bench_bert::<Cpu>(c, "flex", &Default::default());
        bench_train_step::<Cpu>(c, "flex", &Default::default());
    }
    set_dropout_masks(DropoutMasks::Backend);
    #[cfg(feature = "wgpu")]
    {
        type Gpu = Autodiff<burn::backend::Wgpu>;
        bench_sign::<Gpu>(c, "wgpu", &Default::default(), true);
        bench_bert::<Gpu>(c, "wgpu", &Default::default());
        bench_train_step::<Gpu>(c, "wgpu", &Default::default());
    }
    #[cfg(feature = "cuda")]
    {
        type Gpu = Autodiff<burn::backend::Cuda>;
        bench_sign::<Gpu>(c, "cuda", &Default::default(), true);
        bench_bert::<Gpu>(c, "cuda", &Default::default());
        bench_train_step::<Gpu>(c, "cuda", &Default::default());
    }
    let _ = (c, full);
}

criterion_group!(models, benches);
criterion_main!(models);
