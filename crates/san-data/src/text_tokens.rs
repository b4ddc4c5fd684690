//! How captions become the text encoder's token ids: one id per word of the corpus
//! vocabulary (the word encoder), or the word pieces of a checkpoint's tokenizer (a
//! BERT-family encoder). Either way each token carries the index of its word in the
//! caption, so mining, reliable pairs and substitutions stay word-level.

use std::path::Path;
use std::sync::Arc;

use crate::subword::{SubwordTokenizer, TokenizedCaption};
use crate::vocab::Vocabulary;

/// A caption tokenizer for the text encoder; see the module docs.
#[derive(Debug, Clone)]
pub enum TextTokenizer {
    /// One token per word, its id in the vocabulary (`UNK` for words outside it).
    Words(Vocabulary),
    /// Word pieces with `[CLS]`/`[SEP]`, at most `max_len` tokens per caption (the last
    /// special token is kept when a caption is cut).
    Pieces {
        /// The checkpoint's tokenizer.
        tokenizer: Arc<SubwordTokenizer>,
        /// Tokens kept per caption, special tokens included.
        max_len: usize,
    },
}

impl TextTokenizer {
    /// The word pieces of the checkpoint folder `dir` (its `tokenizer.json`, else its
    /// `vocab.txt`), cut to `max_len` tokens per caption.
    pub fn from_checkpoint(dir: &Path, max_len: usize) -> crate::Result<Self> {
        Ok(Self::Pieces {
            tokenizer: Arc::new(SubwordTokenizer::from_checkpoint(dir)?),
            max_len,
        })
    }

    /// True for word pieces.
    pub fn is_pieces(&self) -> bool {
        matches!(self, Self::Pieces { .. })
    }

    /// What the tokenizer is, for a console header: `words (V ids)` or `word pieces of
    /// <file>, at most L per caption`.
    pub fn describe(&self) -> String {
        match self {
            Self::Words(v) => format!("words ({} ids)", v.len()),
            Self::Pieces { tokenizer, max_len } => format!(
                "word pieces of {}, at most {max_len} per caption",
                tokenizer.source().display()
            ),
        }
    }

    /// The tokens of a caption given as normalised words, of which the first `max_words`
    /// are kept. Each token records the index of its word (`None` for special tokens).
    /// Returns an error when the tokenizer cannot encode the words.
    pub fn encode(&self, words: &[String], max_words: usize) -> crate::Result<TokenizedCaption> {
        let words = &words[..words.len().min(max_words)];
        match self {
            Self::Words(vocab) => Ok(TokenizedCaption {
                ids: vocab.encode(words).into_iter().map(|i| i as u32).collect(),
                word_of_token: (0..words.len()).map(Some).collect(),
            }),
            Self::Pieces { tokenizer, max_len } => {
                let mut caption = tokenizer.encode_words(words, true)?;
                cut(&mut caption, *max_len);
                Ok(caption)
            }
        }
    }

    /// The token ids of a caption (as [`encode`](Self::encode)), for padding.
    pub fn encode_ids(&self, words: &[String], max_words: usize) -> crate::Result<Vec<usize>> {
        let caption = self.encode(words, max_words)?;
        Ok(caption.ids.into_iter().map(|i| i as usize).collect())
    }
}

/// Cuts a caption to `max_len` tokens, keeping its last token when that is a special
/// token (`[SEP]`).
fn cut(caption: &mut TokenizedCaption, max_len: usize) {
    let n = caption.ids.len();
    if n <= max_len {
        return;
    }
    let keep_last = max_len >= 2 && caption.word_of_token.last() == Some(&None);
    let (id, word) = (caption.ids[n - 1], caption.word_of_token[n - 1]);
    let head = if keep_last { max_len - 1 } else { max_len };
    caption.ids.truncate(head);
    caption.word_of_token.truncate(head);
    if keep_last {
        caption.ids.push(id);
        caption.word_of_token.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 regen=5 ##schauer=6 im=7 nord=8 ##en=9
    const VOCAB: &str =
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nregen\n##schauer\nim\nnord\n##en\nsonne\n";

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn pieces(max_len: usize) -> (tempfile::TempDir, TextTokenizer) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vocab.txt"), VOCAB).unwrap();
        let t = TextTokenizer::from_checkpoint(dir.path(), max_len).unwrap();
        (dir, t)
    }

    #[test]
    fn words_are_one_token_each() {
        let v = Vocabulary::from_words(words("<pad> <unk> im nord"));
        let t = TextTokenizer::Words(v);
        let c = t.encode(&words("nord im zzz"), 2).unwrap();
        assert_eq!(c.ids, vec![3, 2], "the first two words, by vocabulary id");
        assert_eq!(c.word_of_token, vec![Some(0), Some(1)]);
        assert!(!t.is_pieces());
    }

    #[test]
    fn pieces_know_their_words_and_keep_sep_when_cut() {
        let (_dir, t) = pieces(5);
        // By hand: [CLS] regen ##schauer im nord ##en [SEP] is 7 tokens; cut to 5 keeps
        // the first 4 and [SEP].
        let c = t.encode(&words("regenschauer im norden"), 32).unwrap();
        assert_eq!(c.ids, vec![2, 5, 6, 7, 3]);
        assert_eq!(c.word_of_token, vec![None, Some(0), Some(0), Some(1), None]);
        let (_dir, long) = pieces(64);
        let c = long.encode(&words("regenschauer im norden"), 2).unwrap();
        assert_eq!(c.ids, vec![2, 5, 6, 7, 3], "max_words cuts the words first");
        assert!(long.describe().contains("vocab.txt"), "{}", long.describe());
    }
}
