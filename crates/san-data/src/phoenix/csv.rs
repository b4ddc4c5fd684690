//! The official PHOENIX-2014-T corpus CSV: `name|video|start|end|speaker|orth|translation`,
//! pipe-separated, with or without its header line.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The official header line.
pub const HEADER: &str = "name|video|start|end|speaker|orth|translation";

/// One row of the corpus: a sign video and its German sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusEntry {
    /// Sample name, also the folder of its frames.
    pub name: String,
    /// Frame pattern, e.g. `name/1/*.png`.
    pub video: String,
    /// Start frame, -1 for the whole clip.
    pub start: i64,
    /// End frame, -1 for the whole clip.
    pub end: i64,
    /// Signer id, e.g. `Signer08`.
    pub speaker: String,
    /// DGS gloss sequence.
    pub orth: String,
    /// German translation.
    pub translation: String,
}

impl CorpusEntry {
    /// The words of the normalised translation (lower-case, punctuation removed).
    pub fn words(&self) -> Vec<String> {
        san_core::text::words(&self.translation)
    }

    /// The glosses of `orth`, split on whitespace.
    pub fn glosses(&self) -> Vec<String> {
        self.orth.split_whitespace().map(String::from).collect()
    }
}

/// Parses corpus CSV text; `path` is used in errors only. An empty corpus, a sample name
/// that repeats an earlier row's, and a translation without a word are errors naming the
/// line.
pub fn parse_corpus_csv(text: &str, path: &Path) -> Result<Vec<CorpusEntry>> {
    let mut rows = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || (i == 0 && line == HEADER) {
            continue;
        }
        let err = |expected: &str, got: String| DataError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            expected: expected.to_string(),
            got,
        };
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != 7 {
            return Err(err(
                "7 pipe-separated fields (name|video|start|end|speaker|orth|translation)",
                format!("{} fields", f.len()),
            ));
        }
        let int = |s: &str, what: &str| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| err(&format!("an integer {what}"), format!("{s:?}")))
        };
        if f[0].trim().is_empty() {
            return Err(err("a sample name", "an empty field".into()));
        }
        if let Some(first) = seen.insert(f[0].trim().to_string(), i + 1) {
            return Err(err(
                "a sample name not used by another row",
                format!("{:?}, already the name on line {first}", f[0].trim()),
            ));
        }
        if san_core::text::words(f[6]).is_empty() {
            return Err(err(
                "a translation with at least one word",
                format!("{:?}", f[6].trim()),
            ));
        }
        rows.push(CorpusEntry {
            name: f[0].trim().to_string(),
            video: f[1].trim().to_string(),
            start: int(f[2], "start frame")?,
            end: int(f[3], "end frame")?,
            speaker: f[4].trim().to_string(),
            orth: f[5].trim().to_string(),
            translation: f[6].trim().to_string(),
        });
    }
    if rows.is_empty() {
        return Err(DataError::invalid(
            path,
            "no corpus rows (expected at least one name|video|start|end|speaker|orth|translation line)",
        ));
    }
    Ok(rows)
}

/// Reads a corpus CSV file.
pub fn read_corpus_csv(path: &Path) -> Result<Vec<CorpusEntry>> {
    let bytes = crate::io::read(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| DataError::invalid(path, format!("expected UTF-8 text: {e}")))?;
    parse_corpus_csv(&text, path)
}

/// Writes a corpus CSV with the official header, atomically.
pub fn write_corpus_csv(path: &Path, rows: &[CorpusEntry]) -> Result<()> {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{}|{}|{}|{}|{}|{}|{}\n",
            r.name, r.video, r.start, r.end, r.speaker, r.orth, r.translation
        ));
    }
    crate::io::write_atomic(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_and_empty_translations_are_errors_naming_the_line() {
        let p = Path::new("c.csv");
        let e = parse_corpus_csv(
            "a|v|-1|-1|S|G|eins\nb|v|-1|-1|S|G|zwei\na|v|-1|-1|S|G|drei\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.csv:3:") && e.contains("line 1"), "{e}");
        let e = parse_corpus_csv("a|v|-1|-1|S|G|eins\nb|v|-1|-1|S|G| . \n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.csv:2:") && e.contains("at least one word"),
            "{e}"
        );
    }

    #[test]
    fn reads_with_and_without_header() {
        let row = "a-1|a-1/1/*.png|-1|-1|Signer08|REGEN|morgen regen\n";
        let p = Path::new("x.csv");
        let with = parse_corpus_csv(&format!("{HEADER}\n{row}"), p).unwrap();
        let without = parse_corpus_csv(row, p).unwrap();
        assert_eq!(with, without);
        assert_eq!(with[0].speaker, "Signer08");
        assert_eq!(with[0].start, -1);
    }

    #[test]
    fn bad_row_names_file_and_line() {
        let e =
            parse_corpus_csv("a|b|-1|-1|S|G|t\nbroken|row\n", Path::new("dev.csv")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("dev.csv:2") && msg.contains("7 pipe-separated"),
            "{msg}"
        );
        let e = parse_corpus_csv("a|b|x|-1|S|G|t\n", Path::new("dev.csv")).unwrap_err();
        assert!(e.to_string().contains("integer start"), "{e}");
        assert!(parse_corpus_csv("\n", Path::new("e.csv")).is_err());
    }

    #[test]
    fn official_csvs_have_the_documented_sizes() {
        let Some(root) = crate::shared_data("phoenix14t") else {
            return;
        };
        for (split, n) in [("train", 7096), ("dev", 519), ("test", 642)] {
            let rows =
                read_corpus_csv(&root.join(format!("PHOENIX-2014-T.{split}.corpus.csv"))).unwrap();
            assert_eq!(rows.len(), n, "{split}");
        }
    }
}
