//! Text augmentation: EDA random swap (Wei & Zou, 2019), as CiCo and SAN apply it to
//! training sentences.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// EDA's random swap: with probability `p`, swap `max(1, ⌊alpha · words⌋)` random pairs
/// of positions (each pair two different positions). Sentences of fewer than two words are
/// returned unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomSwap {
    /// Probability that a sentence is augmented at all (0.5 in CiCo and SAN).
    pub p: f64,
    /// Swaps per word, EDA's `alpha_rs` (0.1, so one swap for sentences under 20 words).
    pub alpha: f64,
}

impl Default for RandomSwap {
    fn default() -> Self {
        Self { p: 0.5, alpha: 0.1 }
    }
}

impl RandomSwap {
    /// The augmented sentence; deterministic for a seeded `rng`.
    pub fn apply<R: Rng + ?Sized>(&self, words: &[String], rng: &mut R) -> Vec<String> {
        let mut out = words.to_vec();
        let n = out.len();
        if n < 2 || rng.random::<f64>() >= self.p {
            return out;
        }
        let swaps = ((self.alpha * n as f64) as usize).max(1);
        for _ in 0..swaps {
            let a = rng.random_range(0..n);
            // Uniform over the other positions.
            let b = (a + rng.random_range(1..n)) % n;
            out.swap(a, b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn short_sentences_and_p_zero_are_unchanged() {
        let mut rng = StdRng::seed_from_u64(1);
        let always = RandomSwap { p: 1.0, alpha: 0.1 };
        assert_eq!(always.apply(&words("regen"), &mut rng), words("regen"));
        assert!(always.apply(&[], &mut rng).is_empty());
        let never = RandomSwap { p: 0.0, alpha: 0.1 };
        assert_eq!(never.apply(&words("a b c"), &mut rng), words("a b c"));
    }

    #[test]
    fn two_words_always_swap_when_applied() {
        let mut rng = StdRng::seed_from_u64(2);
        let always = RandomSwap { p: 1.0, alpha: 0.1 };
        for _ in 0..20 {
            assert_eq!(always.apply(&words("a b"), &mut rng), words("b a"));
        }
    }

    #[test]
    fn keeps_the_words_and_applies_about_half_the_time() {
        let mut rng = StdRng::seed_from_u64(3);
        let swap = RandomSwap::default();
        let s = words("am tag wechselhaft im norden regen");
        let mut sorted = s.clone();
        sorted.sort();
        let mut changed = 0;
        for _ in 0..4000 {
            let mut out = swap.apply(&s, &mut rng);
            if out != s {
                changed += 1;
            }
            out.sort();
            assert_eq!(out, sorted, "a permutation of the same words");
        }
        // One swap of two different (distinct-word) positions always changes the sentence,
        // so the changed share estimates p = 0.5; 4000 draws → s.d. 0.008.
        let share = f64::from(changed) / 4000.0;
        assert!((0.46..0.54).contains(&share), "{share}");
        let again = |seed| swap.apply(&s, &mut StdRng::seed_from_u64(seed));
        assert_eq!(again(9), again(9));
    }

    #[test]
    fn alpha_sets_the_number_of_swaps() {
        // 20 distinct words, alpha 0.5 → 10 swaps; each swap moves at most 2 words, so at
        // most 20 differ and (almost surely) more than 2 do.
        let s: Vec<String> = (0..20).map(|i| format!("w{i}")).collect();
        let out = RandomSwap { p: 1.0, alpha: 0.5 }.apply(&s, &mut StdRng::seed_from_u64(4));
        let moved = s.iter().zip(&out).filter(|(a, b)| a != b).count();
        assert!(moved > 2, "{moved}");
    }
}
