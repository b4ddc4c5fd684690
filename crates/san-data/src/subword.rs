//! Sub-word tokenizers through HuggingFace `tokenizers`: a `tokenizer.json`, or a WordPiece
//! `vocab.txt` (BERT style). Captions go in as their normalised words, so every token
//! carries the index of the word it belongs to, which mining needs
//! ([`san_core::mining::WordPieces`]).

use std::path::{Path, PathBuf};

use san_core::mining::WordPieces;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{Model, Tokenizer};

use crate::error::DataError;

/// One caption as sub-word tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedCaption {
    /// Token ids, special tokens included when asked for.
    pub ids: Vec<u32>,
    /// For each token, the index of its word in the caption (`None` for special tokens).
    pub word_of_token: Vec<Option<usize>>,
}

/// A HuggingFace tokenizer and where it came from.
#[derive(Clone)]
pub struct SubwordTokenizer {
    inner: Tokenizer,
    source: PathBuf,
}

impl std::fmt::Debug for SubwordTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubwordTokenizer({})", self.source.display())
    }
}

impl SubwordTokenizer {
    /// Loads a `tokenizer.json` (any model the `tokenizers` crate reads). Its truncation
    /// setting is kept; its padding setting is dropped, because batchers pad.
    pub fn from_tokenizer_json(path: &Path) -> crate::Result<Self> {
        if !path.is_file() {
            return Err(DataError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such tokenizer.json"),
            ));
        }
        let bytes = crate::io::read(path)?;
        // Checked as JSON first: tokenizers 0.23 panics (`expect("Helper")` in its decoder
        // deserializer) on some malformed JSON instead of returning an error.
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            DataError::invalid(path, format!("expected a HuggingFace tokenizer.json: {e}"))
        })?;
        let mut inner = Tokenizer::from_bytes(&bytes).map_err(|e| {
            DataError::invalid(path, format!("expected a HuggingFace tokenizer.json: {e}"))
        })?;
        // Batchers pad (with masks); a padding setting in the file (sentence-transformers
        // files pad every caption to 128) would add pieces that belong to no word.
        inner.with_padding(None);
        Ok(Self {
            inner,
            source: path.to_path_buf(),
        })
    }

    /// A BERT WordPiece tokenizer from a `vocab.txt` (one token per line): BERT's
    /// normaliser (lower-casing and accent stripping only when `lowercase`, as for uncased
    /// models; German cased models keep both), BERT's pre-tokenizer, `##` continuation
    /// pieces, and `[CLS] … [SEP]` around each caption.
    pub fn from_wordpiece_vocab(path: &Path, lowercase: bool) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let has = |t: &str| text.lines().any(|l| l.trim_end_matches('\r') == t);
        for t in ["[CLS]", "[SEP]", "[UNK]"] {
            if !has(t) {
                return Err(DataError::invalid(
                    path,
                    format!("expected the special token {t} in the vocabulary"),
                ));
            }
        }
        let name = path
            .to_str()
            .ok_or_else(|| DataError::invalid(path, "expected a UTF-8 path"))?;
        let model = WordPiece::from_file(name)
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| {
                DataError::invalid(path, format!("expected a WordPiece vocabulary: {e}"))
            })?;
        let id = |t: &str| model.token_to_id(t).unwrap_or_default();
        let (cls, sep) = (id("[CLS]"), id("[SEP]"));
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(
                true,
                true,
                Some(lowercase),
                lowercase,
            )))
            .map_err(|e| DataError::invalid(path, format!("normaliser: {e}")))?;
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )));
        Ok(Self {
            inner,
            source: path.to_path_buf(),
        })
    }

    /// The tokenizer of a checkpoint folder: its `tokenizer.json`, else its `vocab.txt`
    /// (lower-cased when the folder's `tokenizer_config.json` says `do_lower_case: true`;
    /// cased otherwise, as German BERT checkpoints are).
    pub fn from_checkpoint(dir: &Path) -> crate::Result<Self> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(&json);
        }
        let vocab = dir.join("vocab.txt");
        if !vocab.is_file() {
            return Err(DataError::io(
                &json,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "expected tokenizer.json or vocab.txt in the checkpoint folder",
                ),
            ));
        }
        let config = dir.join("tokenizer_config.json");
        let lowercase = if config.is_file() {
            let value: serde_json::Value = serde_json::from_slice(&crate::io::read(&config)?)
                .map_err(|e| DataError::invalid(&config, format!("expected JSON: {e}")))?;
            value
                .get("do_lower_case")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        } else {
            false
        };
        Self::from_wordpiece_vocab(&vocab, lowercase)
    }

    /// The file the tokenizer was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Writes the tokenizer as a `tokenizer.json` at `path` (atomically), so a saved model
    /// carries the tokenizer it was trained with.
    pub fn save(&self, path: &Path) -> crate::Result<()> {
        let json = self.inner.to_string(false).map_err(|e| {
            DataError::invalid(path, format!("could not serialise the tokenizer: {e}"))
        })?;
        crate::io::write_atomic(path, json.as_bytes())
    }

    /// The underlying tokenizer, e.g. to save it as `tokenizer.json`.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner
    }

    /// Id of a token, if in the vocabulary (e.g. `[PAD]`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Tokenizes a caption given as words; each token records its word's index.
    pub fn encode_words(
        &self,
        words: &[String],
        special_tokens: bool,
    ) -> crate::Result<TokenizedCaption> {
        let enc = self.inner.encode(words, special_tokens).map_err(|e| {
            DataError::invalid(
                &self.source,
                format!("could not tokenize {:?}: {e}", words.join(" ")),
            )
        })?;
        Ok(TokenizedCaption {
            ids: enc.get_ids().to_vec(),
            word_of_token: enc
                .get_word_ids()
                .iter()
                .map(|w| w.map(|w| w as usize))
                .collect(),
        })
    }

    /// Tokenizes a batch and describes its pieces for mining: `word_id(word)` gives the
    /// mining id of each word (`None` for stop words).
    pub fn word_pieces(
        &self,
        captions: &[Vec<String>],
        word_id: impl Fn(&str) -> Option<usize>,
    ) -> crate::Result<(Vec<TokenizedCaption>, WordPieces)> {
        let tokenized = captions
            .iter()
            .map(|c| self.encode_words(c, true))
            .collect::<crate::Result<Vec<_>>>()?;
        let pieces = WordPieces {
            token_word: tokenized.iter().map(|t| t.word_of_token.clone()).collect(),
            word_ids: captions
                .iter()
                .map(|c| c.iter().map(|w| word_id(w)).collect())
                .collect(),
        };
        Ok((tokenized, pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str =
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nregen\n##schauer\nim\nnord\n##en\nsonne\n";

    fn vocab_file(dir: &Path) -> PathBuf {
        let p = dir.join("vocab.txt");
        std::fs::write(&p, VOCAB).unwrap_or_else(|e| panic!("{e}"));
        p
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn wordpiece_tokens_know_their_words() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let t = SubwordTokenizer::from_wordpiece_vocab(&vocab_file(dir.path()), false)
            .unwrap_or_else(|e| panic!("{e}"));
        // Greedy longest match by hand: [CLS] regen ##schauer im nord ##en [UNK] [SEP].
        let c = t
            .encode_words(&words("regenschauer im norden xyz"), true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ids, vec![2, 5, 6, 7, 8, 9, 1, 3]);
        assert_eq!(
            c.word_of_token,
            vec![
                None,
                Some(0),
                Some(0),
                Some(1),
                Some(2),
                Some(2),
                Some(3),
                None
            ]
        );
        // Cased: "Regen" is not "regen" → [UNK]; uncased lower-cases first.
        let cased = t
            .encode_words(&words("Regen"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cased.ids, vec![1]);
        let lower = SubwordTokenizer::from_wordpiece_vocab(&vocab_file(dir.path()), true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            lower
                .encode_words(&words("Regen"), false)
                .ok()
                .map(|c| c.ids),
            Some(vec![5])
        );
    }

    #[test]
    fn tokenizer_json_round_trip_and_pieces() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let t = SubwordTokenizer::from_wordpiece_vocab(&vocab_file(dir.path()), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let json = dir.path().join("tokenizer.json");
        t.tokenizer()
            .save(&json, false)
            .unwrap_or_else(|e| panic!("{e}"));
        let j = SubwordTokenizer::from_tokenizer_json(&json).unwrap_or_else(|e| panic!("{e}"));
        let caps = vec![words("im regenschauer"), words("sonne")];
        let (toks, pieces) = j
            .word_pieces(&caps, |w| (w != "im").then_some(w.len()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(toks[0].ids, vec![2, 7, 5, 6, 3]);
        assert_eq!(
            pieces.token_word[0],
            vec![None, Some(0), Some(1), Some(1), None]
        );
        assert_eq!(pieces.word_ids, vec![vec![None, Some(12)], vec![Some(5)]]);
        assert_eq!(j.token_id("[PAD]"), Some(0));
    }

    #[test]
    fn a_padding_setting_in_tokenizer_json_is_dropped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut t = SubwordTokenizer::from_wordpiece_vocab(&vocab_file(dir.path()), false)
            .unwrap_or_else(|e| panic!("{e}"));
        // as sentence-transformers ships them: every caption padded to a fixed length
        t.inner.with_padding(Some(tokenizers::PaddingParams {
            strategy: tokenizers::PaddingStrategy::Fixed(16),
            ..Default::default()
        }));
        let json = dir.path().join("tokenizer.json");
        t.tokenizer()
            .save(&json, false)
            .unwrap_or_else(|e| panic!("{e}"));
        let j = SubwordTokenizer::from_tokenizer_json(&json).unwrap_or_else(|e| panic!("{e}"));
        let tok = j
            .encode_words(&words("sonne"), true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            tok.ids.len(),
            3,
            "[CLS] sonne [SEP], not padded: {:?}",
            tok.ids
        );
    }

    #[test]
    fn bad_tokenizer_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bad = dir.path().join("tokenizer.json");
        std::fs::write(&bad, "{ not json").unwrap_or_else(|e| panic!("{e}"));
        let err = SubwordTokenizer::from_tokenizer_json(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("tokenizer.json") && err.contains("expected a HuggingFace"),
            "{err}"
        );
        let err = SubwordTokenizer::from_tokenizer_json(&dir.path().join("none.json"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("none.json"), "{err}");
        let v = dir.path().join("vocab.txt");
        std::fs::write(&v, "[PAD]\n[UNK]\nregen\n").unwrap_or_else(|e| panic!("{e}"));
        let err = SubwordTokenizer::from_wordpiece_vocab(&v, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("vocab.txt") && err.contains("[CLS]"), "{err}");
    }
}
