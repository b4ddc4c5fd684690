//! The training configuration, in sections that follow the method: how the corpus is read
//! and batched (`data`), the dual encoder (`model`), the optimiser (`optimizer`), the two
//! stages (`stage1`, `stage2`), hard-negative mining (`mining`) and evaluation (`eval`).
//! Saved as `config.json` beside the run's outputs; read from TOML by
//! `settings::load_config`.
//!
//! ```toml
//! seed = 7
//! [optimizer]
//! learning_rate = 0.001
//! [mining.reliable]
//! alpha = 0.7
//! ```

use burn::config::Config;
use san_core::loss::CoarseMix;
use san_core::mining::{HardDraw, TableConfig};
use san_core::similarity::{ClclKernel, TokenPadding};
use san_data::batch::BatcherConfig;
use san_data::frames::FrameConfig;
use san_models::bert::TextPooling;
use san_models::frame_encoder::ResNetConfig;

pub use san_data::corpus::InputKind;

use crate::schedule::{LrSchedule, OptimizerKind};

/// Where stage 2 starts.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Stage2Init {
    /// Continue from the selected stage-1 model.
    Continue,
    /// Start from a fresh model with the same seed.
    Scratch,
}

/// The dev metric that selects a stage's epoch (test is evaluated once, afterwards).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SelectionMetric {
    /// Mean of T2V and V2T R@1.
    CoarseR1,
    /// Mean of T2V, V2T and fine-grained V2T R@1 when the dev split has a fine-grained
    /// benchmark; else as `CoarseR1`.
    CoarseAndFineGrainedR1,
}

/// Which sign encoder of san-models reads the clips.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum EncoderKind {
    /// The input's natural encoder: `Pose` for pose, `Features` for clip features, `Frames`
    /// for RGB frames.
    Auto,
    /// [`PoseEncoder`](san_models::pose_encoder::PoseEncoder) over flattened pose features.
    Pose,
    /// The part-wise [`KeypointEncoder`](san_models::keypoint_encoder::KeypointEncoder):
    /// pose input read as `[T, J, 2]` keypoints.
    Keypoints,
    /// [`FeatureEncoder`](san_models::feature_encoder::FeatureEncoder) over `[T, F]`.
    Features,
    /// [`FrameEncoder`](san_models::frame_encoder::FrameEncoder) (ResNet) over RGB frames.
    Frames,
}

/// Where stage 2's hard negatives come from (`DESIGN.md` §3.3, §3.4). The signsim
/// experiment trains one stage-2 arm per miner.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Miner {
    /// None: stage 2 trains with the coarse loss only.
    None,
    /// Captions with words swapped through a semantic table (word vectors of
    /// `wordvecs.vec`, same β): the baseline the method argues against.
    Semantic,
    /// Captions with words swapped through the SAN table of the stage-1 model.
    San,
    /// As `San`, less links whose words are near-synonyms in the text space (text cosine
    /// at or above `mining.table.tau_syn`).
    SanSynonymFilter,
    /// Instance level: each clip's `mining.instance.k` nearest other clips in sign space
    /// (after the §3.4 exclusions) share its batch, and their captions are its hard
    /// captions.
    Instance,
}

/// How the corpus is read and batched.
#[derive(Config, Debug)]
pub struct DataConfig {
    /// What clips are read as.
    #[config(default = "InputKind::Pose")]
    pub input: InputKind,
    /// Frame preprocessing of `InputKind::Frames`.
    #[config(
        default = "FrameConfig::new().with_max_frames(Some(32)).with_resize(Some((64, 64))).with_crop(None)"
    )]
    pub frames: FrameConfig,
    /// Frames and words kept per pair, and text augmentation.
    #[config(default = "BatcherConfig::new()")]
    pub batcher: BatcherConfig,
    /// Pairs per batch (training, and encoding for the table and evaluation).
    #[config(default = 32)]
    pub batch_size: usize,
}

/// Which text encoder reads the captions.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// [`WordEncoder`](san_models::text_encoder::WordEncoder): one token per word of the
    /// training vocabulary, trained from scratch.
    Word,
    /// [`BertTextEncoder`](san_models::bert::BertTextEncoder): a BERT-family checkpoint
    /// (`model.text.checkpoint`) with a projection to `D`, over its word pieces.
    Bert,
}

/// The text encoder (`model.text`).
#[derive(Config, Debug)]
pub struct TextConfig {
    /// Which encoder.
    #[config(default = "TextKind::Word")]
    pub kind: TextKind,
    /// The checkpoint folder of `Bert`: `config.json`, `model.safetensors`, and
    /// `tokenizer.json` or `vocab.txt` (e.g. a local copy of `bert-base-german-cased`).
    #[config(default = "None")]
    pub checkpoint: Option<String>,
    /// Freeze all of BERT; only the projection trains.
    #[config(default = false)]
    pub freeze_all: bool,
    /// Freeze BERT's embeddings and its lowest `n` layers (0: train every layer).
    #[config(default = 0)]
    pub freeze_lower: usize,
    /// Word pieces kept per caption, `[CLS]` and `[SEP]` included (at most the
    /// checkpoint's `max_position_embeddings`).
    #[config(default = 64)]
    pub max_len: usize,
    /// How BERT's pooled caption embedding is formed (embedding, instance mining).
    #[config(default = "TextPooling::Mean")]
    pub pooling: TextPooling,
    /// BERT's learning rate as a fraction of `optimizer.learning_rate` (the projection
    /// trains at the base rate).
    #[config(default = 1.0)]
    pub lr_multiplier: f64,
}

/// Pretrained weights of the frame CNN (`model.pretrained_cnn`).
#[derive(Config, Debug)]
pub struct PretrainedCnnConfig {
    /// A safetensors file of torchvision's ResNet (`state_dict` keys), loaded into the CNN
    /// of `EncoderKind::Frames` when training starts; `None` starts it random. The weights
    /// expect ImageNet's normalisation, `data.frames`' default.
    #[config(default = "None")]
    pub weights: Option<String>,
    /// Freeze the CNN.
    #[config(default = false)]
    pub freeze: bool,
    /// The CNN's learning rate as a fraction of `optimizer.learning_rate`.
    #[config(default = 1.0)]
    pub lr_multiplier: f64,
}

/// The dual encoder and its similarity.
#[derive(Config, Debug)]
pub struct ModelConfig {
    /// The sign encoder.
    #[config(default = "EncoderKind::Auto")]
    pub encoder: EncoderKind,
    /// The text encoder.
    #[config(default = "TextConfig::new()")]
    pub text: TextConfig,
    /// The CNN of `EncoderKind::Frames` (ResNet-18 layout by default).
    #[config(default = "ResNetConfig::new()")]
    pub cnn: ResNetConfig,
    /// Pretrained weights of that CNN.
    #[config(default = "PretrainedCnnConfig::new()")]
    pub pretrained_cnn: PretrainedCnnConfig,
    /// Hidden width of the sign encoder.
    #[config(default = 256)]
    pub hidden: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Token temperature `τ_tok` of the CLCL similarity: the losses, evaluation and the
    /// reliable-pair softmax all score with it.
    #[config(default = 0.07)]
    pub tau_tok: f64,
    /// Whether padded clips and words stay inside the CLCL token softmax: `Exclude` (ours,
    /// `DESIGN.md` §3.1) or `Include` (the research code's); losses and evaluation alike.
    #[config(default = "TokenPadding::Exclude")]
    pub token_padding: TokenPadding,
    /// Every dropout probability of the model (sign encoder, text encoder, BERT's
    /// `*_dropout_prob`) when set; unset keeps each module's own default. With `0.0`, a
    /// run on several peers computes exactly the one-device run (README, "Several
    /// devices").
    #[config(default = "None")]
    pub dropout: Option<f64>,
}

/// The optimiser and its learning-rate schedule (each stage starts the schedule afresh).
#[derive(Config, Debug)]
pub struct OptimConfig {
    /// The optimiser.
    #[config(default = "OptimizerKind::AdamW")]
    pub kind: OptimizerKind,
    /// Base learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Weight decay (decoupled for AdamW, L2 for SGD).
    #[config(default = 1e-4)]
    pub weight_decay: f32,
    /// SGD momentum.
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Learning-rate schedule within each stage.
    #[config(default = "LrSchedule::Constant")]
    pub schedule: LrSchedule,
    /// Linear warm-up steps at the start of each stage (0: none).
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// The cosine schedule's final rate, as a fraction of the base rate.
    #[config(default = 0.0)]
    pub min_lr_ratio: f64,
    /// Clip gradients to this global L2 norm (`None`: no clipping).
    #[config(default = "None")]
    pub grad_clip_norm: Option<f64>,
}

/// Stage 1: the coarse loss only.
#[derive(Config, Debug)]
pub struct Stage1Config {
    /// Epochs.
    #[config(default = 30)]
    pub epochs: usize,
    /// The dev metric that selects the stage's epoch.
    #[config(default = "SelectionMetric::CoarseR1")]
    pub selection: SelectionMetric,
}

/// Stage 2: coarse + λ·fine over the miner's hard negatives.
#[derive(Config, Debug)]
pub struct Stage2Config {
    /// Epochs.
    #[config(default = 20)]
    pub epochs: usize,
    /// The dev metric that selects the stage's epoch.
    #[config(default = "SelectionMetric::CoarseR1")]
    pub selection: SelectionMetric,
    /// Where stage 2 starts.
    #[config(default = "Stage2Init::Continue")]
    pub init: Stage2Init,
    /// Rebuild the negatives every this many epochs (`None`: never).
    #[config(default = "None")]
    pub refresh_every: Option<usize>,
    /// Stage 2's own optimiser and schedule (`None`: the `optimizer` section, as in stage
    /// 1). The SAN research code's stage 2 is SGD with a cosine schedule:
    /// `[stage2.optimizer] kind = "Sgd"`, `schedule = "Cosine"`.
    #[config(default = "None")]
    pub optimizer: Option<OptimConfig>,
}

/// Reliable sign–word pairs (SAN step 2, `DESIGN.md` §3.3).
#[derive(Config, Debug)]
pub struct ReliableConfig {
    /// A word's clip softmax must peak above this for its clip feature to be reliable,
    /// `α`.
    #[config(default = 0.7)]
    pub alpha: f64,
    /// Individual reliable features kept per word (for `Aggregation::Any`).
    #[config(default = 16)]
    pub keep: usize,
}

/// Instance-level mining (`Miner::Instance`, `DESIGN.md` §3.4).
#[derive(Config, Debug)]
pub struct InstanceConfig {
    /// Neighbours per clip.
    #[config(default = 8)]
    pub k: usize,
    /// Neighbours whose caption has text cosine at or above this with the anchor's are
    /// excluded (paraphrases are not negatives).
    #[config(default = 0.9)]
    pub tau_sem: f32,
}

/// Hard-negative mining and the fine loss.
#[derive(Config, Debug)]
pub struct MiningConfig {
    /// Where stage 2's hard negatives come from.
    #[config(default = "Miner::San")]
    pub miner: Miner,
    /// Hard captions per pair, `N_hard`.
    #[config(default = 5)]
    pub n_hard: usize,
    /// Words swapped per hard caption, `N_swap`.
    #[config(default = 2)]
    pub n_swap: usize,
    /// Weight of the fine loss, `λ`.
    #[config(default = 0.4)]
    pub lambda_fine: f64,
    /// The coarse loss of both stages: `Symmetric` (ours, `DESIGN.md` §3.2) or `Balance`
    /// (CiCo's default mix of four cross-entropies).
    #[config(default = "CoarseMix::Symmetric")]
    pub coarse_mix: CoarseMix,
    /// How each caption's `N_hard` hard captions are drawn from the table: `Distinct`
    /// (ours: distinct negatives, the batch fills the rest) or `Repeats` (the SAN research
    /// code: `N_hard` independent draws, repeats kept).
    #[config(default = "HardDraw::Distinct")]
    pub hard_draw: HardDraw,
    /// Reliable pairs (`α`).
    #[config(default = "ReliableConfig::new()")]
    pub reliable: ReliableConfig,
    /// The SAN table (β, aggregation, top-k, minimum count). Its `tau_syn` is the synonym
    /// filter of `Miner::SanSynonymFilter`; the plain `San` miner and the reported
    /// stage-1 table never filter.
    #[config(default = "TableConfig::new().with_tau_syn(Some(0.95))")]
    pub table: TableConfig,
    /// `Miner::Instance`.
    #[config(default = "InstanceConfig::new()")]
    pub instance: InstanceConfig,
}

/// Evaluation.
#[derive(Config, Debug)]
pub struct EvalConfig {
    /// Fine-grained distractors per query when the corpus has no ground truth.
    #[config(default = 40)]
    pub fine_grained_distractors: usize,
    /// Videos scored against the whole gallery at once.
    #[config(default = 32)]
    pub chunk: usize,
    /// The CLCL gallery kernel of evaluation: `Tensor` runs on any backend, `Fused` is the
    /// multi-threaded host kernel, faster on CPU backends (same values up to rounding). The
    /// binaries start from `Fused` for `--device cpu`.
    #[config(default = "ClclKernel::Tensor")]
    pub kernel: ClclKernel,
}

/// The whole two-stage SAN protocol (`DESIGN.md` §3.6).
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Random seed (model init, shuffling, sampling, substitution).
    #[config(default = 7)]
    pub seed: u64,
    /// How the corpus is read and batched.
    #[config(default = "DataConfig::new()")]
    pub data: DataConfig,
    /// The dual encoder.
    #[config(default = "ModelConfig::new()")]
    pub model: ModelConfig,
    /// The optimiser.
    #[config(default = "OptimConfig::new()")]
    pub optimizer: OptimConfig,
    /// Stage 1.
    #[config(default = "Stage1Config::new()")]
    pub stage1: Stage1Config,
    /// Stage 2.
    #[config(default = "Stage2Config::new()")]
    pub stage2: Stage2Config,
    /// Hard-negative mining.
    #[config(default = "MiningConfig::new()")]
    pub mining: MiningConfig,
    /// Evaluation.
    #[config(default = "EvalConfig::new()")]
    pub eval: EvalConfig,
}

impl TrainConfig {
    /// The SAN table settings of the plain SAN table (no synonym filter).
    pub fn san_table(&self) -> TableConfig {
        self.mining.table.clone().with_tau_syn(None)
    }

    /// The settings a stage trains with: for stage 2 with its own optimiser
    /// (`stage2.optimizer`), this config with that optimiser in `optimizer`; else a copy.
    pub fn for_stage(&self, stage: u8) -> TrainConfig {
        let mut c = self.clone();
        if stage == 2
            && let Some(o) = &self.stage2.optimizer
        {
            c.optimizer = o.clone();
        }
        c
    }

    /// Sets both stages' epochs.
    pub fn with_epochs(mut self, stage1: usize, stage2: usize) -> Self {
        self.stage1.epochs = stage1;
        self.stage2.epochs = stage2;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_setting_where_it_has_one() {
        // DESIGN.md §3: α = β = 0.7, N_hard = 5, N_swap = 2, λ = 0.4, τ_tok = 0.07.
        let c = TrainConfig::new();
        assert_eq!(c.mining.reliable.alpha, 0.7);
        assert_eq!(c.mining.table.beta, 0.7);
        assert_eq!((c.mining.n_hard, c.mining.n_swap), (5, 2));
        assert_eq!(c.mining.lambda_fine, 0.4);
        assert_eq!(c.model.tau_tok, 0.07);
        assert_eq!(c.san_table().tau_syn, None);
        assert_eq!(c.mining.table.tau_syn, Some(0.95));
    }

    #[test]
    fn serialises_in_sections() {
        let v = serde_json::to_value(TrainConfig::new()).unwrap_or_default();
        let keys: Vec<&str> = v
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "data",
                "eval",
                "mining",
                "model",
                "optimizer",
                "seed",
                "stage1",
                "stage2"
            ]
        );
        assert_eq!(v["mining"]["reliable"]["alpha"], 0.7);
    }
}
