//! What a confusability table holds and how good it is: validity checks ([`CoreError`]), coverage of a set
//! of captions, its links scored against ground truth, and its links ranked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::table::{ConfusabilityTable, ordered};
use crate::error::CoreError;

/// Coverage statistics of a table over a set of captions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Words with at least one link.
    pub words: usize,
    /// Unordered links.
    pub links: usize,
    /// Mean links per linked word.
    pub mean_links_per_word: f64,
    /// Most links of any word.
    pub max_links_per_word: usize,
    /// Captions examined.
    pub captions: usize,
    /// Captions with at least one table word (those `substitute` can make negatives for).
    pub captions_covered: usize,
}

impl fmt::Display for TableSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} words, {} links ({:.2} per word, at most {}); {}/{} captions have a table word",
            self.words,
            self.links,
            self.mean_links_per_word,
            self.max_links_per_word,
            self.captions_covered,
            self.captions
        )
    }
}

/// A table's links scored against ground-truth confusable pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDiagnostics {
    /// Share of the table's links that are true (0 for an empty table).
    pub precision: f64,
    /// Share of the true pairs the table finds (0 when there are none).
    pub recall: f64,
    /// Links that are true pairs.
    pub true_links: usize,
    /// Links that are not.
    pub false_links: usize,
    /// True pairs the table misses.
    pub missed: usize,
}

impl ConfusabilityTable {
    /// Checks what serde cannot: no self-links, finite scores, no word listed twice.
    ///
    /// Top-k cuts may leave a link in one direction only, so symmetry is not required.
    pub fn check(&self) -> Result<(), CoreError> {
        for (word, list) in &self.links {
            let mut seen = BTreeSet::new();
            for (other, score) in list {
                if other == word {
                    return Err(CoreError::SelfLink(word.clone()));
                }
                if !score.is_finite() {
                    return Err(CoreError::NonFiniteScore(word.clone(), other.clone()));
                }
                if !seen.insert(other.as_str()) {
                    return Err(CoreError::RepeatedLink(word.clone(), other.clone()));
                }
            }
        }
        Ok(())
    }

    /// Coverage of the table over `captions` (whole words).
    pub fn summary(&self, captions: &[Vec<String>]) -> TableSummary {
        let words = self.len();
        let per_word = self.links.values().map(Vec::len);
        let total: usize = per_word.clone().sum();
        TableSummary {
            words,
            links: self.pairs().len(),
            mean_links_per_word: if words == 0 {
                0.0
            } else {
                total as f64 / words as f64
            },
            max_links_per_word: per_word.max().unwrap_or(0),
            captions: captions.len(),
            captions_covered: captions
                .iter()
                .filter(|c| c.iter().any(|w| !self.confusable(w).is_empty()))
                .count(),
        }
    }

    /// Precision and recall of the table's links against ground-truth pairs.
    pub fn precision_recall(&self, truth: &BTreeSet<(String, String)>) -> (f64, f64) {
        let d = self.diagnose(truth);
        (d.precision, d.recall)
    }

    /// The table's links scored against ground-truth unordered pairs (see [`ordered`] and
    /// [`family_pairs`]).
    pub fn diagnose(&self, truth: &BTreeSet<(String, String)>) -> TableDiagnostics {
        let ours = self.pairs();
        let hit = ours.intersection(truth).count();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        TableDiagnostics {
            precision: ratio(hit, ours.len()),
            recall: ratio(hit, truth.len()),
            true_links: hit,
            false_links: ours.len() - hit,
            missed: truth.len() - hit,
        }
    }

    /// The table's unordered links, most confusable first (score descending, then words);
    /// a link listed in both directions counts once, with its higher score.
    pub fn ranked_pairs(&self) -> Vec<(String, String, f32)> {
        let mut best: BTreeMap<(String, String), f32> = BTreeMap::new();
        for (a, links) in &self.links {
            for (b, score) in links {
                let e = best.entry(ordered(a, b)).or_insert(*score);
                *e = e.max(*score);
            }
        }
        let mut pairs: Vec<(String, String, f32)> =
            best.into_iter().map(|((a, b), s)| (a, b, s)).collect();
        pairs.sort_by(|x, y| {
            y.2.total_cmp(&x.2)
                .then_with(|| (&x.0, &x.1).cmp(&(&y.0, &y.1)))
        });
        pairs
    }
}

/// Ground-truth confusable pairs from a word → family map: every two different words of a
/// family, less the pairs in `exclude` (e.g. synonyms, which are not negatives).
pub fn family_pairs(
    families: &BTreeMap<String, usize>,
    exclude: &BTreeSet<(String, String)>,
) -> BTreeSet<(String, String)> {
    let mut members: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (word, &family) in families {
        members.entry(family).or_default().push(word);
    }
    let mut out = BTreeSet::new();
    for words in members.values() {
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                let pair = ordered(a, b);
                if !exclude.contains(&pair) {
                    out.insert(pair);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::TableConfig;
    use crate::mining::table::tests::vecs;

    #[test]
    fn precision_and_recall() {
        let v = vecs(&[("a", [1.0, 0.0]), ("b", [0.8, 0.6])]);
        let t = ConfusabilityTable::semantic(&v, &TableConfig::new());
        let truth: BTreeSet<_> = [ordered("a", "b"), ordered("c", "d")].into_iter().collect();
        assert_eq!(t.precision_recall(&truth), (1.0, 0.5));
    }

    #[test]
    fn summary_and_diagnostics_by_hand() {
        let v = vecs(&[("a", [1.0, 0.0]), ("b", [0.8, 0.6]), ("c", [0.9, 0.436])]);
        let t = ConfusabilityTable::semantic(&v, &TableConfig::new());
        // a–b 0.8, a–c 0.9, b–c 0.72 + 0.26 = 0.98: 3 links, 2 per word.
        let captions = vec![
            vec!["a".to_string(), "x".to_string()],
            vec!["x".to_string()],
            vec![],
        ];
        let s = t.summary(&captions);
        assert_eq!((s.words, s.links, s.max_links_per_word), (3, 3, 2));
        assert!((s.mean_links_per_word - 2.0).abs() < 1e-12);
        assert_eq!((s.captions, s.captions_covered), (3, 1));
        let mut families = BTreeMap::new();
        for (w, f) in [("a", 0), ("b", 0), ("d", 0), ("c", 1), ("e", 1)] {
            families.insert(w.to_string(), f);
        }
        let exclude: BTreeSet<_> = [ordered("a", "d")].into_iter().collect();
        let truth = family_pairs(&families, &exclude);
        // a–b, b–d, c–e.
        assert_eq!(truth.len(), 3);
        let d = t.diagnose(&truth);
        assert_eq!((d.true_links, d.false_links, d.missed), (1, 2, 2));
        assert!((d.precision - 1.0 / 3.0).abs() < 1e-12 && (d.recall - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn json_round_trip_and_check() {
        let v = vecs(&[("a", [1.0, 0.0]), ("b", [0.8, 0.6])]);
        let t = ConfusabilityTable::semantic(&v, &TableConfig::new());
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert_eq!(json, r#"{"links":{"a":[["b",0.8]],"b":[["a",0.8]]}}"#);
        let back: ConfusabilityTable = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, t);
        let mut bad = t.clone();
        bad.links.insert("c".into(), vec![("c".into(), 1.0)]);
        assert_eq!(bad.check(), Err(CoreError::SelfLink("c".into())));
        let mut bad = t;
        bad.links.insert("d".into(), vec![("a".into(), f32::NAN)]);
        assert!(matches!(bad.check(), Err(CoreError::NonFiniteScore(..))));
    }

    #[test]
    fn ranked_pairs_are_unordered_and_sorted_by_score() {
        let mut t = ConfusabilityTable::default();
        t.links
            .insert("a".into(), vec![("b".into(), 0.9), ("c".into(), 0.5)]);
        t.links.insert("b".into(), vec![("a".into(), 0.9)]);
        t.links.insert("c".into(), vec![("a".into(), 0.5)]);
        assert_eq!(
            t.ranked_pairs(),
            vec![("a".into(), "b".into(), 0.9), ("a".into(), "c".into(), 0.5)]
        );
    }
}
