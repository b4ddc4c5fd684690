//! Samples: one clip's pose features with its sentence, and the splits of a corpus.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, Result};
use crate::phoenix::{CorpusEntry, Split, read_corpus_csv, text_ids};
use crate::pose::{PoseFeatures, pose_features, read_pose};

/// One (clip, sentence) pair ready for batching.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Sample name from the corpus CSV.
    pub name: String,
    /// Signer id.
    pub speaker: String,
    /// Per-frame pose features (shared, so cloning a sample is cheap).
    pub features: Arc<PoseFeatures>,
    /// Normalised words of the translation.
    pub words: Vec<String>,
    /// Equal for samples with identical normalised sentences (assigned per split).
    pub text_id: usize,
}

/// Where the corpus CSV of a split lives under `root`: the official
/// `annotations/manual/PHOENIX-2014-T.{split}.corpus.csv`, or the CSV directly in `root`.
pub fn corpus_csv_path(root: &Path, split: Split) -> PathBuf {
    let official = root
        .join("annotations/manual")
        .join(format!("PHOENIX-2014-T.{split}.corpus.csv"));
    if official.exists() {
        official
    } else {
        root.join(format!("PHOENIX-2014-T.{split}.corpus.csv"))
    }
}

/// Where the pose of a sample lives: `root/pose/{split}/{name}.pose`.
pub fn pose_path(root: &Path, split: Split, name: &str) -> PathBuf {
    root.join("pose")
        .join(split.name())
        .join(format!("{name}.pose"))
}

/// Loads one split: its CSV and one `.pose` file per row. Errors name the missing file.
pub fn load_split(root: &Path, split: Split) -> Result<Vec<Sample>> {
    if !root.is_dir() {
        return Err(DataError::invalid(
            root,
            "expected a corpus folder in the PHOENIX-2014-T layout (annotations/manual/*.corpus.csv, pose/{split}/*.pose)",
        ));
    }
    let csv = corpus_csv_path(root, split);
    let rows = read_corpus_csv(&csv)?;
    samples_from_rows(root, split, &rows).map_err(|e| match e {
        DataError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            DataError::invalid(
                path,
                format!(
                    "expected the pose file of sample {name} (listed in {}); it does not exist",
                    csv.display()
                ),
            )
        }
        e => e,
    })
}

/// Builds samples from corpus rows, reading their poses.
pub fn samples_from_rows(root: &Path, split: Split, rows: &[CorpusEntry]) -> Result<Vec<Sample>> {
    rows.iter()
        .zip(text_ids(rows))
        .map(|(r, text_id)| {
            let path = pose_path(root, split, &r.name);
            let pose = read_pose(&path)?;
            let features = pose_features(&pose, &path)?;
            Ok(Sample {
                name: r.name.clone(),
                speaker: r.speaker.clone(),
                features: Arc::new(features),
                words: san_core::text::words(&r.translation),
                text_id,
            })
        })
        .collect()
}
