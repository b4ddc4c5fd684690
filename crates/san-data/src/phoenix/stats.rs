//! `CorpusStats`: what a PHOENIX-2014-T style corpus holds, split by split — rows, unique
//! translations and duplicate groups, German and gloss vocabularies, signers, and words
//! unseen in train (OOV).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::csv::CorpusEntry;

/// Statistics of one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitStats {
    /// The split's name.
    pub split: String,
    /// Rows.
    pub rows: usize,
    /// Distinct normalised translations.
    pub unique_translations: usize,
    /// Translations shared by two or more rows.
    pub duplicate_groups: usize,
    /// Rows whose translation is shared.
    pub duplicate_videos: usize,
    /// Distinct German words (normalised translations).
    pub words: usize,
    /// German word tokens.
    pub word_tokens: usize,
    /// Distinct glosses (whitespace-separated `orth`).
    pub glosses: usize,
    /// Gloss tokens.
    pub gloss_tokens: usize,
    /// Distinct signers.
    pub signers: usize,
    /// Distinct words absent from the reference (train) split.
    pub oov_words: usize,
    /// Word tokens absent from the reference split.
    pub oov_word_tokens: usize,
    /// Distinct glosses absent from the reference split.
    pub oov_glosses: usize,
    /// Gloss tokens absent from the reference split.
    pub oov_gloss_tokens: usize,
}

/// Statistics of a corpus, split by split; OOV counts are against the first split given
/// (train).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusStats {
    /// One entry per split, in the order given.
    pub splits: Vec<SplitStats>,
}

impl CorpusStats {
    /// Computes the statistics of `splits` (name, rows); the first is the OOV reference.
    pub fn compute(splits: &[(&str, &[CorpusEntry])]) -> Self {
        // Each row is normalised once; every count below derives from these lists.
        let tokens: Vec<(Vec<Vec<String>>, Vec<String>)> = splits
            .iter()
            .map(|(_, rows)| {
                let words = rows.iter().map(CorpusEntry::words).collect();
                let glosses = rows.iter().flat_map(CorpusEntry::glosses).collect();
                (words, glosses)
            })
            .collect();
        let (ref_words, ref_glosses): (BTreeSet<&String>, BTreeSet<&String>) = tokens
            .first()
            .map(|(w, g)| (w.iter().flatten().collect(), g.iter().collect()))
            .unwrap_or_default();
        let splits = splits
            .iter()
            .zip(&tokens)
            .map(|((name, rows), (row_words, glosses))| {
                let mut texts: BTreeMap<&[String], usize> = BTreeMap::new();
                for w in row_words {
                    *texts.entry(w.as_slice()).or_default() += 1;
                }
                let shared = texts.values().filter(|&&c| c > 1);
                let words: Vec<&String> = row_words.iter().flatten().collect();
                let word_set: BTreeSet<&String> = words.iter().copied().collect();
                let gloss_set: BTreeSet<&String> = glosses.iter().collect();
                SplitStats {
                    split: name.to_string(),
                    rows: rows.len(),
                    unique_translations: texts.len(),
                    duplicate_groups: shared.clone().count(),
                    duplicate_videos: shared.sum(),
                    words: word_set.len(),
                    word_tokens: words.len(),
                    glosses: gloss_set.len(),
                    gloss_tokens: glosses.len(),
                    signers: rows
                        .iter()
                        .map(|r| r.speaker.as_str())
                        .collect::<BTreeSet<_>>()
                        .len(),
                    oov_words: word_set.difference(&ref_words).count(),
                    oov_word_tokens: words.iter().filter(|w| !ref_words.contains(*w)).count(),
                    oov_glosses: gloss_set.difference(&ref_glosses).count(),
                    oov_gloss_tokens: glosses.iter().filter(|g| !ref_glosses.contains(g)).count(),
                }
            })
            .collect();
        Self { splits }
    }

    /// The statistics of the split named `name`.
    pub fn split(&self, name: &str) -> Option<&SplitStats> {
        self.splits.iter().find(|s| s.split == name)
    }
}

impl fmt::Display for CorpusStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<6} {:>6} {:>7} {:>6} {:>7} {:>6} {:>7} {:>8} {:>8}",
            "split", "rows", "unique", "dup", "dup vid", "words", "glosses", "OOV word", "OOV gl"
        )?;
        for s in &self.splits {
            writeln!(
                f,
                "{:<6} {:>6} {:>7} {:>6} {:>7} {:>6} {:>7} {:>8} {:>8}",
                s.split,
                s.rows,
                s.unique_translations,
                s.duplicate_groups,
                s.duplicate_videos,
                s.words,
                s.glosses,
                s.oov_words,
                s.oov_glosses
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phoenix::parse_corpus_csv;
    use std::path::Path;

    #[test]
    fn counts_by_hand() {
        let train = parse_corpus_csv(
            "a|a/1/*.png|-1|-1|S1|REGEN NORD|regen im norden .\n\
             b|b/1/*.png|-1|-1|S2|SONNE|Sonne im Süden\n\
             c|c/1/*.png|-1|-1|S1|REGEN NORD|regen im norden\n",
            Path::new("train.csv"),
        )
        .unwrap_or_default();
        let test = parse_corpus_csv(
            "d|d/1/*.png|-1|-1|S3|WIND NORD|wind im norden\n",
            Path::new("test.csv"),
        )
        .unwrap_or_default();
        let stats = CorpusStats::compute(&[("train", &train), ("test", &test)]);
        let t = stats.split("train").cloned();
        // "regen im norden" twice (the final " ." normalises away): 2 unique, 1 group of 2.
        // Words: regen im norden sonne süden = 5; tokens 3+3+3 = 9. Glosses REGEN NORD SONNE.
        assert_eq!(
            t.map(|t| (
                t.unique_translations,
                t.duplicate_groups,
                t.duplicate_videos,
                t.words,
                t.word_tokens,
                t.glosses,
                t.signers
            )),
            Some((2, 1, 2, 5, 9, 3, 2))
        );
        let d = stats.split("test").cloned();
        // "wind" is the only unseen word, WIND the only unseen gloss.
        assert_eq!(
            d.map(|d| (
                d.oov_words,
                d.oov_word_tokens,
                d.oov_glosses,
                d.oov_gloss_tokens
            )),
            Some((1, 1, 1, 1))
        );
        assert!(stats.to_string().contains("train"));
    }
}
