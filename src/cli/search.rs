//! `san search`: the clips of a gallery index (from `san embed`) ranked for a query by
//! the CLCL score of a saved model.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use san_core::host::to_vec_f32;
use san_core::similarity::clcl_gallery;
use san_data::gallery::read_gallery;
use san_train::model::clcl_config;
use san_train::output::load_saved_model;

use crate::backend::DeviceChoice;
use crate::error::{CliError, Result};

/// `san search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// A model folder written by `san train`.
    #[arg(long)]
    pub model: PathBuf,
    /// A gallery index written by `san embed` (safetensors).
    #[arg(long)]
    pub index: PathBuf,
    /// The query sentence (German, as in the corpus).
    #[arg(long)]
    pub query: String,
    /// Clips to return.
    #[arg(short, long, default_value_t = 5)]
    pub k: usize,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// `san search`: the clips of a gallery index ranked for a text query.
pub fn run<B: Backend>(args: &SearchArgs, device: &B::Device) -> Result<()> {
    let saved = load_saved_model::<B>(&args.model, device)?;
    let gallery = read_gallery(&args.index)?;
    let [n, m, d] = gallery.shape;
    let words = san_core::text::words(&args.query);
    let ids: Vec<i64> = saved
        .vocab
        .encode(&words)
        .iter()
        .map(|&i| i as i64)
        .collect();
    if ids.is_empty() {
        return Err(CliError::arg(
            format!("--query {:?}", args.query),
            "no words to search for",
        ));
    }
    let known = words
        .iter()
        .filter(|w| saved.vocab.id(w) > san_data::vocab::UNK)
        .count();
    let l = ids.len();
    let text = saved.model.encode_text_tokens(
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, l]), device),
        Tensor::<B, 2, Bool>::from_data(TensorData::new(vec![true; l], [1, l]), device),
    );
    let [_, _, dt] = text.tokens.dims();
    if dt != d {
        return Err(CliError::arg(
            args.index.display().to_string(),
            format!(
                "the index has D = {d} but the model's tokens have D = {dt}; embed with this model"
            ),
        ));
    }
    let sign = Tensor::<B, 3>::from_data(TensorData::new(gallery.tokens, [n, m, d]), device);
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(gallery.mask, [n, m]), device);
    let scores = to_vec_f32(
        clcl_gallery(
            sign,
            mask,
            text.tokens,
            text.mask,
            &clcl_config(&saved.config).with_kernel(args.device.clcl_kernel()),
        )
        .score(),
    );
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    println!(
        "query {:?} ({known} of {} words in the vocabulary); top {} of {n} clips:",
        args.query,
        words.len(),
        args.k.min(n)
    );
    for (rank, &i) in order.iter().take(args.k).enumerate() {
        let caption = gallery.captions.get(i).map_or("", String::as_str);
        println!(
            "{:>3}. {:>8.4}  {}  \"{caption}\"",
            rank + 1,
            scores[i],
            gallery.names[i]
        );
    }
    Ok(())
}
