//! Confusability tables (`DESIGN.md` §3.3): the sign-aware table of SAN, built from reliable
//! sign–word pairs, and the semantic (text-space) table it is compared against.

use std::collections::{BTreeMap, BTreeSet};

use burn::config::Config;
use serde::{Deserialize, Serialize};

use super::reliable::ReliablePairs;

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
    /// Reliability threshold on the clip softmax, `α`.
    #[config(default = 0.7)]
    pub alpha: f64,
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
}

/// Similarity of two words in a text space (`None` when either is unknown).
pub type TextSimilarity<'a> = &'a dyn Fn(&str, &str) -> Option<f32>;

/// A word → confusable words table. Links are sorted by score, descending, then by word.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfusabilityTable {
    /// word → [(confusable word, score)]
    pub links: BTreeMap<String, Vec<(String, f32)>>,
}

impl ConfusabilityTable {
    /// Builds SAN's sign-aware table from reliable pairs.
    ///
    /// `vocab[id]` names word `id`. `text_sim`, when given with `tau_syn`, scores two words
    /// in a text space; links at or above `tau_syn` are dropped as likely synonyms.
    pub fn sign_aware(
        pairs: &ReliablePairs,
        vocab: &[String],
        config: &TableConfig,
        text_sim: Option<TextSimilarity<'_>>,
    ) -> Self {
        let stop: BTreeSet<&str> = config.stop_words.iter().map(String::as_str).collect();
        let entries: Vec<(&str, Vec<Vec<f32>>)> = pairs
            .words()
            .iter()
            .filter(|(_, f)| f.count >= config.min_count)
            .filter_map(|(&id, f)| {
                let word = vocab.get(id)?.as_str();
                if stop.contains(word) {
                    return None;
                }
                let feats = match config.aggregation {
                    Aggregation::Mean => vec![normalized(&f.sum)],
                    Aggregation::Any => f.samples.iter().map(|s| normalized(s)).collect(),
                };
                Some((word, feats))
            })
            .collect();
        let mut links: BTreeMap<String, Vec<(String, f32)>> = BTreeMap::new();
        for (i, (wi, fi)) in entries.iter().enumerate() {
            for (wj, fj) in entries.iter().skip(i + 1) {
                if wi == wj {
                    continue;
                }
                let score = fi
                    .iter()
                    .flat_map(|a| fj.iter().map(move |b| dot(a, b)))
                    .fold(f32::NEG_INFINITY, f32::max);
                if f64::from(score) <= config.beta {
                    continue;
                }
                if let (Some(tau), Some(sim)) = (config.tau_syn, text_sim)
                    && sim(wi, wj).is_some_and(|s| f64::from(s) >= tau)
                {
                    continue;
                }
                link(&mut links, wi, wj, score);
            }
        }
        Self::finish(links, config.top_k)
    }

    /// Builds the semantic baseline table from word vectors: words linked by the cosine of
    /// their vectors, above `beta`, with the same top-k, stop-word and `tau_syn` options.
    pub fn semantic(vectors: &BTreeMap<String, Vec<f32>>, config: &TableConfig) -> Self {
        let stop: BTreeSet<&str> = config.stop_words.iter().map(String::as_str).collect();
        let entries: Vec<(&str, Vec<f32>)> = vectors
            .iter()
            .filter(|(w, _)| !stop.contains(w.as_str()))
            .map(|(w, v)| (w.as_str(), normalized(v)))
            .collect();
        let mut links: BTreeMap<String, Vec<(String, f32)>> = BTreeMap::new();
        for (i, (wi, vi)) in entries.iter().enumerate() {
            for (wj, vj) in entries.iter().skip(i + 1) {
                let score = dot(vi, vj);
                let beyond_syn = config.tau_syn.is_some_and(|t| f64::from(score) >= t);
                if f64::from(score) <= config.beta || beyond_syn {
                    continue;
                }
                link(&mut links, wi, wj, score);
            }
        }
        Self::finish(links, config.top_k)
    }

    fn finish(mut links: BTreeMap<String, Vec<(String, f32)>>, top_k: Option<usize>) -> Self {
        for list in links.values_mut() {
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
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

    /// Precision and recall of the table's links against ground-truth pairs.
    pub fn precision_recall(&self, truth: &BTreeSet<(String, String)>) -> (f64, f64) {
        let ours = self.pairs();
        let hit = ours.intersection(truth).count() as f64;
        let p = if ours.is_empty() {
            0.0
        } else {
            hit / ours.len() as f64
        };
        let r = if truth.is_empty() {
            0.0
        } else {
            hit / truth.len() as f64
        };
        (p, r)
    }
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
mod tests {
    use super::*;

    fn vecs(items: &[(&str, [f32; 2])]) -> BTreeMap<String, Vec<f32>> {
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

    #[test]
    fn precision_and_recall() {
        let v = vecs(&[("a", [1.0, 0.0]), ("b", [0.8, 0.6])]);
        let t = ConfusabilityTable::semantic(&v, &TableConfig::new());
        let truth: BTreeSet<_> = [ordered("a", "b"), ordered("c", "d")].into_iter().collect();
        assert_eq!(t.precision_recall(&truth), (1.0, 0.5));
    }
}
