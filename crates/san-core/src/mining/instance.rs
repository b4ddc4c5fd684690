//! Instance-level hard-negative mining (`DESIGN.md` §3.4): for each anchor, the K nearest
//! other items in sign space (or, as the baseline, in text space), after excluding items
//! that are not true negatives.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use crate::cpu::matmul_nt;

/// Which similarity ranks the candidates of an anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MiningSpace {
    /// `s(v_i, v_j)`: clips that look alike (SAN).
    SignAware,
    /// `s(t_i, t_j)`: captions that read alike (the baseline).
    Semantic,
}

/// How K items are taken from the ranked window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sampling {
    /// The K best of the window, in rank order.
    Top,
    /// K distinct items drawn uniformly from the window, seeded per anchor (so the result
    /// does not depend on the thread count), returned in rank order.
    Random,
}

/// Settings of the instance miner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceMinerConfig {
    /// Ranking space.
    pub space: MiningSpace,
    /// Neighbours per anchor.
    pub k: usize,
    /// Ranked candidates skipped before the window (0 = start at the nearest).
    pub skip_top: usize,
    /// End of the window in the ranked list (exclusive); `None` means `skip_top + k`.
    pub pool: Option<usize>,
    /// Exclude `j` when `s(t_i, t_j) ≥ tau_sem` (near-paraphrases are not negatives).
    pub tau_sem: Option<f32>,
    /// Positive-aware exclusion: drop `j` when `s(t_i, v_j) > beta_pos · s(t_i, v_i)`.
    pub beta_pos: Option<f32>,
    /// Top or seeded random within the window.
    pub sampling: Sampling,
    /// Seed of [`Sampling::Random`].
    pub seed: u64,
    /// Anchors scored at once; memory is `O(N·K + chunk·N)`.
    pub chunk: usize,
    /// Worker threads; 0 uses every core.
    pub threads: usize,
}

impl Default for InstanceMinerConfig {
    fn default() -> Self {
        Self {
            space: MiningSpace::SignAware,
            k: 32,
            skip_top: 0,
            pool: None,
            tau_sem: Some(0.9),
            beta_pos: None,
            sampling: Sampling::Top,
            seed: 7,
            chunk: 256,
            threads: 0,
        }
    }
}

/// Mined neighbours of every anchor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinedNeighbours {
    /// `indices[i]`: the neighbours of anchor `i`, best first. Shorter than K when fewer
    /// candidates survive the exclusions (never padded).
    pub indices: Vec<Vec<usize>>,
    /// The ranking score of each neighbour, aligned with `indices`.
    pub scores: Vec<Vec<f32>>,
}

/// Row-major unit embeddings `[n, dim]` of the videos (pooled sign) and texts of a corpus.
#[derive(Debug, Clone, Copy)]
pub struct Embeddings<'a> {
    /// Video embeddings, `n · dim`, rows L2-normalised.
    pub video: &'a [f32],
    /// Text embeddings, `n · dim`, rows L2-normalised; item `i`'s caption.
    pub text: &'a [f32],
    /// Items.
    pub n: usize,
    /// Embedding dimension.
    pub dim: usize,
}

/// Mines up to `config.k` negatives per anchor (`DESIGN.md` §3.4).
///
/// Candidates `j` of anchor `i` are ranked by score descending, then index ascending, after
/// excluding `i` itself, items with the same `text_ids` entry, and (when set) the `tau_sem`
/// and `beta_pos` filters. The window `[skip_top, pool)` of that ranking is then sampled.
///
/// # Panics
/// If the slice lengths disagree with `n` and `dim` (a contract between our components).
pub fn mine_instances(
    emb: Embeddings<'_>,
    text_ids: &[usize],
    config: &InstanceMinerConfig,
) -> MinedNeighbours {
    let (n, d) = (emb.n, emb.dim);
    assert!(
        emb.video.len() == n * d && emb.text.len() == n * d && text_ids.len() == n,
        "mine_instances: expected {n}×{d} embeddings and {n} text ids"
    );
    let chunk = config.chunk.max(1);
    let window_end = config.pool.unwrap_or(config.skip_top + config.k);
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |t| t.get()),
        t => t,
    }
    .clamp(1, n.div_ceil(chunk).max(1));
    // s(t_i, v_i) for the positive-aware filter.
    let positive: Vec<f32> = (0..n)
        .map(|i| {
            dot(
                &emb.text[i * d..(i + 1) * d],
                &emb.video[i * d..(i + 1) * d],
            )
        })
        .collect();
    let next = AtomicUsize::new(0);
    let mut indices = vec![Vec::new(); n];
    let mut scores = vec![Vec::new(); n];
    let results: Vec<(usize, Vec<usize>, Vec<f32>)> =
        crate::cpu::pool::run_workers(threads, || {
            let mut out = Vec::new();
            let (mut rank, mut sem, mut pos) = (Vec::new(), Vec::new(), Vec::new());
            let mut cand: Vec<(f32, usize)> = Vec::with_capacity(n);
            loop {
                let start = next.fetch_add(chunk, Ordering::Relaxed);
                if start >= n {
                    break;
                }
                let c = chunk.min(n - start);
                let anchors = start * d..(start + c) * d;
                let (anchor_rank, gallery_rank) = match config.space {
                    MiningSpace::SignAware => (&emb.video[anchors.clone()], emb.video),
                    MiningSpace::Semantic => (&emb.text[anchors.clone()], emb.text),
                };
                let anchor_text = &emb.text[anchors];
                rank.resize(c * n, 0.0);
                matmul_nt(&mut rank, anchor_rank, gallery_rank, c, n, d);
                // Semantic ranking already holds s(t_i, t_j).
                let reuse = config.space == MiningSpace::Semantic;
                if config.tau_sem.is_some() && !reuse {
                    sem.resize(c * n, 0.0);
                    matmul_nt(&mut sem, anchor_text, emb.text, c, n, d);
                }
                let sem_scores: &[f32] = if reuse { &rank } else { &sem };
                if config.beta_pos.is_some() {
                    pos.resize(c * n, 0.0);
                    matmul_nt(&mut pos, anchor_text, emb.video, c, n, d);
                }
                for a in 0..c {
                    let i = start + a;
                    let row = a * n..(a + 1) * n;
                    cand.clear();
                    for (j, &s) in rank[row.clone()].iter().enumerate() {
                        let excluded = j == i
                            || text_ids[j] == text_ids[i]
                            || config
                                .tau_sem
                                .is_some_and(|t| sem_scores[row.start + j] >= t)
                            || config
                                .beta_pos
                                .is_some_and(|b| pos[row.start + j] > b * positive[i]);
                        if !excluded && !s.is_nan() {
                            cand.push((s, j));
                        }
                    }
                    let picked = take_window(&mut cand, config, window_end, i);
                    out.push((
                        i,
                        picked.iter().map(|&(_, j)| j).collect(),
                        picked.iter().map(|&(s, _)| s).collect(),
                    ));
                }
            }
            out
        });
    for (i, idx, sc) in results {
        indices[i] = idx;
        scores[i] = sc;
    }
    MinedNeighbours { indices, scores }
}

/// Score descending, then index ascending.
fn better(a: &(f32, usize), b: &(f32, usize)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// The ranked window `[skip_top, window_end)` of `cand`, sampled per the config.
fn take_window(
    cand: &mut [(f32, usize)],
    config: &InstanceMinerConfig,
    window_end: usize,
    anchor: usize,
) -> Vec<(f32, usize)> {
    let end = window_end.min(cand.len());
    if end <= config.skip_top || config.k == 0 {
        return Vec::new();
    }
    if end < cand.len() {
        cand.select_nth_unstable_by(end, better);
    }
    let head = &mut cand[..end];
    head.sort_unstable_by(better);
    let window = &head[config.skip_top..];
    match config.sampling {
        Sampling::Top => window.iter().take(config.k).copied().collect(),
        Sampling::Random => {
            let mut rng = StdRng::seed_from_u64(
                config.seed ^ (anchor as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut picks = sample(&mut rng, window.len(), config.k.min(window.len())).into_vec();
            picks.sort_unstable();
            picks.into_iter().map(|p| window[p]).collect()
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(k: usize) -> InstanceMinerConfig {
        InstanceMinerConfig {
            k,
            tau_sem: None,
            beta_pos: None,
            chunk: 2,
            threads: 2,
            ..InstanceMinerConfig::default()
        }
    }

    /// Four unit items: video angles 0°, 10°, 90°, 180° (exact where possible); texts
    /// equal to the videos.
    fn circle() -> Vec<f32> {
        let r = 10f32.to_radians();
        vec![1.0, 0.0, r.cos(), r.sin(), 0.0, 1.0, -1.0, 0.0]
    }

    /// 2-d items whose texts equal their videos.
    fn same(v: &[f32]) -> Embeddings<'_> {
        Embeddings {
            video: v,
            text: v,
            n: v.len() / 2,
            dim: 2,
        }
    }

    #[test]
    fn nearest_first_with_ties_by_index() {
        // Hand geometry: from 0°, item 1 (cos 10° = 0.985), then item 2 (0), then 3 (−1).
        // From 90°: item 1 (sin 10° = 0.174), then items 0 and 3 tied at exactly 0.
        let v = circle();
        let emb = same(&v);
        let m = mine_instances(emb, &[0, 1, 2, 3], &cfg(3));
        assert_eq!(m.indices[0], vec![1, 2, 3]);
        assert_eq!(m.indices[2], vec![1, 0, 3]);
        assert!((m.scores[0][0] - 10f32.to_radians().cos()).abs() < 1e-6);
        assert!(m.scores[0][2] < 0.0, "negative scores rank last");
        // Exact tie: two identical items 1 and 2 seen from item 0 → index order.
        let v = vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let emb = same(&v);
        assert_eq!(
            mine_instances(emb, &[0, 1, 2], &cfg(2)).indices[0],
            vec![1, 2]
        );
    }

    #[test]
    fn exclusions_and_short_lists() {
        let v = circle();
        let emb = same(&v);
        // Items 0 and 1 share a text: neither mines the other.
        let m = mine_instances(emb, &[5, 5, 2, 3], &cfg(3));
        assert_eq!(
            m.indices[0],
            vec![2, 3],
            "fewer candidates than asked: a shorter list"
        );
        // τ_sem = 0.5 drops item 1 (text cos 0.985) from item 0's list.
        let sem = InstanceMinerConfig {
            tau_sem: Some(0.5),
            ..cfg(3)
        };
        assert_eq!(
            mine_instances(emb, &[0, 1, 2, 3], &sem).indices[0],
            vec![2, 3]
        );
        // Positive-aware with β = 0.5: s(t_0, v_j) > 0.5 · s(t_0, v_0) = 0.5 drops item 1.
        let pos = InstanceMinerConfig {
            beta_pos: Some(0.5),
            ..cfg(3)
        };
        assert_eq!(
            mine_instances(emb, &[0, 1, 2, 3], &pos).indices[0],
            vec![2, 3]
        );
    }

    #[test]
    fn window_and_random_sampling() {
        let v = circle();
        let emb = same(&v);
        let skip = InstanceMinerConfig {
            skip_top: 1,
            ..cfg(1)
        };
        assert_eq!(
            mine_instances(emb, &[0, 1, 2, 3], &skip).indices[0],
            vec![2]
        );
        let random = InstanceMinerConfig {
            sampling: Sampling::Random,
            pool: Some(3),
            ..cfg(2)
        };
        let a = mine_instances(emb, &[0, 1, 2, 3], &random);
        let b = mine_instances(
            emb,
            &[0, 1, 2, 3],
            &InstanceMinerConfig {
                threads: 1,
                chunk: 3,
                ..random.clone()
            },
        );
        assert_eq!(a, b, "seeded per anchor: independent of threads and chunks");
        assert!(a.indices.iter().all(|r| r.len() == 2));
    }
}
