//! san-core benchmarks: CLCL similarity over the PHOENIX-2014T test gallery, one forward
//! plus backward of the training loss, SAN table construction and instance mining, and the
//! CPU's matrix-product peak that the similarity is measured against. `cargo bench --bench
//! core` runs them on the CPU backend; add `--features wgpu` or `--features cuda` for those
//! backends as well. `scripts/compare-pytorch.sh` times the same computations in PyTorch.
//!
//! The gallery and matmul benches report throughput in FLOP (criterion's "elem/s" column):
//! the gallery's token similarities are `2·D·(N·M)·(N·L)` FLOP.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use san_core::cpu::matmul_nt;
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::mining::{
    Aggregation, ConfusabilityTable, Embeddings, InstanceMinerConfig, ReliablePairs, TableConfig,
    mine_instances,
};
use san_core::similarity::{ClclConfig, ClclKernel, clcl_candidates, clcl_gallery, l2_normalize};

fn unit<B: Backend, const D: usize>(shape: [usize; D], device: &B::Device) -> Tensor<B, D> {
    l2_normalize(Tensor::random(
        shape,
        Distribution::Normal(0.0, 1.0),
        device,
    ))
}

/// CLCL scores of a gallery: `n` videos × `n` texts, M clips, L words, dim D. `kernel` is
/// the gallery kernel the caller picks for this backend (fused on the CPU).
fn bench_gallery<B: Backend>(
    c: &mut Criterion,
    name: &str,
    device: &B::Device,
    kernel: ClclKernel,
) {
    let mut group = c.benchmark_group(format!("clcl_gallery/{name}"));
    group.sample_size(10);
    // 642 × 64 × 32 × 512 is PHOENIX-2014T test; the tensor kernel is also timed on a
    // smaller gallery (its 642 pass takes over a minute on the CPU).
    let mut cases = vec![(kernel, 642), (ClclKernel::Tensor, 128), (kernel, 128)];
    cases.dedup();
    for (kernel, n) in cases {
        let (m, l, d) = (64, 32, 512);
        let sign = unit::<B, 3>([n, m, d], device);
        let words = unit::<B, 3>([n, l, d], device);
        let sm = Tensor::<B, 2, Bool>::ones([n, m], device);
        let wm = Tensor::<B, 2, Bool>::ones([n, l], device);
        let cfg = ClclConfig::new().with_kernel(kernel);
        group.throughput(Throughput::Elements((2 * d * n * m * n * l) as u64));
        let label = if kernel.is_fused::<B>(device) {
            "fused"
        } else {
            "tensor"
        };
        group.bench_with_input(
            BenchmarkId::new(label, format!("{n}x{m}x{l}x{d}")),
            &n,
            |b, _| {
                b.iter(|| {
                    let s = clcl_gallery(sign.clone(), sm.clone(), words.clone(), wm.clone(), &cfg);
                    let _ = B::sync(device);
                    s
                })
            },
        );
    }
    group.finish();
}

/// Coarse InfoNCE + 0.4 · SAN fine loss, forward and backward, B=128, M=64, L=32, D=512, K=5.
fn bench_loss<B: AutodiffBackend>(c: &mut Criterion, name: &str, device: &B::Device) {
    let mut group = c.benchmark_group(format!("loss_fwd_bwd/{name}"));
    group.sample_size(10);
    let (b, m, l, d, k) = (128, 64, 32, 512, 5);
    let sign = unit::<B, 3>([b, m, d], device);
    let words = unit::<B, 3>([b, l, d], device);
    let hard = unit::<B, 4>([b, k, l, d], device);
    let sm = Tensor::<B, 2, Bool>::ones([b, m], device);
    let wm = Tensor::<B, 2, Bool>::ones([b, l], device);
    let hm = Tensor::<B, 3, Bool>::ones([b, k, l], device);
    let ids: Vec<usize> = (0..b).collect();
    let cfg = ClclConfig::new();
    group.bench_function(
        BenchmarkId::from_parameter(format!("b{b}_m{m}_l{l}_d{d}_k{k}")),
        |bench| {
            bench.iter(|| {
                let sign = sign.clone().require_grad();
                let words = words.clone().require_grad();
                let log_scale =
                    Tensor::<B, 1>::from_floats([(1.0f32 / 0.07).ln()], device).require_grad();
                let scores =
                    clcl_gallery(sign.clone(), sm.clone(), words.clone(), wm.clone(), &cfg);
                let coarse = CoarseLossConfig::new().forward(&scores, log_scale.clone(), &ids);
                let caps = Tensor::cat(vec![words.reshape([b, 1, l, d]), hard.clone()], 1);
                let caps_mask = Tensor::cat(vec![wm.clone().reshape([b, 1, l]), hm.clone()], 1);
                let cand = clcl_candidates(sign, sm.clone(), caps, caps_mask, 0.07);
                let loss = coarse + san_fine_loss(cand.v2t, log_scale).mul_scalar(0.4);
                let grads = loss.backward();
                let _ = B::sync(device);
                grads
            })
        },
    );
    group.finish();
}

/// Instance mining (sign-aware, τ_sem and positive-aware filters on) at N=7096 (PHOENIX-2014T
/// train), D=512, K=32, on all cores. Backend-independent host code.
fn bench_mining(c: &mut Criterion) {
    use rand::{RngExt, SeedableRng};
    let (n, d, k) = (7096, 512, 32);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut unit_rows = |n: usize| -> Vec<f32> {
        let mut v: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for row in v.chunks_mut(d) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        v
    };
    let (video, text) = (unit_rows(n), unit_rows(n));
    let ids: Vec<usize> = (0..n).collect();
    let cfg = InstanceMinerConfig {
        k,
        beta_pos: Some(0.95),
        ..InstanceMinerConfig::default()
    };
    let mut group = c.benchmark_group("instance_mining");
    group.sample_size(10);
    group.bench_function(format!("signaware/n{n}_d{d}_k{k}"), |b| {
        b.iter(|| {
            mine_instances(
                Embeddings {
                    video: &video,
                    text: &text,
                    n,
                    dim: d,
                },
                &ids,
                &cfg,
            )
        })
    });
    group.finish();
}

/// SAN table construction over a PHOENIX-2014T-sized training split: 7096 captions × 32
/// words × 64 clips at D=512 in batches of 128 (reliable pairs, α = 0.7), then the links of
/// ~2.9k aligned words (β = 0.7). Words are planted near one clip of their video, so almost
/// every occurrence is reliable, as after training.
fn bench_table<B: Backend>(c: &mut Criterion, name: &str, device: &B::Device) {
    use burn::tensor::TensorData;
    use rand::{RngExt, SeedableRng};
    let (n, m, l, d, batch, vocab) = (7096, 64, 32, 512, 128, 2887);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    // Four distinct batches, cycled (the cost does not depend on the values).
    let batches: Vec<_> = (0..4)
        .map(|_| {
            let sign = unit::<B, 3>([batch, m, d], device);
            let clips: Vec<i64> = (0..batch * l)
                .map(|_| rng.random_range(0..m as i64))
                .collect();
            let picked = sign
                .clone()
                .reshape([batch * m, d])
                .select(
                    0,
                    Tensor::from_data(
                        TensorData::new(
                            clips
                                .iter()
                                .enumerate()
                                .map(|(k, &c)| (k / l * m) as i64 + c)
                                .collect::<Vec<_>>(),
                            [batch * l],
                        ),
                        device,
                    ),
                )
                .reshape([batch, l, d]);
            let words = l2_normalize(picked + unit::<B, 3>([batch, l, d], device).mul_scalar(0.3));
            (sign, words)
        })
        .collect();
    let ids: Vec<Vec<Option<usize>>> = (0..n)
        .map(|_| (0..l).map(|_| Some(rng.random_range(0..vocab))).collect())
        .collect();
    let names: Vec<String> = (0..vocab).map(|i| format!("w{i}")).collect();
    let mask = Tensor::<B, 2, Bool>::ones([batch, m], device);
    let mut group = c.benchmark_group(format!("san_table/{name}"));
    group.sample_size(10);
    for (agg, keep) in [(Aggregation::Mean, 16), (Aggregation::Any, 4)] {
        let cfg = TableConfig::new().with_aggregation(agg);
        group.bench_function(format!("{agg:?}/n{n}_l{l}_m{m}_d{d}_keep{keep}"), |bench| {
            bench.iter(|| {
                let mut pairs = ReliablePairs::new(keep);
                for (k, chunk) in ids.chunks(batch).enumerate() {
                    let (sign, words) = &batches[k % batches.len()];
                    let rows = chunk.len();
                    pairs.add_batch(
                        sign.clone().narrow(0, 0, rows),
                        mask.clone().narrow(0, 0, rows),
                        words.clone().narrow(0, 0, rows),
                        chunk,
                        0.07,
                        0.7,
                    );
                }
                ConfusabilityTable::sign_aware(&pairs, &names, &cfg, None)
            })
        });
    }
    group.finish();
}

/// The CPU's matrix-product peak: `[2048, 512] × [512, 2048]` through san-core's
/// `matmul_nt` (the `gemm` crate, the product inside the fused CLCL kernel), one
/// single-threaded call per thread on its share of the rows, as the kernel runs, on every
/// available thread.
fn bench_matmul_peak(c: &mut Criterion) {
    let (m, n, k) = (2048usize, 2048usize, 512usize);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let lhs: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let rhs: Vec<f32> = (0..n * k)
        .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0)
        .collect();
    let mut dst = vec![0f32; m * n];
    let rows = m.div_ceil(threads);
    let mut group = c.benchmark_group("matmul_peak");
    group.sample_size(20);
    group.throughput(Throughput::Elements((2 * m * n * k) as u64));
    group.bench_function(format!("gemm/{m}x{k}x{n}/{threads}_threads"), |b| {
        b.iter(|| {
            let rhs = rhs.as_slice();
            std::thread::scope(|s| {
                for (lhs, dst) in lhs.chunks(rows * k).zip(dst.chunks_mut(rows * n)) {
                    s.spawn(move || matmul_nt(dst, lhs, rhs, lhs.len() / k, n, k));
                }
            });
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_matmul_peak(c);
    bench_mining(c);
    #[cfg(feature = "ndarray")]
    bench_table::<burn::backend::NdArray<f32>>(c, "ndarray", &Default::default());
    #[cfg(feature = "ndarray")]
    {
        type Cpu = burn::backend::NdArray<f32>;
        bench_gallery::<Cpu>(c, "ndarray", &Default::default(), ClclKernel::Fused);
        bench_loss::<Autodiff<Cpu>>(c, "ndarray", &Default::default());
    }
    #[cfg(feature = "flex")]
    {
        type Cpu = burn::backend::Flex;
        bench_table::<Cpu>(c, "flex", &Default::default());
        bench_gallery::<Cpu>(c, "flex", &Default::default(), ClclKernel::Fused);
        bench_loss::<Autodiff<Cpu>>(c, "flex", &Default::default());
    }
    #[cfg(feature = "wgpu")]
    {
        type Gpu = burn::backend::Wgpu;
        bench_gallery::<Gpu>(c, "wgpu", &Default::default(), ClclKernel::Tensor);
        bench_table::<Gpu>(c, "wgpu", &Default::default());
        bench_loss::<Autodiff<Gpu>>(c, "wgpu", &Default::default());
    }
    #[cfg(feature = "cuda")]
    {
        type Gpu = burn::backend::Cuda;
        bench_gallery::<Gpu>(c, "cuda", &Default::default(), ClclKernel::Tensor);
        bench_table::<Gpu>(c, "cuda", &Default::default());
        bench_loss::<Autodiff<Gpu>>(c, "cuda", &Default::default());
    }
    let _ = c;
}

criterion_group!(core, benches);
criterion_main!(core);
