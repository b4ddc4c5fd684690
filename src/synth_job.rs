//! `cargo run --release --example signsim_synth -- --out <dir>`: writes a signsim corpus
//! (DESIGN.md §3.7) in the PHOENIX-2014-T layout, with every generator setting exposed.

use std::path::PathBuf;
use std::time::Instant;

use san_data::phoenix::{CorpusEntry, CorpusStats, read_corpus_csv};
use san_data::signsim::{SignsimConfig, generate};

use crate::error::{CliError, Result};

/// Command-line arguments of the generator.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "signsim_synth",
    about = "Write a signsim corpus (PHOENIX-2014-T layout, .pose files, signsim.json, wordvecs.vec)."
)]
pub struct Args {
    /// Corpus root to write (created; existing files are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed; the same seed and settings give byte-identical output.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Training sentences (PHOENIX-2014-T: 7096).
    #[arg(long, default_value_t = 1200)]
    pub train: usize,
    /// Dev sentences (PHOENIX-2014-T: 519).
    #[arg(long, default_value_t = 200)]
    pub dev: usize,
    /// Test sentences (PHOENIX-2014-T: 642).
    #[arg(long, default_value_t = 200)]
    pub test: usize,
    /// Glosses per confusable family.
    #[arg(long, default_value_t = 3)]
    pub family_size: usize,
    /// Handshape difference within a family (smaller = harder).
    #[arg(long, default_value_t = 0.05)]
    pub delta: f32,
    /// Number of signers.
    #[arg(long, default_value_t = 9)]
    pub signers: usize,
    /// Keypoint noise, pixels.
    #[arg(long, default_value_t = 1.0)]
    pub pixel_sigma: f32,
    /// Probability that a hand is missing in a frame.
    #[arg(long, default_value_t = 0.02)]
    pub hand_dropout: f64,
    /// Probability that a sentence is a stock greeting or closing, repeated verbatim (about
    /// the share of videos with a repeated translation; PHOENIX-2014-T train: 4.0%).
    #[arg(long, default_value_t = 0.035)]
    pub duplicate_rate: f64,
    /// Probability that a dev/test sentence is followed by its minimal pair (one family
    /// word swapped, same signer), for fine-grained T2V.
    #[arg(long, default_value_t = 0.2)]
    pub minimal_pairs: f64,
    /// Most fine-grained distractors per dev/test item.
    #[arg(long, default_value_t = 40)]
    pub distractors: usize,
    /// Also draw every frame as a stick-figure PNG (official full-frame layout).
    #[arg(long)]
    pub frames: bool,
}

impl Args {
    /// The generator settings these arguments give.
    pub fn config(&self) -> SignsimConfig {
        SignsimConfig::new()
            .with_seed(self.seed)
            .with_train(self.train)
            .with_dev(self.dev)
            .with_test(self.test)
            .with_family_size(self.family_size)
            .with_delta(self.delta)
            .with_signers(self.signers)
            .with_pixel_sigma(self.pixel_sigma)
            .with_hand_dropout(self.hand_dropout)
            .with_duplicate_rate(self.duplicate_rate)
            .with_distractors(self.distractors)
            .with_minimal_pairs(self.minimal_pairs)
            .with_frames(self.frames)
    }
}

/// Generates the corpus and prints where it is.
pub fn synth_job(args: Args) -> Result<SignsimConfig> {
    let started = Instant::now();
    if args.train == 0 || args.dev == 0 || args.test == 0 {
        return Err(CliError::arg(
            "--train, --dev, --test",
            "each must be at least 1",
        ));
    }
    if args.family_size < 2 {
        return Err(CliError::arg(
            format!("--family-size {}", args.family_size),
            "must be at least 2 (a family of one has no confusable sign)",
        ));
    }
    let config = args.config();
    generate(&args.out, &config)?;
    println!(
        "signsim corpus {}/{}/{} (seed {}, δ {}) written to {} in {:.1} s",
        config.train,
        config.dev,
        config.test,
        config.seed,
        config.delta,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    let mut splits = Vec::new();
    for split in ["train", "dev", "test"] {
        let csv = args
            .out
            .join("annotations/manual")
            .join(format!("PHOENIX-2014-T.{split}.corpus.csv"));
        splits.push((split, read_corpus_csv(&csv)?));
    }
    let refs: Vec<(&str, &[CorpusEntry])> =
        splits.iter().map(|(n, r)| (*n, r.as_slice())).collect();
    let stats = CorpusStats::compute(&refs);
    print!("{stats}");
    for s in &stats.splits {
        println!(
            "{}: {:.2} words and {:.2} glosses per sentence, {:.1}% of videos share their translation",
            s.split,
            s.word_tokens as f64 / s.rows as f64,
            s.gloss_tokens as f64 / s.rows as f64,
            100.0 * s.duplicate_videos as f64 / s.rows as f64
        );
    }
    Ok(config)
}
