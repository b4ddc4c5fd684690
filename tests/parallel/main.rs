//! Data-parallel training is exact (issue: several devices): with W = 1, 2, 3 and 4 CPU
//! peers (threads, through Burn's collectives), one step on the same global batch gives
//! the one-device loss and parameter gradients, to 1e-9 relative in float64 and 1e-5 in
//! float32; and two epochs on 2 peers give the one-device dev metrics. The reference is
//! the one-device computation of the same loss (`san_train::step::step_loss`), an
//! independent code path (no gather, no all-reduce, no share scaling).
//!
//! A test binary of its own: Burn 0.21 fixes a device type's default float type for the
//! whole process at its first tensor, and burn-ndarray's f32 and f64 backends share one
//! device type, so float64 checks run where no float32 ndarray tensor was made first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Mutex, MutexGuard};

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, ElementConversion, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use san::backend::Cpu;
use san_core::metrics::RetrievalReport;
use san_data::batch::pad_ids;
use san_data::corpus::Corpus;
use san_data::sample::Sample;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_models::retrieval::RetrievalModel;
use san_train::config::TrainConfig;
use san_train::model::model_config;
use san_train::negatives::Negatives;
use san_train::parallel::share::{HostShare, Share, share_gradients};
use san_train::parallel::{ParallelOptions, PeerLink};
use san_train::protocol::{RunOptions, run_with};
use san_train::record::Stage;
use san_train::stage::train_stage_on;
use san_train::step::{StepBatch, step_loss};

/// One test at a time: a process has one collective per backend, and `B::seed` is
/// process-wide.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn corpus(dir: &std::path::Path) -> Corpus {
    let root = dir.join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new()
            .with_train(48)
            .with_dev(16)
            .with_test(8),
    )
    .unwrap();
    Corpus::load(&root).unwrap()
}

/// The config's model with every dropout probability 0, so that one device and the peers
/// compute the same function.
fn model<B: Backend>(
    config: &TrainConfig,
    corpus: &Corpus,
    device: &B::Device,
) -> RetrievalModel<B> {
    fn zero(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k.contains("dropout") && x.is_number() {
                        *x = serde_json::json!(0.0);
                    } else {
                        zero(x);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(zero),
            _ => {}
        }
    }
    let mut json = serde_json::to_value(model_config(config, corpus).unwrap()).unwrap();
    zero(&mut json);
    assert!(
        json.to_string().contains("dropout"),
        "the model has dropout settings to zero"
    );
    let cfg: san_models::retrieval::RetrievalModelConfig = serde_json::from_value(json).unwrap();
    // Drawn now: on one device a fresh model's parameters are drawn as the first step uses
    // them, with several peers before the copies are made.
    let model = cfg.init::<B>(device).unwrap();
    san_models::retrieval::materialize(&model);
    model
}

fn config() -> TrainConfig {
    let mut config = TrainConfig::new().with_epochs(2, 1);
    config.model.hidden = 16;
    config.model.dim = 16;
    config.data.batch_size = 11;
    config
}

/// A batch of the first `n` training items, each with its own caption and the next
/// `k` items' captions as hard captions.
fn batch<B: Backend>(
    corpus: &Corpus,
    config: &TrainConfig,
    n: usize,
    k: usize,
    device: &B::Device,
) -> StepBatch<B> {
    let items: Vec<&Sample> = corpus.train[..n].iter().collect();
    let mut rng = StdRng::seed_from_u64(3);
    let b = config
        .data
        .batcher
        .batch::<B, StdRng>(&items, &corpus.text, Some(&mut rng), device)
        .unwrap();
    let captions: Vec<Vec<usize>> = (0..n)
        .flat_map(|i| (0..=k).map(move |j| (i + j) % corpus.train.len()))
        .map(|i| {
            corpus
                .text
                .encode_ids(&corpus.train[i].words, usize::MAX)
                .unwrap()
        })
        .collect();
    let (ids, mask) = pad_ids(&captions);
    let l = ids.len() / (n * (k + 1));
    StepBatch {
        clips: b.poses,
        layout: b.layout,
        clip_mask: b.pose_mask,
        tokens: b.tokens,
        token_mask: b.token_mask,
        text_ids: b.text_ids,
        candidates: Some((
            Tensor::<B, 3, Int>::from_data(TensorData::new(ids, [n, k + 1, l]), device),
            Tensor::<B, 3, Bool>::from_data(TensorData::new(mask, [n, k + 1, l]), device),
        )),
    }
}

/// Every trainable parameter's gradient, flattened in visiting order (`None` where a
/// parameter has none).
fn flat_grads<B: AutodiffBackend>(
    model: &RetrievalModel<B>,
    grads: &GradientsParams,
) -> Vec<Option<Vec<f64>>> {
    struct V<'a> {
        grads: &'a GradientsParams,
        out: Vec<Option<Vec<f64>>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for V<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.out.push(
                self.grads
                    .get::<B::InnerBackend, D>(param.id)
                    .map(|g| g.into_data().convert::<f64>().to_vec::<f64>().unwrap()),
            );
        }
    }
    let mut v = V {
        grads,
        out: Vec::new(),
    };
    model.visit(&mut v);
    v.out
}

/// Largest per-parameter relative error `‖a − b‖∞ / ‖b‖∞`.
fn worst(a: &[Option<Vec<f64>>], b: &[Option<Vec<f64>>]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (None, None) => {}
            (Some(x), Some(y)) => {
                let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
                let err = x
                    .iter()
                    .zip(y)
                    .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
                worst = worst.max(err / scale);
            }
            _ => panic!("a parameter has a gradient on one side only"),
        }
    }
    worst
}

/// The loss and gradients of one step on `world` peers, each a thread; every peer's
/// result.
fn on_peers<B: AutodiffBackend>(
    model: &RetrievalModel<B>,
    batch: &StepBatch<B>,
    config: &TrainConfig,
    world: usize,
) -> Vec<(f64, Vec<Option<Vec<f64>>>)> {
    let options = ParallelOptions::local(world);
    let collective = options.collective_config().unwrap();
    let shares: Vec<HostShare> = (0..world)
        .map(|r| Share::of(batch, world, r).to_host())
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(rank, share)| {
                let (model, collective, link) =
                    (model.clone(), collective.clone(), options.link(rank));
                s.spawn(move || {
                    let device = Default::default();
                    link.register::<B::InnerBackend>(&device, collective)
                        .unwrap();
                    let (grads, loss) =
                        share_gradients(&model, share.to_device(&device), config, &link).unwrap();
                    link.finish::<B::InnerBackend>().unwrap();
                    (loss, flat_grads(&model, &grads))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn exact_on<B: AutodiffBackend>(tolerance: f64, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let config = config();
    let device = Default::default();
    B::seed(&device, 5);
    let model = model::<B>(&config, &corpus, &device);
    // 10 items: 10 over 4 peers is 3, 3, 2, 2; and a batch of 3 leaves the 4th peer empty
    for n in [10, 3] {
        let batch = batch::<B>(&corpus, &config, n, 2, &device);
        let loss = step_loss(&model, batch.clone(), &config).unwrap();
        let one_loss = loss.clone().into_scalar().elem::<f64>();
        let one = flat_grads(
            &model,
            &GradientsParams::from_grads(loss.backward(), &model),
        );
        for world in 1..=4 {
            for (rank, (l, g)) in on_peers(&model, &batch, &config, world).iter().enumerate() {
                let (loss_err, grad_err) = ((l - one_loss).abs() / one_loss.abs(), worst(g, &one));
                println!(
                    "{name}: N {n}, W {world}, peer {rank}: loss rel. error {loss_err:.1e}, worst gradient rel. error {grad_err:.1e}"
                );
                assert!(
                    loss_err <= tolerance,
                    "{name} W {world} peer {rank}: loss {l} vs {one_loss}"
                );
                assert!(
                    grad_err <= tolerance,
                    "{name} W {world} peer {rank}: gradient error {grad_err}"
                );
            }
        }
    }
}

#[test]
fn one_step_on_1_to_4_peers_has_the_one_device_gradients_in_f64() {
    let _turn = turn();
    exact_on::<Autodiff<NdArray<f64>>>(1e-9, "f64 ndarray");
}

#[test]
fn one_step_on_1_to_4_peers_has_the_one_device_gradients_in_f32() {
    let _turn = turn();
    exact_on::<Autodiff<Cpu>>(1e-5, "f32 cpu");
}

#[test]
fn two_epochs_on_two_peers_give_the_one_device_dev_metrics() {
    let _turn = turn();
    type B = Autodiff<NdArray<f64>>;
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let config = config();
    let device = Default::default();
    let run = |world: usize| {
        B::seed(&device, 9);
        let model = model::<B>(&config, &corpus, &device);
        let mut dev = Vec::new();
        let (model, ..) = train_stage_on::<B>(
            model,
            1,
            &corpus,
            &config,
            Negatives::None,
            None,
            &vec![device; world],
            &ParallelOptions::local(world),
            &mut |_, _, loss, report| dev.push((loss, report.t2v.r1, report.v2t.r1)),
        )
        .unwrap();
        (dev, san_train::parallel::grads::fingerprint::<B, _>(&model))
    };
    let (one, one_params) = run(1);
    let (two, two_params) = run(2);
    println!("one device: {one:?}\ntwo peers:  {two:?}");
    assert_eq!(one.len(), 2);
    for ((l1, t1, v1), (l2, t2, v2)) in one.iter().zip(&two) {
        assert!((l1 - l2).abs() <= 1e-9 * l1.abs(), "loss {l1} vs {l2}");
        assert_eq!((t1, v1), (t2, v2), "dev R@1");
    }
    for (a, b) in one_params.iter().zip(&two_params) {
        assert!(
            (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            "parameter sums {a} vs {b}"
        );
    }
    let _ = PeerLink::single();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_checkpoint_written_by_two_peers_resumes_the_same_on_one_and_on_three() {
    let _turn = turn();
    type B = Autodiff<NdArray<f64>>;
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let mut config = config().with_epochs(2, 2);
    config.model.dropout = Some(0.0);
    let device = Default::default();
    let options = |out: &std::path::Path, resume: bool, peers: usize| RunOptions {
        out: Some(out.to_path_buf()),
        resume,
        progress: false,
        parallel: ParallelOptions::local(peers),
    };
    let quiet = |_: Stage, _: usize, _: f64, _: &RetrievalReport| {};
    // On 2 peers, interrupted in stage 1's second epoch (before its checkpoint).
    let part = dir.path().join("part");
    let mut calls = 0;
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_with::<B>(
            &corpus,
            &config,
            &device,
            &options(&part, false, 2),
            &mut |_, _, _, _| {
                calls += 1;
                assert!(calls < 2, "the test interrupts the run here, on purpose");
            },
        )
    }));
    assert!(interrupted.is_err());
    let mut histories = Vec::new();
    for peers in [1, 3] {
        let out = dir.path().join(format!("resumed-on-{peers}"));
        copy_dir(&part, &out);
        let run = run_with::<B>(
            &corpus,
            &config,
            &device,
            &options(&out, true, peers),
            &mut { quiet },
        )
        .unwrap();
        histories.push(run.history);
    }
    let row =
        |r: &san_train::record::EpochRecord| (r.stage, r.epoch, r.loss, r.dev.t2v.r1, r.dev.v2t.r1);
    let (h1, h3): (Vec<_>, Vec<_>) = (
        histories[0].iter().map(row).collect(),
        histories[1].iter().map(row).collect(),
    );
    println!("resumed on 1 peer:  {h1:?}\nresumed on 3 peers: {h3:?}");
    assert_eq!(h1.len(), 4, "every epoch of both stages");
    for (a, b) in h1.iter().zip(&h3) {
        assert_eq!((a.0, a.1, a.3, a.4), (b.0, b.1, b.3, b.4));
        assert!(
            (a.2 - b.2).abs() <= 1e-9 * a.2.abs(),
            "loss {} vs {}",
            a.2,
            b.2
        );
    }
}
