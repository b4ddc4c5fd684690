//! The whole slice: signsim → corpus → stage 1 → SAN table → stage 2 → report.

use burn::backend::Autodiff;
use clap::Parser;
use san::backend::Cpu;
use san::main_job::{Args, main_job};
use san_data::corpus::Corpus;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_train::config::TrainConfig;
use san_train::protocol::run;
use san_train::report::RunReport;

type B = Autodiff<Cpu>;

/// Training seeds the backend's process-global RNG, so two trainings running at once in
/// this test process would draw from one stream and break determinism; they take turns.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn training_turn() -> std::sync::MutexGuard<'static, ()> {
    TRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A small model (width and token dimension `width`) in batches of `batch`, with `e1` and
/// `e2` epochs in the two stages.
fn small(width: usize, batch: usize, e1: usize, e2: usize) -> TrainConfig {
    let mut config = TrainConfig::new().with_epochs(e1, e2);
    config.model.hidden = width;
    config.model.dim = width;
    config.data.batch_size = batch;
    config
}

fn tiny_run(corpus: &Corpus) -> RunReport {
    let config = small(64, 16, 6, 2);
    run::<B>(corpus, &config, &Default::default(), &mut |_, _, _, _| {})
        .unwrap()
        .report
}

fn strip_times(mut r: RunReport) -> RunReport {
    r.stage1.seconds = 0.0;
    r.stage2.seconds = 0.0;
    r.table_seconds = 0.0;
    r
}

#[test]
fn trains_both_stages_on_signsim_and_is_deterministic() {
    let _turn = training_turn();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new()
            .with_train(240)
            .with_dev(24)
            .with_test(24),
    )
    .unwrap();
    let corpus = Corpus::load(&root).unwrap();
    assert_eq!(
        (corpus.train.len(), corpus.dev.len(), corpus.test.len()),
        (240, 24, 24)
    );

    let report = tiny_run(&corpus);
    for stage in [&report.stage1, &report.stage2] {
        let t = &stage.test;
        assert_eq!(t.t2v.queries, 24);
        assert!((1.0..=24.0).contains(&t.t2v.medr) && (1.0..=24.0).contains(&t.v2t.medr));
        assert!(t.t2v.r1 <= t.t2v.r5 && t.t2v.r5 <= t.t2v.r10);
        let fg = t
            .fine_grained
            .expect("signsim provides fine-grained distractors");
        assert_eq!(fg.queries, 24);
    }
    // Chance T2V R@1 is 1/24 ≈ 4.2 %; six epochs on signsim are far above it.
    assert!(report.stage1.test.t2v.r1 > 20.0, "{report}");
    assert!(report.table.occurrences > 0);
    assert!(report.to_string().contains("FG-V2T R@1"));
    let bench = report
        .fine_grained
        .as_ref()
        .expect("test benchmark summary");
    assert_eq!(
        (bench.source.as_str(), bench.queries),
        ("signsim ground truth", 24)
    );
    assert_eq!(report.table.captions, 240);

    // Same seed, same numbers (ndarray is deterministic).
    assert_eq!(strip_times(tiny_run(&corpus)), strip_times(report));
}

#[test]
fn main_job_writes_report_table_and_benchmark() {
    let _turn = training_turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let args = Args::try_parse_from([
        "phoenix_train",
        "--out",
        out,
        "--signsim-train",
        "48",
        "--signsim-eval",
        "8",
        "--stage1-epochs",
        "1",
        "--stage2-epochs",
        "1",
    ])
    .unwrap();
    let report = main_job(args).unwrap();
    for name in [
        "config.json",
        "report.json",
        "san_table.json",
        "fine_grained_test.json",
    ] {
        assert!(dir.path().join(name).is_file(), "{name} missing");
    }
    let table = san_data::tables::read_table(&dir.path().join("san_table.json")).unwrap();
    assert_eq!(table.len(), report.table.linked_words);
    let bench =
        san_data::tables::read_benchmark(&dir.path().join("fine_grained_test.json")).unwrap();
    assert_eq!(bench.items.len(), 8);
}

#[test]
fn bad_arguments_give_errors_not_panics() {
    assert!(Args::try_parse_from(["phoenix_train", "--no-such-flag"]).is_err());
    assert!(Args::try_parse_from(["phoenix_train", "--device", "tpu"]).is_err());
    let args = Args::try_parse_from(["phoenix_train", "--data", "/definitely/not/here"]).unwrap();
    let err = main_job(args).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn a_corpus_missing_its_poses_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("annotations/manual");
    std::fs::create_dir_all(&csv).unwrap();
    for split in ["train", "dev", "test"] {
        std::fs::write(
            csv.join(format!("PHOENIX-2014-T.{split}.corpus.csv")),
            "a-1|a-1/1/*.png|-1|-1|Signer01|REGEN|regen\n",
        )
        .unwrap();
    }
    let err = Corpus::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("pose/train/a-1.pose"), "{err}");
}

#[test]
fn reads_the_official_phoenix_csvs_when_present() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/phoenix14t");
    if !root.exists() {
        eprintln!("skipping: {} not found", root.display());
        return;
    }
    let read = |split| {
        san_data::phoenix::read_corpus_csv(&san_data::sample::corpus_csv_path(&root, split))
            .unwrap()
    };
    use san_data::phoenix::Split;
    let (train, dev, test) = (read(Split::Train), read(Split::Dev), read(Split::Test));
    let stats = san_data::phoenix::CorpusStats::compute(&[
        ("train", &train),
        ("dev", &dev),
        ("test", &test),
    ]);
    println!("{stats}");
    // Expected values computed independently in Python over the raw CSVs: whitespace
    // tokens of `translation` and `orth`, collections.Counter for repeats, set differences
    // against train for OOV.
    let row = |name: &str| {
        let s = stats.split(name).unwrap();
        (
            s.rows,
            s.unique_translations,
            s.duplicate_groups,
            s.duplicate_videos,
            s.words,
            s.glosses,
            s.signers,
        )
    };
    assert_eq!(row("train"), (7096, 6853, 42, 285, 2887, 1085, 9));
    assert_eq!(row("dev"), (519, 509, 5, 15, 951, 393, 9));
    assert_eq!(row("test"), (642, 630, 6, 18, 1001, 411, 9));
    let oov = |name: &str| {
        let s = stats.split(name).unwrap();
        (
            s.oov_words,
            s.oov_word_tokens,
            s.word_tokens,
            s.oov_glosses,
            s.oov_gloss_tokens,
            s.gloss_tokens,
        )
    };
    assert_eq!(oov("dev"), (57, 57, 6820, 12, 14, 3748));
    assert_eq!(oov("test"), (59, 60, 7816, 19, 19, 4264));
}

#[test]
fn signsim_experiment_runs_every_arm_and_writes_its_table() {
    use san::experiment_job::{Args as ExperimentArgs, experiment_job};
    use san_train::experiment::{ALL_ARMS, Arm, ExperimentReport};
    let _turn = training_turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = || {
        let args = ExperimentArgs::try_parse_from([
            "signsim_experiment",
            "--out",
            out,
            "--seeds",
            "5",
            "--signsim-train",
            "64",
            "--signsim-eval",
            "12",
            "--stage1-epochs",
            "2",
            "--stage2-epochs",
            "2",
            "--refresh-every",
            "1",
            "--alpha",
            "0.3",
        ])
        .unwrap();
        experiment_job(args).unwrap()
    };
    let report = run();
    assert_eq!(report.runs.len(), 6, "one run per arm");
    for (run, arm) in report.runs.iter().zip(ALL_ARMS) {
        assert_eq!((run.arm, run.seed), (arm, 5));
        let fg = run.test.fine_grained.expect("ground-truth distractors");
        assert_eq!(fg.queries, 12);
        let tableless = matches!(arm, Arm::None | Arm::Instance);
        assert_eq!(run.table.is_none(), tableless, "{arm:?}");
    }
    // signsim's families cross semantic classes, so the semantic table's links are not
    // family pairs (by construction, DESIGN §3.7).
    let semantic = report.runs[1].table.as_ref().unwrap();
    assert!(
        semantic.links > 0 && semantic.precision < 0.2,
        "{semantic:?}"
    );
    let md = std::fs::read_to_string(dir.path().join("experiment.md")).unwrap();
    assert_eq!(md, report.markdown());
    assert_eq!(md.lines().filter(|l| l.starts_with("| (")).count(), 6);
    let saved: ExperimentReport =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("experiment.json")).unwrap())
            .unwrap();
    // serde_json's default float parser may move the last digit, so compare what is read
    // back through the printed table and the run keys.
    assert_eq!(saved.markdown(), report.markdown());
    let keys = |r: &ExperimentReport| {
        r.runs
            .iter()
            .map(|x| (x.arm, x.seed, x.best_epoch))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&saved), keys(&report));
    // Same seed, same numbers.
    let again = run();
    let strip = |r: &ExperimentReport| {
        r.runs
            .iter()
            .map(|x| (x.arm, x.best_epoch, x.test.clone(), x.table.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&again), strip(&report));
}

#[test]
fn signsim_synth_writes_a_corpus_the_trainer_reads() {
    use san::synth_job::{Args as SynthArgs, synth_job};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("corpus");
    let args = SynthArgs::try_parse_from([
        "signsim_synth",
        "--out",
        root.to_str().unwrap(),
        "--train",
        "10",
        "--dev",
        "3",
        "--test",
        "4",
        "--delta",
        "0.2",
        "--seed",
        "9",
    ])
    .unwrap();
    let config = synth_job(args).unwrap();
    assert_eq!((config.train, config.delta, config.seed), (10, 0.2, 9));
    let corpus = Corpus::load(&root).unwrap();
    assert_eq!(
        (corpus.train.len(), corpus.dev.len(), corpus.test.len()),
        (10, 3, 4)
    );
    let meta = corpus.signsim.expect("signsim.json");
    assert_eq!(meta.config.delta, 0.2);
    let bad =
        SynthArgs::try_parse_from(["signsim_synth", "--out", "x", "--family-size", "1"]).unwrap();
    assert!(
        synth_job(bad)
            .unwrap_err()
            .to_string()
            .contains("--family-size")
    );
}

#[test]
fn sgd_with_warm_up_cosine_schedule_and_clipping_trains() {
    use san_train::record::Stage;
    use san_train::schedule::{LrSchedule, OptimizerKind};
    let _turn = training_turn();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new()
            .with_train(160)
            .with_dev(16)
            .with_test(16),
    )
    .unwrap();
    let corpus = Corpus::load(&root).unwrap();
    let mut config = small(32, 16, 5, 1);
    config.optimizer = san_train::config::OptimConfig::new()
        .with_kind(OptimizerKind::Sgd)
        .with_learning_rate(0.05)
        .with_schedule(LrSchedule::Cosine)
        .with_warmup_steps(5)
        .with_grad_clip_norm(Some(1.0));
    let mut losses = Vec::new();
    let out = run::<B>(
        &corpus,
        &config,
        &Default::default(),
        &mut |stage, _, loss, _| {
            if stage == Stage::Coarse {
                losses.push(loss);
            }
        },
    )
    .unwrap();
    assert_eq!(losses.len(), 5);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(
        losses[4] < losses[0],
        "the coarse loss should fall over 5 epochs: {losses:?}"
    );
    assert_eq!(out.report.stage1.epochs, 5);
}

#[test]
fn every_input_kind_sign_encoder_and_miner_trains() {
    use san_train::config::{EncoderKind, InputKind, Miner};
    use san_train::negatives::Negatives;
    let _turn = training_turn();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new()
            .with_train(48)
            .with_dev(12)
            .with_test(12)
            .with_frames(true),
    )
    .unwrap();
    // Clip features as `.npy` [T, F] files, as I3D features are shipped: here each clip's
    // pose features, so the values are known.
    let pose = Corpus::load(&root).unwrap();
    for (split, samples) in [
        ("train", &pose.train),
        ("dev", &pose.dev),
        ("test", &pose.test),
    ] {
        let dir = root.join("features").join(split);
        std::fs::create_dir_all(&dir).unwrap();
        for s in samples.iter() {
            let f = &s.features;
            let mut buf = Vec::new();
            {
                use npyz::WriterBuilder;
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&[f.frames as u64, f.dim as u64])
                    .writer(&mut buf)
                    .begin_nd()
                    .unwrap();
                w.extend(f.values.iter().copied()).unwrap();
                w.finish().unwrap();
            }
            std::fs::write(dir.join(format!("{}.npy", s.name)), buf).unwrap();
        }
    }
    let features = Corpus::load_input(
        &root,
        InputKind::Features,
        &san_data::frames::FrameConfig::new(),
    )
    .unwrap();
    assert_eq!(features.input_dim(), pose.input_dim());
    assert_eq!(
        features.train[3].features.values,
        pose.train[3].features.values
    );

    let mut base = small(32, 12, 1, 1);
    base.mining.instance.k = 3;
    let with_miner = |miner: Miner| {
        let mut c = base.clone();
        c.mining.miner = miner;
        c
    };
    let small_frames = san_data::frames::FrameConfig::new()
        .with_max_frames(Some(4))
        .with_resize(Some((16, 16)))
        .with_crop(None);
    let cases = [
        (InputKind::Pose, EncoderKind::Keypoints, Miner::San),
        (InputKind::Pose, EncoderKind::Pose, Miner::SanSynonymFilter),
        (InputKind::Pose, EncoderKind::Pose, Miner::None),
        (InputKind::Features, EncoderKind::Auto, Miner::Instance),
        (InputKind::Frames, EncoderKind::Auto, Miner::Semantic),
    ];
    for (input, encoder, miner) in cases {
        let mut config = with_miner(miner);
        config.data.input = input;
        config.data.frames = small_frames.clone();
        config.model.encoder = encoder;
        config.model.cnn = san_models::frame_encoder::ResNetConfig::new()
            .with_blocks([1, 1, 1, 1])
            .with_width(4);
        let corpus = Corpus::load_input(&root, input, &config.data.frames).unwrap();
        if input == InputKind::Frames {
            assert_eq!(corpus.input_dim(), 3 * 16 * 16);
        }
        let mut losses = Vec::new();
        let out = run::<B>(
            &corpus,
            &config,
            &Default::default(),
            &mut |_, _, loss, _| losses.push(loss),
        )
        .unwrap_or_else(|e| panic!("{input:?} {encoder:?} {miner:?}: {e}"));
        assert_eq!(losses.len(), 2);
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        assert_eq!(out.report.stage2.test.t2v.queries, 12);
        // Stage 2 uses the miner's negatives: a table for caption substitution, none
        // otherwise (mined neighbours are not a table).
        let has_table = matches!(
            miner,
            Miner::San | Miner::SanSynonymFilter | Miner::Semantic
        );
        if !has_table {
            assert_eq!(out.report.final_table_words, 0, "{miner:?}");
        }
    }

    // The instance miner's neighbours: k per clip at most, never the clip itself or one
    // with the same text.
    let config = with_miner(Miner::Instance);
    let model = san_train::model::init_model::<Cpu>(&config, &pose, &Default::default()).unwrap();
    let Negatives::Neighbours(n) =
        san_train::negatives::build_negatives(&model, &pose, &config, None, &Default::default())
            .unwrap()
    else {
        panic!("expected neighbours");
    };
    assert_eq!(n.len(), 48);
    for (i, nb) in n.iter().enumerate() {
        assert!(nb.len() <= 3 && !nb.is_empty());
        assert!(
            nb.iter()
                .all(|&j| j != i && pose.train[j].text_id != pose.train[i].text_id)
        );
    }
    // A mismatched encoder is a config error, not a panic.
    let mut bad = base.clone();
    bad.model.encoder = EncoderKind::Frames;
    let err = san_train::model::model_config(&bad, &pose)
        .unwrap_err()
        .to_string();
    assert!(err.contains("frame input"), "{err}");
    // The semantic miner on a corpus without word vectors is an error naming the file.
    std::fs::remove_file(root.join("wordvecs.vec")).unwrap();
    let without = Corpus::load(&root).unwrap();
    assert!(without.word_vectors.is_none() && pose.word_vectors.is_some());
    let err = san_train::negatives::build_negatives(
        &model,
        &without,
        &with_miner(Miner::Semantic),
        None,
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("wordvecs.vec"), "{err}");
}
