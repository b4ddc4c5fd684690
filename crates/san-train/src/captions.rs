//! What each training batch holds in stage 2: the batches of an epoch (shuffled, or
//! anchors grouped with their mined neighbours) and each item's hard captions, from a table
//! or from its neighbours, with the batch filling what they cannot (`DESIGN.md` §3.3
//! step 4).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use san_core::mining::{ConfusabilityTable, NeighbourBatches, draw_hard};
use san_data::sample::Sample;

use crate::config::TrainConfig;
use crate::error::Result;
use crate::negatives::Negatives;
use san_data::corpus::Corpus;

/// Token ids (the corpus's [`text`](Corpus::text) tokenizer: words or word pieces) of
/// `[own caption, hard captions…]` for each item of a batch; what the table cannot fill
/// (all of it for items with no table word) comes from other captions of the batch. A
/// substituted caption is tokenized anew, so a swapped word gets its own pieces.
pub fn hard_captions(
    items: &[&Sample],
    table: &ConfusabilityTable,
    corpus: &Corpus,
    config: &TrainConfig,
    rng: &mut StdRng,
) -> Result<Vec<Vec<usize>>> {
    let k = config.mining.n_hard;
    let mut out = Vec::with_capacity(items.len() * (k + 1));
    for (i, s) in items.iter().enumerate() {
        let words: Vec<String> = s
            .words
            .iter()
            .take(config.data.batcher.max_words)
            .cloned()
            .collect();
        out.push(corpus.text.encode_ids(&words, usize::MAX)?);
        let mut hard = draw_hard(
            &words,
            table,
            config.mining.n_swap,
            k,
            config.mining.hard_draw,
            rng,
        );
        // Fallback (DESIGN §3.3 step 4): other captions of the batch fill what the table
        // cannot (all of it when no word of the caption is in the table).
        let others: Vec<usize> = (0..items.len())
            .filter(|&j| j != i && items[j].text_id != s.text_id)
            .collect();
        while hard.len() < k {
            let j = if others.is_empty() {
                i
            } else {
                others[rng.random_range(0..others.len())]
            };
            hard.push(
                items[j]
                    .words
                    .iter()
                    .take(config.data.batcher.max_words)
                    .cloned()
                    .collect(),
            );
        }
        for h in &hard {
            out.push(corpus.text.encode_ids(h, usize::MAX)?);
        }
    }
    Ok(out)
}

/// Token ids of `[own caption, hard captions…]` for each item, the hard captions being the
/// captions of the item's mined neighbours; the batch fills what they cannot.
pub fn neighbour_captions(
    idx: &[usize],
    neighbours: &[Vec<usize>],
    corpus: &Corpus,
    config: &TrainConfig,
    rng: &mut StdRng,
) -> Result<Vec<Vec<usize>>> {
    let k = config.mining.n_hard;
    let words = |j: usize| -> Vec<String> {
        corpus.train[j]
            .words
            .iter()
            .take(config.data.batcher.max_words)
            .cloned()
            .collect()
    };
    let mut out = Vec::with_capacity(idx.len() * (k + 1));
    for (pos, &i) in idx.iter().enumerate() {
        out.push(corpus.text.encode_ids(&words(i), usize::MAX)?);
        let mut hard: Vec<usize> = neighbours
            .get(i)
            .map(|n| {
                n.iter()
                    .copied()
                    .filter(|&j| j < corpus.train.len())
                    .take(k)
                    .collect()
            })
            .unwrap_or_default();
        let others: Vec<usize> = idx
            .iter()
            .enumerate()
            .filter(|&(p, &j)| p != pos && corpus.train[j].text_id != corpus.train[i].text_id)
            .map(|(_, &j)| j)
            .collect();
        while hard.len() < k {
            hard.push(if others.is_empty() {
                i
            } else {
                others[rng.random_range(0..others.len())]
            });
        }
        for &j in &hard {
            out.push(corpus.text.encode_ids(&words(j), usize::MAX)?);
        }
    }
    Ok(out)
}

/// The batches of one epoch: a seeded shuffle cut into `batch_size` chunks, or, with mined
/// neighbours, anchors grouped with their neighbours. Batches of one item are dropped.
pub fn epoch_batches(
    n: usize,
    config: &TrainConfig,
    negatives: &Negatives,
    seed: u64,
) -> Vec<Vec<usize>> {
    let size = config.data.batch_size.max(2);
    let batches = match negatives {
        Negatives::Neighbours(neighbours) => NeighbourBatches {
            batch_size: size,
            seed,
        }
        .epoch(neighbours, 0),
        _ => {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut StdRng::seed_from_u64(seed));
            order.chunks(size).map(<[usize]>::to_vec).collect()
        }
    };
    batches.into_iter().filter(|b| b.len() >= 2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use san_data::pose::PoseFeatures;
    use san_data::vocab::Vocabulary;
    use std::sync::Arc;

    fn sample(text: &str, text_id: usize) -> Sample {
        Sample {
            name: text.into(),
            speaker: "S".into(),
            features: Arc::new(PoseFeatures {
                frames: 4,
                dim: 1,
                values: vec![0.0; 4],
                layout: san_data::pose::StepLayout::Flat,
            }),
            words: text.split(' ').map(String::from).collect(),
            text_id,
        }
    }

    fn corpus(samples: Vec<Sample>) -> Corpus {
        let vocab = Vocabulary::build(samples.iter().map(|s| s.words.as_slice()), 1);
        Corpus {
            root: "unused".into(),
            dev: samples.clone(),
            test: samples.clone(),
            train: samples,
            text: san_data::text_tokens::TextTokenizer::Words(vocab.clone()),
            vocab,
            stop_words: ["im".to_string()].into_iter().collect(),
            signsim: None,
            word_vectors: None,
        }
    }

    #[test]
    fn hard_captions_substitute_table_words_and_fall_back_to_the_batch() {
        let c = corpus(vec![
            sample("im nord regen", 0),
            sample("im sued sonne", 1),
            sample("im west", 2),
        ]);
        let mut table = ConfusabilityTable::default();
        table
            .links
            .insert("regen".into(), vec![("sonne".into(), 0.9)]);
        let config = {
            let mut c = TrainConfig::new();
            c.mining.n_hard = 2;
            c.mining.n_swap = 2;
            c
        };
        let items: Vec<&Sample> = c.train.iter().collect();
        let mut rng = StdRng::seed_from_u64(1);
        let caps = hard_captions(&items, &table, &c, &config, &mut rng).unwrap();
        assert_eq!(caps.len(), 3 * 3, "[own, hard, hard] per item");
        let v = &c.vocab;
        assert_eq!(caps[0], v.encode(&c.train[0].words));
        // Item 0 has one table word with one option: one distinct negative swaps
        // regen → sonne, and a batch caption fills the second slot.
        let swapped: Vec<String> = ["im", "nord", "sonne"].map(String::from).to_vec();
        assert_eq!(caps[1], v.encode(&swapped));
        assert!(caps[2] == v.encode(&c.train[1].words) || caps[2] == v.encode(&c.train[2].words));
        // Item 1 has none: its hard captions are other captions of the batch.
        for h in &caps[4..6] {
            assert!(*h == v.encode(&c.train[0].words) || *h == v.encode(&c.train[2].words));
        }
    }
}
