//! The dual-encoder retrieval model of SAN: a sign encoder, a text encoder and the
//! learnable logit scale `λ_s` (Lee et al., ACL 2026; CLCL scoring after CiCo).

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::{Module, Param};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

use crate::pose_encoder::{PoseEncoder, PoseEncoderConfig};
use crate::text_encoder::{WordEncoder, WordEncoderConfig};
use crate::tokens::Tokens;

/// Settings of the retrieval model.
#[derive(Config, Debug)]
pub struct RetrievalModelConfig {
    /// Sign encoder.
    pub sign: PoseEncoderConfig,
    /// Text encoder.
    pub text: WordEncoderConfig,
    /// Initial `λ_s`; `ln(1/0.07)` as in CLIP.
    #[config(default = 2.659_260_036_932_778)]
    pub init_log_scale: f64,
    /// Upper bound of `λ_s` (`ln 100`, as in CLIP).
    #[config(default = 4.605_170_185_988_091)]
    pub max_log_scale: f64,
}

/// Dual encoder with a learnable logit scale.
#[derive(Module, Debug)]
pub struct RetrievalModel<B: Backend> {
    /// Sign encoder.
    pub sign_encoder: PoseEncoder<B>,
    /// Text encoder.
    pub text_encoder: WordEncoder<B>,
    /// `λ_s`, shape `[1]`.
    pub log_scale: Param<Tensor<B, 1>>,
    max_log_scale: f64,
}

impl RetrievalModelConfig {
    /// Initialises the model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RetrievalModel<B> {
        RetrievalModel {
            sign_encoder: self.sign.init(device),
            text_encoder: self.text.init(device),
            log_scale: Param::from_tensor(Tensor::from_floats(
                [self.init_log_scale as f32],
                device,
            )),
            max_log_scale: self.max_log_scale,
        }
    }
}

impl<B: Backend> RetrievalModel<B> {
    /// Clip tokens of a pose batch; see [`PoseEncoder::forward`].
    pub fn encode_sign(&self, poses: Tensor<B, 3>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        self.sign_encoder.forward(poses, mask)
    }

    /// Word tokens of a text batch; see [`WordEncoder::forward`].
    pub fn encode_text(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Bool>) -> Tokens<B> {
        self.text_encoder.forward(ids, mask)
    }

    /// `λ_s`, clamped to `[0, max_log_scale]`, shape `[1]`.
    pub fn log_scale(&self) -> Tensor<B, 1> {
        self.log_scale.val().clamp(0.0, self.max_log_scale)
    }
}

/// A saved model that could not be written or read; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ModelFileError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong, and what was expected.
    pub message: String,
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> ModelFileError {
    ModelFileError {
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
) -> Result<(), ModelFileError> {
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
) -> Result<(RetrievalModelConfig, RetrievalModel<B>), ModelFileError> {
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
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let model = config
        .init::<B>(device)
        .load_file(dir.join("model"), &recorder, device)
        .map_err(|e| {
            file_error(
                &model_path,
                format!("expected a record of the model in config.json: {e}"),
            )
        })?;
    Ok((config, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn initial_scale_is_one_over_0_07() {
        let cfg = RetrievalModelConfig::new(PoseEncoderConfig::new(4), WordEncoderConfig::new(6));
        let m = cfg.init::<NdArray<f32>>(&Default::default());
        let s: f32 = m.log_scale().exp().into_scalar();
        assert!((s - 1.0 / 0.07).abs() < 1e-3);
    }

    #[test]
    fn a_saved_and_reloaded_model_gives_identical_outputs() {
        use burn::tensor::{Distribution, TensorData};
        type B = NdArray<f32>;
        let dev = Default::default();
        let cfg = RetrievalModelConfig::new(
            PoseEncoderConfig::new(6).with_hidden(8).with_dim(4),
            WordEncoderConfig::new(7)
                .with_dim(4)
                .with_layers(1)
                .with_heads(2),
        );
        // never run before saving: its parameters are still lazy
        let model = cfg.init::<B>(&dev);
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
            model.encode_sign(poses.clone(), mask.clone()).tokens,
            loaded.encode_sign(poses, mask).tokens
        ));
        assert!(same(
            model.encode_text(ids.clone(), tmask.clone()).tokens,
            loaded.encode_text(ids, tmask).tokens
        ));
        assert_eq!(
            model.log_scale().into_scalar(),
            loaded.log_scale().into_scalar()
        );

        std::fs::remove_file(dir.path().join("model.mpk")).unwrap();
        let e = load_model::<B>(dir.path(), &dev).unwrap_err().to_string();
        assert!(e.contains("model.mpk"), "{e}");
    }
}
