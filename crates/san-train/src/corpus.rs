//! A loaded corpus: the three splits, the vocabulary, stop words, and the fine-grained
//! distractors where the corpus provides ground truth (signsim).

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use san_data::DataError;
use san_data::frames::{FrameConfig, frames_dir, read_frames};
use san_data::phoenix::read_corpus_csv;
use san_data::pose::PoseFeatures;
use san_data::sample::{Sample, corpus_csv_path, load_split};
use san_data::signsim::SignsimMeta;
use san_data::vocab::Vocabulary;

use crate::config::InputKind;
use crate::error::{Result, TrainError};

/// German function words excluded from mining on real PHOENIX-2014-T text.
pub const GERMAN_STOP_WORDS: &[&str] = &[
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "und",
    "oder", "im", "in", "am", "an", "auf", "aus", "bei", "mit", "von", "vom", "zum", "zur", "zu",
    "es", "ist", "sind", "wird", "werden", "gibt", "hier", "da", "dann", "auch", "noch", "nur",
    "sich", "wir", "ihnen", "uns", "so", "sonst", "nach", "bis", "heute",
];

/// Everything a run reads from disk.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Corpus root.
    pub root: PathBuf,
    /// Training split.
    pub train: Vec<Sample>,
    /// Dev split (model selection).
    pub dev: Vec<Sample>,
    /// Test split (reported once).
    pub test: Vec<Sample>,
    /// Word vocabulary of the training split.
    pub vocab: Vocabulary,
    /// Words never mined.
    pub stop_words: BTreeSet<String>,
    /// signsim metadata, when the corpus is synthetic.
    pub signsim: Option<SignsimMeta>,
}

impl Corpus {
    /// Loads a corpus in the PHOENIX-2014-T layout (with `pose/{split}/{name}.pose`).
    pub fn load(root: &Path) -> Result<Self> {
        Self::load_input(root, InputKind::Pose, &FrameConfig::new())
    }

    /// Loads a corpus in the PHOENIX-2014-T layout, reading each clip as `input`
    /// (`frames` preprocesses `InputKind::Frames`).
    pub fn load_input(root: &Path, input: InputKind, frames: &FrameConfig) -> Result<Self> {
        let load = |split: &str| load_samples(root, split, input, frames);
        let train = load("train")?;
        let dev = load("dev")?;
        let test = load("test")?;
        if train.len() < 2 {
            return Err(TrainError::Config(format!(
                "{}: the train split needs at least 2 samples",
                root.display()
            )));
        }
        let vocab = Vocabulary::build(train.iter().map(|s| s.words.as_slice()), 1);
        let (signsim, stop_words) = corpus_meta(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            train,
            dev,
            test,
            vocab,
            stop_words,
            signsim,
        })
    }

    /// A corpus of one split's samples (the others empty) with a given vocabulary, e.g. a
    /// trained model's, for evaluation, embedding or table building.
    pub fn with_split(
        root: &Path,
        split: &str,
        samples: Vec<Sample>,
        vocab: Vocabulary,
    ) -> Result<Self> {
        let (signsim, stop_words) = corpus_meta(root)?;
        let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
        match split {
            "train" => train = samples,
            "dev" => dev = samples,
            _ => test = samples,
        }
        Ok(Self {
            root: root.to_path_buf(),
            train,
            dev,
            test,
            vocab,
            stop_words,
            signsim,
        })
    }

    /// The samples of a split by name (`train`, `dev`, else `test`).
    pub fn split(&self, split: &str) -> &[Sample] {
        match split {
            "train" => &self.train,
            "dev" => &self.dev,
            _ => &self.test,
        }
    }

    /// Values per time step of the clips (the sign encoder's input width).
    pub fn input_dim(&self) -> usize {
        self.train.first().map_or(1, |s| s.features.dim)
    }

    /// Ground-truth fine-grained distractors of a split (`dev` or `test`), by sample name.
    pub fn distractors(&self, split: &str) -> Option<&BTreeMap<String, Vec<String>>> {
        self.signsim.as_ref().and_then(|m| m.distractors.get(split))
    }

    /// Vocabulary ids for mining: `None` for stop words, padding and unknown words.
    pub fn mining_ids(&self, words: &[String]) -> Vec<Option<usize>> {
        words
            .iter()
            .map(|w| {
                let id = self.vocab.id(w);
                (id > san_data::vocab::UNK && !self.stop_words.contains(w)).then_some(id)
            })
            .collect()
    }
}

/// A corpus root's signsim metadata (when it has `signsim.json`) and the words never
/// mined: signsim's stop words, or [`GERMAN_STOP_WORDS`].
pub fn corpus_meta(root: &Path) -> Result<(Option<SignsimMeta>, BTreeSet<String>)> {
    let signsim = root
        .join("signsim.json")
        .exists()
        .then(|| SignsimMeta::load(root))
        .transpose()?;
    let stop_words = match &signsim {
        Some(m) => m.stop_words.iter().cloned().collect(),
        None => GERMAN_STOP_WORDS.iter().map(|s| s.to_string()).collect(),
    };
    Ok((signsim, stop_words))
}

/// One split of a corpus, read as `input` (what [`Corpus::load_input`] reads per split).
pub fn load_samples(
    root: &Path,
    split: &str,
    input: InputKind,
    frames: &FrameConfig,
) -> Result<Vec<Sample>> {
    match input {
        InputKind::Pose => Ok(load_split(root, split)?),
        other => load_split_input(root, split, other, frames),
    }
}

/// Where a sample's clip features live: `features/{split}/{name}.npy`, else `.safetensors`.
pub fn clip_features_path(root: &Path, split: &str, name: &str) -> PathBuf {
    let dir = root.join("features").join(split);
    let npy = dir.join(format!("{name}.npy"));
    if npy.exists() {
        npy
    } else {
        dir.join(format!("{name}.safetensors"))
    }
}

/// One split read as clip features or frames: each clip becomes a `[T, F]` matrix (frames
/// flattened to `F = 3·H·W`). Errors name the file or folder; all clips of a split must
/// share `F`.
fn load_split_input(
    root: &Path,
    split: &str,
    input: InputKind,
    frames: &FrameConfig,
) -> Result<Vec<Sample>> {
    if !root.is_dir() {
        return Err(DataError::invalid(
            root,
            "expected a corpus folder in the PHOENIX-2014-T layout",
        )
        .into());
    }
    let csv = corpus_csv_path(root, split);
    let rows = read_corpus_csv(&csv)?;
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut dim: Option<(usize, PathBuf)> = None;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (features, path) = match input {
            InputKind::Features => {
                let path = clip_features_path(root, split, &r.name);
                if !path.exists() {
                    return Err(DataError::invalid(
                        &path,
                        format!(
                            "expected the clip features of sample {} (listed in {}) as .npy or .safetensors; neither exists",
                            r.name,
                            csv.display()
                        ),
                    )
                    .into());
                }
                let f = san_data::clips::read_clip_features(&path, dim.as_ref().map(|d| d.0))?;
                (
                    PoseFeatures {
                        frames: f.clips,
                        dim: f.dim,
                        values: f.values,
                    },
                    path,
                )
            }
            InputKind::Frames | InputKind::Pose => {
                let dir = frames_dir(root, split, &r.name);
                let f = read_frames(&dir, frames)?;
                (
                    PoseFeatures {
                        frames: f.frames,
                        dim: 3 * f.height * f.width,
                        values: f.values,
                    },
                    dir,
                )
            }
        };
        match &dim {
            Some((d, first)) if *d != features.dim => {
                return Err(DataError::invalid(
                    &path,
                    format!(
                        "expected {d} values per time step, as in {}; got {}",
                        first.display(),
                        features.dim
                    ),
                )
                .into());
            }
            None => dim = Some((features.dim, path)),
            _ => {}
        }
        let norm = san_core::text::normalize(&r.translation);
        let next = ids.len();
        let text_id = *ids.entry(norm).or_insert(next);
        out.push(Sample {
            name: r.name.clone(),
            speaker: r.speaker.clone(),
            features: Arc::new(features),
            words: san_core::text::words(&r.translation),
            text_id,
        });
    }
    Ok(out)
}
