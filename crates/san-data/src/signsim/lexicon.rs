//! The signsim lexicon: glosses with German words and semantic classes, confusable
//! families that cross classes, near-synonyms, word vectors and the sentence grammar.

use std::collections::BTreeMap;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// (German word, semantic class) of every gloss. The gloss name is the upper-cased word.
const WORDS: &[(&str, &str)] = &[
    ("montag", "day"),
    ("dienstag", "day"),
    ("mittwoch", "day"),
    ("donnerstag", "day"),
    ("freitag", "day"),
    ("samstag", "day"),
    ("sonntag", "day"),
    ("heute", "time"),
    ("morgen", "time"),
    ("abend", "time"),
    ("nacht", "time"),
    ("frueh", "time"),
    ("spaeter", "time"),
    ("nord", "region"),
    ("sued", "region"),
    ("ost", "region"),
    ("west", "region"),
    ("alpen", "region"),
    ("kueste", "region"),
    ("mitte", "region"),
    ("berge", "region"),
    ("regen", "weather"),
    ("schauer", "weather"),
    ("schnee", "weather"),
    ("sonne", "weather"),
    ("wolke", "weather"),
    ("gewitter", "weather"),
    ("nebel", "weather"),
    ("wind", "weather"),
    ("sturm", "weather"),
    ("frost", "weather"),
    ("trocken", "weather"),
    ("warm", "temperature"),
    ("kalt", "temperature"),
    ("kuehl", "temperature"),
    ("mild", "temperature"),
    ("heiss", "temperature"),
    ("frisch", "temperature"),
    ("stark", "intensity"),
    ("kraeftig", "intensity"),
    ("schwach", "intensity"),
    ("maessig", "intensity"),
    ("leicht", "intensity"),
    ("steigen", "trend"),
    ("sinken", "trend"),
    ("bleiben", "trend"),
    ("wechselhaft", "trend"),
    ("freundlich", "trend"),
    ("guten", "greeting"),
    ("liebe", "greeting"),
    ("zuschauer", "greeting"),
    ("schoenen", "greeting"),
];

/// Stock greetings and closings, (German text, the words whose glosses are signed). The
/// weather forecasts repeat such phrases verbatim; they are nearly all of PHOENIX-2014-T's
/// duplicate translations ("guten abend liebe zuschauer" alone is 63 of its 7096 train rows).
const STOCK: &[(&str, &[&str])] = &[
    (
        "guten abend liebe zuschauer",
        &["guten", "abend", "liebe", "zuschauer"],
    ),
    (
        "liebe zuschauer guten abend",
        &["liebe", "zuschauer", "guten", "abend"],
    ),
    (
        "ihnen einen schoenen abend und machen sie es gut",
        &["schoenen", "abend"],
    ),
    (
        "ich wuensche ihnen noch einen schoenen abend",
        &["schoenen", "abend"],
    ),
];

/// Near-synonym pairs: iconic signs for related meanings that look alike. They share a
/// family, and substituting one for the other is a false negative.
const SYNONYMS: &[(&str, &str)] = &[
    ("regen", "schauer"),
    ("kalt", "kuehl"),
    ("stark", "kraeftig"),
];

/// Function words of the sentence grammar; never mined.
pub const STOP_WORDS: &[&str] = &[
    "im", "am", "und", "mit", "es", "wird", "gibt", "bei", "der", "dann", "kommt", "auf", "zieht",
    "in", "den", "bleibt", "von", "her", "zum", "teil", "noch", "vor", "allem", "ihnen", "einen",
    "machen", "sie", "gut", "ich", "wuensche", "luft", "aber", "dagegen",
];

/// One gloss of the lexicon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gloss {
    /// Gloss name (upper case, as in PHOENIX).
    pub gloss: String,
    /// The German word it translates to.
    pub word: String,
    /// Semantic class (day, time, region, weather, temperature, intensity, trend).
    pub class: String,
    /// Index of its confusable family.
    pub family: usize,
}

/// The lexicon with its families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lexicon {
    /// Every gloss.
    pub glosses: Vec<Gloss>,
    /// Families as lists of gloss indices.
    pub families: Vec<Vec<usize>>,
    /// Near-synonym word pairs.
    pub synonyms: Vec<(String, String)>,
}

impl Lexicon {
    /// Builds the lexicon and groups glosses into families of `family_size` that never hold
    /// two glosses of one class, except near-synonym pairs, which always share a family.
    pub fn new<R: Rng + ?Sized>(family_size: usize, rng: &mut R) -> Self {
        let size = family_size.max(2);
        let mut glosses: Vec<Gloss> = WORDS
            .iter()
            .map(|(w, c)| Gloss {
                gloss: w.to_uppercase(),
                word: (*w).into(),
                class: (*c).into(),
                family: 0,
            })
            .collect();
        let index = |w: &str| WORDS.iter().position(|(x, _)| *x == w).unwrap_or(0);
        let mut families: Vec<Vec<usize>> = SYNONYMS
            .iter()
            .map(|(a, b)| vec![index(a), index(b)])
            .collect();
        let mut rest: Vec<usize> = (0..glosses.len())
            .filter(|i| !families.iter().flatten().any(|j| j == i))
            .collect();
        rest.shuffle(rng);
        // Fill the synonym families, then open new ones; a gloss goes to the first open
        // family with no gloss of its class.
        for g in rest {
            let class = &glosses[g].class;
            let slot = families
                .iter()
                .position(|f| f.len() < size && f.iter().all(|&o| glosses[o].class != *class));
            match slot {
                Some(s) => families[s].push(g),
                None => families.push(vec![g]),
            }
        }
        for (fi, f) in families.iter().enumerate() {
            for &g in f {
                glosses[g].family = fi;
            }
        }
        let synonyms = SYNONYMS
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        Self {
            glosses,
            families,
            synonyms,
        }
    }

    /// Index of the gloss whose word is `word`.
    pub fn by_word(&self, word: &str) -> Option<usize> {
        self.glosses.iter().position(|g| g.word == word)
    }

    /// True when `a` and `b` are near-synonyms.
    pub fn are_synonyms(&self, a: &str, b: &str) -> bool {
        self.synonyms
            .iter()
            .any(|(x, y)| (x == a && y == b) || (x == b && y == a))
    }

    /// The visually confusable words of `word` (its family mates), synonyms included.
    pub fn family_mates(&self, word: &str) -> Vec<&str> {
        let Some(g) = self.by_word(word) else {
            return Vec::new();
        };
        self.families[self.glosses[g].family]
            .iter()
            .filter(|&&o| o != g)
            .map(|&o| self.glosses[o].word.as_str())
            .collect()
    }

    /// Ground-truth confusable pairs `(a, b)`, `a < b`, synonyms excluded.
    pub fn confusable_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for f in &self.families {
            for (i, &a) in f.iter().enumerate() {
                for &b in &f[i + 1..] {
                    let (wa, wb) = (&self.glosses[a].word, &self.glosses[b].word);
                    if !self.are_synonyms(wa, wb) {
                        out.push(if wa < wb {
                            (wa.clone(), wb.clone())
                        } else {
                            (wb.clone(), wa.clone())
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Word vectors in which words of one class lie close and near-synonyms closest.
    pub fn word_vectors<R: Rng + ?Sized>(
        &self,
        dim: usize,
        rng: &mut R,
    ) -> BTreeMap<String, Vec<f32>> {
        let gauss = |rng: &mut R| -> Vec<f32> { (0..dim).map(|_| normal(rng)).collect() };
        let mut centroids: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for g in &self.glosses {
            let c = centroids
                .entry(g.class.as_str())
                .or_insert_with(|| gauss(rng))
                .clone();
            let n = gauss(rng);
            out.insert(
                g.word.clone(),
                c.iter()
                    .zip(&n)
                    .map(|(a, b)| a + 0.5 * b)
                    .collect::<Vec<f32>>(),
            );
        }
        for (a, b) in &self.synonyms {
            if let Some(va) = out.get(a).cloned() {
                let n = gauss(rng);
                out.insert(
                    b.clone(),
                    va.iter().zip(&n).map(|(x, e)| x + 0.1 * e).collect(),
                );
            }
        }
        for w in STOP_WORDS {
            out.insert((*w).to_string(), gauss(rng));
        }
        out
    }

    /// A forecast sentence: one or two clauses joined by "und" or "dann", with 5–12
    /// glosses and about 14 German words on average, as in PHOENIX-2014-T's train split
    /// (13.96 words and 7.79 glosses per sentence).
    pub fn sentence<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vec<usize>, String) {
        let (mut glosses, mut text) = self.clause(rng);
        // A long clause (5–6 glosses) may stand alone; a short one never does, because
        // short one-clause sentences would repeat by chance far more often than PHOENIX's.
        if glosses.len() < 5 || rng.random_bool(0.3) {
            let (g2, t2) = self.clause(rng);
            let join = if rng.random_bool(0.7) { "und" } else { "dann" };
            glosses.extend(g2);
            text = format!("{text} {join} {t2}");
        }
        (glosses, text)
    }

    /// A stock greeting or closing, repeated verbatim across the corpus.
    pub fn stock<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vec<usize>, String) {
        let (text, words) = STOCK.choose(rng).copied().unwrap_or(STOCK[0]);
        let glosses = words.iter().filter_map(|w| self.by_word(w)).collect();
        (glosses, text.to_string())
    }

    /// A minimal pair of a sentence: the same sentence with one gloss replaced by a
    /// family mate that is not its synonym, in the glosses and in the text alike. Only a
    /// gloss whose word occurs once in the text and that occurs once in the sentence is
    /// replaced, so the two captions differ in exactly one word. `None` when no gloss
    /// qualifies.
    pub fn minimal_pair<R: Rng + ?Sized>(
        &self,
        glosses: &[usize],
        text: &str,
        rng: &mut R,
    ) -> Option<(Vec<usize>, String)> {
        let words: Vec<&str> = text.split(' ').collect();
        let mut options: Vec<(usize, usize)> = Vec::new();
        for (k, &g) in glosses.iter().enumerate() {
            let word = self.glosses[g].word.as_str();
            let once = words.iter().filter(|w| **w == word).count() == 1
                && glosses.iter().filter(|&&o| o == g).count() == 1;
            if !once {
                continue;
            }
            for &mate in &self.families[self.glosses[g].family] {
                let theirs = self.glosses[mate].word.as_str();
                if mate != g && !self.are_synonyms(word, theirs) && !words.contains(&theirs) {
                    options.push((k, mate));
                }
            }
        }
        let &(k, mate) = options.choose(rng)?;
        let old = self.glosses[glosses[k]].word.as_str();
        let new = self.glosses[mate].word.as_str();
        let mut twin = glosses.to_vec();
        twin[k] = mate;
        let text = words
            .iter()
            .map(|w| if *w == old { new } else { w })
            .collect::<Vec<_>>()
            .join(" ");
        Some((twin, text))
    }

    fn clause<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vec<usize>, String) {
        // (gloss classes in signing order, German templates; {k} = k-th gloss's word)
        const TEMPLATES: &[(&[&str], &[&str])] = &[
            (
                &["time", "region", "weather"],
                &["{0} im {1} {2}", "im {1} gibt es {0} {2}"],
            ),
            (
                &["day", "weather", "intensity"],
                &["am {0} {2} {1}", "am {0} kommt {2} {1} auf"],
            ),
            (
                &["region", "temperature", "weather", "weather"],
                &[
                    "im {0} {1} mit {2} und {3}",
                    "im {0} {2} und {3} bei {1} luft",
                ],
            ),
            (
                &["time", "weather", "intensity", "region"],
                &["{0} zieht {2} {1} in den {3}", "im {3} {0} {2} {1}"],
            ),
            (
                &["day", "region", "temperature"],
                &["am {0} im {1} {2}", "im {1} bleibt es am {0} {2}"],
            ),
            (
                &["region", "trend", "temperature"],
                &["im {0} {1} und {2}", "im {0} bleibt es {1} aber {2}"],
            ),
            (
                &["weather", "region", "time", "intensity"],
                &[
                    "der {0} zieht {2} von {1} her und wird {3}",
                    "{2} vor allem im {1} {3} {0}",
                ],
            ),
            (
                &["time", "region", "weather", "region", "weather"],
                &[
                    "{0} im {1} {2} und im {3} zum teil {4}",
                    "im {1} {0} {2} im {3} dagegen {4}",
                ],
            ),
            (
                &[
                    "time",
                    "day",
                    "region",
                    "weather",
                    "intensity",
                    "temperature",
                ],
                &[
                    "{0} am {1} im {2} {4} {3} und {5}",
                    "am {1} {0} {4} {3} im {2} dann {5}",
                ],
            ),
        ];
        let (classes, texts) = TEMPLATES
            .choose(rng)
            .copied()
            .unwrap_or((&["weather"], &["{0}"]));
        let mut picked: Vec<usize> = Vec::new();
        for class in classes {
            let options: Vec<usize> = (0..self.glosses.len())
                .filter(|&g| self.glosses[g].class == *class && !picked.contains(&g))
                .collect();
            if let Some(&g) = options.choose(rng) {
                picked.push(g);
            }
        }
        let mut text = texts.choose(rng).copied().unwrap_or("{0}").to_string();
        for (k, &g) in picked.iter().enumerate() {
            text = text.replace(&format!("{{{k}}}"), &self.glosses[g].word);
        }
        (picked, text)
    }
}

/// The word pairs at which two equally long sentences differ, in order; `None` when their
/// lengths differ (for the minimal-pair tests).
#[cfg(test)]
pub(crate) fn word_diff<'a>(a: &'a str, b: &'a str) -> Option<Vec<(&'a str, &'a str)>> {
    let (x, y): (Vec<&str>, Vec<&str>) = (a.split(' ').collect(), b.split(' ').collect());
    (x.len() == y.len()).then(|| x.into_iter().zip(y).filter(|(p, q)| p != q).collect())
}

/// A standard normal draw (Box–Muller).
pub(crate) fn normal<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn minimal_pairs_change_one_gloss_and_its_one_word() {
        let lex = Lexicon::new(3, &mut StdRng::seed_from_u64(4));
        let mut rng = StdRng::seed_from_u64(9);
        let mut made = 0;
        for _ in 0..200 {
            let (glosses, text) = lex.sentence(&mut rng);
            let Some((twin, twin_text)) = lex.minimal_pair(&glosses, &text, &mut rng) else {
                continue;
            };
            made += 1;
            let changed: Vec<usize> = (0..glosses.len())
                .filter(|&k| glosses[k] != twin[k])
                .collect();
            assert_eq!(changed.len(), 1, "{text} / {twin_text}");
            let (a, b) = (glosses[changed[0]], twin[changed[0]]);
            assert_eq!(lex.glosses[a].family, lex.glosses[b].family);
            let (wa, wb) = (&lex.glosses[a].word, &lex.glosses[b].word);
            assert!(!lex.are_synonyms(wa, wb));
            assert_eq!(
                word_diff(&text, &twin_text).unwrap_or_default(),
                vec![(wa.as_str(), wb.as_str())],
                "{text} / {twin_text}"
            );
        }
        assert!(
            made > 150,
            "most sentences have a family word to swap: {made}"
        );
    }

    #[test]
    fn families_cross_classes_and_keep_synonyms_together() {
        let lex = Lexicon::new(3, &mut StdRng::seed_from_u64(1));
        for f in &lex.families {
            assert!(f.len() <= 3);
            for (i, &a) in f.iter().enumerate() {
                for &b in &f[i + 1..] {
                    let (ga, gb) = (&lex.glosses[a], &lex.glosses[b]);
                    assert!(
                        ga.class != gb.class || lex.are_synonyms(&ga.word, &gb.word),
                        "{ga:?} {gb:?}"
                    );
                }
            }
        }
        assert_eq!(
            lex.glosses[lex.by_word("regen").unwrap()].family,
            lex.glosses[lex.by_word("schauer").unwrap()].family
        );
        assert!(
            !lex.confusable_pairs()
                .contains(&("regen".into(), "schauer".into()))
        );
    }

    #[test]
    fn sentences_are_phoenix_length_and_every_word_is_a_gloss_or_a_stop_word() {
        let lex = Lexicon::new(3, &mut StdRng::seed_from_u64(2));
        let mut rng = StdRng::seed_from_u64(3);
        let (mut words, mut glosses) = (0usize, 0usize);
        let n = 4000;
        for _ in 0..n {
            let (g, t) = lex.sentence(&mut rng);
            assert!((5..=12).contains(&g.len()), "{t}");
            let ws: Vec<&str> = t.split(' ').collect();
            for &k in &g {
                assert!(ws.contains(&lex.glosses[k].word.as_str()), "{t}");
            }
            for w in &ws {
                assert!(
                    lex.by_word(w).is_some() || STOP_WORDS.contains(w),
                    "{w} in {t}"
                );
            }
            words += ws.len();
            glosses += g.len();
        }
        // PHOENIX-2014-T train: 13.96 words and 7.79 glosses per sentence (counted from
        // the official CSV with Python's str.split).
        let (w, g) = (words as f64 / n as f64, glosses as f64 / n as f64);
        assert!((12.5..=15.5).contains(&w), "{w} words per sentence");
        assert!((6.0..=9.5).contains(&g), "{g} glosses per sentence");
    }

    #[test]
    fn stock_phrases_use_lexicon_glosses_and_stop_words() {
        let lex = Lexicon::new(3, &mut StdRng::seed_from_u64(2));
        for &(text, signed) in STOCK {
            for w in text.split(' ') {
                assert!(lex.by_word(w).is_some() || STOP_WORDS.contains(&w), "{w}");
            }
            for w in signed {
                assert!(lex.by_word(w).is_some(), "{w}");
            }
        }
    }

    #[test]
    fn word_vectors_encode_classes_and_synonyms() {
        let lex = Lexicon::new(3, &mut StdRng::seed_from_u64(4));
        let v = lex.word_vectors(16, &mut StdRng::seed_from_u64(5));
        let cos = |a: &str, b: &str| {
            let (x, y) = (&v[a], &v[b]);
            let d: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            d / (x.iter().map(|p| p * p).sum::<f32>().sqrt()
                * y.iter().map(|p| p * p).sum::<f32>().sqrt())
        };
        assert!(cos("regen", "schauer") > 0.9);
        assert!(cos("montag", "dienstag") > cos("montag", "regen"));
    }
}
