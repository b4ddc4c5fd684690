//! Confusability tables (`DESIGN.md` §3.3): the sign-aware table of SAN, built from reliable
//! sign–word pairs, and the semantic (text-space) table it is compared against; their
//! summary statistics, JSON form and diagnostics against ground truth.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::config::Config;
use serde::{Deserialize, Serialize};

use super::reliable::ReliablePairs;
use crate::cpu::matmul_nt;
use crate::cpu::pool::run_workers;

/// How the sign features of a word are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Aggregation {
    /// Compare per-word mean prototypes (the default).
    #[default]
    Mean,
    /// Link two words when any pair of their kept features is above β.
    Any,
}

/// Settings shared by the sign-aware and the semantic table.
#[derive(Config, Debug)]
pub struct TableConfig {
    /// Link threshold on the cosine of sign features, `β`.
    #[config(default = 0.7)]
    pub beta: f64,
    /// How per-word features are aggregated.
    #[config(default = "Aggregation::Mean")]
    pub aggregation: Aggregation,
    /// Keep at most this many links per word, best first (`None`: all above β).
    #[config(default = "None")]
    pub top_k: Option<usize>,
    /// Drop a link whose text similarity is at or above this (false-negative control).
    #[config(default = "None")]
    pub tau_syn: Option<f64>,
    /// Words never placed in the table.
    #[config(default = "Vec::new()")]
    pub stop_words: Vec<String>,
    /// Minimum reliable pairs for a word to enter the table.
    #[config(default = 1)]
    pub min_count: usize,
    /// Worker threads for the link search (0: all available cores).
    #[config(default = 0)]
    pub threads: usize,
}

/// Similarity of two words in a text space (`None` when either is unknown).
pub type TextSimilarity<'a> = &'a dyn Fn(&str, &str) -> Option<f32>;

/// A word → confusable words table. Links are symmetric, never join a word to itself, and
/// each list is sorted by score descending, then by word.
///
/// Serialises (serde) as `{"word": [["other", score], …], …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfusabilityTable {
    /// word → [(confusable word, score)]
    pub links: BTreeMap<String, Vec<(String, f32)>>,
}

impl ConfusabilityTable {
    /// Builds SAN's sign-aware table from reliable pairs.
    ///
    /// Words are the ids collected in `pairs`, named by `vocab[id]`; ids outside `vocab`,
    /// stop words and words with fewer than `min_count` pairs are left out. Two different
    /// words are linked when the cosine of their sign features is above `β`: of the mean
    /// prototypes (`Aggregation::Mean`), or the best pair of kept features
    /// (`Aggregation::Any`). `text_sim`, when given with `tau_syn`, scores two words in a
    /// text space; links at or above `tau_syn` are dropped as likely synonyms.
    pub fn sign_aware(
        pairs: &ReliablePairs,
        vocab: &[String],
        config: &TableConfig,
        text_sim: Option<TextSimilarity<'_>>,
    ) -> Self {
        let stop: BTreeSet<&str> = config.stop_words.iter().map(String::as_str).collect();
        let mut words: Vec<&str> = Vec::new();
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (&id, f) in pairs.words() {
            if f.count < config.min_count {
                continue;
            }
            let Some(word) = vocab.get(id).map(String::as_str) else {
                continue;
            };
            if stop.contains(word) {
                continue;
            }
            let feats: Vec<Vec<f32>> = match config.aggregation {
                Aggregation::Mean => vec![normalized(&f.sum)],
                Aggregation::Any => f.samples.iter().map(|s| normalized(s)).collect(),
            };
            owner.extend(std::iter::repeat_n(words.len(), feats.len()));
            rows.extend(feats);
            words.push(word);
        }
        let mut links: BTreeMap<String, Vec<(String, f32)>> = BTreeMap::new();
        for (a, b, score) in best_pairs_above(&rows, &owner, config.beta, config.threads) {
            let (wa, wb) = (words[a], words[b]);
            if wa == wb {
                continue;
            }
            if let (Some(tau), Some(sim)) = (config.tau_syn, text_sim)
                && sim(wa, wb).is_some_and(|s| f64::from(s) >= tau)
            {
                continue;
            }
            link(&mut links, wa, wb, score);
        }
        Self::finish(links, config.top_k)
    }

    /// Builds the semantic baseline table from any word → vector map (FastText `.vec`
    /// vectors, or the text encoder's own word embeddings): words linked by the cosine of
    /// their vectors above `β`, with the same top-k and stop-word options. `tau_syn` drops
    /// links at or above it, so the window `(β, τ_syn)` keeps related words and not
    /// synonyms. `aggregation` and `min_count` do not apply; vectors whose length
    /// differs from the first word's are skipped.
    pub fn semantic(vectors: &BTreeMap<String, Vec<f32>>, config: &TableConfig) -> Self {
        let stop: BTreeSet<&str> = config.stop_words.iter().map(String::as_str).collect();
        let dim = vectors.values().next().map_or(0, Vec::len);
        let (words, rows): (Vec<&str>, Vec<Vec<f32>>) = vectors
            .iter()
            .filter(|(w, v)| !stop.contains(w.as_str()) && !v.is_empty() && v.len() == dim)
            .map(|(w, v)| (w.as_str(), normalized(v)))
            .unzip();
        let owner: Vec<usize> = (0..rows.len()).collect();
        let mut links: BTreeMap<String, Vec<(String, f32)>> = BTreeMap::new();
        for (a, b, score) in best_pairs_above(&rows, &owner, config.beta, config.threads) {
            if config.tau_syn.is_some_and(|t| f64::from(score) >= t) {
                continue;
            }
            link(&mut links, words[a], words[b], score);
        }
        Self::finish(links, config.top_k)
    }

    /// A table holding the given unordered pairs, both ways, all with `score` (e.g. a
    /// ground truth). Pairs of a word with itself are skipped.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = &'a (String, String)>,
        score: f32,
    ) -> Self {
        let mut links = BTreeMap::new();
        for (a, b) in pairs {
            if a != b {
                link(&mut links, a, b, score);
            }
        }
        Self::finish(links, None)
    }

    fn finish(mut links: BTreeMap<String, Vec<(String, f32)>>, top_k: Option<usize>) -> Self {
        for list in links.values_mut() {
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            // Two vocabulary ids with one name: keep the word's best link only.
            let mut seen = BTreeSet::new();
            list.retain(|(w, _)| seen.insert(w.clone()));
            if let Some(k) = top_k {
                list.truncate(k);
            }
        }
        links.retain(|_, l| !l.is_empty());
        Self { links }
    }

    /// The confusable words of `word`, best first (empty when absent).
    pub fn confusable(&self, word: &str) -> &[(String, f32)] {
        self.links.get(word).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of words with at least one link.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// True when no word has a link.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Unordered linked word pairs `(a, b)` with `a < b`.
    pub fn pairs(&self) -> BTreeSet<(String, String)> {
        self.links
            .iter()
            .flat_map(|(a, l)| l.iter().map(move |(b, _)| ordered(a, b)))
            .collect()
    }
}

/// For every two different owners `a < b` whose best row pair has cosine above `beta`:
/// `(a, b, best)`. Rows are unit vectors of equal length; `owner[r]` groups them and never
/// decreases with `r`, so each block needs only the columns from its own first row on.
///
/// The Gram matrix is computed block by block (`gemm`), so memory stays at
/// `BLOCK × rows` floats plus the links found.
fn best_pairs_above(
    rows: &[Vec<f32>],
    owner: &[usize],
    beta: f64,
    threads: usize,
) -> Vec<(usize, usize, f32)> {
    const BLOCK: usize = 128;
    let r = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if r < 2 || d == 0 {
        return Vec::new();
    }
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let next = AtomicUsize::new(0);
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let found = run_workers(threads.min(r.div_ceil(BLOCK)), || {
        let mut out = Vec::new();
        let mut gram = Vec::new();
        loop {
            let start = next.fetch_add(BLOCK, Ordering::Relaxed);
            if start >= r {
                break;
            }
            let end = (start + BLOCK).min(r);
            // Only columns past the block's first row can hold a pair a < b.
            let col0 = start;
            let cols = r - col0;
            gram.resize((end - start) * cols, 0.0);
            matmul_nt(
                &mut gram,
                &flat[start * d..end * d],
                &flat[col0 * d..],
                end - start,
                cols,
                d,
            );
            for (i, row) in gram.chunks_exact(cols).enumerate() {
                let a = owner[start + i];
                for (j, &s) in row.iter().enumerate() {
                    let b = owner[col0 + j];
                    if f64::from(s) > beta && a != b {
                        out.push((a.min(b), a.max(b), s));
                    }
                }
            }
        }
        out
    });
    let mut best: HashMap<(usize, usize), f32> = HashMap::new();
    for (a, b, s) in found {
        let e = best.entry((a, b)).or_insert(s);
        *e = e.max(s);
    }
    let mut out: Vec<_> = best.into_iter().map(|((a, b), s)| (a, b, s)).collect();
    out.sort_by_key(|&(a, b, _)| (a, b));
    out
}

/// Records the symmetric link `a ↔ b`.
fn link(links: &mut BTreeMap<String, Vec<(String, f32)>>, a: &str, b: &str, score: f32) {
    links
        .entry(a.to_string())
        .or_default()
        .push((b.to_string(), score));
    links
        .entry(b.to_string())
        .or_default()
        .push((a.to_string(), score));
}

/// `(a, b)` sorted so that the pair is unordered.
pub fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()).max(1e-12)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Word → vector from `(word, [x, y])` pairs (shared with `table_stats`' tests).
    pub(crate) fn vecs(items: &[(&str, [f32; 2])]) -> BTreeMap<String, Vec<f32>> {
        items
            .iter()
            .map(|(w, v)| (w.to_string(), v.to_vec()))
            .collect()
    }

    #[test]
    fn semantic_links_above_beta_only() {
        // cos(a, b) = 0.8 > 0.7 (hand: (1,0)·(0.8,0.6)); cos(a, c) = 0 → no link.
        let v = vecs(&[("a", [1.0, 0.0]), ("b", [0.8, 0.6]), ("c", [0.0, 1.0])]);
        let t = ConfusabilityTable::semantic(&v, &TableConfig::new());
        assert_eq!(t.confusable("a").len(), 1);
        assert_eq!(t.confusable("a")[0].0, "b");
        assert!((t.confusable("a")[0].1 - 0.8).abs() < 1e-6);
        assert!(t.confusable("c").is_empty());
    }

    #[test]
    fn tau_syn_drops_near_synonyms_and_stop_words_are_excluded() {
        let v = vecs(&[("a", [1.0, 0.0]), ("b", [0.8, 0.6]), ("c", [0.99, 0.141])]);
        let cfg = TableConfig::new()
            .with_tau_syn(Some(0.95))
            .with_stop_words(vec!["b".into()]);
        let t = ConfusabilityTable::semantic(&v, &cfg);
        // a–c is 0.99·1 ≥ 0.95 → dropped; b is a stop word → no links at all.
        assert!(t.is_empty(), "{t:?}");
    }

    /// Reliable pairs recorded by hand: `(id, feature)` in order.
    fn recorded(items: &[(usize, [f32; 2])], keep: usize) -> ReliablePairs {
        let mut r = ReliablePairs::new(keep);
        for (id, f) in items {
            assert!(r.record(*id, f));
        }
        r
    }

    fn vocab(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("w{i}")).collect()
    }

    #[test]
    fn sign_aware_links_words_above_beta_with_ties_by_word() {
        // Prototypes: w0 (1,0); w1 (0.8,0.6) and w2 (0.8,-0.6) both at cosine 0.8 from w0
        // (a tie); w1·w2 = 0.64 − 0.36 = 0.28 → no link. w3 is never aligned. (Hand maths.)
        let r = recorded(&[(0, [1.0, 0.0]), (1, [0.8, 0.6]), (2, [0.8, -0.6])], 4);
        let t = ConfusabilityTable::sign_aware(&r, &vocab(4), &TableConfig::new(), None);
        let w0: Vec<&str> = t.confusable("w0").iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(w0, vec!["w1", "w2"], "tie broken by word");
        assert!((t.confusable("w0")[0].1 - 0.8).abs() < 1e-6);
        assert_eq!(t.confusable("w1").len(), 1);
        assert!(t.confusable("w3").is_empty(), "never aligned");
        assert!(t.check().is_ok());
    }

    #[test]
    fn negative_threshold_links_negative_cosines_above_it() {
        // w0 (1,0), w1 (−0.6,0.8): cosine −0.6 > −0.7 → linked;
        // w2 (−1,0) → −1 ≤ −0.7 → not linked to w0; w1·w2 = 0.6 > −0.7 → linked.
        let r = recorded(&[(0, [1.0, 0.0]), (1, [-0.6, 0.8]), (2, [-1.0, 0.0])], 4);
        let t = ConfusabilityTable::sign_aware(
            &r,
            &vocab(3),
            &TableConfig::new().with_beta(-0.7),
            None,
        );
        let pairs: Vec<_> = t.pairs().into_iter().collect();
        assert_eq!(pairs, vec![ordered("w0", "w1"), ordered("w1", "w2")]);
        assert!((t.confusable("w0")[0].1 + 0.6).abs() < 1e-6);
    }

    #[test]
    fn any_aggregation_links_on_the_best_pair_mean_on_prototypes() {
        // w0: (1,0), (0,1) → prototype (0.707,0.707). w1: (0.6,-0.8) → cos with the
        // prototype −0.14 (no Mean link) but with (1,0) 0.6; with β = 0.5 Any links them.
        let r = recorded(&[(0, [1.0, 0.0]), (0, [0.0, 1.0]), (1, [0.6, -0.8])], 4);
        let cfg = TableConfig::new().with_beta(0.5);
        assert!(ConfusabilityTable::sign_aware(&r, &vocab(2), &cfg, None).is_empty());
        let any = ConfusabilityTable::sign_aware(
            &r,
            &vocab(2),
            &cfg.with_aggregation(Aggregation::Any),
            None,
        );
        assert!((any.confusable("w1")[0].1 - 0.6).abs() < 1e-6);
    }

    #[test]
    fn filters_min_count_stop_words_top_k_and_synonyms() {
        let r = recorded(
            &[
                (0, [1.0, 0.0]),
                (0, [1.0, 0.0]),
                (1, [0.9, 0.1]),
                (1, [0.9, 0.1]),
                (2, [0.95, 0.05]),
                (2, [0.95, 0.05]),
                (3, [0.99, 0.0]),
            ],
            4,
        );
        let v = vocab(4);
        let all = ConfusabilityTable::sign_aware(&r, &v, &TableConfig::new(), None);
        assert_eq!(all.pairs().len(), 6, "four mutually close words");
        let min2 = TableConfig::new().with_min_count(2);
        let t = ConfusabilityTable::sign_aware(&r, &v, &min2, None);
        assert!(t.confusable("w3").is_empty(), "w3 has one pair");
        let stop = min2.clone().with_stop_words(vec!["w2".into()]);
        let t = ConfusabilityTable::sign_aware(&r, &v, &stop, None);
        assert_eq!(
            t.pairs().into_iter().collect::<Vec<_>>(),
            vec![ordered("w0", "w1")]
        );
        let top1 = TableConfig::new().with_top_k(Some(1));
        let t = ConfusabilityTable::sign_aware(&r, &v, &top1, None);
        assert!(t.links.values().all(|l| l.len() == 1));
        // w0's best is w3 (cos 1 on unit vectors), then w2.
        assert_eq!(t.confusable("w0")[0].0, "w3");
        let syn = |a: &str, b: &str| Some(if (a, b) == ("w0", "w3") { 0.95 } else { 0.1 });
        let t = ConfusabilityTable::sign_aware(
            &r,
            &v,
            &TableConfig::new().with_tau_syn(Some(0.9)),
            Some(&syn),
        );
        assert_eq!(t.pairs().len(), 5, "the w0–w3 synonym link is dropped");
        assert!(!t.pairs().contains(&ordered("w0", "w3")));
    }

    #[test]
    fn word_below_alpha_is_absent() {
        // Word 0 sits between the two clips → softmax max 0.5 ≤ α; word 1 aligns sharply.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let (sign, mask, words) =
            crate::mining::reliable::fixtures::two_clips(vec![h, h, 0.0, 1.0]);
        let mut r = ReliablePairs::new(4);
        r.add_batch(sign, mask, words, &[vec![Some(0), Some(1)]], 0.07, 0.7);
        r.record(2, &[0.0, 1.0]);
        let t = ConfusabilityTable::sign_aware(&r, &vocab(3), &TableConfig::new(), None);
        assert_eq!(
            t.pairs().into_iter().collect::<Vec<_>>(),
            vec![ordered("w1", "w2")]
        );
    }

    #[test]
    fn from_pairs_is_symmetric_and_skips_self_pairs() {
        let pairs = [ordered("a", "b"), ordered("c", "c"), ordered("a", "b")];
        let t = ConfusabilityTable::from_pairs(&pairs, 1.0);
        assert_eq!(t.confusable("a"), &[("b".to_string(), 1.0)]);
        assert_eq!(t.confusable("b"), &[("a".to_string(), 1.0)]);
        assert!(t.confusable("c").is_empty());
    }

    #[test]
    fn blocked_link_search_matches_all_pairs() {
        // 300 words (three gemm blocks) on a circle: compare with a direct double loop.
        let rows: Vec<Vec<f32>> = (0..300)
            .map(|i| {
                let a = i as f32 * 0.05;
                vec![a.cos(), a.sin(), 0.0]
            })
            .collect();
        let owner: Vec<usize> = (0..300).collect();
        let found = best_pairs_above(&rows, &owner, 0.9, 3);
        let mut direct = Vec::new();
        for a in 0..300 {
            for b in a + 1..300 {
                let s = dot(&rows[a], &rows[b]);
                if s > 0.9 {
                    direct.push((a, b));
                }
            }
        }
        let ours: Vec<(usize, usize)> = found.iter().map(|&(a, b, _)| (a, b)).collect();
        assert_eq!(ours, direct);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_links_a_word_to_itself(
            feats in proptest::collection::vec((0usize..12, -1.0f32..1.0, -1.0f32..1.0), 1..40),
            beta in -1.0f64..1.0,
            any in proptest::bool::ANY,
        ) {
            let mut r = ReliablePairs::new(3);
            for (id, x, y) in &feats {
                r.record(*id, &[*x, *y, 0.1]);
            }
            // Two ids share a name, as a careless vocabulary might.
            let mut v = vocab(12);
            v[11] = "w10".into();
            let agg = if any { Aggregation::Any } else { Aggregation::Mean };
            let cfg = TableConfig::new().with_beta(beta).with_aggregation(agg);
            let t = ConfusabilityTable::sign_aware(&r, &v, &cfg, None);
            proptest::prop_assert!(t.check().is_ok(), "{:?}", t.check());
            for (w, list) in &t.links {
                for (o, s) in list {
                    proptest::prop_assert!(o != w);
                    proptest::prop_assert!(f64::from(*s) > beta);
                    proptest::prop_assert!(t.confusable(o).iter().any(|(x, _)| x == w));
                }
            }
        }
    }
}
