//! How time grows with the corpus: `scripts/scaling.sh` runs this once per size, under
//! `/usr/bin/time` for the peak memory.
//!
//! - `cargo run --release --example scaling -- mining N`: sign-aware instance mining
//!   (`mine_instances`, K = 32, chunks of 256 rows, τ_sem 0.9, β_pos 0.95) over N random
//!   unit video embeddings of D = 512 and captions near them, every caption distinct;
//! - `… -- gallery N`: the CLCL score of an N × N gallery (M = 64 clips, L = 32 words,
//!   D = 512, each item with a random length between half and all of its slots) with the
//!   fused kernel on the build's CPU backend.
//!
//! Prints one line: `<what> <N> <seconds>` (one timed run after none: these sizes take
//! seconds to minutes, so a warm-up would double the wall time).

use std::error::Error;
use std::time::Instant;

use burn::tensor::{Bool, Tensor, TensorData};
use san::backend::Cpu;
use san::san_core::mining::{Embeddings, InstanceMinerConfig, mine_instances};
use san::san_core::similarity::{ClclConfig, ClclKernel, clcl_gallery};

const D: usize = 512;

/// Seeded values in [-0.5, 0.5) (a 64-bit LCG), so every run scores the same inputs.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Rows of `dim` scaled to unit length.
fn unit_rows(mut v: Vec<f32>, dim: usize) -> Vec<f32> {
    for row in v.chunks_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Token masks `[n, len]`: item `i` has between half and all of its slots.
fn mask(n: usize, len: usize, seed: u64) -> Vec<bool> {
    let lengths = values(n, seed);
    (0..n * len)
        .map(|i| {
            let valid = len / 2 + ((lengths[i / len] + 0.5) * (len / 2 + 1) as f32) as usize;
            i % len < valid.min(len)
        })
        .collect()
}

fn mining(n: usize) -> f64 {
    let video = unit_rows(values(n * D, 1), D);
    // Each caption near its clip (s(t_i, v_i) ≈ 0.8, as after training and as in
    // `scripts/compare-pytorch.sh`), so the positive-aware filter sees a real positive.
    let noise = unit_rows(values(n * D, 2), D);
    let text: Vec<f32> = video
        .chunks(D)
        .zip(noise.chunks(D))
        .flat_map(|(v, e)| v.iter().zip(e).map(|(v, e)| v + 0.75 * e))
        .collect();
    let text = unit_rows(text, D);
    let ids: Vec<usize> = (0..n).collect();
    let config = InstanceMinerConfig {
        k: 32,
        tau_sem: Some(0.9),
        beta_pos: Some(0.95),
        chunk: 256,
        ..InstanceMinerConfig::default()
    };
    let emb = Embeddings {
        video: &video,
        text: &text,
        n,
        dim: D,
    };
    let t0 = Instant::now();
    let mined = mine_instances(emb, &ids, &config);
    let seconds = t0.elapsed().as_secs_f64();
    std::hint::black_box(mined);
    seconds
}

fn gallery(n: usize) -> f64 {
    let device = Default::default();
    let (m, l) = (64, 32);
    let tokens = |len: usize, seed: u64| {
        let v = unit_rows(values(n * len * D, seed), D);
        Tensor::<Cpu, 3>::from_data(TensorData::new(v, [n, len, D]), &device)
    };
    let masks = |len: usize, seed: u64| {
        Tensor::<Cpu, 2, Bool>::from_data(TensorData::new(mask(n, len, seed), [n, len]), &device)
    };
    let (sign, sign_mask) = (tokens(m, 3), masks(m, 4));
    let (words, word_mask) = (tokens(l, 5), masks(l, 6));
    let config = ClclConfig::new()
        .with_tau_tok(0.07)
        .with_kernel(ClclKernel::Fused);
    let t0 = Instant::now();
    let scores = clcl_gallery(sign, sign_mask, words, word_mask, &config);
    let seconds = t0.elapsed().as_secs_f64();
    std::hint::black_box(scores);
    seconds
}

const USAGE: &str = "usage: scaling mining|gallery N";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, n) = match args.as_slice() {
        [what, n] => (what.as_str(), n.parse::<usize>().map_err(|_| USAGE)?),
        _ => return Err(USAGE.into()),
    };
    let seconds = match what {
        "mining" => mining(n),
        "gallery" => gallery(n),
        _ => return Err(USAGE.into()),
    };
    println!("{what} {n} {seconds:.3}");
    Ok(())
}
