//! What several commands share: checking `--data` and `--split`, and opening one split of
//! a corpus with a saved model's settings.

use std::path::Path;

use burn::tensor::backend::Backend;
use san_data::corpus::{Corpus, load_samples, sample_path};
use san_data::phoenix::Split;
use san_data::sample::corpus_csv_path;
use san_train::output::SavedModel;

use crate::error::{CliError, Result};

/// `--split` as a [`Split`].
pub(crate) fn parse_split(split: &str) -> Result<Split> {
    split
        .parse()
        .map_err(|_| CliError::arg(format!("--split {split}"), "expected train, dev or test"))
}

/// `--data` must be a folder.
pub(crate) fn check_data(root: &Path) -> Result<()> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(CliError::arg(
            format!("--data {}", root.display()),
            "no such folder (expected a corpus in the PHOENIX-2014-T layout)",
        ))
    }
}

/// A corpus holding one split (in `dev` and `test` alike) with the saved vocabulary and
/// caption tokenizer.
pub(crate) fn open_split<B: Backend>(
    root: &Path,
    split: Split,
    saved: &SavedModel<B>,
) -> Result<Corpus> {
    check_data(root)?;
    let data = &saved.config.data;
    let samples = load_samples(root, split, data.input, &data.frames)?;
    if samples.is_empty() {
        return Err(CliError::arg(
            corpus_csv_path(root, split).display().to_string(),
            format!("the {split} split is empty"),
        ));
    }
    // The model's first layer takes the width it was trained on; another width would
    // reach it as a shape its matmul cannot take.
    if let (Some(want), Some(first)) = (saved.model_config.sign.input_width(), samples.first())
        && first.features.dim != want
    {
        return Err(CliError::arg(
            sample_path(root, data.input, split, &first.name)
                .display()
                .to_string(),
            format!(
                "{} values per step, but the model was trained on {want} (its config.json); use the corpus and input kind it was trained on",
                first.features.dim
            ),
        ));
    }
    Ok(
        Corpus::with_split(root, split, samples, saved.vocab.clone())?
            .with_text(saved.text.clone()),
    )
}
