//! A loaded corpus: the three splits, the vocabulary, stop words, and the fine-grained
//! distractors where the corpus provides ground truth (signsim).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use san_data::sample::{Sample, load_split};
use san_data::signsim::SignsimMeta;
use san_data::vocab::Vocabulary;

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
        let train = load_split(root, "train")?;
        let dev = load_split(root, "dev")?;
        let test = load_split(root, "test")?;
        if train.len() < 2 {
            return Err(TrainError::Config(format!(
                "{}: the train split needs at least 2 samples",
                root.display()
            )));
        }
        let vocab = Vocabulary::build(train.iter().map(|s| s.words.as_slice()), 1);
        let signsim = root
            .join("signsim.json")
            .exists()
            .then(|| SignsimMeta::load(root))
            .transpose()?;
        let stop_words = match &signsim {
            Some(m) => m.stop_words.iter().cloned().collect(),
            None => GERMAN_STOP_WORDS.iter().map(|s| s.to_string()).collect(),
        };
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
