//! `san embed`: a split's clip and caption embeddings, as a gallery index for `san search`
//! (safetensors, [`san_data::gallery`]) or as `.npy` matrices.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use san_core::host::to_vec_f32;
use san_data::gallery::{GalleryIndex, write_gallery, write_npy};
use san_train::eval::{clip_encoded, concat_tokens, embed_split, map_batches, max_frames};
use san_train::output::load_saved_model;

use super::common::{open_split, parse_split};
use crate::backend::DeviceChoice;
use crate::error::{CliError, Result};

/// Export format of `san embed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbedFormat {
    /// One safetensors file: pooled `video` and `text` [N, D], clip tokens `video_tokens`
    /// [N, M, D] with `video_mask` [N, M] (a gallery index for `search`), names and
    /// captions in the metadata.
    Safetensors,
    /// A folder: video.npy and text.npy [N, D], names.txt.
    Npy,
}

/// `san embed`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmbedArgs {
    /// A model folder written by `san train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Corpus root.
    #[arg(long)]
    pub data: PathBuf,
    /// Split.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Output file (safetensors) or folder (npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Format.
    #[arg(long, value_enum, default_value_t = EmbedFormat::Safetensors)]
    pub format: EmbedFormat,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

/// `san embed`: a split's clip and caption embeddings, as a gallery index or `.npy`.
pub fn run<B: Backend>(args: &EmbedArgs, device: &B::Device) -> Result<()> {
    let split = parse_split(&args.split)?;
    let saved = load_saved_model::<B>(&args.model, device)?;
    let corpus = open_split(&args.data, split, &saved)?;
    let samples = corpus.split(split);
    let cfg = &saved.config;
    let data = &cfg.data;
    let t = Instant::now();
    let n = samples.len();
    let names: Vec<String> = samples.iter().map(|x| x.name.clone()).collect();
    let dim = match args.format {
        EmbedFormat::Npy => {
            let (video, text, dim) = embed_split(
                &saved.model,
                samples,
                &saved.text,
                &data.batcher,
                data.batch_size,
                device,
            )?;
            std::fs::create_dir_all(&args.out).map_err(|source| CliError::Io {
                path: args.out.clone(),
                source,
            })?;
            write_npy(&args.out.join("video.npy"), &video, &[n as u64, dim as u64])?;
            write_npy(&args.out.join("text.npy"), &text, &[n as u64, dim as u64])?;
            san_data::io::write_atomic(
                &args.out.join("names.txt"),
                (names.join("\n") + "\n").as_bytes(),
            )?;
            dim
        }
        EmbedFormat::Safetensors => {
            // One pass: the clip tokens (padded to the split's longest clip, as `search`
            // scores them) and both pooled embeddings.
            let parts = map_batches(
                samples,
                &saved.text,
                &data.batcher,
                data.batch_size,
                Some(max_frames(samples)),
                device,
                |b| {
                    let sign = clip_encoded(&saved.model, b.poses, b.pose_mask, b.layout)?;
                    let text = saved.model.encode_text(b.tokens, b.token_mask).pooled;
                    Ok((sign.tokens, (sign.pooled, text)))
                },
            )?;
            let (tokens, pooled): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
            let (video, text): (Vec<_>, Vec<_>) = pooled.into_iter().unzip();
            let sign = concat_tokens(tokens);
            let (video, text) = (
                to_vec_f32(Tensor::cat(video, 0)),
                to_vec_f32(Tensor::cat(text, 0)),
            );
            let [_, m, d] = sign.tokens.dims();
            let tokens = to_vec_f32(sign.tokens);
            let mask: Vec<bool> = to_vec_f32(sign.mask.float())
                .iter()
                .map(|&x| x > 0.5)
                .collect();
            let index = GalleryIndex {
                video,
                text,
                tokens,
                mask,
                shape: [n, m, d],
                names,
                captions: samples.iter().map(|x| x.words.join(" ")).collect(),
                tau_tok: cfg.model.tau_tok,
            };
            write_gallery(&args.out, &index)?;
            d
        }
    };
    println!(
        "{n} clips and captions of {} embedded (D = {dim}) in {:.1} s; written to {}",
        args.split,
        t.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
