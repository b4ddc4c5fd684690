//! What a run leaves in its output folder, and how the CLI reads it back.
//!
//! | path | content |
//! |---|---|
//! | `config.json` | the `TrainConfig` |
//! | `checkpoint/` | the last checkpoint (see [`crate::checkpoint`]) |
//! | `metrics.jsonl` | one line per epoch |
//! | `model/` | the selected stage-2 model: `config.json`, `model.mpk`, `train.json` (the `TrainConfig`), `vocab.json`, `san_table.json`, and with a BERT text side its `tokenizer.json` |
//! | `report.json`, `report.md` | both stages on dev and test, the table, the fine-grained benchmark |
//! | `san_table.json` | the SAN table of the selected stage-1 model |
//! | `fine_grained_test.json` | the test split's fine-grained benchmark |
//! | `loss.png`, `dev_r1.png`, `coarse_vs_fine.png` | plots |

use std::path::Path;

use burn::tensor::backend::Backend;
use san_core::mining::ConfusabilityTable;
use san_data::io::write_atomic;
use san_data::text_tokens::TextTokenizer;
use san_data::vocab::Vocabulary;
use san_models::retrieval::{RetrievalModel, RetrievalModelConfig, load_model, save_model};

use crate::config::{TextKind, TrainConfig};
use crate::error::{Result, TrainError};
use crate::report::RunOutput;
use crate::settings::moved_to;
use san_data::corpus::Corpus;

fn json_error(path: &Path, what: &str, e: impl std::fmt::Display) -> TrainError {
    TrainError::checkpoint(path, format!("expected {what}: {e}"))
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Saves a selected model with what inference needs besides the weights: the training
/// config (batching, τ_tok, input kind), the vocabulary, the SAN table and, for word
/// pieces, the tokenizer (as `tokenizer.json`, whatever file it was read from).
pub fn save_selected_model<B: Backend>(
    dir: &Path,
    model: &RetrievalModel<B>,
    model_config: &RetrievalModelConfig,
    config: &TrainConfig,
    corpus: &Corpus,
    table: &ConfusabilityTable,
) -> Result<()> {
    save_model(model, model_config, dir)?;
    write_atomic(&dir.join("train.json"), pretty(config).as_bytes())?;
    write_atomic(
        &dir.join("vocab.json"),
        pretty(&corpus.vocab.words()).as_bytes(),
    )?;
    san_data::tables::write_table(&dir.join("san_table.json"), table)?;
    if let TextTokenizer::Pieces { tokenizer, .. } = &corpus.text {
        tokenizer.save(&dir.join("tokenizer.json"))?;
    }
    Ok(())
}

/// A model saved by [`save_selected_model`], ready for inference.
#[derive(Debug)]
pub struct SavedModel<B: Backend> {
    /// The model.
    pub model: RetrievalModel<B>,
    /// Its architecture.
    pub model_config: RetrievalModelConfig,
    /// The config it was trained with.
    pub config: TrainConfig,
    /// Its word vocabulary (mining's word ids).
    pub vocab: Vocabulary,
    /// How it tokenizes captions: the vocabulary's words, or the saved `tokenizer.json`'s
    /// word pieces.
    pub text: TextTokenizer,
    /// The SAN table of its run, when saved.
    pub table: Option<ConfusabilityTable>,
}

/// Loads a model folder written by a training run (`out/model`). Errors name the file.
pub fn load_saved_model<B: Backend>(dir: &Path, device: &B::Device) -> Result<SavedModel<B>> {
    if !dir.is_dir() {
        return Err(TrainError::checkpoint(
            dir,
            "no such folder (expected a model folder written by `san train`, e.g. <out>/model)",
        ));
    }
    let (model_config, model) = load_model::<B>(dir, device)?;
    let train = dir.join("train.json");
    let config = read_train_config(&train)?;
    let vocab_path = dir.join("vocab.json");
    let words: Vec<String> = serde_json::from_slice(&san_data::io::read(&vocab_path)?)
        .map_err(|e| json_error(&vocab_path, "a JSON list of words", e))?;
    let table_path = dir.join("san_table.json");
    let table = if table_path.is_file() {
        Some(san_data::tables::read_table(&table_path)?)
    } else {
        None
    };
    let vocab = Vocabulary::from_words(words);
    let text = match config.model.text.kind {
        TextKind::Word => TextTokenizer::Words(vocab.clone()),
        // The model folder holds the `tokenizer.json` it was trained with.
        TextKind::Bert => TextTokenizer::from_checkpoint(dir, config.model.text.max_len)?,
    };
    Ok(SavedModel {
        model,
        model_config,
        config,
        vocab,
        text,
        table,
    })
}

/// Reads a saved `TrainConfig`; one written in the flat layout used before the config had
/// sections is an error that names a moved key and its new home.
fn read_train_config(path: &Path) -> Result<TrainConfig> {
    let value: serde_json::Value = serde_json::from_slice(&san_data::io::read(path)?)
        .map_err(|e| json_error(path, "a TrainConfig as JSON", e))?;
    let flat = value.as_object().and_then(|m| {
        m.keys()
            .find_map(|k| moved_to(k).map(|new| format!("{k:?} is now {new}")))
    });
    if let Some(example) = flat {
        return Err(TrainError::checkpoint(
            path,
            format!(
                "written with the flat config layout used before the config had sections ({example}); retrain, or move its keys into their sections"
            ),
        ));
    }
    serde_json::from_value(value).map_err(|e| json_error(path, "a TrainConfig as JSON", e))
}

/// Writes the reports (`report.md`, `report.html`, `report.json`), the table, the
/// benchmark and the plots of a finished run.
pub fn write_run_outputs(out: &Path, config: &TrainConfig, output: &RunOutput) -> Result<()> {
    write_atomic(&out.join("report.json"), pretty(&output.report).as_bytes())?;
    san_data::tables::write_table(&out.join("san_table.json"), &output.table)?;
    if let Some(b) = &output.test_benchmark {
        san_data::tables::write_benchmark(&out.join("fine_grained_test.json"), b)?;
    }
    let plots = crate::plots::plot_run(out, &output.history)?;
    let md = output.report.to_markdown(config, &output.history, &plots);
    write_atomic(&out.join("report.md"), md.as_bytes())?;
    let html = crate::html::markdown_page(
        "SAN run report",
        &format!("{} (report.md as one page, plots inline)", out.display()),
        &md,
        out,
    );
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_config_round_trips_and_a_flat_one_names_a_moved_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.json");
        let config = TrainConfig::new().with_epochs(3, 2);
        std::fs::write(&path, pretty(&config)).unwrap();
        let back = read_train_config(&path).unwrap();
        assert_eq!(pretty(&back), pretty(&config));
        std::fs::write(&path, r#"{"seed": 7, "stage1_epochs": 30}"#).unwrap();
        let e = read_train_config(&path).unwrap_err().to_string();
        assert!(
            e.contains("train.json") && e.contains("\"stage1_epochs\" is now stage1.epochs"),
            "{e}"
        );
    }
}
