//! Word vectors in the FastText `.vec` text format: a `count dim` header line, then one
//! `word v1 … v_dim` line per word.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{DataError, Result};

/// Word → vector, as read from a `.vec` file.
pub type WordVectors = BTreeMap<String, Vec<f32>>;

/// Parses `.vec` text; `path` is used in errors.
pub fn parse_word_vectors(text: &str, path: &Path) -> Result<BTreeMap<String, Vec<f32>>> {
    let mut lines = text.lines().enumerate();
    let err = |line: usize, expected: &str, got: &str| DataError::Line {
        path: path.to_path_buf(),
        line: line + 1,
        expected: expected.to_string(),
        got: got.chars().take(80).collect(),
    };
    let (_, head) = lines
        .next()
        .ok_or_else(|| err(0, "a `count dim` header line", "an empty file"))?;
    let nums: Vec<usize> = head
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let [count, dim] = nums[..] else {
        return Err(err(0, "a `count dim` header line", head));
    };
    let mut out = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let word = parts.next().unwrap_or_default().to_string();
        let v: Vec<f32> = parts
            .map(|s| s.parse::<f32>().map_err(|_| err(i, "a number", s)))
            .collect::<Result<_>>()?;
        if v.len() != dim {
            return Err(err(
                i,
                &format!("{dim} values after the word"),
                &format!("{} values", v.len()),
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(err(i, "finite values", line));
        }
        out.insert(word, v);
    }
    if out.len() != count {
        return Err(DataError::invalid(
            path,
            format!("header announces {count} words, found {}", out.len()),
        ));
    }
    Ok(out)
}

/// Reads a `.vec` file.
pub fn read_word_vectors(path: &Path) -> Result<BTreeMap<String, Vec<f32>>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse_word_vectors(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_bad_lines() {
        let v = parse_word_vectors("2 2\nregen 1 0\nsonne 0 1.5\n", Path::new("w.vec")).unwrap();
        assert_eq!(v["sonne"], vec![0.0, 1.5]);
        let e = parse_word_vectors("1 2\nregen 1\n", Path::new("w.vec"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("w.vec:2") && e.contains("2 values"), "{e}");
        assert!(parse_word_vectors("", Path::new("w.vec")).is_err());
    }
}
