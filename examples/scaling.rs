//! How time grows with the corpus: `scripts/scaling.sh` runs this once per size, under
//! `/usr/bin/time` for the peak memory.
//!
//! - `cargo run --release --example scaling -- mining N`: sign-aware instance mining
//!   (`mine_instances`, K = 32, chunks of 256 rows, τ_sem 0.9, β_pos 0.95) over N random
//!   unit video embeddings of D = 512 and captions near them, every caption distinct;
//! - `… -- gallery N`: the CLCL score of an N × N gallery (M = 64 clips, L = 32 words,
//!   D = 512, each item with a random length between half and all of its slots) with the
//!   fused kernel on the build's CPU backend;
//! - `… -- table N`: the SAN table over N training captions (reliable pairs, then the word
//!   links), as the criterion bench `san_table` builds it.
//!
//! Prints one line: `<what> <N> <seconds>` (one timed run after none: these sizes take
//! seconds to minutes, so a warm-up would double the wall time).

use std::error::Error;
use std::time::Instant;

use burn::tensor::{Bool, Tensor, TensorData};
use san::backend::Cpu;
use san::san_core::mining::{
    Aggregation, ConfusabilityTable, Embeddings, InstanceMinerConfig, ReliablePairs, TableConfig,
    mine_instances,
};
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

/// The SAN table over `n` training captions (`DESIGN.md` §3.3): reliable pairs of 32 words ×
/// 64 clips at D = 512 in batches of 128 (α = 0.7; each word planted near one clip of its
/// video, so almost every occurrence is reliable, as after training), over PHOENIX-2014T's
/// 2,887-word training vocabulary, then the word links (`Aggregation::Mean`, 16 features
/// kept per word, β = 0.7).
fn table(n: usize) -> f64 {
    let device = Default::default();
    let (m, l, batch, vocab) = (64, 32, 128, 2887);
    // Four distinct batches, cycled (the cost does not depend on the values).
    let batches: Vec<_> = (0..4u64)
        .map(|k| {
            let sign = unit_rows(values(batch * m * D, 20 + k), D);
            let noise = unit_rows(values(batch * l * D, 30 + k), D);
            let clip = values(batch * l, 40 + k);
            let words: Vec<f32> = (0..batch * l)
                .flat_map(|w| {
                    let c = ((clip[w] + 0.5) * m as f32) as usize % m;
                    let row = ((w / l) * m + c) * D;
                    let (s, e) = (&sign[row..row + D], &noise[w * D..(w + 1) * D]);
                    s.iter()
                        .zip(e)
                        .map(|(s, e)| s + 0.3 * e)
                        .collect::<Vec<_>>()
                })
                .collect();
            let tensor = |v: Vec<f32>, len: usize| {
                Tensor::<Cpu, 3>::from_data(TensorData::new(v, [batch, len, D]), &device)
            };
            (tensor(sign, m), tensor(unit_rows(words, D), l))
        })
        .collect();
    let word_ids = values(n * l, 50);
    let ids: Vec<Vec<Option<usize>>> = word_ids
        .chunks(l)
        .map(|c| {
            c.iter()
                .map(|&u| Some(((u + 0.5) * vocab as f32) as usize % vocab))
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..vocab).map(|i| format!("w{i}")).collect();
    let mask = Tensor::<Cpu, 2, Bool>::ones([batch, m], &device);
    let config = TableConfig::new().with_aggregation(Aggregation::Mean);
    let t0 = Instant::now();
    let mut pairs = ReliablePairs::new(16);
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
    let table = ConfusabilityTable::sign_aware(&pairs, &names, &config, None);
    let seconds = t0.elapsed().as_secs_f64();
    std::hint::black_box(table);
    seconds
}

const USAGE: &str = "usage: scaling mining|gallery|table N";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, n) = match args.as_slice() {
        [what, n] => (what.as_str(), n.parse::<usize>().map_err(|_| USAGE)?),
        _ => return Err(USAGE.into()),
    };
    let seconds = match what {
        "mining" => mining(n),
        "gallery" => gallery(n),
        "table" => table(n),
        _ => return Err(USAGE.into()),
    };
    println!("{what} {n} {seconds:.3}");
    Ok(())
}
