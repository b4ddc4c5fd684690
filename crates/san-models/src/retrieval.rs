//! The dual-encoder retrieval model of SAN: a sign encoder, a text encoder and the
//! learnable logit scale `λ_s` (Lee et al., ACL 2026; CLCL scoring after CiCo).

use std::path::Path;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

use crate::bert::{BertTextEncoder, BertTextEncoderConfig};
pub use crate::error::ModelError;
use crate::feature_encoder::{FeatureEncoder, FeatureEncoderConfig};
use crate::frame_encoder::{FrameEncoder, FrameEncoderConfig, load_resnet_weights};
use crate::fusion_encoder::{FusionEncoder, FusionEncoderConfig, SecondInput};
use crate::keypoint_encoder::{KeypointEncoder, KeypointEncoderConfig};
use crate::pose_encoder::{PoseEncoder, PoseEncoderConfig};
use crate::text_encoder::{WordEncoder, WordEncoderConfig};
use crate::tokens::Tokens;

/// Which sign encoder, with its settings. Every variant's `dim` is its token dimension
/// `D`; the encoder's last linear layer is the projection to it.
#[derive(Config, Debug)]
pub enum SignEncoderConfig {
    /// Flattened per-frame pose features ([`PoseEncoder`]).
    Pose(PoseEncoderConfig),
    /// Keypoints with part-wise embeddings ([`KeypointEncoder`]).
    Keypoints(KeypointEncoderConfig),
    /// Precomputed clip features, the CiCo/SAN setting ([`FeatureEncoder`]).
    Features(FeatureEncoderConfig),
    /// RGB frames through a per-frame CNN, the GFSLT-VLP setting ([`FrameEncoder`]).
    Frames(FrameEncoderConfig),
    /// Keypoints plus clip features or frames, fused late ([`FusionEncoder`]).
    Fusion(FusionEncoderConfig),
}

/// A sign encoder of any kind.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum SignEncoder<B: Backend> {
    /// See [`SignEncoderConfig::Pose`].
    Pose(PoseEncoder<B>),
    /// See [`SignEncoderConfig::Keypoints`].
    Keypoints(KeypointEncoder<B>),
    /// See [`SignEncoderConfig::Features`].
    Features(FeatureEncoder<B>),
    /// See [`SignEncoderConfig::Frames`].
    Frames(FrameEncoder<B>),
    /// See [`SignEncoderConfig::Fusion`].
    Fusion(FusionEncoder<B>),
}

/// A batch for the sign encoder; the variant must match the configured encoder.
#[derive(Debug, Clone)]
pub enum SignInput<B: Backend> {
    /// Pose features `[B, T, F]` and the frame mask `[B, T]`.
    Pose(Tensor<B, 3>, Tensor<B, 2, Bool>),
    /// Keypoints `[B, T, J, C]`, the point mask `[B, T, J]` (or `None`) and the frame mask
    /// `[B, T]`.
    Keypoints(Tensor<B, 4>, Option<Tensor<B, 3, Bool>>, Tensor<B, 2, Bool>),
    /// Clip features `[B, T, F]` and their mask `[B, T]`.
    Features(Tensor<B, 3>, Tensor<B, 2, Bool>),
    /// Frames `[B, T, 3, H, W]` and their mask `[B, T]`.
    Frames(Tensor<B, 5>, Tensor<B, 2, Bool>),
    /// The keypoint stream as in `Keypoints`, plus the second stream.
    Fusion(
        Tensor<B, 4>,
        Option<Tensor<B, 3, Bool>>,
        Tensor<B, 2, Bool>,
        SecondInput<B>,
    ),
}

/// Which text encoder, with its settings.
#[derive(Config, Debug)]
pub enum TextEncoderConfig {
    /// Word tokens, trained from scratch ([`WordEncoder`]).
    Word(WordEncoderConfig),
    /// A BERT-family encoder with a projection ([`BertTextEncoder`]).
    Bert(BertTextEncoderConfig),
}

/// A text encoder of either kind.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum TextEncoder<B: Backend> {
    /// See [`TextEncoderConfig::Word`].
    Word(WordEncoder<B>),
    /// See [`TextEncoderConfig::Bert`].
    Bert(BertTextEncoder<B>),
}

/// Tokens with their pooled embedding.
#[derive(Debug, Clone)]
pub struct Encoded<B: Backend> {
    /// `[B, N, D]` L2-normalised tokens with mask `[B, N]`.
    pub tokens: Tokens<B>,
    /// `[B, D]`, L2-normalised: the masked mean of the tokens, or for fusion the learned
    /// mix of the two streams' pooled embeddings.
    pub pooled: Tensor<B, 2>,
}

impl<B: Backend> From<Tokens<B>> for Encoded<B> {
    fn from(tokens: Tokens<B>) -> Self {
        Self {
            pooled: tokens.pooled(),
            tokens,
        }
    }
}

impl SignEncoderConfig {
    /// The token dimension `D`.
    pub fn dim(&self) -> usize {
        match self {
            Self::Pose(c) => c.dim,
            Self::Keypoints(c) => c.dim,
            Self::Features(c) => c.dim,
            Self::Frames(c) => c.dim,
            Self::Fusion(c) => c.pose.dim,
        }
    }

    /// The values per time step the encoder's first layer takes, where the configuration
    /// fixes it (pose features and clip features); `None` for keypoints, frames and
    /// fusion, whose input is checked in their own shapes.
    pub fn input_width(&self) -> Option<usize> {
        match self {
            Self::Pose(c) => Some(c.input_dim),
            Self::Features(c) => Some(c.input_dim),
            _ => None,
        }
    }

    /// Initialises the encoder with random weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SignEncoder<B>, ModelError> {
        Ok(match self {
            Self::Pose(c) => SignEncoder::Pose(c.init(device)),
            Self::Keypoints(c) => SignEncoder::Keypoints(c.init(device)?),
            Self::Features(c) => SignEncoder::Features(c.init(device)?),
            Self::Frames(c) => SignEncoder::Frames(c.init(device)?),
            Self::Fusion(c) => SignEncoder::Fusion(c.init(device)?),
        })
    }

    /// Initialises the encoder, then loads the CNN weights of a frame stream whose
    /// `pretrained` file is set.
    pub fn init_pretrained<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<SignEncoder<B>, ModelError> {
        let load = |c: &FrameEncoderConfig, mut enc: FrameEncoder<B>| -> Result<_, ModelError> {
            if let Some(path) = &c.pretrained {
                enc.cnn = load_resnet_weights(enc.cnn, Path::new(path))?;
                if c.freeze_cnn {
                    enc.cnn = enc.cnn.no_grad();
                }
            }
            Ok(enc)
        };
        Ok(match (self, self.init(device)?) {
            (Self::Frames(c), SignEncoder::Frames(enc)) => SignEncoder::Frames(load(c, enc)?),
            (Self::Fusion(c), SignEncoder::Fusion(mut enc)) => {
                if let (Some(fc), Some(fe)) = (&c.frames, enc.frames.take()) {
                    enc.frames = Some(load(fc, fe)?);
                }
                SignEncoder::Fusion(enc)
            }
            (_, enc) => enc,
        })
    }
}

impl<B: Backend> SignEncoder<B> {
    /// Encodes a batch. Returns an error when the input is not the kind the encoder takes,
    /// or keypoints lack the joints its parts need.
    ///
    /// # Shapes
    /// As the variant's encoder; tokens `[B, N, D]`, pooled `[B, D]`.
    pub fn forward(&self, input: SignInput<B>) -> Result<Encoded<B>, ModelError> {
        let kind = |input: &SignInput<B>| match input {
            SignInput::Pose(..) => "pose features",
            SignInput::Keypoints(..) => "keypoints",
            SignInput::Features(..) => "clip features",
            SignInput::Frames(..) => "frames",
            SignInput::Fusion(..) => "two fused streams",
        };
        Ok(match (self, input) {
            (Self::Pose(e), SignInput::Pose(x, m)) => e.forward(x, m).into(),
            (Self::Keypoints(e), SignInput::Keypoints(x, p, m)) => e.forward(x, p, m)?.into(),
            (Self::Features(e), SignInput::Features(x, m)) => e.forward(x, m).into(),
            (Self::Frames(e), SignInput::Frames(x, m)) => e.forward(x, m).into(),
            (Self::Fusion(e), SignInput::Fusion(x, p, m, second)) => {
                let fused = e.forward(x, p, m, second)?;
                Encoded {
                    tokens: fused.tokens,
                    pooled: fused.pooled,
                }
            }
            (enc, input) => {
                let expected = match enc {
                    Self::Pose(_) => "pose features",
                    Self::Keypoints(_) => "keypoints",
                    Self::Features(_) => "clip features",
                    Self::Frames(_) => "frames",
                    Self::Fusion(_) => "two fused streams",
                };
                return Err(ModelError::Input(format!(
                    "the sign encoder takes {expected}, but got {}",
                    kind(&input)
                )));
            }
        })
    }
}

impl TextEncoderConfig {
    /// The token dimension `D`.
    pub fn dim(&self) -> usize {
        match self {
            Self::Word(c) => c.dim,
            Self::Bert(c) => c.dim,
        }
    }

    /// Initialises the encoder with random weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<TextEncoder<B>, ModelError> {
        Ok(match self {
            Self::Word(c) => TextEncoder::Word(c.init(device)),
            Self::Bert(c) => TextEncoder::Bert(c.init(device)?),
        })
    }

    /// Initialises the encoder, loading a configured BERT checkpoint.
    pub fn init_pretrained<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<TextEncoder<B>, ModelError> {
        Ok(match self {
            Self::Word(c) => TextEncoder::Word(c.init(device)),
            Self::Bert(c) => TextEncoder::Bert(c.init_pretrained(device)?),
        })
    }
}

impl<B: Backend> TextEncoder<B> {
    /// Encodes token ids (words or word pieces).
    ///
    /// # Shapes
    /// - `ids`: `[B, L]`; `mask`: `[B, L]`, true for real tokens
    /// - tokens `[B, L, D]`, pooled `[B, D]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Encoded<B> {
        let tokens = self.tokens(ids, mask);
        match self {
            Self::Word(_) => tokens.into(),
            Self::Bert(e) => Encoded {
                pooled: e.pooled(&tokens),
                tokens,
            },
        }
    }

    /// The tokens alone, without the pooled embedding (the training losses use only these).
    pub fn tokens(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        match self {
            Self::Word(e) => e.forward(ids, mask),
            Self::Bert(e) => e.forward(ids, mask),
        }
    }
}

/// Settings of the retrieval model.
#[derive(Config, Debug)]
pub struct RetrievalModelConfig {
    /// Sign encoder.
    pub sign: SignEncoderConfig,
    /// Text encoder.
    pub text: TextEncoderConfig,
    /// Initial `λ_s`; `ln(1/0.07)` as in CLIP.
    #[config(default = 2.659_260_036_932_778)]
    pub init_log_scale: f64,
    /// Upper bound of `λ_s` (`ln 100`, as in CLIP).
    #[config(default = 4.605_170_185_988_091)]
    pub max_log_scale: f64,
}

/// Dual encoder with a learnable logit scale. Both encoders end in a linear projection to
/// the shared dimension `D` and give L2-normalised tokens.
#[derive(Module, Debug)]
pub struct RetrievalModel<B: Backend> {
    /// Sign encoder.
    pub sign_encoder: SignEncoder<B>,
    /// Text encoder.
    pub text_encoder: TextEncoder<B>,
    /// `λ_s`, shape `[1]`.
    pub log_scale: Param<Tensor<B, 1>>,
    max_log_scale: f64,
}

impl RetrievalModelConfig {
    /// The shared token dimension `D`, or an error when the encoders disagree.
    pub fn dim(&self) -> Result<usize, ModelError> {
        let (s, t) = (self.sign.dim(), self.text.dim());
        if s != t {
            return Err(ModelError::Config(format!(
                "the sign encoder projects to D = {s} but the text encoder to D = {t}"
            )));
        }
        Ok(s)
    }

    /// Checks what the encoders' own constructors would assert on (and so panic): the
    /// token dimensions agree, and every dropout probability (any setting whose name says
    /// `dropout`, the BERT config's included) lies in [0, 1].
    pub fn validate(&self) -> Result<(), ModelError> {
        self.dim()?;
        fn walk(at: &str, v: &serde_json::Value) -> Result<(), ModelError> {
            match v {
                serde_json::Value::Object(m) => m.iter().try_for_each(|(k, v)| {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    if k.contains("dropout")
                        && !v.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p))
                    {
                        return Err(ModelError::Config(format!(
                            "{path}: expected a dropout probability in [0, 1], got {v}"
                        )));
                    }
                    walk(&path, v)
                }),
                _ => Ok(()),
            }
        }
        let value = serde_json::to_value(self)
            .map_err(|e| ModelError::Config(format!("the config does not serialise: {e}")))?;
        walk("", &value)
    }

    /// Initialises the model with random weights on `device` (no file is read: this is
    /// also the skeleton a saved record loads into).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<RetrievalModel<B>, ModelError> {
        self.validate()?;
        Ok(self.assemble(self.sign.init(device)?, self.text.init(device)?, device))
    }

    /// Initialises the model, loading the pretrained weights the config names (a BERT
    /// checkpoint, ImageNet CNN weights); the rest starts random.
    pub fn init_pretrained<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<RetrievalModel<B>, ModelError> {
        self.validate()?;
        Ok(self.assemble(
            self.sign.init_pretrained(device)?,
            self.text.init_pretrained(device)?,
            device,
        ))
    }

    fn assemble<B: Backend>(
        &self,
        sign_encoder: SignEncoder<B>,
        text_encoder: TextEncoder<B>,
        device: &B::Device,
    ) -> RetrievalModel<B> {
        RetrievalModel {
            sign_encoder,
            text_encoder,
            log_scale: Param::from_tensor(Tensor::from_floats(
                [self.init_log_scale as f32],
                device,
            )),
            max_log_scale: self.max_log_scale,
        }
    }
}

impl<B: Backend> RetrievalModel<B> {
    /// Clip tokens and pooled embedding of a sign batch; see [`SignEncoder::forward`].
    pub fn encode_sign(&self, input: SignInput<B>) -> Result<Encoded<B>, ModelError> {
        self.sign_encoder.forward(input)
    }

    /// Clip tokens of a pose-feature batch (`[B, T, F]`, mask `[B, T]`); an error unless
    /// the sign encoder is [`SignEncoder::Pose`].
    pub fn encode_poses(
        &self,
        poses: Tensor<B, 3>,
        mask: Tensor<B, 2, Bool>,
    ) -> Result<Tokens<B>, ModelError> {
        match &self.sign_encoder {
            SignEncoder::Pose(e) => Ok(e.forward(poses, mask)),
            _ => self
                .encode_sign(SignInput::Pose(poses, mask))
                .map(|e| e.tokens),
        }
    }

    /// Word tokens and pooled embedding of a text batch; see [`TextEncoder::forward`].
    pub fn encode_text(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Encoded<B> {
        self.text_encoder.forward(ids, mask)
    }

    /// Word tokens of a text batch, without the pooled embedding; see
    /// [`TextEncoder::tokens`].
    pub fn encode_text_tokens(
        &self,
        ids: Tensor<B, 2, Int>,
        mask: Tensor<B, 2, Bool>,
    ) -> Tokens<B> {
        self.text_encoder.tokens(ids, mask)
    }

    /// `λ_s`, clamped to `[0, max_log_scale]`, shape `[1]`.
    pub fn log_scale(&self) -> Tensor<B, 1> {
        self.log_scale.val().clamp(0.0, self.max_log_scale)
    }
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::ModelFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Forces every lazily initialised parameter of `module` to take its value. In Burn 0.21 a
/// clone of a parameter that was never read initialises on its own, with other random
/// values, so a module must be materialised before a clone of it is saved.
pub fn materialize<B: Backend, M: Module<B>>(module: &M) {
    struct Touch;
    impl<B: Backend> burn::module::ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// Saves `model` into `dir` as `model.mpk` (Burn's named MessagePack recorder, full
/// precision) with its `config.json` beside it. Both are written under temporary names and
/// renamed into place.
pub fn save_model<B: Backend>(
    model: &RetrievalModel<B>,
    config: &RetrievalModelConfig,
    dir: &Path,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let (config_path, model_path) = (dir.join("config.json"), dir.join("model.mpk"));
    let tmp_config = dir.join(".config.json.tmp");
    config
        .save(&tmp_config)
        .map_err(|e| file_error(&tmp_config, e))?;
    std::fs::rename(&tmp_config, &config_path).map_err(|e| file_error(&config_path, e))?;
    materialize(model);
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    // The recorder adds `.mpk` in place of any extension, so the stem has none.
    let tmp_stem = dir.join("model-partial");
    model
        .clone()
        .save_file(tmp_stem.clone(), &recorder)
        .map_err(|e| file_error(&model_path, format!("could not write the record: {e}")))?;
    let tmp_model = dir.join("model-partial.mpk");
    std::fs::rename(&tmp_model, &model_path).map_err(|e| file_error(&model_path, e))
}

/// Loads a model saved by [`save_model`] from `dir` onto `device`.
pub fn load_model<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(RetrievalModelConfig, RetrievalModel<B>), ModelError> {
    let config_path = dir.join("config.json");
    let config = RetrievalModelConfig::load(&config_path).map_err(|e| {
        file_error(
            &config_path,
            format!("expected a RetrievalModelConfig as JSON: {e}"),
        )
    })?;
    let model_path = dir.join("model.mpk");
    if !model_path.is_file() {
        return Err(file_error(&model_path, "no such file"));
    }
    let fresh = config
        .init::<B>(device)
        .map_err(|e| file_error(&config_path, e))?;
    let model = crate::record_file::load_module_file(fresh, &model_path, device)?;
    Ok((config, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::B as TestBackend;

    #[test]
    fn a_dropout_outside_0_1_is_a_config_error_not_a_panic() {
        // Burn's DropoutConfig::init panics on it; the fuzz suite reached that through a
        // saved model's config.json.
        let cfg = RetrievalModelConfig::new(
            SignEncoderConfig::Pose(PoseEncoderConfig::new(4).with_dropout(8.1)),
            TextEncoderConfig::Word(WordEncoderConfig::new(6)),
        );
        let err = cfg
            .init::<TestBackend>(&Default::default())
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid model configuration: sign.Pose.dropout: expected a dropout probability in [0, 1], got 8.1"
        );
    }

    #[test]
    fn initial_scale_is_one_over_0_07() {
        let cfg = RetrievalModelConfig::new(
            SignEncoderConfig::Pose(PoseEncoderConfig::new(4)),
            TextEncoderConfig::Word(WordEncoderConfig::new(6)),
        );
        let m = cfg.init::<TestBackend>(&Default::default()).unwrap();
        let s: f32 = m.log_scale().exp().into_scalar();
        assert!((s - 1.0 / 0.07).abs() < 1e-3);
    }

    #[test]
    fn a_saved_and_reloaded_model_gives_identical_outputs() {
        use burn::tensor::{Distribution, TensorData};
        type B = TestBackend;
        let dev = Default::default();
        let cfg = RetrievalModelConfig::new(
            SignEncoderConfig::Pose(PoseEncoderConfig::new(6).with_hidden(8).with_dim(4)),
            TextEncoderConfig::Word(
                WordEncoderConfig::new(7)
                    .with_dim(4)
                    .with_layers(1)
                    .with_heads(2),
            ),
        );
        // never run before saving: its parameters are still lazy
        let model = cfg.init::<B>(&dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save_model(&model, &cfg, dir.path()).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            ["config.json", "model.mpk"],
            "no temporary file is left"
        );
        let (cfg2, loaded) = load_model::<B>(dir.path(), &dev).unwrap();
        assert_eq!(cfg2.to_string(), cfg.to_string());
        let poses = Tensor::<B, 3>::random([2, 9, 6], Distribution::Normal(0.0, 1.0), &dev);
        let mask = Tensor::<B, 2, Bool>::ones([2, 9], &dev);
        let ids =
            Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 6], [2, 2]), &dev);
        let tmask = Tensor::<B, 2, Bool>::ones([2, 2], &dev);
        let same = |a: Tensor<B, 3>, b: Tensor<B, 3>| {
            a.into_data().to_vec::<f32>().unwrap() == b.into_data().to_vec::<f32>().unwrap()
        };
        assert!(same(
            model
                .encode_poses(poses.clone(), mask.clone())
                .unwrap()
                .tokens,
            loaded.encode_poses(poses, mask).unwrap().tokens
        ));
        assert!(same(
            model.encode_text(ids.clone(), tmask.clone()).tokens.tokens,
            loaded.encode_text(ids, tmask).tokens.tokens
        ));
        assert_eq!(
            model.log_scale().into_scalar(),
            loaded.log_scale().into_scalar()
        );

        std::fs::remove_file(dir.path().join("model.mpk")).unwrap();
        let e = load_model::<B>(dir.path(), &dev).unwrap_err().to_string();
        assert!(e.contains("model.mpk"), "{e}");
    }

    #[test]
    fn a_frozen_bert_stays_frozen_after_reloading() {
        use crate::bert::{BertConfig, BertTextEncoderConfig};
        type AD = burn::backend::Autodiff<TestBackend>;
        let dev = Default::default();
        let bert = BertConfig::new(20)
            .with_hidden_size(8)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(2)
            .with_intermediate_size(16)
            .with_max_position_embeddings(12);
        let cfg = RetrievalModelConfig::new(
            SignEncoderConfig::Pose(PoseEncoderConfig::new(4).with_hidden(8).with_dim(4)),
            TextEncoderConfig::Bert(
                BertTextEncoderConfig::new(bert)
                    .with_dim(4)
                    .with_freeze_lower(1),
            ),
        );
        fn trainable(m: &RetrievalModel<AD>) -> (usize, usize) {
            struct Count(usize, usize);
            impl burn::module::ModuleVisitor<AD> for Count {
                fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<AD, D>>) {
                    if p.val().is_require_grad() {
                        self.0 += 1;
                    } else {
                        self.1 += 1;
                    }
                }
            }
            let mut c = Count(0, 0);
            m.text_encoder.visit(&mut c);
            (c.0, c.1)
        }
        let model = cfg.init::<AD>(&dev).unwrap();
        // embeddings (5 tensors) and layer 0 (16) frozen; layer 1 (16) and projection (2) not
        assert_eq!(trainable(&model), (18, 21));
        let dir = tempfile::tempdir().unwrap();
        save_model(&model, &cfg, dir.path()).unwrap();
        let (_, loaded) = load_model::<AD>(dir.path(), &dev).unwrap();
        assert_eq!(trainable(&loaded), (18, 21));
    }
}
