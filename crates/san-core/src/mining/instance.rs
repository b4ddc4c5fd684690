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
    // Unfiltered candidates kept per anchor: twice the window when filters are on, so that
    // a few exclusions among the nearest still leave a full window.
    let filters = config.tau_sem.is_some() || config.beta_pos.is_some();
    let nearest_keep = if filters { 2 * window_end } else { window_end };
    let results: Vec<(usize, Vec<usize>, Vec<f32>)> =
        crate::cpu::pool::run_workers(threads, || {
            let mut out = Vec::new();
            let (mut rank, mut sem, mut pos, mut lhs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut nearest = TopWindow::new(nearest_keep);
            let mut eager = TopWindow::new(window_end);
            let mut kept: Vec<(f32, usize)> = Vec::with_capacity(window_end);
            let mut retry = Vec::new();
            let mut emit = |i: usize, kept: &mut Vec<(f32, usize)>| {
                let picked = take_window(kept, config, window_end, i);
                out.push((
                    i,
                    picked.iter().map(|&(_, j)| j).collect(),
                    picked.iter().map(|&(s, _)| s).collect(),
                ));
            };
            loop {
                let start = next.fetch_add(chunk, Ordering::Relaxed);
                if start >= n {
                    break;
                }
                let c = chunk.min(n - start);
                let anchors = start * d..(start + c) * d;
                let (anchor_rank, gallery_rank) = match config.space {
                    MiningSpace::SignAware => (&emb.video[anchors.clone()], emb.video),
                    MiningSpace::Semantic => (&emb.text[anchors], emb.text),
                };
                rank.resize(c * n, 0.0);
                matmul_nt(&mut rank, anchor_rank, gallery_rank, c, n, d);
                // Pass 1: the nearest candidates of each anchor, then the filters (a dot
                // product each) in rank order until the window is full.
                retry.clear();
                for a in 0..c {
                    let i = start + a;
                    let text_i = &emb.text[i * d..(i + 1) * d];
                    let filtered = |j: usize, s: f32| {
                        filtered_out(
                            config,
                            s,
                            positive[i],
                            || dot(text_i, &emb.text[j * d..(j + 1) * d]),
                            || dot(text_i, &emb.video[j * d..(j + 1) * d]),
                        )
                    };
                    nearest.clear();
                    for (j, &s) in rank[a * n..(a + 1) * n].iter().enumerate() {
                        if nearest.admits(s) && j != i && text_ids[j] != text_ids[i] {
                            nearest.push(s, j);
                        }
                    }
                    let (ranked, exhaustive) = nearest.ranked();
                    kept.clear();
                    let survivors = ranked.iter().filter(|&&(s, j)| !filtered(j, s));
                    kept.extend(survivors.take(window_end).copied());
                    if kept.len() < window_end && !exhaustive {
                        retry.push(a);
                    } else {
                        emit(i, &mut kept);
                    }
                }
                if retry.is_empty() {
                    continue;
                }
                // Pass 2, for anchors whose nearest were mostly filtered out: the filter
                // scores of every candidate by matrix products, then a filtered scan.
                lhs.clear();
                for &a in &retry {
                    let i = start + a;
                    lhs.extend_from_slice(&emb.text[i * d..(i + 1) * d]);
                }
                let r = retry.len();
                let need_sem = config.tau_sem.is_some() && config.space == MiningSpace::SignAware;
                if need_sem {
                    sem.resize(r * n, 0.0);
                    matmul_nt(&mut sem, &lhs, emb.text, r, n, d);
                }
                if config.beta_pos.is_some() {
                    pos.resize(r * n, 0.0);
                    matmul_nt(&mut pos, &lhs, emb.video, r, n, d);
                }
                for (q, &a) in retry.iter().enumerate() {
                    let i = start + a;
                    let row = q * n..(q + 1) * n;
                    let filtered = |j: usize, s: f32| {
                        filtered_out(
                            config,
                            s,
                            positive[i],
                            || sem[row.start + j],
                            || pos[row.start + j],
                        )
                    };
                    eager.clear();
                    for (j, &s) in rank[a * n..(a + 1) * n].iter().enumerate() {
                        if eager.admits(s)
                            && j != i
                            && text_ids[j] != text_ids[i]
                            && !filtered(j, s)
                        {
                            eager.push(s, j);
                        }
                    }
                    kept.clear();
                    kept.extend_from_slice(eager.ranked().0);
                    emit(i, &mut kept);
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

/// Whether candidate `j` of anchor `i` is excluded by τ_sem or β_pos, given its ranking
/// score `s`, `s(t_i, v_i)` and where its `s(t_i, t_j)` and `s(t_i, v_j)` come from (each
/// evaluated only when its filter is on; semantic ranking already scores `s(t_i, t_j)`).
fn filtered_out(
    config: &InstanceMinerConfig,
    s: f32,
    positive: f32,
    sem: impl FnOnce() -> f32,
    pos: impl FnOnce() -> f32,
) -> bool {
    config.tau_sem.is_some_and(|t| {
        let sem = match config.space {
            MiningSpace::Semantic => s,
            MiningSpace::SignAware => sem(),
        };
        sem >= t
    }) || config.beta_pos.is_some_and(|b| pos() > b * positive)
}

/// The `keep` best (score, index) pairs seen so far, in a buffer of `4·keep` that is cut
/// back to them whenever it fills: a candidate below the `keep`-th best score so far can no
/// longer be among the `keep` best, so it is refused with one comparison.
struct TopWindow {
    keep: usize,
    /// The buffer's length at which it is cut back to `keep`: `4·keep`.
    limit: usize,
    buf: Vec<(f32, usize)>,
    /// The `keep`-th best score after the last cut (−∞ before the first).
    threshold: f32,
}

impl TopWindow {
    fn new(keep: usize) -> Self {
        let limit = 4 * keep.max(1);
        Self {
            keep,
            limit,
            buf: Vec::with_capacity(limit),
            threshold: f32::NEG_INFINITY,
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.threshold = f32::NEG_INFINITY;
    }

    /// Whether a candidate of score `s` may still be among the `keep` best. NaN never is.
    /// A score equal to the threshold is admitted, since the index breaks the tie.
    #[inline]
    fn admits(&self, s: f32) -> bool {
        self.keep > 0 && s >= self.threshold
    }

    fn push(&mut self, s: f32, j: usize) {
        self.buf.push((s, j));
        if self.buf.len() == self.limit {
            self.buf.select_nth_unstable_by(self.keep - 1, better);
            self.threshold = self.buf[self.keep - 1].0;
            self.buf.truncate(self.keep);
        }
    }

    /// The `keep` best candidates pushed, best first, and whether they are all that were
    /// pushed (fewer than `keep` arrived).
    fn ranked(&mut self) -> (&[(f32, usize)], bool) {
        self.buf.sort_unstable_by(better);
        let exhaustive = self.buf.len() < self.keep;
        self.buf.truncate(self.keep);
        (&self.buf, exhaustive)
    }
}

/// Score descending, then index ascending. −0 and +0 are one score (a zero dot product
/// takes either sign depending on the summation order); NaN never reaches this.
fn better(a: &(f32, usize), b: &(f32, usize)) -> std::cmp::Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.1.cmp(&b.1))
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

/// `⟨a, b⟩` over 16 independent partial sums, which the compiler keeps in vector
/// registers (a single running sum would wait on each addition in turn).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_blocks.zip(b_blocks) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
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
    /// Every candidate scored and sorted in full: the definition of `DESIGN.md` §3.4
    /// written out directly, as the independent reference for the pruned scan.
    fn brute_force(
        emb: Embeddings<'_>,
        ids: &[usize],
        config: &InstanceMinerConfig,
    ) -> Vec<Vec<usize>> {
        let d = emb.dim;
        let row = |m: &[f32], i: usize| m[i * d..(i + 1) * d].to_vec();
        (0..emb.n)
            .map(|i| {
                let anchor = match config.space {
                    MiningSpace::SignAware => row(emb.video, i),
                    MiningSpace::Semantic => row(emb.text, i),
                };
                let gallery = match config.space {
                    MiningSpace::SignAware => emb.video,
                    MiningSpace::Semantic => emb.text,
                };
                let ti = row(emb.text, i);
                let positive = dot(&ti, &row(emb.video, i));
                let mut all: Vec<(f32, usize)> = (0..emb.n)
                    .filter(|&j| j != i && ids[j] != ids[i])
                    .filter(|&j| {
                        config
                            .tau_sem
                            .is_none_or(|t| dot(&ti, &row(emb.text, j)) < t)
                    })
                    .filter(|&j| {
                        config
                            .beta_pos
                            .is_none_or(|b| dot(&ti, &row(emb.video, j)) <= b * positive)
                    })
                    .map(|j| (dot(&anchor, &row(gallery, j)), j))
                    .collect();
                all.sort_by(better);
                all.iter()
                    .skip(config.skip_top)
                    .take(config.k)
                    .map(|&(_, j)| j)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn pruned_scan_equals_full_sort() {
        // 300 items in 3 dimensions with scores on a coarse grid (values in {-2..2}/2), so
        // ties are everywhere and the index order decides; repeated text ids and both
        // filters on. The buffer of 4·K is cut back many times per anchor.
        let n = 300;
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 5) as f32 / 2.0 - 1.0
        };
        let video: Vec<f32> = (0..n * 3).map(|_| next()).collect();
        let text: Vec<f32> = (0..n * 3).map(|_| next()).collect();
        let ids: Vec<usize> = (0..n).map(|i| i % 250).collect();
        let emb = Embeddings {
            video: &video,
            text: &text,
            n,
            dim: 3,
        };
        for space in [MiningSpace::SignAware, MiningSpace::Semantic] {
            for (k, skip_top, tau_sem, beta_pos) in [
                (5, 0, None, None),
                (8, 3, Some(0.75), None),
                (16, 0, Some(1.0), Some(0.5)),
                (1, 0, None, Some(0.0)),
            ] {
                let config = InstanceMinerConfig {
                    space,
                    k,
                    skip_top,
                    tau_sem,
                    beta_pos,
                    chunk: 7,
                    threads: 2,
                    ..InstanceMinerConfig::default()
                };
                let mined = mine_instances(emb, &ids, &config);
                assert_eq!(mined.indices, brute_force(emb, &ids, &config), "{config:?}");
            }
        }
    }
}
