//! The arms of the signsim experiment: what stage 2 trains with, from a common stage-1
//! model. Each arm is a [`Miner`], and arm (e) also rebuilds its table during stage 2.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::Miner;

/// One arm of the experiment, lettered as in its results table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Arm {
    /// (a) The coarse loss only.
    None,
    /// (b) Hard captions from a semantic table (word vectors, same β).
    Semantic,
    /// (c) Hard captions from the SAN table of the stage-1 model (the paper's static
    /// table).
    San,
    /// (d) (c) less links whose words are near-synonyms in the text space.
    SanSynonymFilter,
    /// (e) (c) with the SAN table rebuilt from the current model every
    /// `ExperimentConfig::refresh_every` epochs of stage 2.
    SanRefreshed,
    /// (f) Sign-aware instance mining: each clip's nearest clips in sign space share its
    /// batch, and their captions are its hard captions.
    Instance,
}

/// Every arm, in table order.
pub const ALL_ARMS: [Arm; 6] = [
    Arm::None,
    Arm::Semantic,
    Arm::San,
    Arm::SanSynonymFilter,
    Arm::SanRefreshed,
    Arm::Instance,
];

impl Arm {
    /// The stage-2 miner.
    pub fn miner(self) -> Miner {
        match self {
            Arm::None => Miner::None,
            Arm::Semantic => Miner::Semantic,
            Arm::San | Arm::SanRefreshed => Miner::San,
            Arm::SanSynonymFilter => Miner::SanSynonymFilter,
            Arm::Instance => Miner::Instance,
        }
    }

    /// Whether the arm rebuilds its negatives during stage 2.
    pub fn refreshes(self) -> bool {
        self == Arm::SanRefreshed
    }

    /// Whether the arm needs the corpus's word vectors.
    pub fn needs_vectors(self) -> bool {
        matches!(self, Arm::Semantic | Arm::SanSynonymFilter)
    }

    /// The arm's letter.
    pub fn letter(self) -> char {
        match self {
            Arm::None => 'a',
            Arm::Semantic => 'b',
            Arm::San => 'c',
            Arm::SanSynonymFilter => 'd',
            Arm::SanRefreshed => 'e',
            Arm::Instance => 'f',
        }
    }

    /// The row label of the results table.
    pub fn label(self) -> &'static str {
        match self {
            Arm::None => "(a) coarse only",
            Arm::Semantic => "(b) + SemanticTable negatives",
            Arm::San => "(c) + SAN table negatives",
            Arm::SanSynonymFilter => "(d) (c) + synonym filter",
            Arm::SanRefreshed => "(e) (c), table refreshed",
            Arm::Instance => "(f) + sign-aware instance neighbours",
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", self.letter())
    }
}

impl FromStr for Arm {
    type Err = String;

    /// An arm by its letter, `a` to `f` (with or without parentheses).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let letter = s.trim().trim_start_matches('(').trim_end_matches(')');
        ALL_ARMS
            .into_iter()
            .find(|a| letter.len() == 1 && letter.starts_with(a.letter()))
            .ok_or_else(|| format!("unknown arm {s:?}: expected a letter from a to f"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_and_name_their_miner() {
        for arm in ALL_ARMS {
            assert_eq!(arm.letter().to_string().parse::<Arm>(), Ok(arm));
            assert_eq!(arm.to_string().parse::<Arm>(), Ok(arm));
        }
        assert_eq!("e".parse::<Arm>().map(Arm::miner), Ok(Miner::San));
        assert!("e".parse::<Arm>().is_ok_and(Arm::refreshes));
        assert!("c".parse::<Arm>().is_ok_and(|a| !a.refreshes()));
        assert_eq!("f".parse::<Arm>().map(Arm::miner), Ok(Miner::Instance));
        assert!("g".parse::<Arm>().is_err());
        assert!("ab".parse::<Arm>().is_err());
        assert!("".parse::<Arm>().is_err());
    }
}
