//! Word-level vocabulary built from the training split.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Id of the padding token.
pub const PAD: usize = 0;
/// Id of the unknown-word token.
pub const UNK: usize = 1;

/// Maps normalised words to ids; `0` is padding and `1` unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    words: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Vocabulary {
    /// Builds a vocabulary from tokenised sentences, keeping words seen at least
    /// `min_count` times, sorted by frequency (descending) then alphabetically.
    pub fn build<'a>(sentences: impl IntoIterator<Item = &'a [String]>, min_count: usize) -> Self {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in sentences {
            for w in s {
                *counts.entry(w.as_str()).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count)
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let words = ["<pad>", "<unk>"]
            .into_iter()
            .chain(kept.into_iter().map(|(w, _)| w))
            .map(String::from)
            .collect();
        Self::from_words(words)
    }

    /// A vocabulary from its word list (index = id); rebuilds the lookup table.
    pub fn from_words(words: Vec<String>) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i))
            .collect();
        Self { words, index }
    }

    /// Number of ids, padding and unknown included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when only the special tokens exist.
    pub fn is_empty(&self) -> bool {
        self.words.len() <= 2
    }

    /// Id of a word (`UNK` when absent).
    pub fn id(&self, word: &str) -> usize {
        if self.index.is_empty() && !self.words.is_empty() {
            // Deserialised without the index: fall back to a scan.
            return self.words.iter().position(|w| w == word).unwrap_or(UNK);
        }
        self.index.get(word).copied().unwrap_or(UNK)
    }

    /// Ids of a sentence.
    pub fn encode(&self, words: &[String]) -> Vec<usize> {
        words.iter().map(|w| self.id(w)).collect()
    }

    /// All words, by id.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_order_and_unknown() {
        let s: Vec<Vec<String>> = vec![vec!["b".into(), "a".into()], vec!["a".into()]];
        let v = Vocabulary::build(s.iter().map(Vec::as_slice), 1);
        assert_eq!(v.words(), &["<pad>", "<unk>", "a", "b"]);
        assert_eq!(v.encode(&["a".into(), "zzz".into()]), vec![2, UNK]);
        let v2 = Vocabulary::build(s.iter().map(Vec::as_slice), 2);
        assert_eq!(v2.len(), 3);
    }
}
