//! A loaded corpus: the three splits read as pose, clip features or frames, the training
//! vocabulary, stop words, the word vectors (`wordvecs.vec`) when the corpus has them, and
//! the fine-grained distractors where it provides ground truth (signsim). Every input kind
//! is read here, once per run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::config::Config;

use crate::error::DataError;
use crate::frames::{FrameConfig, frames_dir, read_frames};
use crate::phoenix::{Split, read_corpus_csv, text_ids};
use crate::pose::{PoseFeatures, StepLayout};
use crate::sample::{Sample, corpus_csv_path, load_split};
use crate::signsim::SignsimMeta;
use crate::text_tokens::TextTokenizer;
use crate::vocab::Vocabulary;
use crate::wordvec::{WordVectors, read_word_vectors};

/// What each clip is read as (`DESIGN.md` §4). Every kind becomes a `[T, F]` matrix per
/// clip, which the sign encoder reads in its own shape.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `pose/{split}/{name}.pose`: per-frame pose features (X, Y of every point, plus
    /// hand-relative hand points).
    Pose,
    /// `features/{split}/{name}.npy` or `.safetensors`: precomputed clip features `[T, F]`
    /// (e.g. I3D, F = 1024).
    Features,
    /// `features/fullFrame-210x260px/{split}/{name}/*.png`: RGB frames, preprocessed by a
    /// [`FrameConfig`].
    Frames,
}

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
    /// Word vocabulary of the training split (mining's word ids).
    pub vocab: Vocabulary,
    /// How captions become the text encoder's tokens: the vocabulary's words (the
    /// default) or a checkpoint's word pieces ([`Corpus::with_text`]).
    pub text: TextTokenizer,
    /// Words never mined.
    pub stop_words: BTreeSet<String>,
    /// signsim metadata, when the corpus is synthetic.
    pub signsim: Option<SignsimMeta>,
    /// Word vectors of `wordvecs.vec` (FastText text format), when the corpus has them:
    /// the semantic table and the synonym filter read them.
    pub word_vectors: Option<Arc<WordVectors>>,
}

impl Corpus {
    /// Loads a corpus in the PHOENIX-2014-T layout (with `pose/{split}/{name}.pose`).
    pub fn load(root: &Path) -> crate::Result<Self> {
        Self::load_input(root, InputKind::Pose, &FrameConfig::new())
    }

    /// Loads a corpus in the PHOENIX-2014-T layout, reading each clip as `input`
    /// (`frames` preprocesses `InputKind::Frames`).
    pub fn load_input(root: &Path, input: InputKind, frames: &FrameConfig) -> crate::Result<Self> {
        // Widths are checked once, across all three splits, below.
        let load = |split| read_samples(root, split, input, frames);
        let train = load(Split::Train)?;
        let dev = load(Split::Dev)?;
        let test = load(Split::Test)?;
        if train.len() < 2 {
            return Err(DataError::invalid(
                corpus_csv_path(root, Split::Train),
                format!(
                    "the train split needs at least 2 samples, got {}",
                    train.len()
                ),
            ));
        }
        check_widths(
            root,
            input,
            &[
                (Split::Train, &train),
                (Split::Dev, &dev),
                (Split::Test, &test),
            ],
        )?;
        let vocab = Vocabulary::build(train.iter().map(|s| s.words.as_slice()), 1);
        Self::assemble(root, [train, dev, test], vocab)
    }

    /// The corpus of `splits` (train, dev, test) under `root`, with its metadata.
    fn assemble(root: &Path, splits: [Vec<Sample>; 3], vocab: Vocabulary) -> crate::Result<Self> {
        let meta = corpus_meta(root)?;
        let [train, dev, test] = splits;
        Ok(Self {
            root: root.to_path_buf(),
            train,
            dev,
            test,
            text: TextTokenizer::Words(vocab.clone()),
            vocab,
            stop_words: meta.stop_words,
            signsim: meta.signsim,
            word_vectors: meta.word_vectors,
        })
    }

    /// A corpus of one split's samples (the others empty) with a given vocabulary, e.g. a
    /// trained model's, for evaluation, embedding or table building.
    pub fn with_split(
        root: &Path,
        split: Split,
        samples: Vec<Sample>,
        vocab: Vocabulary,
    ) -> crate::Result<Self> {
        // The caller read `samples`; their input kind is not known here, so widths are
        // checked where `load_samples` reads them.
        let mut splits = [Vec::new(), Vec::new(), Vec::new()];
        let slot = match split {
            Split::Train => 0,
            Split::Dev => 1,
            Split::Test => 2,
        };
        splits[slot] = samples;
        Self::assemble(root, splits, vocab)
    }

    /// The corpus with its captions tokenized by `text` (e.g. a BERT checkpoint's word
    /// pieces); the word vocabulary stays, for mining.
    pub fn with_text(mut self, text: TextTokenizer) -> Self {
        self.text = text;
        self
    }

    /// The samples of a split.
    pub fn split(&self, split: Split) -> &[Sample] {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
            Split::Test => &self.test,
        }
    }

    /// Values per time step of the clips (the sign encoder's input width).
    pub fn input_dim(&self) -> usize {
        self.train.first().map_or(1, |s| s.features.dim)
    }

    /// Ground-truth fine-grained distractors of a split (`dev` or `test`), by sample name.
    pub fn distractors(&self, split: Split) -> Option<&BTreeMap<String, Vec<String>>> {
        self.signsim
            .as_ref()
            .and_then(|m| m.distractors.get(split.name()))
    }

    /// Vocabulary ids for mining: `None` for stop words, padding and unknown words.
    pub fn mining_ids(&self, words: &[String]) -> Vec<Option<usize>> {
        words
            .iter()
            .map(|w| {
                let id = self.vocab.id(w);
                (id > crate::vocab::UNK && !self.stop_words.contains(w)).then_some(id)
            })
            .collect()
    }
}

/// What a corpus root holds besides its splits.
#[derive(Debug, Clone)]
pub struct CorpusMeta {
    /// signsim's metadata, when the root has `signsim.json`.
    pub signsim: Option<SignsimMeta>,
    /// The words never mined: signsim's stop words, or [`GERMAN_STOP_WORDS`].
    pub stop_words: BTreeSet<String>,
    /// `wordvecs.vec`, when the root has it.
    pub word_vectors: Option<Arc<WordVectors>>,
}

/// Reads a corpus root's [`CorpusMeta`]. A `signsim.json` or `wordvecs.vec` that is present
/// but malformed is an error naming it.
pub fn corpus_meta(root: &Path) -> crate::Result<CorpusMeta> {
    let signsim = root
        .join("signsim.json")
        .exists()
        .then(|| SignsimMeta::load(root))
        .transpose()?;
    let stop_words = match &signsim {
        Some(m) => m.stop_words.iter().cloned().collect(),
        None => GERMAN_STOP_WORDS.iter().map(|s| s.to_string()).collect(),
    };
    let vectors = root.join("wordvecs.vec");
    let word_vectors = vectors
        .is_file()
        .then(|| read_word_vectors(&vectors).map(Arc::new))
        .transpose()?;
    Ok(CorpusMeta {
        signsim,
        stop_words,
        word_vectors,
    })
}

/// One split of a corpus, read as `input` (what [`Corpus::load_input`] reads per split);
/// every clip must have the split's first clip's width ([`check_widths`]).
pub fn load_samples(
    root: &Path,
    split: Split,
    input: InputKind,
    frames: &FrameConfig,
) -> crate::Result<Vec<Sample>> {
    let samples = read_samples(root, split, input, frames)?;
    check_widths(root, input, &[(split, &samples)])?;
    Ok(samples)
}

/// One split read as `input`, its widths unchecked.
fn read_samples(
    root: &Path,
    split: Split,
    input: InputKind,
    frames: &FrameConfig,
) -> crate::Result<Vec<Sample>> {
    match input {
        InputKind::Pose => load_split(root, split),
        other => load_split_input(root, split, other, frames),
    }
}

/// The file (or frame folder) a sample's clip was read from.
pub fn sample_path(root: &Path, input: InputKind, split: Split, name: &str) -> PathBuf {
    match input {
        InputKind::Pose => crate::sample::pose_path(root, split, name),
        InputKind::Features => clip_features_path(root, split, name),
        InputKind::Frames => frames_dir(root, split, name),
    }
}

/// Every clip of every split must have the width and step layout of the train split's
/// first clip (a pose of another layout, or features of another width, would reach the
/// model as a shape its first layer cannot take). The error names the odd file, what it
/// has, and the clip it differs from.
pub fn check_widths(
    root: &Path,
    input: InputKind,
    splits: &[(Split, &[Sample])],
) -> crate::Result<()> {
    let Some((first_split, first)) = splits
        .iter()
        .find_map(|(split, samples)| samples.first().map(|s| (*split, s)))
    else {
        return Ok(());
    };
    let want = (first.features.dim, first.features.layout);
    for (split, samples) in splits {
        for s in samples.iter() {
            let got = (s.features.dim, s.features.layout);
            if got != want {
                return Err(DataError::invalid(
                    sample_path(root, input, *split, &s.name),
                    format!(
                        "expected {} values per time step{}, as {} has; got {}{}",
                        want.0,
                        layout_note(want.1),
                        sample_path(root, input, first_split, &first.name).display(),
                        got.0,
                        layout_note(got.1)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn layout_note(layout: StepLayout) -> String {
    match layout {
        StepLayout::Flat => String::new(),
        StepLayout::Image { height, width } => format!(" (3×{height}×{width} images)"),
    }
}

/// Where a sample's clip features live: `features/{split}/{name}.npy`, else `.safetensors`.
pub fn clip_features_path(root: &Path, split: Split, name: &str) -> PathBuf {
    let dir = root.join("features").join(split.name());
    let npy = dir.join(format!("{name}.npy"));
    if npy.exists() {
        npy
    } else {
        dir.join(format!("{name}.safetensors"))
    }
}

/// One split read as clip features or frames: each clip becomes a `[T, F]` matrix (frames
/// flattened to `F = 3·H·W`). Errors name the file or folder; [`check_widths`] checks
/// that the clips share `F`.
fn load_split_input(
    root: &Path,
    split: Split,
    input: InputKind,
    frames: &FrameConfig,
) -> crate::Result<Vec<Sample>> {
    if !root.is_dir() {
        return Err(DataError::invalid(
            root,
            "expected a corpus folder in the PHOENIX-2014-T layout",
        ));
    }
    let csv = corpus_csv_path(root, split);
    let rows = read_corpus_csv(&csv)?;
    let ids = text_ids(&rows);
    let mut out = Vec::with_capacity(rows.len());
    for (r, text_id) in rows.iter().zip(ids) {
        let features = match input {
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
                    ));
                }
                let f = crate::clips::read_clip_features(&path, None)?;
                PoseFeatures {
                    frames: f.clips,
                    dim: f.dim,
                    values: f.values,
                    layout: StepLayout::Flat,
                }
            }
            InputKind::Frames | InputKind::Pose => {
                let dir = frames_dir(root, split, &r.name);
                let f = read_frames(&dir, frames)?;
                PoseFeatures {
                    frames: f.frames,
                    dim: 3 * f.height * f.width,
                    values: f.values,
                    layout: StepLayout::Image {
                        height: f.height,
                        width: f.width,
                    },
                }
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, text_id: usize) -> Sample {
        Sample {
            name: text.into(),
            speaker: "S".into(),
            features: Arc::new(PoseFeatures {
                frames: 1,
                dim: 1,
                values: vec![0.0],
                layout: StepLayout::Flat,
            }),
            words: text.split(' ').map(String::from).collect(),
            text_id,
        }
    }

    #[test]
    fn mining_ids_skip_stop_words_and_unknown_words() {
        let train = vec![sample("im nord regen", 0)];
        let corpus = Corpus {
            root: "unused".into(),
            vocab: Vocabulary::build(train.iter().map(|s| s.words.as_slice()), 1),
            text: TextTokenizer::Words(Vocabulary::from_words(Vec::new())),
            dev: train.clone(),
            test: Vec::new(),
            train,
            stop_words: ["im".to_string()].into_iter().collect(),
            signsim: None,
            word_vectors: None,
        };
        let ids = corpus.mining_ids(&["im".into(), "nord".into(), "zzz".into()]);
        assert_eq!(ids, vec![None, Some(corpus.vocab.id("nord")), None]);
        assert_eq!(corpus.split(Split::Dev).len(), 1);
        assert!(corpus.split(Split::Test).is_empty());
    }

    #[test]
    fn a_clip_of_another_width_in_any_split_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // Two train clips and one dev and one test clip of 3 values per step; then the
        // dev clip is replaced by one of 4 (as a 1000-d feature file among 1024-d ones).
        let rows = "name|video|start|end|speaker|orth|translation\na|a/1/*.png|-1|-1|S|REGEN|regen\nb|b/1/*.png|-1|-1|S|SONNE|sonne\n";
        for split in Split::ALL {
            std::fs::write(dir.join(format!("PHOENIX-2014-T.{split}.corpus.csv")), rows).unwrap();
            let features = dir.join("features").join(split.name());
            std::fs::create_dir_all(&features).unwrap();
            for name in ["a", "b"] {
                crate::gallery::write_npy(
                    &features.join(format!("{name}.npy")),
                    &[0.0; 6],
                    &[2, 3],
                )
                .unwrap();
            }
        }
        let load = || Corpus::load_input(dir, InputKind::Features, &FrameConfig::new());
        assert_eq!(load().unwrap().input_dim(), 3);
        let odd = dir.join("features/dev/b.npy");
        crate::gallery::write_npy(&odd, &[0.0; 8], &[2, 4]).unwrap();
        let e = load().unwrap_err().to_string();
        assert!(e.starts_with(&odd.display().to_string()), "{e}");
        assert!(e.contains("expected 3") && e.contains("got 4"), "{e}");
        // Across splits: a dev split whose every clip has 4 values, against train's 3.
        crate::gallery::write_npy(&dir.join("features/dev/a.npy"), &[0.0; 8], &[2, 4]).unwrap();
        let e = load().unwrap_err().to_string();
        assert!(
            e.contains("features/dev/a.npy") && e.contains("features/train/a.npy"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_corpus_and_a_one_sample_train_split_are_errors_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let e = Corpus::load(&dir.join("nope")).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        // One sample per split, each with a [2, 3] clip-feature file.
        for split in Split::ALL {
            std::fs::write(
                dir.join(format!("PHOENIX-2014-T.{split}.corpus.csv")),
                "name|video|start|end|speaker|orth|translation\na|a/1/*.png|-1|-1|S|REGEN|regen\n",
            )
            .unwrap();
            let features = dir.join("features").join(split.name());
            std::fs::create_dir_all(&features).unwrap();
            crate::gallery::write_npy(&features.join("a.npy"), &[0.0; 6], &[2, 3]).unwrap();
        }
        let e = Corpus::load_input(dir, InputKind::Features, &FrameConfig::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train.corpus.csv") && e.contains("at least 2"),
            "{e}"
        );
    }
}
