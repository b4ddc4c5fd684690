//! The paper's setting through `san train`: real PHOENIX-2014-T rows, 1024-d clip features
//! per video, and a pretrained BERT-family text encoder (all-MiniLM-L6-v2 from
//! `../shared/models` standing in for bert-base-german-cased) with its lower layers
//! frozen; then `eval`, `table show`, `embed` and `search` on the saved model. Also: the
//! word-index mapping of word pieces survives substitution, and
//! `configs/phoenix_paper.toml` holds the paper's values.
//!
//! The tests that read `../shared` skip with a printed reason when it is absent.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;
use san::backend::Cpu;
use san_core::mining::ConfusabilityTable;
use san_data::corpus::Corpus;
use san_data::phoenix::Split;
use san_data::text_tokens::TextTokenizer;
use san_models::retrieval::TextEncoder;
use san_train::captions::hard_captions;
use san_train::config::{InputKind, TextKind, TrainConfig};
use san_train::output::load_saved_model;
use san_train::schedule::OptimizerKind;
use san_train::settings::load_config;

use crate::cli::{ok, p};

const DIM: usize = 1024;

/// `../shared/<relative>`, or `None` with the reason printed.
fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} not found", path.display());
        None
    }
}

fn minilm() -> Option<PathBuf> {
    shared("models/all-MiniLM-L6-v2")
}

/// A unit-free pseudo-random vector for a word, the same in every clip (FNV-1a seed).
fn word_vector(word: &str) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..DIM)
        .map(|_| {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            (h >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// A corpus of the first `n` rows of each official split, each video a `[T, 1024]` `.npy`
/// of clip features: one step per word of its translation (that word's vector plus a
/// little of its neighbours'), so a model can learn which clip shows which word.
fn phoenix_with_features(root: &Path, n: [usize; 3]) -> Option<()> {
    let csvs = shared("data/phoenix14t")?;
    for (split, n) in [Split::Train, Split::Dev, Split::Test].into_iter().zip(n) {
        let name = format!("PHOENIX-2014-T.{split}.corpus.csv");
        let text = std::fs::read_to_string(csvs.join(&name)).unwrap();
        let rows: Vec<&str> = text.lines().take(n).collect();
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join(&name), rows.join("\n") + "\n").unwrap();
        let dir = root.join("features").join(split.name());
        std::fs::create_dir_all(&dir).unwrap();
        for row in rows {
            let cols: Vec<&str> = row.split('|').collect();
            let vectors: Vec<Vec<f32>> = cols[6].split_whitespace().map(word_vector).collect();
            let t = vectors.len();
            let mut values = Vec::with_capacity(t * DIM);
            for i in 0..t {
                let next = &vectors[(i + 1) % t];
                values.extend(vectors[i].iter().zip(next).map(|(a, b)| a + 0.2 * b));
            }
            san_data::gallery::write_npy(
                &dir.join(format!("{}.npy", cols[0])),
                &values,
                &[t as u64, DIM as u64],
            )
            .unwrap();
        }
    }
    Some(())
}

/// `san args` through the CLI suite's runner (it must succeed); its output is shown under
/// `--nocapture`.
fn run(args: &[&str]) -> String {
    let stdout = ok(args);
    println!("$ san {}\n{stdout}", args.join(" "));
    stdout
}

/// Every float parameter of a module, flattened, in visiting order.
fn params<M: Module<Cpu>>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor<Cpu> for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<Cpu, D>>) {
            self.0.push(p.val().into_data().to_vec().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

#[test]
fn bert_text_side_trains_on_phoenix_rows_and_serves_every_command() {
    let Some(bert) = minilm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("phoenix");
    if phoenix_with_features(&corpus, [160, 40, 40]).is_none() {
        return;
    }
    let config = dir.path().join("minilm.toml");
    std::fs::write(
        &config,
        format!(
            r#"seed = 3
[data]
input = "Features"
batch_size = 16
[model]
hidden = 64
dim = 64
[model.text]
kind = "Bert"
checkpoint = "{}"
freeze_lower = 4
max_len = 32
lr_multiplier = 0.5
[stage1]
epochs = 2
[stage2]
epochs = 1
[mining.reliable]
alpha = 0.3
"#,
            bert.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let log = run(&[
        "train",
        "--data",
        p(&corpus),
        "--config",
        p(&config),
        "--out",
        p(&out),
    ]);
    assert!(
        log.contains("160 train / 40 dev / 40 test") && log.contains("word pieces of"),
        "{log}"
    );
    assert!(log.contains("stage 2 negatives"), "{log}");
    let model = out.join("model");
    for f in ["tokenizer.json", "train.json", "model.mpk", "vocab.json"] {
        assert!(model.join(f).is_file(), "model/{f}");
    }

    // Frozen: BERT's embeddings and layers 0–3 are bit-identical to the checkpoint's;
    // layers 4 and 5 moved.
    let device = Default::default();
    let saved = load_saved_model::<Cpu>(&model, &device).unwrap();
    assert!(saved.text.is_pieces());
    let TextEncoder::Bert(trained) = &saved.model.text_encoder else {
        panic!("the saved text encoder is not BERT")
    };
    let original = san_models::bert::load_bert::<Cpu>(&bert, &device)
        .unwrap()
        .model;
    assert_eq!(
        params(&trained.bert.embeddings),
        params(&original.embeddings),
        "frozen embeddings changed"
    );
    for i in 0..6 {
        let same = params(&trained.bert.layers[i]) == params(&original.layers[i]);
        assert_eq!(
            same,
            i < 4,
            "layer {i}: frozen layers stay, the others move"
        );
    }

    let evaluated = run(&[
        "eval",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--split",
        "test",
    ]);
    assert!(evaluated.contains("T2V"), "{evaluated}");
    let shown = run(&["table", "show", p(&out.join("san_table.json"))]);
    assert!(shown.contains("links"), "{shown}");
    let built = dir.path().join("table.json");
    run(&[
        "table",
        "build",
        "--kind",
        "san",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--out",
        p(&built),
    ]);
    assert!(san_data::tables::read_table(&built).is_ok());
    let index = dir.path().join("test.safetensors");
    run(&[
        "embed",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--split",
        "test",
        "--out",
        p(&index),
    ]);
    let found = run(&[
        "search",
        "--model",
        p(&model),
        "--index",
        p(&index),
        "--query",
        "morgen regnet es im norden",
        "-k",
        "3",
    ]);
    assert!(
        found.contains("5 of 5 words known to the tokenizer"),
        "{found}"
    );
    assert_eq!(found.lines().count(), 4, "{found}");
}

#[test]
fn word_pieces_keep_their_word_through_substitution() {
    let Some(bert) = minilm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("phoenix");
    if phoenix_with_features(&root, [4, 2, 2]).is_none() {
        return;
    }
    let corpus = Corpus::load_input(
        &root,
        InputKind::Features,
        &san_data::frames::FrameConfig::new(),
    )
    .unwrap();
    let text = TextTokenizer::from_checkpoint(&bert, 64).unwrap();
    let corpus = corpus.with_text(text.clone());
    let sample = &corpus.train[0];
    // The first train caption begins "und nun die wettervorhersage …": swap "nun" for a
    // word that the uncased English vocabulary splits into several pieces.
    assert_eq!(sample.words[1], "nun");
    let mut table = ConfusabilityTable::default();
    table
        .links
        .insert("nun".into(), vec![("überschwemmungen".into(), 0.9)]);
    let mut config = TrainConfig::new();
    config.mining.n_hard = 1;
    config.mining.n_swap = 1;
    let caps = hard_captions(
        &[sample],
        &table,
        &corpus,
        &config,
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap();
    let mut swapped = sample.words.clone();
    swapped[1] = "überschwemmungen".into();
    let coded = text.encode(&swapped, usize::MAX).unwrap();
    let ids: Vec<usize> = coded.ids.iter().map(|&i| i as usize).collect();
    assert_eq!(
        caps[1], ids,
        "the hard caption is the swapped caption, re-tokenized"
    );
    let pieces_of_swapped = coded
        .word_of_token
        .iter()
        .filter(|w| **w == Some(1))
        .count();
    assert!(pieces_of_swapped > 1, "{coded:?}");
    // Every word keeps its own pieces, in order: the word index never goes back, and the
    // words after the swap still map to their own positions.
    let words_seen: Vec<usize> = coded.word_of_token.iter().flatten().copied().collect();
    assert!(
        words_seen.windows(2).all(|w| w[0] <= w[1]),
        "{words_seen:?}"
    );
    assert_eq!(words_seen.last(), Some(&(swapped.len() - 1)));
    let original = text.encode(&sample.words, usize::MAX).unwrap();
    let after = |c: &san_data::subword::TokenizedCaption| -> Vec<u32> {
        c.ids
            .iter()
            .zip(&c.word_of_token)
            .filter(|(_, w)| w.is_some_and(|w| w >= 2))
            .map(|(&id, _)| id)
            .collect()
    };
    assert_eq!(
        after(&coded),
        after(&original),
        "words 2.. keep their pieces"
    );
}

#[test]
fn the_paper_config_holds_the_papers_values() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/phoenix_paper.toml");
    let c = load_config(Some(&path), &[]).unwrap();
    // DESIGN.md §3 and the paper: α = β = 0.7, N_hard = 5, N_swap = 2, λ = 0.4,
    // τ_tok = 0.07, 40 distractors; SGD at 0.01 for 100 epochs; 1024-d clip features,
    // at most 64 clips; a BERT text side with its lower layers frozen.
    assert_eq!(c.data.input, InputKind::Features);
    assert_eq!(c.data.batcher.max_frames, 64);
    assert_eq!(c.data.batch_size, 64);
    assert_eq!(c.model.text.kind, TextKind::Bert);
    assert!(c.model.text.freeze_lower > 0 && !c.model.text.freeze_all);
    assert_eq!(c.optimizer.kind, OptimizerKind::Sgd);
    assert_eq!(c.optimizer.learning_rate, 0.01);
    assert_eq!((c.stage1.epochs, c.stage2.epochs), (100, 100));
    assert_eq!(c.mining.reliable.alpha, 0.7);
    assert_eq!(c.mining.table.beta, 0.7);
    assert_eq!((c.mining.n_hard, c.mining.n_swap), (5, 2));
    assert_eq!(c.mining.lambda_fine, 0.4);
    assert_eq!(c.model.tau_tok, 0.07);
    assert_eq!(c.eval.fine_grained_distractors, 40);
    assert_eq!(c.mining.miner, san_train::config::Miner::San);
}

/// The CNN's learned weights (convolutions and BatchNorm's γ, β; not its running
/// statistics, which follow the batches in training mode).
fn cnn_weights<B: burn::tensor::backend::Backend>(
    cnn: &san_models::frame_encoder::ResNet<B>,
) -> Vec<Vec<f32>> {
    fn v<B: burn::tensor::backend::Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> Vec<f32> {
        p.val().into_data().convert::<f32>().to_vec().unwrap()
    }
    let mut out = vec![v(&cnn.conv1.weight), v(&cnn.bn1.gamma), v(&cnn.bn1.beta)];
    for block in cnn.stages.iter().flatten() {
        for conv in [&block.conv1, &block.conv2] {
            out.push(v(&conv.weight));
        }
        for bn in [&block.bn1, &block.bn2] {
            out.push(v(&bn.gamma));
            out.push(v(&bn.beta));
        }
    }
    out
}

#[test]
fn the_trainer_loads_pretrained_cnn_weights_and_freezes_them() {
    use burn::backend::Autodiff;
    use burn::module::AutodiffModule;
    use burn::tensor::backend::Backend;
    use san_data::signsim::{SignsimConfig, ensure_corpus};
    use san_models::frame_encoder::{ResNetConfig, load_resnet_weights};
    use san_models::retrieval::SignEncoder;
    type AD = Autodiff<Cpu>;

    let _turn = crate::end_to_end::training_turn();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new()
            .with_train(16)
            .with_dev(4)
            .with_test(4)
            .with_frames(true),
    )
    .unwrap();
    // A torchvision-keyed ResNet (blocks [1, 1, 1, 1], width 4), as san-models tests it.
    let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/san-models/tests/fixtures/resnet_tiny.safetensors");
    let mut config = TrainConfig::new().with_epochs(1, 1);
    config.data.input = InputKind::Frames;
    config.data.batch_size = 8;
    config.data.frames = san_data::frames::FrameConfig::new()
        .with_max_frames(Some(4))
        .with_resize(Some((16, 16)))
        .with_crop(None);
    config.model.hidden = 16;
    config.model.dim = 16;
    config.model.cnn = ResNetConfig::new().with_blocks([1, 1, 1, 1]).with_width(4);
    config.model.pretrained_cnn.weights = Some(weights.to_string_lossy().into_owned());
    let corpus = Corpus::load_input(&root, InputKind::Frames, &config.data.frames).unwrap();
    let device = Default::default();
    let expected =
        cnn_weights(&load_resnet_weights(config.model.cnn.init::<Cpu>(&device), &weights).unwrap());
    let cnn_after = |config: &TrainConfig| {
        AD::seed(&device, 1);
        let model = san_train::model::init_model::<AD>(config, &corpus, &device).unwrap();
        let SignEncoder::Frames(e) = &model.sign_encoder else {
            panic!("not the frame encoder")
        };
        assert_eq!(cnn_weights(&e.cnn), expected, "the weights are loaded");
        let (model, ..) = san_train::stage::train_stage(
            model,
            1,
            &corpus,
            config,
            san_train::negatives::Negatives::None,
            None,
            &device,
            &mut |_, _, _, _| {},
        )
        .unwrap();
        let SignEncoder::Frames(e) = &model.valid().sign_encoder else {
            panic!("not the frame encoder")
        };
        cnn_weights(&e.cnn)
    };
    config.model.pretrained_cnn.freeze = true;
    assert_eq!(
        cnn_after(&config),
        expected,
        "a frozen CNN keeps its weights"
    );
    config.model.pretrained_cnn.freeze = false;
    config.model.pretrained_cnn.lr_multiplier = 0.5;
    assert_ne!(cnn_after(&config), expected, "an unfrozen CNN trains");
}
