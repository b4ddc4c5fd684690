//! Hard-negative captions by word substitution (SAN step 4, `DESIGN.md` §3.3), and the
//! single-word substitutions of the fine-grained benchmark (§1, point 6).

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::table::ConfusabilityTable;

/// Returns up to `n_hard` distinct negative captions of `caption`, none equal to it.
///
/// Each negative replaces `min(n_swap, t)` distinct positions, where `t` counts the
/// caption's words that have a confusable word other than themselves, by one of those
/// words drawn uniformly. Deterministic for a seeded `rng`.
///
/// Fewer than `n_hard` come back only when the caption admits fewer distinct negatives
/// (then all of them, shuffled). **Fallback:** an empty result means no word of the
/// caption is in the table (or `n_swap` is 0); SAN's trainer then takes other captions of
/// the batch as negatives (`DESIGN.md` §3.3, step 4).
pub fn substitute<R: Rng + ?Sized>(
    caption: &[String],
    table: &ConfusabilityTable,
    n_swap: usize,
    n_hard: usize,
    rng: &mut R,
) -> Vec<Vec<String>> {
    let slots = slots(caption, table);
    let swaps = n_swap.min(slots.len());
    if swaps == 0 || n_hard == 0 {
        return Vec::new();
    }
    // Distinct negatives = Σ over `swaps`-subsets of slots of Π option counts (each negative
    // determines which positions changed and to what), saturating.
    let mut ways = vec![0u64; swaps + 1];
    ways[0] = 1;
    for (_, options) in &slots {
        for k in (1..=swaps).rev() {
            ways[k] = ways[k].saturating_add(ways[k - 1].saturating_mul(options.len() as u64));
        }
    }
    let available = ways[swaps];
    if available <= 4 * n_hard as u64 {
        let mut all = Vec::new();
        enumerate(caption, &slots, swaps, 0, &mut caption.to_vec(), &mut all);
        all.shuffle(rng);
        all.truncate(n_hard);
        return all;
    }
    // More than 4·n_hard negatives exist, so rejection of repeats ends quickly.
    let mut out: Vec<Vec<String>> = Vec::with_capacity(n_hard);
    let mut order: Vec<usize> = (0..slots.len()).collect();
    while out.len() < n_hard {
        order.shuffle(rng);
        let mut negative = caption.to_vec();
        for &s in order.iter().take(swaps) {
            let (i, options) = &slots[s];
            negative[*i] = options[rng.random_range(0..options.len())].to_string();
        }
        if !out.contains(&negative) {
            out.push(negative);
        }
    }
    out
}

/// How a caption's hard negatives are drawn (`mining.hard_draw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HardDraw {
    /// Distinct negatives ([`substitute`]); a caption that admits fewer than `n_hard`
    /// gets fewer, and the trainer fills the rest with other captions of the batch.
    #[default]
    Distinct,
    /// `n_hard` independent draws, repeats allowed ([`substitute_with_repeats`]), as the
    /// SAN research code draws them: a caption with one linked word and one option sees
    /// that one negative `n_hard` times.
    Repeats,
}

/// [`substitute`] or [`substitute_with_repeats`], as `draw` says.
pub fn draw_hard<R: Rng + ?Sized>(
    caption: &[String],
    table: &ConfusabilityTable,
    n_swap: usize,
    n_hard: usize,
    draw: HardDraw,
    rng: &mut R,
) -> Vec<Vec<String>> {
    match draw {
        HardDraw::Distinct => substitute(caption, table, n_swap, n_hard, rng),
        HardDraw::Repeats => substitute_with_repeats(caption, table, n_swap, n_hard, rng),
    }
}

/// Returns `n_hard` negative captions of `caption`, each drawn independently: the same
/// `min(n_swap, t)` positions rule as [`substitute`], but repeats are kept, so the list
/// is always `n_hard` long unless no word of the caption is in the table (or `n_swap` or
/// `n_hard` is 0), when it is empty (the same fallback as [`substitute`]).
pub fn substitute_with_repeats<R: Rng + ?Sized>(
    caption: &[String],
    table: &ConfusabilityTable,
    n_swap: usize,
    n_hard: usize,
    rng: &mut R,
) -> Vec<Vec<String>> {
    let slots = slots(caption, table);
    let swaps = n_swap.min(slots.len());
    if swaps == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..slots.len()).collect();
    (0..n_hard)
        .map(|_| {
            order.shuffle(rng);
            let mut negative = caption.to_vec();
            for &s in order.iter().take(swaps) {
                let (i, options) = &slots[s];
                negative[*i] = options[rng.random_range(0..options.len())].to_string();
            }
            negative
        })
        .collect()
}

/// Per position of `caption` that the table links: the distinct replacement words other
/// than the word itself, sorted.
fn slots<'t>(caption: &[String], table: &'t ConfusabilityTable) -> Vec<(usize, Vec<&'t str>)> {
    let mut slots = Vec::new();
    for (i, word) in caption.iter().enumerate() {
        let mut options: Vec<&str> = table
            .confusable(word)
            .iter()
            .map(|(w, _)| w.as_str())
            .filter(|w| *w != word)
            .collect();
        options.sort_unstable();
        options.dedup();
        if !options.is_empty() {
            slots.push((i, options));
        }
    }
    slots
}

/// Every negative that changes exactly `left` more slots from `from` on, in order.
fn enumerate(
    caption: &[String],
    slots: &[(usize, Vec<&str>)],
    left: usize,
    from: usize,
    current: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    if left == 0 {
        out.push(current.clone());
        return;
    }
    for s in from..slots.len() {
        if slots.len() - s < left {
            break;
        }
        let (i, options) = &slots[s];
        for option in options {
            current[*i] = option.to_string();
            enumerate(caption, slots, left - 1, s + 1, current, out);
        }
        current[*i] = caption[*i].clone();
    }
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
    fn swaps_n_swap_table_words_and_returns_all_when_few_exist() {
        // nord has 1 option, regen 2 → exactly 1·2 = 2 distinct negatives with 2 swaps.
        let cap = words("im nord regen morgen");
        let mut rng = StdRng::seed_from_u64(7);
        let negs = substitute(&cap, &table(), 2, 5, &mut rng);
        assert_eq!(negs.len(), 2, "{negs:?}");
        assert_ne!(negs[0], negs[1]);
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
    fn caption_shorter_than_n_swap_swaps_what_it_has() {
        // One word, two options: n_swap = 2 swaps the single word → 2 negatives.
        let mut rng = StdRng::seed_from_u64(2);
        let mut negs = substitute(&words("regen"), &table(), 2, 5, &mut rng);
        negs.sort();
        assert_eq!(negs, vec![words("sonne"), words("wind")]);
    }

    #[test]
    fn repeats_draw_n_hard_times_even_from_one_option() {
        // "nord" is the only linked word and has one option (sued): Distinct gives the
        // one negative, Repeats gives it n_hard = 4 times (hand count).
        let cap = words("im nord morgen");
        let mut rng = StdRng::seed_from_u64(3);
        let one = draw_hard(&cap, &table(), 2, 4, HardDraw::Distinct, &mut rng);
        assert_eq!(one, vec![words("im sued morgen")]);
        let four = draw_hard(&cap, &table(), 2, 4, HardDraw::Repeats, &mut rng);
        assert_eq!(four, vec![words("im sued morgen"); 4]);
        // Two linked words, n_swap 1: every draw changes exactly one of positions 1, 2.
        let cap = words("im nord regen");
        let many = substitute_with_repeats(&cap, &table(), 1, 50, &mut rng);
        assert_eq!(many.len(), 50);
        for n in &many {
            let changed: Vec<usize> = (0..3).filter(|&i| n[i] != cap[i]).collect();
            assert_eq!(changed.len(), 1, "{n:?}");
        }
        // 3 distinct negatives exist (sued; sonne; wind): 50 draws repeat them.
        let mut distinct = many.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3);
        // no linked word: empty, so the trainer's batch fallback applies
        assert!(
            substitute_with_repeats(&words("guten abend"), &table(), 2, 5, &mut rng).is_empty()
        );
    }

    #[test]
    fn many_options_give_n_hard_distinct_negatives() {
        let mut t = ConfusabilityTable::default();
        for w in ["a", "b", "c", "d"] {
            let others = (0..6).map(|k| (format!("{w}{k}"), 0.8)).collect();
            t.links.insert(w.to_string(), others);
        }
        let cap = words("a b c d");
        let mut rng = StdRng::seed_from_u64(9);
        // 6 subsets of 2 words × 36 choices = 216 ≫ 4·5, so sampled with rejection.
        let negs = substitute(&cap, &t, 2, 5, &mut rng);
        assert_eq!(negs.len(), 5);
        for (i, n) in negs.iter().enumerate() {
            assert_eq!((0..4).filter(|&p| n[p] != cap[p]).count(), 2);
            assert!(!negs[..i].contains(n), "distinct");
        }
    }

    #[test]
    fn self_links_are_never_used() {
        let mut t = ConfusabilityTable::default();
        t.links.insert("x".into(), vec![("x".into(), 1.0)]);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(substitute(&words("x y"), &t, 2, 5, &mut rng).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_the_original_and_always_distinct(
            cap in proptest::collection::vec(0usize..6, 0..7),
            links in proptest::collection::vec((0usize..6, 0usize..8), 0..12),
            n_swap in 0usize..4,
            n_hard in 0usize..8,
            seed in 0u64..1000,
        ) {
            let mut t = ConfusabilityTable::default();
            for (a, b) in links {
                t.links.entry(format!("w{a}")).or_default().push((format!("w{b}"), 0.9));
            }
            let cap: Vec<String> = cap.iter().map(|i| format!("w{i}")).collect();
            let mut rng = StdRng::seed_from_u64(seed);
            let negs = substitute(&cap, &t, n_swap, n_hard, &mut rng);
            proptest::prop_assert!(negs.len() <= n_hard);
            for (i, n) in negs.iter().enumerate() {
                proptest::prop_assert!(n != &cap);
                proptest::prop_assert_eq!(n.len(), cap.len());
                proptest::prop_assert!(!negs[..i].contains(n));
            }
        }
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
