//! signsim: a synthetic corpus in the PHOENIX-2014-T layout with known visual
//! confusability (`DESIGN.md` §3.7).
//!
//! Glosses are grouped into families that share location, path, repetitions and duration
//! and differ only in handshape, by `delta`. Families cross semantic classes, so visual
//! and semantic similarity are decoupled by construction. The generator writes the corpus
//! CSVs, one `.pose` file per clip, `signsim.json` (lexicon, families, synonyms, stop words
//! and ground-truth fine-grained distractors for dev and test) and `wordvecs.vec`.

mod lexicon;
mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use burn::config::Config;
use image::ImageEncoder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

pub use lexicon::{Gloss, Lexicon, STOP_WORDS};
pub use render::{
    Handshape, Motion, PathKind, RenderNoise, Signer, draw_frame, header, render, timeline,
};

use crate::error::DataError;
use crate::io::write_atomic;
use crate::phoenix::{CorpusEntry, Split, write_corpus_csv};
use crate::pose::write_pose;

/// Settings of the generator.
#[derive(Config, Debug, PartialEq)]
pub struct SignsimConfig {
    /// Random seed; output is deterministic for a seed.
    #[config(default = 42)]
    pub seed: u64,
    /// Training sentences (PHOENIX-2014-T: 7096).
    #[config(default = 1200)]
    pub train: usize,
    /// Dev sentences (PHOENIX-2014-T: 519).
    #[config(default = 200)]
    pub dev: usize,
    /// Test sentences (PHOENIX-2014-T: 642).
    #[config(default = 200)]
    pub test: usize,
    /// Glosses per confusable family.
    #[config(default = 3)]
    pub family_size: usize,
    /// Handshape difference within a family (the confusability knob; smaller = harder).
    #[config(default = 0.05)]
    pub delta: f32,
    /// Number of signers (PHOENIX-2014-T: 9).
    #[config(default = 9)]
    pub signers: usize,
    /// Keypoint noise, pixels.
    #[config(default = 1.0)]
    pub pixel_sigma: f32,
    /// Probability that a hand is missing in a frame.
    #[config(default = 0.02)]
    pub hand_dropout: f64,
    /// Probability that a sentence is a stock greeting or closing ("guten abend liebe
    /// zuschauer"), which the corpus repeats verbatim. Forecast sentences almost never
    /// coincide, so this is about the share of videos in repeated-translation groups
    /// (PHOENIX-2014-T train: 285 of 7096, 4.0%).
    #[config(default = 0.035)]
    pub duplicate_rate: f64,
    /// Fine-grained distractors per dev/test item (at most; fewer when the caption allows
    /// fewer single-word substitutions).
    #[config(default = 40)]
    pub distractors: usize,
    /// Probability that a dev or test sentence is followed by its minimal pair: the same
    /// sentence with one gloss replaced by a (non-synonym) family mate, signed by the same
    /// signer. The two videos are each other's fine-grained T2V distractors, so FG-T2V is
    /// measured too. The twin counts towards the split's size; training is unchanged.
    #[config(default = 0.2)]
    pub minimal_pairs: f64,
    /// Word-vector dimension of `wordvecs.vec`.
    #[config(default = 16)]
    pub vector_dim: usize,
    /// Also draw every frame as a stick-figure PNG in the official
    /// `features/fullFrame-210x260px/{split}/{name}/images%04d.png` layout, for the RGB
    /// pipeline. Off by default: it writes one file per frame (about 150 per clip).
    #[config(default = false)]
    pub frames: bool,
}

/// Version of the generator's output. It changes whenever the same config would give
/// different files, so that [`ensure_corpus`] regenerates a corpus left by an older build.
pub const GENERATOR_VERSION: u32 = 3;

/// The contents of `signsim.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignsimMeta {
    /// [`GENERATOR_VERSION`] of the generator that wrote the corpus (0 before versions).
    #[serde(default)]
    pub generator: u32,
    /// The generator settings.
    pub config: SignsimConfig,
    /// Lexicon with families and synonyms.
    pub lexicon: Lexicon,
    /// Family motions, by family index.
    pub motions: Vec<Motion>,
    /// Function words, never mined.
    pub stop_words: Vec<String>,
    /// Ground-truth confusable word pairs (synonyms excluded).
    pub confusable_pairs: Vec<(String, String)>,
    /// Per split (`dev`, `test`), sample name → distractor sentences (single-word
    /// substitutions within a family, synonyms excluded).
    pub distractors: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl SignsimMeta {
    /// Reads `signsim.json` from a corpus root.
    pub fn load(root: &Path) -> crate::Result<Self> {
        let path = root.join("signsim.json");
        let text = fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|source| DataError::Json {
            path,
            source: source.into(),
        })
    }

    /// Ground-truth pairs as a set.
    pub fn truth(&self) -> BTreeSet<(String, String)> {
        self.confusable_pairs.iter().cloned().collect()
    }
}

/// Every single-word within-family substitution of `words` (synonyms excluded), sorted.
pub fn family_substitutions(lex: &Lexicon, words: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (i, w) in words.iter().enumerate() {
        for mate in lex.family_mates(w) {
            if !lex.are_synonyms(w, mate) {
                let mut c = words.to_vec();
                c[i] = mate.to_string();
                out.insert(c.join(" "));
            }
        }
    }
    out.into_iter().collect()
}

/// Writes every frame of `pose` as `images0001.png`, `images0002.png`, … into `dir`.
fn write_frames(dir: &Path, pose: &crate::pose::Pose) -> crate::Result<()> {
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    for t in 0..pose.frames {
        let path = dir.join(format!("images{:04}.png", t + 1));
        let img = draw_frame(pose, t);
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| {
                DataError::invalid(&path, format!("frame {}: PNG encoding failed: {e}", t + 1))
            })?;
        write_atomic(&path, &png)?;
    }
    Ok(())
}

/// Generates the corpus under `root` unless a corpus generated with the same config by
/// this generator version is already there. Writes into a temporary sibling folder and renames it into place, so an
/// interrupted run leaves nothing half-written. Returns true when it generated.
pub fn ensure_corpus(root: &Path, config: &SignsimConfig) -> crate::Result<bool> {
    if let Ok(meta) = SignsimMeta::load(root)
        && meta.config == *config
        && meta.generator == GENERATOR_VERSION
    {
        return Ok(false);
    }
    let parent = crate::io::parent_dir(root);
    fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signsim".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    }
    generate(&tmp, config)?;
    if root.exists() {
        fs::remove_dir_all(root).map_err(|e| DataError::io(root, e))?;
    }
    fs::rename(&tmp, root).map_err(|e| DataError::io(root, e))?;
    Ok(true)
}

/// Writes a complete corpus into `root` (which should be empty).
pub fn generate(root: &Path, config: &SignsimConfig) -> crate::Result<()> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let lex = Lexicon::new(config.family_size, &mut rng);
    let motions: Vec<Motion> = (0..lex.families.len())
        .map(|_| Motion::random(&mut rng))
        .collect();
    // Handshapes: a family base plus delta along a distinct direction per member.
    let mut shapes: Vec<Handshape> = vec![[0.0; 5]; lex.glosses.len()];
    for family in &lex.families {
        let base: Handshape = std::array::from_fn(|_| rng.random_range(0.2..0.8));
        let mut dirs: Vec<usize> = (0..5).collect();
        dirs.shuffle(&mut rng);
        for (k, &g) in family.iter().enumerate() {
            let mut s = base;
            // member k bends finger dirs[k] by +delta and the next one by -delta
            let (a, b) = (dirs[k % 5], dirs[(k + 1) % 5]);
            s[a] = (s[a] + config.delta).clamp(0.0, 1.0);
            s[b] = (s[b] - config.delta).clamp(0.0, 1.0);
            shapes[g] = s;
        }
    }
    let signers: Vec<Signer> = (0..config.signers.max(1))
        .map(|_| Signer::random(&mut rng))
        .collect();
    let noise = RenderNoise {
        pixel_sigma: config.pixel_sigma,
        hand_dropout: config.hand_dropout,
    };
    let mut distractors = BTreeMap::new();
    for (split, n) in [
        (Split::Train, config.train),
        (Split::Dev, config.dev),
        (Split::Test, config.test),
    ] {
        if n == 0 {
            return Err(DataError::invalid(
                root,
                format!("signsim: the {split} split must have at least one sentence"),
            ));
        }
        let mut rows = Vec::with_capacity(n);
        let mut split_distractors = BTreeMap::new();
        // The minimal pair of the previous sentence, and its signer.
        let mut twin: Option<((Vec<usize>, String), usize)> = None;
        for i in 0..n {
            let is_twin = twin.is_some();
            let ((glosses, text), speaker) = match twin.take() {
                Some(t) => t,
                None => {
                    let sentence = if rng.random_bool(config.duplicate_rate) {
                        lex.stock(&mut rng)
                    } else {
                        lex.sentence(&mut rng)
                    };
                    (sentence, rng.random_range(0..signers.len()))
                }
            };
            if split != Split::Train
                && !is_twin
                && i + 1 < n
                && config.minimal_pairs > 0.0
                && rng.random_bool(config.minimal_pairs.min(1.0))
            {
                twin = lex
                    .minimal_pair(&glosses, &text, &mut rng)
                    .map(|pair| (pair, speaker));
            }
            let signer = &signers[speaker];
            let signs: Vec<(&Motion, Handshape)> = glosses
                .iter()
                .map(|&g| (&motions[lex.glosses[g].family], shapes[g]))
                .collect();
            let pose = render(&timeline(&signs, signer.speed), signer, noise, &mut rng);
            let name = format!("signsim-{split}-{i:05}");
            write_pose(&crate::sample::pose_path(root, split, &name), &pose)?;
            if config.frames {
                write_frames(&crate::frames::frames_dir(root, split, &name), &pose)?;
            }
            if split != Split::Train {
                let words: Vec<String> = text.split(' ').map(String::from).collect();
                let mut subs = family_substitutions(&lex, &words);
                subs.shuffle(&mut rng);
                subs.truncate(config.distractors);
                split_distractors.insert(name.clone(), subs);
            }
            rows.push(CorpusEntry {
                video: format!("{name}/1/*.png"),
                name,
                start: -1,
                end: -1,
                speaker: format!("Signer{:02}", speaker + 1),
                orth: glosses
                    .iter()
                    .map(|&g| lex.glosses[g].gloss.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                translation: text,
            });
        }
        let csv = root
            .join("annotations/manual")
            .join(format!("PHOENIX-2014-T.{split}.corpus.csv"));
        write_corpus_csv(&csv, &rows)?;
        if split != Split::Train {
            distractors.insert(split.to_string(), split_distractors);
        }
    }
    let vectors = lex.word_vectors(config.vector_dim, &mut rng);
    let mut vec_text = format!("{} {}\n", vectors.len(), config.vector_dim);
    for (w, v) in &vectors {
        vec_text.push_str(w);
        for x in v {
            vec_text.push_str(&format!(" {x:.5}"));
        }
        vec_text.push('\n');
    }
    write_atomic(&root.join("wordvecs.vec"), vec_text.as_bytes())?;
    let meta = SignsimMeta {
        generator: GENERATOR_VERSION,
        config: config.clone(),
        confusable_pairs: lex.confusable_pairs(),
        lexicon: lex,
        motions,
        stop_words: STOP_WORDS.iter().map(|s| s.to_string()).collect(),
        distractors,
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(|source| DataError::Json {
        path: root.join("signsim.json"),
        source: source.into(),
    })?;
    write_atomic(&root.join("signsim.json"), &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::load_split;
    use crate::signsim::lexicon::word_diff;

    fn small() -> SignsimConfig {
        SignsimConfig::new().with_train(12).with_dev(4).with_test(5)
    }

    #[test]
    fn minimal_pairs_follow_their_sentence_in_dev_and_test_only() {
        let dir = tempfile::tempdir().unwrap();
        let (with, without) = (dir.path().join("with"), dir.path().join("without"));
        let config = SignsimConfig::new()
            .with_train(6)
            .with_dev(30)
            .with_test(30);
        generate(&with, &config.clone().with_minimal_pairs(0.5)).unwrap();
        generate(&without, &config.clone().with_minimal_pairs(0.0)).unwrap();
        let csv = |root: &Path, split: &str| {
            crate::phoenix::read_corpus_csv(
                &root
                    .join("annotations/manual")
                    .join(format!("PHOENIX-2014-T.{split}.corpus.csv")),
            )
            .unwrap()
        };
        assert_eq!(
            csv(&with, "train"),
            csv(&without, "train"),
            "training unchanged"
        );
        let meta = SignsimMeta::load(&with).unwrap();
        let truth = meta.truth();
        for split in ["dev", "test"] {
            let rows = csv(&with, split);
            assert_eq!(rows.len(), 30);
            let mut pairs = 0;
            let mut i = 0;
            while i + 1 < rows.len() {
                let (a, b) = (&rows[i], &rows[i + 1]);
                let diff = word_diff(&a.translation, &b.translation).unwrap_or_default();
                if diff.len() == 1 {
                    // A twin: one family swap, the same signer, and each caption among
                    // the other's ground-truth distractors.
                    let (p, q) = diff[0];
                    let key = if p < q { (p, q) } else { (q, p) };
                    assert!(truth.contains(&(key.0.to_string(), key.1.to_string())));
                    assert_eq!(a.speaker, b.speaker);
                    let d = &meta.distractors[split];
                    assert!(d[&a.name].contains(&b.translation));
                    assert!(d[&b.name].contains(&a.translation));
                    pairs += 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            // 30 sentences at rate 0.5: about 10 pairs (each pair uses two rows).
            assert!((4..=15).contains(&pairs), "{split}: {pairs} pairs");
        }
        let plain = csv(&without, "test");
        assert!(
            plain
                .windows(2)
                .all(|w| word_diff(&w[0].translation, &w[1].translation)
                    .is_none_or(|d| d.len() != 1)),
            "no minimal pairs at rate 0"
        );
    }

    #[test]
    fn duplicates_come_from_stock_phrases_at_about_the_phoenix_rate() {
        let dir = tempfile::tempdir().unwrap();
        let config = SignsimConfig::new()
            .with_train(1500)
            .with_dev(1)
            .with_test(1)
            .with_signers(2);
        generate(dir.path(), &config).unwrap();
        let csv = dir
            .path()
            .join("annotations/manual/PHOENIX-2014-T.train.corpus.csv");
        let rows = crate::phoenix::read_corpus_csv(&csv).unwrap();
        let stats = crate::phoenix::CorpusStats::compute(&[("train", &rows)]);
        let train = &stats.splits[0];
        // PHOENIX-2014-T train: 285 of 7096 videos (4.0%) share their translation, nearly
        // all of them greetings and closings (counted from the official CSV with Python).
        let share = train.duplicate_videos as f64 / train.rows as f64;
        assert!((0.02..=0.06).contains(&share), "{share}");
        let stock: usize = rows
            .iter()
            .filter(|r| {
                r.translation.contains("zuschauer") || r.translation.contains("schoenen abend")
            })
            .count();
        assert!(
            stock * 10 >= train.duplicate_videos * 7,
            "{stock} of {}",
            train.duplicate_videos
        );
    }

    #[test]
    fn frames_are_written_one_png_per_pose_frame_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = SignsimConfig::new()
            .with_train(2)
            .with_dev(1)
            .with_test(1)
            .with_frames(true);
        generate(dir.path(), &config).unwrap();
        let name = "signsim-dev-00000";
        let pose = crate::pose::read_pose(&crate::sample::pose_path(dir.path(), Split::Dev, name))
            .unwrap();
        let folder = crate::frames::frames_dir(dir.path(), Split::Dev, name);
        let paths = crate::frames::frame_paths(&folder).unwrap();
        assert_eq!(paths.len(), pose.frames);
        assert!(paths[0].ends_with("images0001.png"));
        let frames = crate::frames::read_frames(
            &folder,
            &crate::frames::FrameConfig::new()
                .with_max_frames(None)
                .with_resize(None)
                .with_crop(None),
        )
        .unwrap();
        assert_eq!(
            (frames.frames, frames.height, frames.width),
            (pose.frames, 260, 210)
        );
        // without frames, no frame folder
        let plain = tempfile::tempdir().unwrap();
        generate(plain.path(), &config.clone().with_frames(false)).unwrap();
        assert!(!crate::frames::frames_dir(plain.path(), Split::Dev, name).exists());
    }

    #[test]
    fn writes_the_phoenix_layout_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        assert!(ensure_corpus(&a, &small()).unwrap());
        assert!(
            !ensure_corpus(&a, &small()).unwrap(),
            "reused when the config matches"
        );
        // a corpus from an older generator version is regenerated
        let json = a.join("signsim.json");
        let text = fs::read_to_string(&json).unwrap();
        let old = text.replace(
            &format!("\"generator\": {GENERATOR_VERSION}"),
            "\"generator\": 1",
        );
        assert_ne!(text, old);
        fs::write(&json, old).unwrap();
        assert!(
            ensure_corpus(&a, &small()).unwrap(),
            "regenerated after a version change"
        );
        ensure_corpus(&b, &small()).unwrap();
        for rel in [
            "annotations/manual/PHOENIX-2014-T.test.corpus.csv",
            "pose/train/signsim-train-00003.pose",
            "signsim.json",
            "wordvecs.vec",
        ] {
            assert_eq!(
                fs::read(a.join(rel)).unwrap(),
                fs::read(b.join(rel)).unwrap(),
                "{rel}"
            );
        }
        let test = load_split(&a, Split::Test).unwrap();
        assert_eq!(test.len(), 5);
        assert_eq!(test[0].features.dim, (49 + 42) * 2);
        let meta = SignsimMeta::load(&a).unwrap();
        let lex = &meta.lexicon;
        for s in &test {
            let d = &meta.distractors["test"][&s.name];
            assert!(!d.is_empty() && d.len() <= 40);
            for sentence in d {
                let w: Vec<&str> = sentence.split(' ').collect();
                let diff: Vec<usize> = (0..w.len()).filter(|&i| w[i] != s.words[i]).collect();
                assert_eq!(diff.len(), 1, "one word substituted");
                let (orig, new) = (&s.words[diff[0]], w[diff[0]]);
                assert!(lex.family_mates(orig).contains(&new) && !lex.are_synonyms(orig, new));
            }
        }
    }

    /// FNV-1a 64 over every file of a tree, in path order (paths and contents).
    fn tree_digest(root: &Path) -> (usize, u64) {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(root, &mut files);
        files.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for f in &files {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            for b in rel.bytes().chain(fs::read(f).unwrap()) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        (files.len(), h)
    }

    #[test]
    fn poses_read_through_the_mediapipe_holistic_selection() {
        use crate::pose::{KeypointSelection, normalize_shoulders, read_pose, select};
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &small()).unwrap();
        let path = dir.path().join("pose/train/signsim-train-00000.pose");
        let pose = read_pose(&path).unwrap();
        let names: Vec<&str> = pose
            .header
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "POSE_LANDMARKS",
                "LEFT_HAND_LANDMARKS",
                "RIGHT_HAND_LANDMARKS"
            ]
        );
        assert_eq!(pose.header.components[1].points[4], "THUMB_TIP");
        assert_eq!(pose.header.components[2].points[20], "PINKY_TIP");
        let picked = select(&pose, &KeypointSelection::mediapipe_body_hands(), &path).unwrap();
        assert_eq!(picked.header.total_points(), 7 + 21 + 21);
        let norm = normalize_shoulders(&picked, &path).unwrap();
        assert!(norm.values.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn same_seed_and_config_give_byte_identical_trees() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small().with_seed(11);
        let [a, b, c] = ["a", "b", "c"].map(|n| dir.path().join(n));
        generate(&a, &cfg).unwrap();
        generate(&b, &cfg).unwrap();
        generate(&c, &cfg.clone().with_seed(12)).unwrap();
        let (files, digest) = tree_digest(&a);
        // 3 CSVs, 12 + 4 + 5 pose files, signsim.json, wordvecs.vec.
        assert_eq!(files, 3 + 21 + 2);
        assert_eq!(tree_digest(&b), (files, digest), "same seed, same bytes");
        assert_ne!(tree_digest(&c).1, digest, "another seed, another corpus");
    }

    #[test]
    fn family_members_share_motion_and_differ_in_handshape_only() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &small()).unwrap();
        let meta = SignsimMeta::load(dir.path()).unwrap();
        assert_eq!(meta.motions.len(), meta.lexicon.families.len());
        assert!(meta.confusable_pairs.len() >= meta.lexicon.families.len());
    }
}
