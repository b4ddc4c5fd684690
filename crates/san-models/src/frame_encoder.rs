//! An RGB frame encoder (the GFSLT-VLP setting): a per-frame CNN in the ResNet-18 layout
//! (configurable depth and width), a temporal convolution that halves the frame rate, and
//! a pre-norm transformer encoder. ImageNet weights load from a local torchvision
//! checkpoint ([`load_resnet_weights`]).

use std::path::Path;

use crate::weights::{Target, Weights};
use burn::config::Config;
use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::transformer::TransformerEncoder;
use burn::nn::{
    BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig1d, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bool, Slice, Tensor};

use crate::error::ModelError;
use crate::feature_encoder::{check_heads, pre_norm_transformer, sinusoidal_positions};
use crate::pose_encoder::strided_clip_mask;
use crate::tokens::{Tokens, gelu, linear_rows};

/// The per-frame CNN: ResNet with basic blocks (ResNet-18: `[2, 2, 2, 2]`, width 64).
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Basic blocks in each of the four stages (at least one each; 0 counts as 1).
    #[config(default = "[2, 2, 2, 2]")]
    pub blocks: [usize; 4],
    /// Channels of the first stage; each later stage doubles them.
    #[config(default = 64)]
    pub width: usize,
}

impl ResNetConfig {
    /// Output features per frame: `8 · width`.
    pub fn features(&self) -> usize {
        8 * self.width
    }

    /// Initialises the CNN on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet<B> {
        let w = self.width.max(1);
        let conv = |i: usize, o: usize, k: usize, s: usize, p: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(false)
                .init(device)
        };
        let bn = |c: usize| BatchNormConfig::new(c).init(device);
        let mut stages = Vec::new();
        let mut channels = w;
        for (stage, &n) in self.blocks.iter().enumerate() {
            let n = n.max(1);
            let out = w << stage;
            let stride = if stage == 0 { 1 } else { 2 };
            let blocks = (0..n)
                .map(|b| {
                    let (cin, s) = if b == 0 { (channels, stride) } else { (out, 1) };
                    BasicBlock {
                        conv1: conv(cin, out, 3, s, 1),
                        bn1: bn(out),
                        conv2: conv(out, out, 3, 1, 1),
                        bn2: bn(out),
                        downsample: (s != 1 || cin != out).then(|| Downsample {
                            conv: conv(cin, out, 1, s, 0),
                            bn: bn(out),
                        }),
                    }
                })
                .collect();
            stages.push(blocks);
            channels = out;
        }
        ResNet {
            conv1: conv(3, w, 7, 2, 3),
            bn1: bn(w),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            stages,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }
}

/// The 1×1 projection of a block whose shape changes.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    /// 1×1 convolution.
    pub conv: Conv2d<B>,
    /// Its batch norm.
    pub bn: BatchNorm<B>,
}

/// A ResNet basic block: two 3×3 convolutions and a residual.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    /// First 3×3 convolution (carries the stride).
    pub conv1: Conv2d<B>,
    /// Its batch norm.
    pub bn1: BatchNorm<B>,
    /// Second 3×3 convolution.
    pub conv2: Conv2d<B>,
    /// Its batch norm.
    pub bn2: BatchNorm<B>,
    /// Projection of the residual, when the shape changes.
    pub downsample: Option<Downsample<B>>,
}

impl<B: Backend> BasicBlock<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let y = self.bn2.forward(self.conv2.forward(y));
        let skip = match &self.downsample {
            Some(d) => d.bn.forward(pointwise_conv(&d.conv, x)),
            None => x,
        };
        relu(y + skip)
    }
}

/// `conv`, a 1×1 convolution without padding, as a stride-1 convolution of every `stride`-th
/// pixel: the same values, and the same gradients on every backend. Burn 0.21's WGPU and
/// CUDA backends (burn-cubecl) compute a wrong input gradient for a strided 1×1 convolution
/// (off by more than the gradient's size, where ndarray matches finite differences; see
/// BENCHMARKS.md, "Known issues"), which would corrupt every gradient below ResNet's
/// downsampling shortcuts. Other convolutions go through `conv.forward`.
fn pointwise_conv<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [sh, sw] = conv.stride;
    let unpadded = matches!(conv.padding, PaddingConfig2d::Valid)
        || matches!(conv.padding, PaddingConfig2d::Explicit(0, 0, 0, 0));
    if conv.kernel_size != [1, 1] || [sh, sw] == [1, 1] || !unpadded {
        return conv.forward(x);
    }
    let every = |step: usize| Slice::new(0, None, step as isize);
    let x = x.slice([Slice::full(), Slice::full(), every(sh), every(sw)]);
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        ConvOptions::new([1, 1], [0, 0], conv.dilation, conv.groups),
    )
}

/// The per-frame CNN.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    /// 7×7 stride-2 stem.
    pub conv1: Conv2d<B>,
    /// Its batch norm.
    pub bn1: BatchNorm<B>,
    maxpool: MaxPool2d,
    /// Four stages of basic blocks (torchvision's `layer1` … `layer4`).
    pub stages: Vec<Vec<BasicBlock<B>>>,
    pool: AdaptiveAvgPool2d,
}

impl<B: Backend> ResNet<B> {
    /// # Shapes
    /// - `images`: `[N, 3, H, W]`; output `[N, 8·width]`
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = relu(self.bn1.forward(self.conv1.forward(images)));
        let mut x = self.maxpool.forward(x);
        for stage in &self.stages {
            for block in stage {
                x = block.forward(x);
            }
        }
        let [n, c, _, _] = x.dims();
        self.pool.forward(x).reshape([n, c])
    }
}

/// Settings of the frame encoder.
#[derive(Config, Debug)]
pub struct FrameEncoderConfig {
    /// The per-frame CNN.
    #[config(default = "ResNetConfig::new()")]
    pub cnn: ResNetConfig,
    /// Transformer width.
    #[config(default = 512)]
    pub hidden: usize,
    /// Transformer layers.
    #[config(default = 2)]
    pub layers: usize,
    /// Attention heads (divides `hidden`).
    #[config(default = 8)]
    pub heads: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Dropout of the transformer.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// A safetensors file of torchvision ResNet weights (ImageNet) for the CNN, loaded by
    /// `RetrievalModelConfig::init_pretrained` (see [`load_resnet_weights`]); `None` keeps
    /// random weights.
    #[config(default = "None")]
    pub pretrained: Option<String>,
    /// Freeze the CNN (its weights get no gradient; BatchNorm's running statistics still
    /// follow the training batches, as in Burn's training mode).
    #[config(default = false)]
    pub freeze_cnn: bool,
}

/// Frames → clip tokens; see the module docs.
#[derive(Module, Debug)]
pub struct FrameEncoder<B: Backend> {
    /// The per-frame CNN.
    pub cnn: ResNet<B>,
    temporal: Conv1d<B>,
    encoder: TransformerEncoder<B>,
    output: Linear<B>,
}

impl FrameEncoderConfig {
    /// Initialises the encoder on `device`. Returns an error when the heads do not divide
    /// the width.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<FrameEncoder<B>, ModelError> {
        check_heads("FrameEncoderConfig", self.hidden, self.heads)?;
        let cnn = self.cnn.init(device);
        Ok(FrameEncoder {
            cnn: if self.freeze_cnn { cnn.no_grad() } else { cnn },
            temporal: Conv1dConfig::new(self.cnn.features(), self.hidden, 3)
                .with_stride(2)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(device),
            encoder: pre_norm_transformer(
                self.hidden,
                self.heads,
                self.layers,
                self.dropout,
                device,
            ),
            output: LinearConfig::new(self.hidden, self.dim).init(device),
        })
    }
}

impl<B: Backend> FrameEncoder<B> {
    /// Encodes frames into clip tokens, one per two frames.
    ///
    /// # Shapes
    /// - `frames`: `[B, T, 3, H, W]`; `mask`: `[B, T]` (true = real frame, a prefix per row)
    /// - output tokens `[B, M, D]` with `M = ceil(T / 2)` (rows L2-normalised), mask
    ///   `[B, M]`: clip `j` is real when frame `2j` is
    pub fn forward(&self, frames: Tensor<B, 5>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        let [b, t, c, h, w] = frames.dims();
        let device = frames.device();
        let feats = self.cnn.forward(frames.reshape([b * t, c, h, w])); // [B·T, F]
        let [_, f] = feats.dims();
        // Padded frames contribute zeros, exactly like the convolution's own padding.
        let valid = mask.clone().float().reshape([b, t, 1]);
        let feats = feats.reshape([b, t, f]) * valid; // [B, T, F]
        let x = self.temporal.forward(feats.swap_dims(1, 2)).swap_dims(1, 2); // [B, M, H]
        let [_, m, hidden] = x.dims();
        let x = gelu(x) + sinusoidal_positions::<B>(m, hidden, &device).unsqueeze::<3>();
        let clip_mask = strided_clip_mask(mask, m, 2); // [B, M]
        let x = crate::transformer::encode(&self.encoder, x, Some(clip_mask.clone().bool_not()));
        Tokens {
            tokens: san_core::similarity::l2_normalize(linear_rows(&self.output, x)),
            mask: clip_mask,
        }
    }
}

/// Loads torchvision ResNet weights (a `state_dict` saved as safetensors, e.g. with
/// `safetensors.torch.save_file(torchvision.models.resnet18(weights="IMAGENET1K_V1")
/// .state_dict(), path)`) into `cnn`.
///
/// Keys: `conv1.weight`, `bn1.{weight,bias,running_mean,running_var}`, and for stage `s`
/// (1-based) and block `k`: `layer{s}.{k}.conv{1,2}.weight`, `layer{s}.{k}.bn{1,2}.*`,
/// `layer{s}.{k}.downsample.0.weight` and `layer{s}.{k}.downsample.1.*`. Convolution
/// weights keep PyTorch's `[out, in, kh, kw]` layout, which is Burn's. `fc.*` (the
/// ImageNet classifier) and `*.num_batches_tracked` are skipped. Any other key, a missing
/// one, or a shape that differs from the configuration is an error naming the file and key.
pub fn load_resnet_weights<B: Backend>(
    cnn: ResNet<B>,
    path: &Path,
) -> Result<ResNet<B>, ModelError> {
    let map = |key: &str| {
        Some(
            if key.starts_with("fc.") || key.ends_with(".num_batches_tracked") {
                Target::Skip
            } else {
                Target::Param(key.to_string())
            },
        )
    };
    let mut loader = Weights::read(path, map, str::to_string)?;
    let mut cnn = cnn;
    cnn.conv1 = loader.conv("conv1", cnn.conv1)?;
    cnn.bn1 = loader.bn("bn1", cnn.bn1)?;
    let mut stages = Vec::new();
    for (s, stage) in std::mem::take(&mut cnn.stages).into_iter().enumerate() {
        let mut blocks = Vec::new();
        for (k, mut block) in stage.into_iter().enumerate() {
            let p = format!("layer{}.{k}", s + 1);
            block.conv1 = loader.conv(&format!("{p}.conv1"), block.conv1)?;
            block.bn1 = loader.bn(&format!("{p}.bn1"), block.bn1)?;
            block.conv2 = loader.conv(&format!("{p}.conv2"), block.conv2)?;
            block.bn2 = loader.bn(&format!("{p}.bn2"), block.bn2)?;
            if let Some(d) = block.downsample.take() {
                block.downsample = Some(Downsample {
                    conv: loader.conv(&format!("{p}.downsample.0"), d.conv)?,
                    bn: loader.bn(&format!("{p}.downsample.1"), d.bn)?,
                });
            }
            blocks.push(block);
        }
        stages.push(blocks);
    }
    cnn.stages = stages;
    loader.finish()?;
    Ok(cnn)
}

/// ResNet's modules, read from [`Weights`].
trait ResNetWeights {
    fn conv<B: Backend>(&mut self, name: &str, conv: Conv2d<B>) -> Result<Conv2d<B>, ModelError>;
    fn bn<B: Backend>(&mut self, name: &str, bn: BatchNorm<B>) -> Result<BatchNorm<B>, ModelError>;
}

impl ResNetWeights for Weights {
    fn conv<B: Backend>(
        &mut self,
        name: &str,
        mut conv: Conv2d<B>,
    ) -> Result<Conv2d<B>, ModelError> {
        let device = conv.weight.device();
        let w = self.tensor(&format!("{name}.weight"), conv.weight.dims(), &device)?;
        conv.weight = Param::from_tensor(w);
        Ok(conv)
    }

    fn bn<B: Backend>(
        &mut self,
        name: &str,
        mut bn: BatchNorm<B>,
    ) -> Result<BatchNorm<B>, ModelError> {
        let device = bn.gamma.device();
        let dims = bn.gamma.dims();
        bn.gamma = Param::from_tensor(self.tensor(&format!("{name}.weight"), dims, &device)?);
        bn.beta = Param::from_tensor(self.tensor(&format!("{name}.bias"), dims, &device)?);
        bn.running_mean =
            RunningState::new(self.tensor(&format!("{name}.running_mean"), dims, &device)?);
        bn.running_var =
            RunningState::new(self.tensor(&format!("{name}.running_var"), dims, &device)?);
        Ok(bn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::to_f32;
    use burn::tensor::{Distribution, TensorData};
    use safetensors::SafeTensors;

    type B = crate::test_backend::B;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn tiny() -> ResNetConfig {
        ResNetConfig::new().with_blocks([1, 1, 1, 1]).with_width(4)
    }

    #[test]
    fn resnet_matches_pytorch_on_torchvision_keys() {
        // Expected features from scripts/reference/resnet_tiny.py (PyTorch 2.15, eval mode).
        let dev = Default::default();
        let cnn = load_resnet_weights(tiny().init::<B>(&dev), &fixture("resnet_tiny.safetensors"))
            .unwrap();
        let bytes = std::fs::read(fixture("resnet_tiny_io.safetensors")).unwrap();
        let io = SafeTensors::deserialize(&bytes).unwrap();
        let get = |k: &str| {
            let v = io.tensor(k).unwrap();
            (v.shape().to_vec(), to_f32(v.dtype(), v.data()).unwrap())
        };
        let (shape, input) = get("input");
        assert_eq!(shape, [2, 3, 32, 32]);
        let (_, expected) = get("output");
        let out = cnn.forward(Tensor::from_data(
            TensorData::new(input, [2, 3, 32, 32]),
            &dev,
        ));
        assert_eq!(out.dims(), [2, 32]);
        let got = out.into_data().to_vec::<f32>().unwrap();
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("ResNet (tiny) against PyTorch: max |Δ| = {worst:.2e}");
        assert!(worst < 1e-5, "max |Δ| {worst}");
    }

    #[test]
    fn resnet_weights_with_a_wrong_shape_or_a_missing_block_are_errors() {
        let dev = Default::default();
        let path = fixture("resnet_tiny.safetensors");
        let e = load_resnet_weights(tiny().with_width(8).init::<B>(&dev), &path).unwrap_err();
        assert!(
            e.to_string().contains("conv1.weight") && e.to_string().contains("[8, 3, 7, 7]"),
            "{e}"
        );
        // two blocks per stage: layer1.1 is not in the file
        let e = load_resnet_weights(tiny().with_blocks([2, 1, 1, 1]).init::<B>(&dev), &path)
            .unwrap_err();
        assert!(
            matches!(&e, ModelError::MissingKey { key, .. } if key == "layer1.1.conv1.weight"),
            "{e}"
        );
        // a key the model does not have
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let extra = [0u8; 16];
        let mut views: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
        views.push((
            "layer5.0.conv1.weight".into(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &extra).unwrap(),
        ));
        let dir = tempfile::tempdir().unwrap();
        let extended = dir.path().join("resnet.safetensors");
        std::fs::write(&extended, safetensors::serialize(views, None).unwrap()).unwrap();
        let e = load_resnet_weights(tiny().init::<B>(&dev), &extended).unwrap_err();
        assert!(
            matches!(&e, ModelError::UnknownKey { key, path } if key == "layer5.0.conv1.weight" && *path == extended),
            "{e}"
        );
    }

    #[test]
    fn frame_encoder_shapes_and_padding_invariance() {
        let dev = Default::default();
        let enc = FrameEncoderConfig::new()
            .with_cnn(tiny())
            .with_hidden(16)
            .with_heads(2)
            .with_layers(1)
            .with_dim(8)
            .init::<B>(&dev)
            .unwrap();
        let frames =
            Tensor::<B, 5>::random([1, 5, 3, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
        let short = enc.forward(frames.clone(), Tensor::ones([1, 5], &dev));
        assert_eq!(short.tokens.dims(), [1, 3, 8]);
        let noise = Tensor::<B, 5>::random([1, 3, 3, 16, 16], Distribution::Normal(0.0, 3.0), &dev);
        let mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new((0..8).map(|i| i < 5).collect::<Vec<_>>(), [1, 8]),
            &dev,
        );
        let long = enc.forward(Tensor::cat(vec![frames, noise], 1), mask);
        assert_eq!(long.tokens.dims(), [1, 4, 8]);
        let m: Vec<bool> = san_core::host::to_vec_i64(long.mask.clone().int())
            .iter()
            .map(|&v| v != 0)
            .collect();
        assert_eq!(
            m,
            [true, true, true, false],
            "clip j is real when frame 2j is"
        );
        let diff = (long.tokens.slice([0..1, 0..3]) - short.tokens)
            .abs()
            .max()
            .into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }

    /// A strided 1×1 convolution's input gradient against hand arithmetic: for
    /// `loss = Σ y·g`, `∂loss/∂x[c, i, j] = Σ_o W[o, c]·g[o, i/s, j/s]` where `s` divides
    /// both `i` and `j`, else 0 (Burn's WGPU backend got this wrong; see `pointwise_conv`).
    #[test]
    fn strided_pointwise_convolution_has_the_right_input_gradient() {
        use burn::backend::Autodiff;
        use burn::tensor::TensorData;
        type AD = Autodiff<B>;
        let dev = Default::default();
        let (cin, cout, hw, s) = (2, 3, 5, 2);
        let conv = Conv2dConfig::new([cin, cout], [1, 1])
            .with_stride([s, s])
            .with_bias(false)
            .init::<AD>(&dev);
        let w: Vec<f32> = conv
            .weight
            .val()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap();
        let x_values: Vec<f32> = (0..cin * hw * hw).map(|i| (i % 5) as f32 - 2.0).collect();
        let x = Tensor::<AD, 4>::from_data(TensorData::new(x_values, [1, cin, hw, hw]), &dev)
            .require_grad();
        let y = pointwise_conv(&conv, x.clone());
        let out = hw.div_ceil(s);
        assert_eq!(y.dims(), [1, cout, out, out]);
        let g: Vec<f32> = (0..cout * out * out)
            .map(|i| (i % 7) as f32 - 3.0)
            .collect();
        let gt = Tensor::<AD, 4>::from_data(TensorData::new(g.clone(), [1, cout, out, out]), &dev);
        let grads = (y * gt).sum().backward();
        let got: Vec<f32> = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap();
        for c in 0..cin {
            for i in 0..hw {
                for j in 0..hw {
                    let want: f32 = if i % s == 0 && j % s == 0 {
                        (0..cout)
                            .map(|o| w[o * cin + c] * g[(o * out + i / s) * out + j / s])
                            .sum()
                    } else {
                        0.0
                    };
                    let at = (c * hw + i) * hw + j;
                    assert!(
                        (got[at] - want).abs() < 1e-5,
                        "[{c}, {i}, {j}]: {} vs {want}",
                        got[at]
                    );
                }
            }
        }
    }
}
