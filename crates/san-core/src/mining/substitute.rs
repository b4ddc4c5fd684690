//! Hard-negative captions by word substitution (SAN step 4, `DESIGN.md` §3.3), and the
//! single-word substitutions of the fine-grained benchmark (§1, point 6).

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

use super::table::ConfusabilityTable;

/// Returns `n_hard` negative captions of `caption`.
///
/// Each negative replaces `n_swap` distinct words that appear in the table (fewer when the
/// caption has fewer) by a confusable word drawn uniformly from the word's links. An empty
/// result means no word of the caption is in the table; the caller then falls back to
/// other captions of the batch. Deterministic for a seeded `rng`.
pub fn substitute<R: Rng + ?Sized>(
    caption: &[String],
    table: &ConfusabilityTable,
    n_swap: usize,
    n_hard: usize,
    rng: &mut R,
) -> Vec<Vec<String>> {
    let mut slots: Vec<usize> = (0..caption.len())
        .filter(|&i| !table.confusable(&caption[i]).is_empty())
        .collect();
    if slots.is_empty() || n_swap == 0 {
        return Vec::new();
    }
    (0..n_hard)
        .map(|_| {
            slots.shuffle(rng);
            let mut negative = caption.to_vec();
            for &i in slots.iter().take(n_swap) {
                let options = table.confusable(&caption[i]);
                let pick = rng.random_range(0..options.len());
                negative[i] = options[pick].0.clone();
            }
            negative
        })
        .collect()
}

/// Every caption that differs from `caption` in exactly one word, replaced by one of its
/// confusable words; shuffled with `rng` and cut to `max`. Duplicates of the caption
/// itself (a word linked to itself) are never produced.
pub fn single_word_substitutions<R: Rng + ?Sized>(
    caption: &[String],
    table: &ConfusabilityTable,
    max: usize,
    rng: &mut R,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, word) in caption.iter().enumerate() {
        for (other, _) in table.confusable(word) {
            if other != word {
                let mut c = caption.to_vec();
                c[i] = other.clone();
                out.push(c);
            }
        }
    }
    out.sort();
    out.dedup();
    out.retain(|c| c.as_slice() != caption);
    out.shuffle(rng);
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn table() -> ConfusabilityTable {
        let mut t = ConfusabilityTable::default();
        t.links.insert(
            "regen".into(),
            vec![("sonne".into(), 0.9), ("wind".into(), 0.8)],
        );
        t.links.insert("nord".into(), vec![("sued".into(), 0.75)]);
        t
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn swaps_exactly_n_swap_table_words() {
        let cap = words("im nord regen morgen");
        let mut rng = StdRng::seed_from_u64(7);
        let negs = substitute(&cap, &table(), 2, 5, &mut rng);
        assert_eq!(negs.len(), 5);
        for n in &negs {
            let changed: Vec<usize> = (0..cap.len()).filter(|&i| n[i] != cap[i]).collect();
            assert_eq!(changed, vec![1, 2], "{n:?}");
            assert_eq!(n[1], "sued");
            assert!(n[2] == "sonne" || n[2] == "wind");
        }
        let mut rng2 = StdRng::seed_from_u64(7);
        assert_eq!(
            negs,
            substitute(&cap, &table(), 2, 5, &mut rng2),
            "seeded → deterministic"
        );
    }

    #[test]
    fn caption_without_table_words_gives_nothing() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(substitute(&words("heute morgen"), &table(), 2, 5, &mut rng).is_empty());
    }

    #[test]
    fn single_word_substitutions_are_all_distinct() {
        let mut rng = StdRng::seed_from_u64(3);
        let subs = single_word_substitutions(&words("nord regen"), &table(), 40, &mut rng);
        // nord→sued, regen→sonne, regen→wind (hand count).
        assert_eq!(subs.len(), 3);
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(
            single_word_substitutions(&words("nord regen"), &table(), 2, &mut rng).len(),
            2
        );
    }
}
