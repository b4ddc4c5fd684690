//! What training writes and reads back: the config TOML, a saved model folder
//! (`config.json`, `model.mpk`, `train.json`, `vocab.json`, `san_table.json`) and a
//! checkpoint (`state.json`, `config.json`, `model.mpk`, `best.mpk`). Each file is
//! mutated in place while the others stay intact, and a model that loads must also run.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{Bool, Int, Tensor};
use san_core::mining::ConfusabilityTable;
use san_models::pose_encoder::PoseEncoderConfig;
use san_models::retrieval::{
    RetrievalModel, RetrievalModelConfig, SignEncoderConfig, TextEncoderConfig, save_model,
};
use san_models::text_encoder::WordEncoderConfig;
use san_train::checkpoint::{Checkpoint, CheckpointState};
use san_train::config::TrainConfig;
use san_train::output::load_saved_model;
use san_train::settings::load_config;

use crate::data_readers::temp_file;
use crate::harness::fuzz;

type B = san::backend::Cpu;

fn model_config() -> RetrievalModelConfig {
    RetrievalModelConfig::new(
        SignEncoderConfig::Pose(PoseEncoderConfig::new(6).with_hidden(8).with_dim(4)),
        TextEncoderConfig::Word(
            WordEncoderConfig::new(7)
                .with_dim(4)
                .with_layers(1)
                .with_heads(2),
        ),
    )
}

/// Runs a loaded model on one clip and one caption, so a model whose record does not fit
/// its config panics here instead of passing as loaded.
fn runs(model: &RetrievalModel<B>, config: &RetrievalModelConfig) {
    let dev = Default::default();
    let width = config.sign.input_width().unwrap_or(6);
    let poses = Tensor::<B, 3>::zeros([1, 3, width], &dev);
    let mask = Tensor::<B, 2, Bool>::ones([1, 3], &dev);
    let _ = model.encode_poses(poses, mask.clone()).map(|t| t.tokens);
    let ids = Tensor::<B, 2, Int>::zeros([1, 3], &dev);
    let _ = model.encode_text(ids, mask).pooled;
}

/// Fuzzes `dir/name` in place (the other files of `dir` intact) with `read`, then puts
/// the original back.
fn fuzz_file(label: &str, dir: &Path, name: &str, read: impl Fn() -> bool) -> u32 {
    let path = dir.join(name);
    let seed = std::fs::read(&path).unwrap();
    let n = fuzz(label, seed.clone(), |b| {
        std::fs::write(&path, b).unwrap();
        read()
    });
    std::fs::write(&path, seed).unwrap();
    n
}

/// Fuzzes the config TOML, the saved model's files and the checkpoint's; returns the cases
/// run.
pub fn records() -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let dev = Default::default();
    let mut total = 0;

    // The config TOML: the repository's paper config (or a few keys).
    let toml =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/phoenix_paper.toml"))
            .unwrap_or_else(|_| b"[stage1]\nepochs = 3\n[model.text]\nkind = \"Word\"\n".to_vec());
    let toml_dir = dir.path().to_path_buf();
    total += fuzz("config TOML", toml, |b| {
        let p = temp_file(&toml_dir, "run.toml", b);
        load_config(Some(&p), &[]).is_ok()
    });

    // A saved model folder as `san train` writes it.
    let model_dir = dir.path().join("model");
    let config = model_config();
    let model = config.init::<B>(&dev).unwrap();
    save_model(&model, &config, &model_dir).unwrap();
    let train = serde_json::to_string_pretty(&TrainConfig::new()).unwrap();
    std::fs::write(model_dir.join("train.json"), train).unwrap();
    let words = ["<pad>", "<unk>", "regen", "sonne", "nord", "sued", "wind"];
    std::fs::write(
        model_dir.join("vocab.json"),
        serde_json::to_string(&words).unwrap(),
    )
    .unwrap();
    let mut links = BTreeMap::new();
    links.insert("regen".to_string(), vec![("sonne".to_string(), 0.8f32)]);
    links.insert("sonne".to_string(), vec![("regen".to_string(), 0.8f32)]);
    san_data::tables::write_table(
        &model_dir.join("san_table.json"),
        &ConfusabilityTable { links },
    )
    .unwrap();
    let load = || match load_saved_model::<B>(&model_dir, &dev) {
        Ok(saved) => {
            runs(&saved.model, &saved.model_config);
            true
        }
        Err(_) => false,
    };
    for name in [
        "config.json",
        "model.mpk",
        "train.json",
        "vocab.json",
        "san_table.json",
    ] {
        total += fuzz_file(&format!("saved model {name}"), &model_dir, name, load);
    }

    // A checkpoint, loaded onto a fresh model as `--resume` does.
    let out = dir.path().join("run");
    let train = TrainConfig::new();
    let checkpoint = Checkpoint::new(&out, &train).unwrap();
    let mut state = CheckpointState::new(1);
    state.epochs_done = 2;
    checkpoint
        .save(&state, &model, Some(&model), |_| Ok(()))
        .unwrap();
    let resume = || {
        let fresh = config.init::<B>(&dev).unwrap();
        match checkpoint.load(fresh, &dev) {
            Ok(Some((_, model, best))) => {
                runs(&model, &config);
                if let Some(best) = best {
                    runs(&best, &config);
                }
                true
            }
            Ok(None) | Err(_) => false,
        }
    };
    let ckpt_dir = out.join("checkpoint");
    for name in ["state.json", "config.json", "model.mpk", "best.mpk"] {
        total += fuzz_file(&format!("checkpoint {name}"), &ckpt_dir, name, resume);
    }
    total
}
