//! JSON files of the mining artefacts: confusability tables (`word → [[word, score], …]`)
//! and fine-grained benchmarks. Written atomically; read with errors that name the file and
//! the line, or the word or query at fault.

use std::path::Path;

use san_core::mining::{ConfusabilityTable, FineGrainedBenchmark};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DataError, Result};
use crate::io::{read, write_atomic};

/// Writes a table as pretty JSON.
pub fn write_table(path: &Path, table: &ConfusabilityTable) -> Result<()> {
    write_json(path, table)
}

/// Reads a table written by [`write_table`] (or by hand), and checks it: no self-links,
/// finite scores, no word listed twice.
pub fn read_table(path: &Path) -> Result<ConfusabilityTable> {
    let table: ConfusabilityTable = read_json(path)?;
    table
        .check()
        .map_err(|p| DataError::invalid(path, format!("{p}")))?;
    Ok(table)
}

/// Writes a fine-grained benchmark as pretty JSON.
pub fn write_benchmark(path: &Path, benchmark: &FineGrainedBenchmark) -> Result<()> {
    write_json(path, benchmark)
}

/// Reads a benchmark written by [`write_benchmark`], and checks it: distractors differ from
/// their caption and from each other, and distractor videos name other queries.
pub fn read_benchmark(path: &Path) -> Result<FineGrainedBenchmark> {
    let benchmark: FineGrainedBenchmark = read_json(path)?;
    benchmark
        .check()
        .map_err(|p| DataError::invalid(path, format!("{p}")))?;
    Ok(benchmark)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source: source.into(),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ConfusabilityTable {
        let mut t = ConfusabilityTable::default();
        t.links.insert("regen".into(), vec![("sonne".into(), 0.9)]);
        t.links.insert("sonne".into(), vec![("regen".into(), 0.9)]);
        t
    }

    #[test]
    fn table_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub/table.json");
        write_table(&path, &table()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_table(&path).ok(), Some(table()));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec!["table.json"], "no temporary file left behind");
    }

    #[test]
    fn bad_tables_name_the_file_and_the_fault() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.json");
        std::fs::write(&path, "{\"links\": {\"a\": [[\"b\", \"high\"]]}}")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = read_table(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("t.json") && err.contains("line 1"), "{err}");
        std::fs::write(&path, "{\"links\": {\"a\": [[\"a\", 0.9]]}}")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = read_table(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("t.json") && err.contains("linked to itself"),
            "{err}"
        );
        let err = read_table(&dir.path().join("missing.json"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing.json"), "{err}");
    }

    #[test]
    fn benchmark_round_trips_and_is_checked() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("fg.json");
        let queries = vec![
            ("a".to_string(), vec!["regen".to_string()]),
            ("b".to_string(), vec!["sonne".to_string()]),
        ];
        let b = FineGrainedBenchmark::build(&queries, &table(), 40, 1, "hand");
        write_benchmark(&path, &b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_benchmark(&path).ok(), Some(b.clone()));
        let mut bad = b;
        bad.items[1].distractors = vec![vec!["sonne".to_string()]];
        write_benchmark(&path, &bad).unwrap_or_else(|e| panic!("{e}"));
        let err = read_benchmark(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("fg.json") && err.contains("\"b\""), "{err}");
    }
}
