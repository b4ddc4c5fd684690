//! Our side of the speed comparison with PyTorch; run it through `scripts/compare-pytorch.sh`,
//! which also runs `benches/reference/core.py` and `benches/reference/train.py`.
//!
//! `cargo run --release --example compare_core -- <folder> --device <backend>` reads
//! `<folder>/inputs.safetensors`, times (median of several runs, after a warm-up) the CLCL
//! score of the 642 gallery, one forward + backward of coarse + λ·fine loss at B=128, and
//! instance mining at N=7096; it writes `ours_<backend>.safetensors` (outputs and
//! gradients) and `ours_<backend>.json` (seconds) next to them. `<backend>` is `ndarray`,
//! `flex` (each when built with its feature), `cuda`, or `cpu` for the build's CPU backend.
//!
//! `… -- <folder> train --device <backend>` reads `<folder>/train_inputs.safetensors` (one
//! stage-2 batch of clip features and captions) and runs san-train's own training step on
//! it: the trainer's model for clip-feature input (its default settings), `step_loss`,
//! backward and AdamW. The initial weights are `train_params.safetensors` (by Burn module
//! path) when the folder has it, so every backend and PyTorch start from the same weights;
//! otherwise this run's initial weights are written there. It writes the loss and every
//! weight's gradient without dropout (`ours_train_<backend>.safetensors`), and the median
//! time of a full step with dropout (`ours_train_<backend>.json`).

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use san::backend::DeviceChoice;
use san::san_core::host::to_vec_f32;
use san::san_core::loss::{CoarseLossConfig, san_fine_loss};
use san::san_core::mining::{Embeddings, InstanceMinerConfig, mine_instances};
use san::san_core::similarity::{ClclConfig, ClclKernel, clcl_candidates, clcl_gallery};
use san::san_data::pose::StepLayout;
use san::san_models::dropout::set_dropout_masks;
use san::san_models::retrieval::{RetrievalModel, SignEncoderConfig};
use san::san_train::config::{InputKind, TrainConfig};
use san::san_train::model::model_config_for;
use san::san_train::step::{StepBatch, adamw, step_loss, train_step};

const TAU_TOK: f64 = 0.07;
const LAMBDA_FINE: f64 = 0.4;

/// Named output tensors (the loss and each gradient), padded to rank 4.
type Named<B> = Vec<(String, Tensor<B, 4>)>;

struct Inputs<'a>(SafeTensors<'a>);

impl Inputs<'_> {
    fn view(&self, name: &str) -> Result<TensorView<'_>, Box<dyn Error>> {
        self.0
            .tensor(name)
            .map_err(|e| format!("inputs.safetensors: tensor {name}: {e}").into())
    }

    /// A float32 tensor's values and shape, on the host.
    fn host(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), Box<dyn Error>> {
        let v = self.view(name)?;
        if v.dtype() != Dtype::F32 {
            return Err(format!("{name}: expected F32, found {:?}", v.dtype()).into());
        }
        let data: Vec<f32> = v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((data, v.shape().to_vec()))
    }

    fn float<B: Backend, const D: usize>(
        &self,
        name: &str,
    ) -> Result<Tensor<B, D>, Box<dyn Error>> {
        let (data, shape) = self.host(name)?;
        Ok(Tensor::from_data(
            TensorData::new(data, shape),
            &Default::default(),
        ))
    }

    fn mask<B: Backend, const D: usize>(
        &self,
        name: &str,
    ) -> Result<Tensor<B, D, Bool>, Box<dyn Error>> {
        let v = self.view(name)?;
        let data: Vec<bool> = v.data().iter().map(|&b| b != 0).collect();
        Ok(Tensor::from_data(
            TensorData::new(data, v.shape().to_vec()),
            &Default::default(),
        ))
    }

    /// An int64 tensor's values and shape, on the host.
    fn host_i64(&self, name: &str) -> Result<(Vec<i64>, Vec<usize>), Box<dyn Error>> {
        let v = self.view(name)?;
        if v.dtype() != Dtype::I64 {
            return Err(format!("{name}: expected I64, found {:?}", v.dtype()).into());
        }
        let data = v
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect();
        Ok((data, v.shape().to_vec()))
    }

    /// An int64 tensor.
    fn int<B: Backend, const D: usize>(
        &self,
        name: &str,
    ) -> Result<Tensor<B, D, Int>, Box<dyn Error>> {
        let (data, shape) = self.host_i64(name)?;
        Ok(Tensor::from_data(
            TensorData::new(data, shape),
            &Default::default(),
        ))
    }

    /// An int64 tensor's values as ids.
    fn ids(&self, name: &str) -> Result<Vec<usize>, Box<dyn Error>> {
        Ok(self
            .host_i64(name)?
            .0
            .into_iter()
            .map(|i| i as usize)
            .collect())
    }
}

/// Median seconds of `repeats` runs after one warm-up, and the last output.
fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut out = f();
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        out = f();
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (out, times[times.len() / 2])
}

fn loss_step<B: AutodiffBackend>(x: &Inputs<'_>) -> Result<Named<B::InnerBackend>, Box<dyn Error>> {
    let sign = x.float::<B, 3>("l_sign")?.require_grad();
    let words = x.float::<B, 3>("l_words")?.require_grad();
    let hard = x.float::<B, 4>("l_hard")?.require_grad();
    let log_scale = x.float::<B, 1>("l_log_scale")?.require_grad();
    let sign_mask = x.mask::<B, 2>("l_sign_mask")?;
    let word_mask = x.mask::<B, 2>("l_word_mask")?;
    let hard_mask = x.mask::<B, 3>("l_hard_mask")?;
    let ids = x.ids("l_text_ids")?;
    let [b, l, d] = words.dims();
    // Chunks of 16 videos keep each temporary under glibc's mmap threshold, so buffers are
    // reused instead of page-faulted in afresh (see BENCHMARKS.md).
    let cfg = ClclConfig::new().with_tau_tok(TAU_TOK).with_chunk(16);
    let scores = clcl_gallery(
        sign.clone(),
        sign_mask.clone(),
        words.clone(),
        word_mask.clone(),
        &cfg,
    );
    let coarse = CoarseLossConfig::new().forward(&scores, log_scale.clone(), &ids);
    let caps = Tensor::cat(vec![words.clone().reshape([b, 1, l, d]), hard.clone()], 1);
    let caps_mask = Tensor::cat(vec![word_mask.reshape([b, 1, l]), hard_mask], 1);
    let cand = clcl_candidates(sign.clone(), sign_mask, caps, caps_mask, TAU_TOK);
    let loss = coarse + san_fine_loss(cand.v2t, log_scale.clone()).mul_scalar(LAMBDA_FINE);
    let grads = loss.backward();
    let _ = B::sync(&Default::default());
    let mut out = vec![("loss".to_string(), loss.inner().reshape([1, 1, 1, 1]))];
    let grad = |name: &str, g: Option<Tensor<B::InnerBackend, 4>>| -> Result<_, Box<dyn Error>> {
        Ok((
            name.to_string(),
            g.ok_or(format!("no gradient for {name}"))?,
        ))
    };
    out.push(grad(
        "grad_l_sign",
        sign.grad(&grads).map(|g| g.unsqueeze()),
    )?);
    out.push(grad(
        "grad_l_words",
        words.grad(&grads).map(|g| g.unsqueeze()),
    )?);
    out.push(grad("grad_l_hard", hard.grad(&grads))?);
    out.push(grad(
        "grad_l_log_scale",
        log_scale.grad(&grads).map(|g| g.reshape([1, 1, 1, 1])),
    )?);
    Ok(out)
}

/// Every float parameter of a module: its path (`sign_encoder.Features.input.weight`), its
/// values, and, given the gradients of a loss, its gradient.
struct Weights<'a, B: AutodiffBackend> {
    path: Vec<String>,
    grads: Option<&'a B::Gradients>,
    out: Vec<(String, Vec<f32>, Vec<usize>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Weights<'_, B> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let name = self.path.join(".");
        let value = param.val();
        let tensor = match self.grads {
            None => Some(value.inner()),
            Some(grads) => value.grad(grads),
        };
        if let Some(t) = tensor {
            let shape = t.dims().to_vec();
            self.out.push((name, to_vec_f32(t), shape));
        }
    }
}

/// Replaces every float weight by the tensor of the same module path in a safetensors file.
struct Load<'a> {
    path: Vec<String>,
    file: &'a Inputs<'a>,
    error: Option<String>,
}

impl<B: Backend> ModuleMapper<B> for Load<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = self.path.join(".");
        let (id, value, _) = param.consume();
        let loaded = self.file.host(&name).and_then(|(v, shape)| {
            if shape == value.dims().to_vec() {
                Ok(Tensor::from_data(
                    TensorData::new(v, shape),
                    &value.device(),
                ))
            } else {
                Err(format!("{name}: shape {shape:?}, the model has {:?}", value.dims()).into())
            }
        });
        let value = match loaded {
            Ok(t) => t.set_require_grad(value.is_require_grad()),
            Err(e) => {
                self.error.get_or_insert(e.to_string());
                value
            }
        };
        Param::initialized(id, value)
    }
}

/// `model` with the weights of `path` (written by an earlier run of the train mode).
fn load_weights<B: AutodiffBackend>(
    model: RetrievalModel<B>,
    path: &Path,
) -> Result<RetrievalModel<B>, Box<dyn Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = Inputs(SafeTensors::deserialize(&bytes)?);
    let mut load = Load {
        path: Vec::new(),
        file: &file,
        error: None,
    };
    let model = model.map(&mut load);
    match load.error {
        Some(e) => Err(format!("{}: {e}", path.display()).into()),
        None => Ok(model),
    }
}

fn weights<B: AutodiffBackend>(
    model: &RetrievalModel<B>,
    grads: Option<&B::Gradients>,
) -> Vec<(String, Vec<f32>, Vec<usize>)> {
    let mut w = Weights {
        path: Vec::new(),
        grads,
        out: Vec::new(),
    };
    model.visit(&mut w);
    w.out
}

/// The `train` mode; see the module docs.
fn train<Train: AutodiffBackend>(folder: &Path, backend: &str) -> Result<(), Box<dyn Error>> {
    let path = folder.join("train_inputs.safetensors");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let x = Inputs(SafeTensors::deserialize(&bytes)?);
    let device = Default::default();
    let batch = StepBatch::<Train> {
        clips: x.float("features")?,
        layout: StepLayout::Flat,
        clip_mask: x.mask("clip_mask")?,
        tokens: x.int("tokens")?,
        token_mask: x.mask("token_mask")?,
        text_ids: x.ids("text_ids")?,
        candidates: Some((x.int("cand_tokens")?, x.mask("cand_mask")?)),
    };
    let vocab = x
        .ids("vocab_size")?
        .first()
        .copied()
        .ok_or("vocab_size is empty")?;
    let [n, _, f] = batch.clips.dims();
    let mut config = TrainConfig::new();
    config.data.input = InputKind::Features;
    config.data.batch_size = n;
    let model_config = model_config_for(&config, f, vocab)?;

    // Agreement: the same weights on both sides, no dropout.
    let mut exact = model_config.clone();
    match &mut exact.sign {
        SignEncoderConfig::Features(c) => c.dropout = 0.0,
        _ => return Err("the trainer did not build the feature encoder".into()),
    }
    Train::seed(&device, 7);
    let params = folder.join("train_params.safetensors");
    let model = exact.init::<Train>(&device)?;
    let model = if params.is_file() {
        load_weights(model, &params)?
    } else {
        write_outputs(&params, &weights(&model, None))?;
        model
    };
    let loss = step_loss(&model, batch.clone(), &config)?;
    let grads = loss.backward();
    let mut out = vec![("loss".to_string(), to_vec_f32(loss.inner()), vec![1])];
    out.extend(
        weights(&model, Some(&grads))
            .into_iter()
            .map(|(name, v, shape)| (format!("grad.{name}"), v, shape)),
    );
    write_outputs(
        &folder.join(format!("ours_train_{backend}.safetensors")),
        &out,
    )?;

    // Speed: the trainer's own step (dropout 0.1, AdamW), as `san train` runs it.
    Train::seed(&device, 7);
    let mut model = Some(load_weights(model_config.init::<Train>(&device)?, &params)?);
    let mut optim = adamw::<Train>(&config);
    let (step, t_step) = timed(5, || -> Result<f64, Box<dyn Error>> {
        let m = model.take().ok_or("no model")?;
        let (m, value) = train_step(
            m,
            &mut optim,
            batch.clone(),
            &config,
            config.optimizer.learning_rate,
        )?;
        let _ = Train::sync(&device);
        model = Some(m);
        Ok(value)
    });
    let loss = step?;
    let params = model.as_ref().map_or(0, Module::num_params);
    let times = serde_json::json!({
        "train_step": t_step,
        "params": params,
        "backend": format!("burn 0.21 {backend} (autodiff)"),
    });
    std::fs::write(
        folder.join(format!("ours_train_{backend}.json")),
        serde_json::to_string_pretty(&times)?,
    )?;
    println!("train_step {t_step:.3} s (B={n}, {params} weights, last loss {loss:.4})");
    Ok(())
}

const USAGE: &str = "usage: compare_core <folder> [train] [--device cpu|ndarray|flex|cuda]";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let folder = PathBuf::from(args.first().ok_or(USAGE)?);
    let train_mode = args.iter().any(|a| a == "train");
    let device = match args.iter().position(|a| a == "--device") {
        Some(i) => args.get(i + 1).ok_or(USAGE)?.as_str(),
        None => "cpu",
    };
    let device = match device {
        "cpu" if cfg!(feature = "flex") => "flex",
        "cpu" => "ndarray",
        other => other,
    };
    // Dropout masks where `san train` draws them on this device.
    let choice: DeviceChoice = device.parse()?;
    set_dropout_masks(choice.dropout_masks());
    match (device, train_mode) {
        #[cfg(feature = "ndarray")]
        ("ndarray", true) => train::<Autodiff<burn::backend::NdArray<f32>>>(&folder, "ndarray"),
        #[cfg(feature = "ndarray")]
        ("ndarray", false) => {
            core::<burn::backend::NdArray<f32>>(&folder, "ndarray", ClclKernel::Fused)
        }
        #[cfg(feature = "flex")]
        ("flex", true) => train::<Autodiff<burn::backend::Flex>>(&folder, "flex"),
        #[cfg(feature = "flex")]
        ("flex", false) => core::<burn::backend::Flex>(&folder, "flex", ClclKernel::Fused),
        #[cfg(feature = "cuda")]
        ("cuda", true) => train::<Autodiff<burn::backend::Cuda>>(&folder, "cuda"),
        #[cfg(feature = "cuda")]
        ("cuda", false) => core::<burn::backend::Cuda>(&folder, "cuda", ClclKernel::Tensor),
        (other, _) => Err(format!(
            "device {other}: built without it ({USAGE}; flex needs --features flex, cuda --features cuda)"
        )
        .into()),
    }
}

/// The core mode; see the module docs. `kernel` is the gallery kernel for this backend.
fn core<B: Backend>(
    folder: &Path,
    backend: &str,
    kernel: ClclKernel,
) -> Result<(), Box<dyn Error>> {
    let bytes = std::fs::read(folder.join("inputs.safetensors"))
        .map_err(|e| format!("{}: {e}", folder.join("inputs.safetensors").display()))?;
    let x = Inputs(SafeTensors::deserialize(&bytes)?);

    let (g_sign, g_sm) = (x.float::<B, 3>("g_sign")?, x.mask::<B, 2>("g_sign_mask")?);
    let (g_words, g_wm) = (x.float::<B, 3>("g_words")?, x.mask::<B, 2>("g_word_mask")?);
    let cfg = ClclConfig::new().with_tau_tok(TAU_TOK).with_kernel(kernel);
    let (gallery, t_gallery) = timed(3, || {
        let s = clcl_gallery(
            g_sign.clone(),
            g_sm.clone(),
            g_words.clone(),
            g_wm.clone(),
            &cfg,
        );
        (to_vec_f32(s.v2t), to_vec_f32(s.t2v))
    });
    let n = g_sign.dims()[0];
    // Useful work: 2·D FLOP per (valid clip, valid word) pair of the gallery.
    let valid = |name: &str| -> Result<usize, Box<dyn Error>> {
        Ok(x.view(name)?.data().iter().filter(|&&b| b != 0).count())
    };
    let gallery_flop =
        2.0 * g_sign.dims()[2] as f64 * valid("g_sign_mask")? as f64 * valid("g_word_mask")? as f64;

    let (step, t_loss) = timed(5, || loss_step::<Autodiff<B>>(&x));
    let step = step?;

    let (video, shape) = x.host("m_video")?;
    let (text, _) = x.host("m_text")?;
    let m_ids = x.ids("m_text_ids")?;
    let (m_n, m_d, m_k) = (shape[0], shape[1], 32);
    let mine_cfg = InstanceMinerConfig {
        k: m_k,
        tau_sem: Some(0.9),
        beta_pos: Some(0.95),
        chunk: 256,
        ..InstanceMinerConfig::default()
    };
    let emb = Embeddings {
        video: &video,
        text: &text,
        n: m_n,
        dim: m_d,
    };
    let (mined, t_mine) = timed(3, || mine_instances(emb, &m_ids, &mine_cfg));
    // Lists that run short (none at this size) are padded with -1 for the comparison.
    let pad = |r: Vec<f32>| -> Vec<f32> {
        r.into_iter()
            .chain(std::iter::repeat(-1.0))
            .take(m_k)
            .collect()
    };
    let m_idx: Vec<f32> = mined
        .indices
        .iter()
        .flat_map(|r| pad(r.iter().map(|&j| j as f32).collect()))
        .collect();
    let m_val: Vec<f32> = mined.scores.iter().flat_map(|r| pad(r.clone())).collect();

    let mut outputs: Vec<(String, Vec<f32>, Vec<usize>)> = vec![
        ("mining_indices".into(), m_idx, vec![m_n, m_k]),
        ("mining_scores".into(), m_val, vec![m_n, m_k]),
        ("gallery_v2t".into(), gallery.0, vec![n, n]),
        ("gallery_t2v".into(), gallery.1, vec![n, n]),
    ];
    for (name, t) in step {
        let shape: Vec<usize> = match name.as_str() {
            "loss" | "grad_l_log_scale" => vec![1],
            "grad_l_hard" => t.dims().to_vec(),
            _ => t.dims()[1..].to_vec(),
        };
        outputs.push((name, to_vec_f32(t), shape));
    }
    write_outputs(
        &folder.join(format!("ours_{backend}.safetensors")),
        &outputs,
    )?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let times = serde_json::json!({
        "clcl_gallery_642": t_gallery,
        "clcl_gallery_642_gflops": gallery_flop / t_gallery / 1e9,
        "loss_fwd_bwd_b128": t_loss,
        "instance_mining_7096": t_mine,
        "backend": format!("burn 0.21 {backend} ({kernel:?} CLCL kernel) on {threads} threads"),
    });
    std::fs::write(
        folder.join(format!("ours_{backend}.json")),
        serde_json::to_string_pretty(&times)?,
    )?;
    println!(
        "clcl_gallery_642 {t_gallery:.3} s, loss_fwd_bwd_b128 {t_loss:.3} s, \
         instance_mining_7096 {t_mine:.3} s"
    );
    Ok(())
}

fn write_outputs(
    path: &Path,
    outputs: &[(String, Vec<f32>, Vec<usize>)],
) -> Result<(), Box<dyn Error>> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = outputs
        .iter()
        .map(|(name, v, shape)| {
            (
                name.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                shape.clone(),
            )
        })
        .collect();
    let mut views = BTreeMap::new();
    for (name, data, shape) in &bytes {
        views.insert(
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), data)?,
        );
    }
    std::fs::write(path, safetensors::serialize(views, None)?)?;
    Ok(())
}
