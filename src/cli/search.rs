//! `san search`: the clips of a gallery index (from `san embed`) ranked for a query by
//! the CLCL score of a saved model.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use san_core::host::to_vec_f32;
use san_core::similarity::clcl_gallery;
use san_data::gallery::read_gallery;
use san_data::text_tokens::TextTokenizer;
use san_train::html::{escape, marked_caption, page};
use san_train::model::clcl_config;
use san_train::output::load_saved_model;
use san_train::preview::clip_preview;

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
    /// Also write the results as one self-contained HTML page: the query, each clip's
    /// rank, score, caption (words not in the query marked) and name, and a clip whose
    /// caption is the query marked as the match.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// The corpus root the index was embedded from: the page then shows each clip's pose
    /// as an animated preview (or a strip of its frames).
    #[arg(long, requires = "html")]
    pub data: Option<PathBuf>,
}

/// `san search`: the clips of a gallery index ranked for a text query.
pub fn run<B: Backend>(args: &SearchArgs, device: &B::Device) -> Result<()> {
    let saved = load_saved_model::<B>(&args.model, device)?;
    let gallery = read_gallery(&args.index)?;
    let [n, m, d] = gallery.shape;
    let words = san_core::text::words(&args.query);
    let max_words = saved.config.data.batcher.max_words;
    let coded = saved.text.encode(&words, max_words)?;
    let ids: Vec<i64> = coded.ids.iter().map(|&i| i as i64).collect();
    if words.is_empty() || ids.is_empty() {
        return Err(CliError::arg(
            format!("--query {:?}", args.query),
            "no words to search for",
        ));
    }
    // Words the model has a token for: in the training vocabulary, or (word pieces) any
    // word the tokenizer does not map to its unknown token.
    let known = match &saved.text {
        TextTokenizer::Words(vocab) => words
            .iter()
            .filter(|w| vocab.id(w) > san_data::vocab::UNK)
            .count(),
        TextTokenizer::Pieces { tokenizer, .. } => {
            let unk = tokenizer.token_id("[UNK]");
            (0..words.len().min(max_words))
                .filter(|&w| {
                    coded
                        .ids
                        .iter()
                        .zip(&coded.word_of_token)
                        .any(|(&id, &of)| of == Some(w) && Some(id) != unk)
                })
                .count()
        }
    };
    let known_what = if saved.text.is_pieces() {
        "words known to the tokenizer"
    } else {
        "words in the vocabulary"
    };
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
        "query {:?} ({known} of {} {known_what}); top {} of {n} clips:",
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
    if let Some(path) = &args.html {
        let top: Vec<(usize, f32)> = order.iter().take(args.k).map(|&i| (i, scores[i])).collect();
        let html = results_page(args, &words, (&gallery.names, &gallery.captions), &top);
        san_data::io::write_atomic(path, html.as_bytes())?;
        println!(
            "wrote {} ({:.0} KB)",
            path.display(),
            html.len() as f64 / 1024.0
        );
    }
    Ok(())
}

/// The results as one page: a card per clip.
fn results_page(
    args: &SearchArgs,
    query: &[String],
    (names, captions): (&[String], &[String]),
    top: &[(usize, f32)],
) -> String {
    use std::fmt::Write as _;
    let mut cards = String::new();
    for (rank, &(i, score)) in top.iter().enumerate() {
        let name = &names[i];
        let caption = captions.get(i).map_or("", String::as_str);
        let exact = san_core::text::words(caption) == query;
        let preview = match &args.data {
            Some(root) => clip_preview(root, name).unwrap_or_else(|e| {
                eprintln!("warning: {e}: {name} is shown without its preview");
                None
            }),
            None => None,
        };
        let _ = write!(
            cards,
            "<div class=\"card{}\">\n<div class=\"head\"><span>#{}</span><span>score {score:.4}</span>{}</div>\n{}<div class=\"caption\">{}</div>\n<div class=\"name\">{}</div>\n</div>\n",
            if exact { " true" } else { "" },
            rank + 1,
            if exact {
                "<span class=\"badge\">caption = query</span>"
            } else {
                ""
            },
            preview.map_or(String::new(), |uri| format!(
                "<img class=\"preview\" src=\"{uri}\" alt=\"pose of {}\">\n",
                escape(name)
            )),
            marked_caption(caption, query),
            escape(name),
        );
    }
    page(
        &format!("san search: {}", args.query),
        &format!(
            "top {} of {} clips of {} ranked by {}; words not in the query are marked",
            top.len(),
            names.len(),
            args.index.display(),
            args.model.display()
        ),
        &format!("<div class=\"cards\">\n{cards}</div>"),
    )
}
