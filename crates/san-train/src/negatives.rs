//! Stage 2's hard negatives (`DESIGN.md` §3.3, §3.4): the reliable pairs and SAN table of
//! a model, the semantic baseline table, mined instance neighbours, and the fine-grained
//! benchmark built from a table.

use burn::tensor::backend::Backend;
use san_core::mining::{
    ConfusabilityTable, Embeddings, FineGrainedBenchmark, InstanceMinerConfig, MiningSpace,
    ReliablePairs, TableConfig, WordPieces, mine_instances,
};
use san_data::phoenix::Split;
use san_models::retrieval::RetrievalModel;
use serde::{Deserialize, Serialize};

use crate::config::{Miner, TrainConfig};
use crate::error::{Result, TrainError};
use crate::eval::{clip_tokens, embed_split, map_batches, max_frames};
use san_data::corpus::Corpus;

/// Stage 2's hard negatives, built from a model (or, for the semantic baseline, from word
/// vectors) at the start of stage 2 and again at each refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Negatives {
    /// No hard negatives: the coarse loss only.
    None,
    /// Captions with words swapped through this table.
    Captions(ConfusabilityTable),
    /// Each training clip's mined neighbours (indices into the training split): they share
    /// its batch, and their captions are its hard captions.
    Neighbours(Vec<Vec<usize>>),
}

impl Negatives {
    /// The table, for `Captions`.
    pub fn table(&self) -> Option<&ConfusabilityTable> {
        match self {
            Negatives::Captions(t) => Some(t),
            _ => None,
        }
    }
}

/// The fine-grained benchmark of a split: signsim's ground-truth distractors when the
/// corpus has them, otherwise single-word substitutions from `table` (the stage-1 model's).
/// T2V distractor videos come from the ground-truth pairs, or from `table`.
pub fn fine_grained_benchmark(
    corpus: &Corpus,
    split: Split,
    table: Option<&ConfusabilityTable>,
    config: &TrainConfig,
) -> Option<FineGrainedBenchmark> {
    let queries: Vec<(String, Vec<String>)> = corpus
        .split(split)
        .iter()
        .map(|s| (s.name.clone(), s.words.clone()))
        .collect();
    let distractors = config.eval.fine_grained_distractors;
    if let (Some(meta), Some(truth)) = (&corpus.signsim, corpus.distractors(split)) {
        let pairs = ConfusabilityTable::from_pairs(&meta.confusable_pairs, 1.0);
        return Some(FineGrainedBenchmark::from_ground_truth(
            &queries,
            truth,
            &pairs,
            distractors,
            "signsim ground truth",
        ));
    }
    Some(FineGrainedBenchmark::build(
        &queries,
        table?,
        distractors,
        config.seed ^ 0xF6,
        "stage-1 SAN table",
    ))
}

/// Builds the SAN table (no synonym filter) from a model over the training split.
pub fn build_table<B: Backend>(
    model: &RetrievalModel<B>,
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
) -> Result<(ConfusabilityTable, ReliablePairs)> {
    let pairs = reliable_pairs(model, corpus, config, device)?;
    Ok((sign_aware_table(&pairs, corpus, &config.san_table()), pairs))
}

/// The reliable sign–word pairs (`mining.reliable.alpha`) of the training split under
/// `model`. With word pieces, a word's text feature is the mean of its pieces' tokens
/// ([`ReliablePairs::add_pieces`]), so the pairs stay word-level.
pub fn reliable_pairs<B: Backend>(
    model: &RetrievalModel<B>,
    corpus: &Corpus,
    config: &TrainConfig,
    device: &B::Device,
) -> Result<ReliablePairs> {
    let data = &config.data;
    let reliable = &config.mining.reliable;
    let mut pairs = ReliablePairs::new(reliable.keep);
    for chunk in corpus.train.chunks(data.batch_size.max(1)) {
        let frames = Some(max_frames(chunk));
        let batches = map_batches(
            chunk,
            &corpus.text,
            &data.batcher,
            chunk.len(),
            frames,
            device,
            |b| {
                let sign = clip_tokens(model, b.poses, b.pose_mask, b.layout)?;
                let text = model.encode_text_tokens(b.tokens, b.token_mask);
                Ok((sign, text, b.token_words))
            },
        )?;
        let word_ids: Vec<Vec<Option<usize>>> = chunk
            .iter()
            .map(|s| {
                let mut v = corpus.mining_ids(&s.words);
                v.truncate(data.batcher.max_words);
                v
            })
            .collect();
        for (sign, text, token_words) in batches {
            let (tau, alpha) = (config.model.tau_tok, reliable.alpha);
            if corpus.text.is_pieces() {
                let pieces = WordPieces {
                    token_word: token_words,
                    word_ids: word_ids.clone(),
                };
                pairs.add_pieces(sign.tokens, sign.mask, text.tokens, &pieces, tau, alpha);
            } else {
                pairs.add_batch(sign.tokens, sign.mask, text.tokens, &word_ids, tau, alpha);
            }
        }
    }
    Ok(pairs)
}

/// The SAN table from reliable pairs with `table` (β, aggregation, filters); its synonym
/// filter (`tau_syn`) scores words with the corpus's word vectors when it has them.
pub fn sign_aware_table(
    pairs: &ReliablePairs,
    corpus: &Corpus,
    table: &TableConfig,
) -> ConfusabilityTable {
    let vectors = corpus.word_vectors.as_deref();
    let sim = |a: &str, b: &str| -> Option<f32> {
        let v = vectors?;
        Some(san_core::mining::cosine(v.get(a)?, v.get(b)?))
    };
    ConfusabilityTable::sign_aware(pairs, corpus.vocab.words(), table, Some(&sim))
}

/// The semantic baseline table: the corpus's word vectors (`wordvecs.vec`), linked above
/// the same β with the same top-k and stop words as the SAN table. `None` without word
/// vectors.
pub fn semantic_table(corpus: &Corpus, config: &TrainConfig) -> Option<ConfusabilityTable> {
    let vectors = corpus.word_vectors.as_deref()?;
    let stop = corpus.stop_words.iter().cloned().collect();
    Some(ConfusabilityTable::semantic(
        vectors,
        &config.san_table().with_stop_words(stop),
    ))
}

/// Builds `config.mining.miner`'s negatives from `model` (the SAN tables reuse `pairs`
/// when given).
pub fn build_negatives<B: Backend>(
    model: &RetrievalModel<B>,
    corpus: &Corpus,
    config: &TrainConfig,
    pairs: Option<&ReliablePairs>,
    device: &B::Device,
) -> Result<Negatives> {
    let san = |table: &TableConfig| -> Result<ConfusabilityTable> {
        Ok(match pairs {
            Some(p) => sign_aware_table(p, corpus, table),
            None => sign_aware_table(
                &reliable_pairs(model, corpus, config, device)?,
                corpus,
                table,
            ),
        })
    };
    let vectors = corpus.root.join("wordvecs.vec");
    let needs_vectors = |miner: &str| {
        TrainError::Config(format!(
            "mining.miner {miner} needs word vectors in the FastText text format at {}",
            vectors.display()
        ))
    };
    Ok(match config.mining.miner {
        Miner::None => Negatives::None,
        Miner::San => Negatives::Captions(san(&config.san_table())?),
        Miner::SanSynonymFilter => {
            if corpus.word_vectors.is_none() {
                return Err(needs_vectors("SanSynonymFilter"));
            }
            if config.mining.table.tau_syn.is_none() {
                return Err(TrainError::Config(
                    "mining.miner SanSynonymFilter needs mining.table.tau_syn".into(),
                ));
            }
            Negatives::Captions(san(&config.mining.table)?)
        }
        Miner::Semantic => Negatives::Captions(
            semantic_table(corpus, config).ok_or_else(|| needs_vectors("Semantic"))?,
        ),
        Miner::Instance => {
            let data = &config.data;
            let (video, text, dim) = embed_split(
                model,
                &corpus.train,
                &corpus.text,
                &data.batcher,
                data.batch_size,
                device,
            )?;
            let ids: Vec<usize> = corpus.train.iter().map(|s| s.text_id).collect();
            let mined = mine_instances(
                Embeddings {
                    video: &video,
                    text: &text,
                    n: corpus.train.len(),
                    dim,
                },
                &ids,
                &InstanceMinerConfig {
                    space: MiningSpace::SignAware,
                    k: config.mining.instance.k,
                    tau_sem: Some(config.mining.instance.tau_sem),
                    seed: config.seed,
                    ..InstanceMinerConfig::default()
                },
            );
            Negatives::Neighbours(mined.indices)
        }
    })
}
