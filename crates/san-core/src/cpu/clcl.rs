//! A fused, multi-threaded CPU kernel for CLCL gallery scoring (`DESIGN.md` §3.1).
//!
//! The tensor path (`similarity::clcl_gallery` with `ClclKernel::Tensor`) writes every token
//! similarity to
//! memory and then makes about a dozen passes over it. This kernel computes a tile of token
//! similarities with one GEMM (the `gemm` crate, which picks AVX2/AVX-512/NEON kernels at run
//! time), then reduces it in both directions in a single pass while it is still in cache:
//!
//! - masks are applied by compacting the valid clips and words first, so padding costs
//!   nothing;
//! - both softmaxes share one exponential per token pair, `x_ij = exp((E_ij − m)/τ)` with
//!   `m` the maximum of the video–text block (a softmax is unchanged by a constant shift);
//! - a row or column whose weights all underflow (possible only for unnormalised tokens and
//!   a very small `τ`) is recomputed exactly with its own maximum.
//!
//! Videos are scored in groups of about [`TILE_CLIPS`] valid clips, so one GEMM serves
//! several videos. Peak extra memory is one tile per thread: `TILE_CLIPS × TILE_WORDS`
//! floats (1 MiB, or one long video's clips × `TILE_WORDS`), plus the compacted copies of
//! the inputs. It computes values only (no gradients).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::gemm::matmul_nt;
use super::pool::run_workers;

/// Partial sums per row, so the reduction vectorises.
const LANES: usize = 16;
/// Token columns (words of consecutive texts) per GEMM tile.
const TILE_WORDS: usize = 512;
/// Clip rows (valid clips of consecutive videos) per GEMM tile: a worker scores a group of
/// videos at once, so the GEMM packs each block of words once per group instead of once per
/// video (measured on the 642 gallery: 4.27 s with one video per GEMM, 3.40 s in groups).
/// 512 × 512 × 4 B = 1 MiB of tile.
const TILE_CLIPS: usize = 512;

/// Row-major tokens `[n, len, dim]` with a validity mask `[n, len]`, on the host.
#[derive(Debug, Clone, Copy)]
pub struct HostTokens<'a> {
    /// `n · len · dim` values.
    pub values: &'a [f32],
    /// `n · len` flags, true for a real token.
    pub mask: &'a [bool],
    /// Number of items (videos or texts).
    pub n: usize,
    /// Tokens per item (M or L).
    pub len: usize,
    /// Token dimension D.
    pub dim: usize,
}

impl HostTokens<'_> {
    fn check(&self, what: &str) {
        assert!(
            self.values.len() == self.n * self.len * self.dim
                && self.mask.len() == self.n * self.len,
            "CLCL: {what} has {} values and {} mask flags, expected {}×{}×{} and {}×{}",
            self.values.len(),
            self.mask.len(),
            self.n,
            self.len,
            self.dim,
            self.n,
            self.len
        );
    }

    /// Valid token rows, packed, with per-item offsets into the packed rows.
    fn compact(&self) -> (Vec<f32>, Vec<usize>) {
        let mut rows = Vec::with_capacity(self.values.len());
        let mut offsets = Vec::with_capacity(self.n + 1);
        offsets.push(0);
        let mut count = 0;
        for item in 0..self.n {
            for t in 0..self.len {
                if self.mask[item * self.len + t] {
                    let start = (item * self.len + t) * self.dim;
                    rows.extend_from_slice(&self.values[start..start + self.dim]);
                    count += 1;
                }
            }
            offsets.push(count);
        }
        (rows, offsets)
    }
}

/// CLCL scores of every video against every text, `[Nv, Nt]` row-major, as `(v2t, t2v)`.
///
/// Same definition and result as [`clcl_gallery`](crate::similarity::clcl_gallery) (up to float
/// rounding), computed with a fused CPU kernel on `threads` threads (0 = all cores). An item
/// with no valid token scores NaN, which the metrics rank last.
///
/// # Panics
/// If the slice lengths disagree with the stated shapes or the token dims differ (a
/// contract between our components, not user input).
pub fn clcl_gallery_fused(
    sign: HostTokens<'_>,
    words: HostTokens<'_>,
    tau_tok: f64,
    threads: usize,
) -> (Vec<f32>, Vec<f32>) {
    sign.check("sign");
    words.check("words");
    assert_eq!(
        sign.dim, words.dim,
        "CLCL: token dims of sign and words differ"
    );
    let (nv, nt, d) = (sign.n, words.n, sign.dim);
    let (w_rows, w_off) = words.compact();
    let (s_rows, s_off) = sign.compact();
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .clamp(1, nv.max(1));
    let inv_tau = (1.0 / tau_tok) as f32;
    // Text blocks: consecutive texts whose valid words fit one tile. Video groups: the same
    // for videos' valid clips; their compacted rows are contiguous, so a group is one GEMM
    // operand.
    let blocks = runs(&w_off, TILE_WORDS);
    let groups = runs(&s_off, TILE_CLIPS);
    let next = AtomicUsize::new(0);
    let mut v2t = vec![0.0f32; nv * nt];
    let mut t2v = vec![0.0f32; nv * nt];
    let threads = threads.min(groups.len().max(1));
    let rows: Vec<(usize, Vec<f32>, Vec<f32>)> = run_workers(threads, || {
        let mut out = Vec::new();
        let mut tile = Vec::new();
        let mut scratch = Scratch::default();
        let arch = pulp::Arch::new();
        loop {
            let g = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(a0, a1)) = groups.get(g) else {
                break;
            };
            let (r0, r1) = (s_off[a0], s_off[a1]);
            let s = &s_rows[r0 * d..r1 * d];
            let mut rv = vec![f32::NAN; (a1 - a0) * nt];
            let mut rt = vec![f32::NAN; (a1 - a0) * nt];
            for &(b0, b1) in &blocks {
                let (c0, c1) = (w_off[b0], w_off[b1]);
                let nw = c1 - c0;
                if r1 == r0 || nw == 0 {
                    continue;
                }
                tile.clear();
                tile.resize((r1 - r0) * nw, 0.0);
                matmul_nt(&mut tile, s, &w_rows[c0 * d..c1 * d], r1 - r0, nw, d);
                arch.dispatch(ReduceTile {
                    tile: &tile,
                    clips: (&s_off[a0..=a1], r0),
                    words: (&w_off[b0..=b1], c0),
                    nt,
                    b0,
                    inv_tau,
                    scratch: &mut scratch,
                    out: (&mut rv, &mut rt),
                });
            }
            out.push((a0, rv, rt));
        }
        out
    });
    for (a0, rv, rt) in rows {
        v2t[a0 * nt..a0 * nt + rv.len()].copy_from_slice(&rv);
        t2v[a0 * nt..a0 * nt + rt.len()].copy_from_slice(&rt);
    }
    (v2t, t2v)
}

/// Consecutive items `(i0, i1)` whose rows (`offsets[i]..offsets[i + 1]`) add up to at most
/// `cap`; an item with more rows than `cap` stands alone.
fn runs(offsets: &[usize], cap: usize) -> Vec<(usize, usize)> {
    let n = offsets.len().saturating_sub(1);
    let mut out = Vec::new();
    let mut i0 = 0;
    while i0 < n {
        let mut i1 = i0 + 1;
        while i1 < n && offsets[i1 + 1] - offsets[i0] <= cap {
            i1 += 1;
        }
        out.push((i0, i1));
        i0 = i1;
    }
    out
}

/// The reduction of one GEMM tile: every video of the group against every text of the
/// block. Run through `pulp::Arch::dispatch`, so its loops are compiled for the widest
/// vector instructions the CPU has (AVX-512, AVX2 + FMA or the baseline), chosen at run
/// time; everything it calls is `#[inline(always)]` for that reason.
struct ReduceTile<'a> {
    /// Row-major `[clip rows of the group, words of the block]`.
    tile: &'a [f32],
    /// The group's clip offsets (one per video and one past the end) and its first row.
    clips: (&'a [usize], usize),
    /// The block's word offsets (one per text and one past the end) and its first column.
    words: (&'a [usize], usize),
    /// Texts in the gallery (the row stride of the outputs).
    nt: usize,
    /// The block's first text.
    b0: usize,
    inv_tau: f32,
    scratch: &'a mut Scratch,
    /// The group's rows of `(v2t, t2v)`.
    out: (&'a mut [f32], &'a mut [f32]),
}

impl pulp::WithSimd for ReduceTile<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let (s_off, r0) = self.clips;
        let (w_off, c0) = self.words;
        let nw = w_off[w_off.len() - 1] - c0;
        for a in 0..s_off.len() - 1 {
            let (i0, mv) = (s_off[a] - r0, s_off[a + 1] - s_off[a]);
            if mv == 0 {
                continue;
            }
            let rows_of_a = &self.tile[i0 * nw..(i0 + mv) * nw];
            for b in 0..w_off.len() - 1 {
                let (j0, j1) = (w_off[b] - c0, w_off[b + 1] - c0);
                if j1 > j0 {
                    let (x, y) =
                        reduce_block(rows_of_a, nw, mv, j0, j1, self.inv_tau, self.scratch);
                    self.out.0[a * self.nt + self.b0 + b] = x;
                    self.out.1[a * self.nt + self.b0 + b] = y;
                }
            }
        }
    }
}

#[derive(Default)]
struct Scratch {
    col_num: Vec<f32>,
    col_den: Vec<f32>,
}

/// Both CLCL directions of one video–text block: rows `0..mv` of `tile` (row stride
/// `stride`), columns `j0..j1`. Returns `(z_v2t, z_t2v)`.
#[inline(always)]
fn reduce_block(
    tile: &[f32],
    stride: usize,
    mv: usize,
    j0: usize,
    j1: usize,
    inv_tau: f32,
    scratch: &mut Scratch,
) -> (f32, f32) {
    let lv = j1 - j0;
    let row = |i: usize| &tile[i * stride + j0..i * stride + j1];
    let mut mx = f32::NEG_INFINITY;
    for i in 0..mv {
        mx = row(i).iter().fold(mx, |m, &e| m.max(e));
    }
    let shift = mx * inv_tau;
    scratch.col_num.clear();
    scratch.col_num.resize(lv, 0.0);
    scratch.col_den.clear();
    scratch.col_den.resize(lv, 0.0);
    let mut sum_rows = 0.0f32;
    let (col_num, col_den) = (&mut scratch.col_num[..lv], &mut scratch.col_den[..lv]);
    for i in 0..mv {
        let r = row(i);
        // Independent partial sums, so the loop vectorises without reassociating.
        let (mut num, mut den) = ([0.0f32; LANES], [0.0f32; LANES]);
        let mut chunks = r
            .chunks_exact(LANES)
            .zip(col_num.chunks_exact_mut(LANES))
            .zip(col_den.chunks_exact_mut(LANES));
        for ((e, cn), cd) in &mut chunks {
            let mut x = [0.0f32; LANES];
            for k in 0..LANES {
                x[k] = exp_nonpos(e[k] * inv_tau - shift);
            }
            for k in 0..LANES {
                let y = x[k] * e[k];
                num[k] += y;
                den[k] += x[k];
                cn[k] += y;
                cd[k] += x[k];
            }
        }
        let tail = lv - lv % LANES;
        for j in tail..lv {
            let x = exp_nonpos(r[j] * inv_tau - shift);
            num[0] += x * r[j];
            den[0] += x;
            col_num[j] += x * r[j];
            col_den[j] += x;
        }
        let (num, den): (f32, f32) = (num.iter().sum(), den.iter().sum());
        sum_rows += if den > f32::MIN_POSITIVE {
            num / den
        } else {
            exact_attention(r.iter().copied(), inv_tau)
        };
    }
    let mut sum_cols = 0.0f32;
    for j in 0..lv {
        let den = col_den[j];
        sum_cols += if den > f32::MIN_POSITIVE {
            col_num[j] / den
        } else {
            exact_attention((0..mv).map(|i| row(i)[j]), inv_tau)
        };
    }
    (sum_rows / mv as f32, sum_cols / lv as f32)
}

/// `Σ e · softmax(e/τ)` with the vector's own maximum (the slow, always-safe path).
fn exact_attention(values: impl Iterator<Item = f32> + Clone, inv_tau: f32) -> f32 {
    let mx = values.clone().fold(f32::NEG_INFINITY, f32::max) * inv_tau;
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for e in values {
        let x = (e * inv_tau - mx).exp();
        num += x * e;
        den += x;
    }
    num / den
}

/// `exp(x)` for `x ≤ 0`, accurate to a few ulp, written so the compiler can vectorise it
/// (Cody–Waite range reduction and a degree-6 polynomial, as in Cephes `expf`). Arguments
/// below −87 give 0, so an underflowing row is detected by its zero denominator.
#[inline(always)]
fn exp_nonpos(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let flush = x < -87.0;
    let x = x.max(-87.0);
    // Round to nearest with the 1.5·2^23 trick (`f32::round` is a libm call on baseline x86-64).
    const ROUNDER: f32 = 12_582_912.0;
    let t = x * LOG2E + ROUNDER;
    let n = t - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let poly = p * r * r + r + 1.0;
    // 2^n for n in [-126, 0]: the low bits of `t` hold n (plus ROUNDER's mantissa), so the
    // exponent is built with integer arithmetic alone (a float-to-int cast saturates and
    // would keep the loop scalar).
    let n_bits = t.to_bits().wrapping_sub(ROUNDER.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if flush { 0.0 } else { poly * scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host tokens with `len` slots per item, `n` taken from the mask.
    fn tokens<'a>(values: &'a [f32], mask: &'a [bool], len: usize, dim: usize) -> HostTokens<'a> {
        HostTokens {
            values,
            mask,
            n: mask.len() / len,
            len,
            dim,
        }
    }

    #[test]
    fn exp_nonpos_matches_std() {
        let mut worst = 0.0f32;
        for k in 0..=87_000 {
            let x = -(k as f32) / 1000.0;
            let rel = (exp_nonpos(x) - x.exp()).abs() / x.exp();
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(exp_nonpos(-87.5), 0.0);
    }

    #[test]
    fn one_clip_one_word_is_the_dot_product() {
        let s = [0.6f32, 0.8];
        let w = [0.8f32, 0.6];
        let st = tokens(&s, &[true], 1, 2);
        let wt = tokens(&w, &[true], 1, 2);
        let (v, t) = clcl_gallery_fused(st, wt, 0.07, 1);
        assert!((v[0] - 0.96).abs() < 1e-6 && (t[0] - 0.96).abs() < 1e-6);
    }

    #[test]
    fn empty_text_scores_nan_and_padding_is_ignored() {
        // Text 0: one valid word (0,1) plus a padded word equal to the clip; text 1: no words.
        let s = [1.0f32, 0.0];
        let w = [0.0f32, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let st = tokens(&s, &[true], 1, 2);
        let wt = tokens(&w, &[true, false, false, false], 2, 2);
        let (v, t) = clcl_gallery_fused(st, wt, 0.07, 2);
        assert!(v[0].abs() < 1e-7 && t[0].abs() < 1e-7, "{v:?} {t:?}");
        assert!(v[1].is_nan() && t[1].is_nan());
    }

    #[test]
    fn underflowing_rows_fall_back_to_their_own_maximum() {
        // Unnormalised tokens with a tiny τ: one clip's similarities are 100 below the other's,
        // so exp underflows for its whole row. Its attention must still be exact:
        // clip 0 sees E = (1, 0.5) → its softmax at τ=0.01 puts all weight on 1.0;
        // clip 1 sees E = (-99, -49.5) → all weight on -49.5. V2T = (1 − 49.5)/2 = −24.25
        // (hand arithmetic; the other weights are e^-50 ≈ 2e-22 and smaller).
        let s = [1.0f32, -99.0];
        let w = [1.0f32, 0.5];
        let st = tokens(&s, &[true, true], 2, 1);
        let wt = tokens(&w, &[true, true], 2, 1);
        let (v, _) = clcl_gallery_fused(st, wt, 0.01, 1);
        assert!((v[0] + 24.25).abs() < 1e-4, "{v:?}");
    }

    /// CLCL of one video–text pair straight from the definition, in float64: the mean over
    /// valid clips of each clip's softmax-weighted similarity to the valid words, and the
    /// same over words.
    fn naive(s: &[Vec<f64>], w: &[Vec<f64>], tau: f64) -> (f64, f64) {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let attend = |e: Vec<f64>| {
            let m = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let x: Vec<f64> = e.iter().map(|v| ((v - m) / tau).exp()).collect();
            x.iter().zip(&e).map(|(x, e)| x * e).sum::<f64>() / x.iter().sum::<f64>()
        };
        let v2t = s
            .iter()
            .map(|c| attend(w.iter().map(|t| dot(c, t)).collect()))
            .sum::<f64>();
        let t2v = w
            .iter()
            .map(|t| attend(s.iter().map(|c| dot(c, t)).collect()))
            .sum::<f64>();
        (v2t / s.len() as f64, t2v / w.len() as f64)
    }

    #[test]
    fn groups_of_videos_and_blocks_of_texts_score_every_pair_as_the_definition() {
        // 40 videos of up to 600 clip slots (so some groups hold one long video alone, others
        // several short ones, and video 3 has no valid clip) against 30 texts of up to 300
        // word slots (several texts per word block), D = 3, pseudo-random values.
        let (nv, mlen, nt, llen, d) = (40, 600, 30, 300, 3);
        let mut seed = 7u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let sv: Vec<f32> = (0..nv * mlen * d).map(|_| rnd() as f32).collect();
        let wv: Vec<f32> = (0..nt * llen * d).map(|_| rnd() as f32).collect();
        let valid = |item: usize, len: usize, k: usize| {
            let n = if item == 3 && len == mlen {
                0
            } else {
                (item * 37 + 5) % len + 1
            };
            k < n
        };
        let sm: Vec<bool> = (0..nv * mlen)
            .map(|i| valid(i / mlen, mlen, i % mlen))
            .collect();
        let wm: Vec<bool> = (0..nt * llen)
            .map(|i| valid(i / llen, llen, i % llen))
            .collect();
        let (v2t, t2v) = clcl_gallery_fused(
            tokens(&sv, &sm, mlen, d),
            tokens(&wv, &wm, llen, d),
            0.07,
            2,
        );
        let rows = |v: &[f32], m: &[bool], item: usize, len: usize| -> Vec<Vec<f64>> {
            (0..len)
                .filter(|&k| m[item * len + k])
                .map(|k| {
                    (0..d)
                        .map(|c| f64::from(v[(item * len + k) * d + c]))
                        .collect()
                })
                .collect()
        };
        for a in 0..nv {
            let s = rows(&sv, &sm, a, mlen);
            for b in 0..nt {
                let (x, y) = (v2t[a * nt + b], t2v[a * nt + b]);
                if s.is_empty() {
                    assert!(x.is_nan() && y.is_nan(), "video {a} has no clip");
                    continue;
                }
                let (ex, ey) = naive(&s, &rows(&wv, &wm, b, llen), 0.07);
                assert!((f64::from(x) - ex).abs() < 1e-5, "v2t {a},{b}: {x} vs {ex}");
                assert!((f64::from(y) - ey).abs() < 1e-5, "t2v {a},{b}: {y} vs {ey}");
            }
        }
    }
}
