//! CLCL similarity over a gallery, on the CPU backend (and WGPU/CUDA when their features
//! are on): `cargo bench --bench similarity`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use san_core::similarity::{ClclConfig, clcl_gallery, l2_normalize};

fn bench_backend<B: Backend>(c: &mut Criterion, name: &str, device: B::Device) {
    let mut group = c.benchmark_group(format!("clcl_gallery/{name}"));
    group.sample_size(10);
    // (gallery size, clips M, words L, dim D); 642 × 64 × 32 × 512 is PHOENIX-2014-T test.
    for (n, m, l, d) in [(64, 32, 16, 256), (256, 64, 32, 512), (642, 64, 32, 512)] {
        let sign = l2_normalize(Tensor::<B, 3>::random(
            [n, m, d],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let words = l2_normalize(Tensor::<B, 3>::random(
            [n, l, d],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let sm = Tensor::<B, 2, Bool>::ones([n, m], &device);
        let wm = Tensor::<B, 2, Bool>::ones([n, l], &device);
        let cfg = ClclConfig::new().with_chunk(16);
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}x{m}x{l}x{d}")),
            &n,
            |b, _| {
                b.iter(|| {
                    let s = clcl_gallery(sign.clone(), sm.clone(), words.clone(), wm.clone(), &cfg);
                    let _ = B::sync(&device);
                    s
                })
            },
        );
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    #[cfg(feature = "ndarray")]
    bench_backend::<burn::backend::NdArray<f32>>(c, "ndarray", Default::default());
    #[cfg(feature = "wgpu")]
    bench_backend::<burn::backend::Wgpu>(c, "wgpu", Default::default());
    #[cfg(feature = "cuda")]
    bench_backend::<burn::backend::Cuda>(c, "cuda", Default::default());
    let _ = c;
}

criterion_group!(clcl, benches);
criterion_main!(clcl);
