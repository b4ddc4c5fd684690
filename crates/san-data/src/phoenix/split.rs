//! Typed samples of the corpus: split, signer, glosses, translation, normalised words, and
//! an id shared by identical normalised translations (PHOENIX-2014-T repeats sentences).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::csv::CorpusEntry;

/// A corpus split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Split {
    /// Training split.
    Train,
    /// Development split (model selection).
    Dev,
    /// Test split (reported once).
    Test,
}

impl Split {
    /// All three, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    /// The name used in file names (`train`, `dev`, `test`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = crate::DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Split::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| crate::DataError::Value {
                expected: "a split (train, dev or test)".into(),
                got: format!("{s:?}"),
            })
    }
}

/// One annotated sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotatedSample {
    /// Its split.
    pub split: Split,
    /// Sample name.
    pub name: String,
    /// Signer id.
    pub signer: String,
    /// DGS glosses.
    pub glosses: Vec<String>,
    /// The German translation as released.
    pub translation: String,
    /// Its normalised words.
    pub words: Vec<String>,
    /// Equal for samples of this split with identical normalised translations; ids count
    /// up from 0 in order of first appearance.
    pub text_id: usize,
}

/// The text id of each row: equal for rows with identical normalised translations, counting
/// up from 0 in order of first appearance. Every sample of a split gets its id here.
pub fn text_ids(rows: &[CorpusEntry]) -> Vec<usize> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    rows.iter()
        .map(|r| {
            let next = ids.len();
            *ids.entry(san_core::text::normalize(&r.translation))
                .or_insert(next)
        })
        .collect()
}

/// Types the rows of one split.
pub fn annotate(split: Split, rows: &[CorpusEntry]) -> Vec<AnnotatedSample> {
    rows.iter()
        .zip(text_ids(rows))
        .map(|(r, text_id)| {
            let words = r.words();
            AnnotatedSample {
                split,
                name: r.name.clone(),
                signer: r.speaker.clone(),
                glosses: r.glosses(),
                translation: r.translation.clone(),
                words,
                text_id,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phoenix::parse_corpus_csv;
    use std::path::Path;

    #[test]
    fn duplicates_share_ids_and_splits_parse() {
        let rows = parse_corpus_csv(
            "name|video|start|end|speaker|orth|translation\n\
             a|a/1/*.png|-1|-1|Signer08|REGEN NORD|regen im norden .\n\
             b|b/1/*.png|-1|-1|Signer01|SONNE|sonne\n\
             c|c/1/*.png|-1|-1|Signer08|REGEN NORD|regen im norden\n",
            Path::new("t.csv"),
        )
        .unwrap_or_default();
        let s = annotate(Split::Dev, &rows);
        assert_eq!(
            s.iter().map(|x| x.text_id).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
        assert_eq!(s[0].glosses, vec!["REGEN", "NORD"]);
        assert_eq!((s[0].signer.as_str(), s[0].split), ("Signer08", Split::Dev));
        assert_eq!("test".parse::<Split>().ok(), Some(Split::Test));
        assert!(
            "val"
                .parse::<Split>()
                .is_err_and(|e| e.to_string().contains("\"val\""))
        );
    }

    #[test]
    fn official_header_row_of_the_tfds_dummy_loads() {
        let Some(path) = crate::shared_data(
            "other/phoenix14t_tfds_dummy/annotations/PHOENIX-2014-T.test.corpus.csv",
        ) else {
            return;
        };
        let rows = crate::phoenix::read_corpus_csv(&path).unwrap_or_else(|e| panic!("{e}"));
        let s = annotate(Split::Test, &rows);
        assert!(!s.is_empty());
        assert_eq!(s[0].name, "25October_2010_Monday_tagesschau-17");
        assert_eq!(s[0].signer, "Signer01");
        assert_eq!(s[0].glosses[0], "REGEN");
    }
}
