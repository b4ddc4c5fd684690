//! The fine-grained benchmark (`DESIGN.md` §1, point 6): for each test caption, up to 40
//! captions that differ from it in one word, replaced by a visually confusable word (V2T);
//! and, where the gallery holds them, the videos whose captions are such substitutions of
//! the query (T2V).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::substitute::single_word_substitutions;
use super::table::ConfusabilityTable;
use crate::error::CoreError;

/// One query of the benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineGrainedItem {
    /// The sample's name (its video).
    pub name: String,
    /// The true caption, as words.
    pub caption: Vec<String>,
    /// V2T distractor captions: distinct single-word substitutions, none equal to `caption`.
    pub distractors: Vec<Vec<String>>,
    /// T2V distractor videos: names of gallery items whose caption is a single-word
    /// substitution of `caption` by a linked word (sorted; often empty).
    #[serde(default)]
    pub distractor_videos: Vec<String>,
}

/// A fine-grained benchmark over one split, saved and loaded as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineGrainedBenchmark {
    /// Where the table came from (e.g. "signsim ground truth", "stage-1 model").
    pub source: String,
    /// Most distractor captions per query.
    pub max_distractors: usize,
    /// Seed of the per-query draws.
    pub seed: u64,
    /// The queries, in gallery order.
    pub items: Vec<FineGrainedItem>,
}

impl FineGrainedBenchmark {
    /// Builds the benchmark for `queries` (name, caption words) from `table`.
    ///
    /// Each query gets up to `max_distractors` distinct single-word substitutions, drawn
    /// with an rng seeded from `seed` and the query's name, so a query's distractors do not
    /// depend on the other queries or their order. T2V distractors are the other queries
    /// whose caption equals this one but for one word that the table links to this
    /// caption's word there; they are cut to `max_distractors`, by name.
    pub fn build(
        queries: &[(String, Vec<String>)],
        table: &ConfusabilityTable,
        max_distractors: usize,
        seed: u64,
        source: impl Into<String>,
    ) -> Self {
        Self::assemble(
            queries,
            table,
            max_distractors,
            seed,
            source,
            |name, caption| {
                let mut rng = StdRng::seed_from_u64(seed ^ fnv1a(name));
                single_word_substitutions(caption, table, max_distractors, &mut rng)
            },
        )
    }

    /// Wraps distractors given by a ground truth (signsim writes them): name → distractor
    /// sentences (space-separated words). Queries without an entry get none; repeats and
    /// copies of the caption are dropped, and each list is cut to `max_distractors`.
    pub fn from_ground_truth(
        queries: &[(String, Vec<String>)],
        truth: &BTreeMap<String, Vec<String>>,
        table: &ConfusabilityTable,
        max_distractors: usize,
        source: impl Into<String>,
    ) -> Self {
        Self::assemble(
            queries,
            table,
            max_distractors,
            0,
            source,
            |name, caption| {
                let mut seen = BTreeSet::new();
                truth
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>())
                    .filter(|d| d != caption && seen.insert(d.clone()))
                    .take(max_distractors)
                    .collect()
            },
        )
    }

    /// The benchmark with each query's distractor captions from `distractors(name,
    /// caption)` and its distractor videos from `table`.
    fn assemble(
        queries: &[(String, Vec<String>)],
        table: &ConfusabilityTable,
        max_distractors: usize,
        seed: u64,
        source: impl Into<String>,
        distractors: impl Fn(&str, &[String]) -> Vec<Vec<String>>,
    ) -> Self {
        let videos = t2v_distractors(queries, table, max_distractors);
        let items = queries
            .iter()
            .zip(videos)
            .map(|((name, caption), distractor_videos)| FineGrainedItem {
                name: name.clone(),
                caption: caption.clone(),
                distractors: distractors(name, caption),
                distractor_videos,
            })
            .collect();
        Self {
            source: source.into(),
            max_distractors,
            seed,
            items,
        }
    }

    /// Queries with fewer than `max_distractors` distractor captions.
    pub fn short(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.distractors.len() < self.max_distractors)
            .count()
    }

    /// Queries with no distractor caption (left out of FG-V2T).
    pub fn without_distractors(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.distractors.is_empty())
            .count()
    }

    /// Queries with at least one distractor video (those FG-T2V is computed over).
    pub fn with_distractor_videos(&self) -> usize {
        self.items
            .iter()
            .filter(|i| !i.distractor_videos.is_empty())
            .count()
    }

    /// Checks what serde cannot: distractors differ from the caption and from each other,
    /// are at most `max_distractors`, and distractor videos name other queries.
    pub fn check(&self) -> Result<(), CoreError> {
        let names: BTreeSet<&str> = self.items.iter().map(|i| i.name.as_str()).collect();
        for item in &self.items {
            let problem = |message: String| CoreError::Benchmark {
                name: item.name.clone(),
                message,
            };
            if item.distractors.len() > self.max_distractors {
                return Err(problem(format!(
                    "expected at most {} distractors, got {}",
                    self.max_distractors,
                    item.distractors.len()
                )));
            }
            let mut seen = BTreeSet::new();
            for (k, d) in item.distractors.iter().enumerate() {
                if *d == item.caption {
                    return Err(problem(format!("distractor {k} equals the caption")));
                }
                if !seen.insert(d) {
                    return Err(problem(format!("distractor {k} repeats an earlier one")));
                }
            }
            for v in &item.distractor_videos {
                if v == &item.name || !names.contains(v.as_str()) {
                    return Err(problem(format!(
                        "distractor video {v:?}: expected another query's name"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// For each query, the other queries whose caption differs from it in exactly one position,
/// where the table links the query's word to theirs; sorted by name and cut to `max`.
///
/// Runs in O(Σ caption length²) through an index of captions with one word blanked.
pub fn t2v_distractors(
    queries: &[(String, Vec<String>)],
    table: &ConfusabilityTable,
    max: usize,
) -> Vec<Vec<String>> {
    // (position, caption with that word blanked) → queries with that shape.
    let mut holes: HashMap<(usize, Vec<&str>), Vec<usize>> = HashMap::new();
    for (j, (_, caption)) in queries.iter().enumerate() {
        for p in 0..caption.len() {
            holes.entry((p, blank(caption, p))).or_default().push(j);
        }
    }
    queries
        .iter()
        .enumerate()
        .map(|(i, (_, caption))| {
            let mut found = BTreeSet::new();
            for (p, word) in caption.iter().enumerate() {
                let linked = table.confusable(word);
                if linked.is_empty() {
                    continue;
                }
                for &j in holes.get(&(p, blank(caption, p))).into_iter().flatten() {
                    let theirs = &queries[j].1[p];
                    if j != i && theirs != word && linked.iter().any(|(w, _)| w == theirs) {
                        found.insert(queries[j].0.clone());
                    }
                }
            }
            found.into_iter().take(max).collect()
        })
        .collect()
}

/// The caption's words with position `p` blanked.
fn blank(c: &[String], p: usize) -> Vec<&str> {
    c.iter()
        .enumerate()
        .map(|(i, w)| if i == p { "" } else { w.as_str() })
        .collect()
}

/// FNV-1a, a fixed (platform- and release-independent) hash for per-query seeds.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn table() -> ConfusabilityTable {
        let mut t = ConfusabilityTable::default();
        t.links.insert(
            "regen".into(),
            vec![("sonne".into(), 0.9), ("wind".into(), 0.8)],
        );
        t.links.insert("sonne".into(), vec![("regen".into(), 0.9)]);
        t.links.insert("wind".into(), vec![("regen".into(), 0.8)]);
        t.links.insert("nord".into(), vec![("sued".into(), 0.75)]);
        t.links.insert("sued".into(), vec![("nord".into(), 0.75)]);
        t
    }

    fn queries() -> Vec<(String, Vec<String>)> {
        [
            ("a", "im nord regen"),
            ("b", "im sued regen"),
            ("c", "im nord sonne"),
            ("d", "heute kalt"),
            ("e", "im nord regen"),
            ("f", "am nord regen"),
        ]
        .iter()
        .map(|(n, c)| (n.to_string(), words(c)))
        .collect()
    }

    #[test]
    fn v2t_distractors_are_distinct_substitutions_and_counted() {
        let b = FineGrainedBenchmark::build(&queries(), &table(), 40, 7, "hand table");
        // "im nord regen": nord→sued, regen→sonne, regen→wind → 3 (hand count).
        assert_eq!(b.items[0].distractors.len(), 3);
        assert!(b.items[0].distractors.contains(&words("im sued regen")));
        // "heute kalt" has no table word.
        assert!(b.items[3].distractors.is_empty());
        assert_eq!(b.short(), 6, "every caption has fewer than 40");
        assert_eq!(b.without_distractors(), 1);
        assert!(b.check().is_ok());
    }

    #[test]
    fn t2v_distractors_need_one_linked_word_changed() {
        let b = FineGrainedBenchmark::build(&queries(), &table(), 40, 7, "hand table");
        // a: b (nord→sued) and c (regen→sonne); e is identical, f changes an unlinked word.
        assert_eq!(b.items[0].distractor_videos, vec!["b", "c"]);
        assert_eq!(b.items[1].distractor_videos, vec!["a", "e"]);
        assert!(b.items[3].distractor_videos.is_empty());
        assert!(b.items[5].distractor_videos.is_empty());
        assert_eq!(b.with_distractor_videos(), 4);
        let cut = FineGrainedBenchmark::build(&queries(), &table(), 1, 7, "hand table");
        assert_eq!(cut.items[0].distractor_videos, vec!["b"]);
        assert_eq!(cut.items[0].distractors.len(), 1);
        assert_eq!(cut.short(), 1, "only \"heute kalt\" has fewer than 1");
    }

    #[test]
    fn deterministic_per_query_and_round_trips_through_json() {
        let q = queries();
        let b = FineGrainedBenchmark::build(&q, &table(), 2, 11, "hand table");
        let mut reversed = q.clone();
        reversed.reverse();
        let r = FineGrainedBenchmark::build(&reversed, &table(), 2, 11, "hand table");
        for item in &b.items {
            let other = r.items.iter().find(|i| i.name == item.name);
            assert_eq!(
                other.map(|i| &i.distractors),
                Some(&item.distractors),
                "order-independent"
            );
        }
        let json = serde_json::to_string(&b).unwrap_or_default();
        let back: FineGrainedBenchmark =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, b);
    }

    #[test]
    fn ground_truth_lists_are_cleaned_and_checked() {
        let q = queries();
        let mut truth = BTreeMap::new();
        truth.insert(
            "a".to_string(),
            vec![
                "im sued regen".to_string(),
                "im nord regen".to_string(),
                "im sued regen".to_string(),
                "im nord wind".to_string(),
            ],
        );
        let b = FineGrainedBenchmark::from_ground_truth(&q, &truth, &table(), 40, "truth");
        assert_eq!(
            b.items[0].distractors,
            vec![words("im sued regen"), words("im nord wind")]
        );
        assert!(b.items[1].distractors.is_empty());
        let mut bad = b.clone();
        bad.items[0].distractors.push(words("im nord regen"));
        let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("\"a\"") && err.contains("equals the caption"),
            "{err}"
        );
        let mut bad = b;
        bad.items[0].distractor_videos = vec!["zz".into()];
        assert!(bad.check().is_err());
    }
}
