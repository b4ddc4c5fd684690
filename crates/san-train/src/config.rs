//! The training configuration: model, batching, both stages, mining and evaluation.
//! Saved as `config.json` beside the run's outputs.

use burn::config::Config;
use san_core::mining::TableConfig;
use san_data::batch::BatcherConfig;
use san_data::frames::FrameConfig;
use san_models::frame_encoder::ResNetConfig;

use crate::schedule::{LrSchedule, OptimizerKind};

/// Where stage 2 starts.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Stage2Init {
    /// Continue from the selected stage-1 model.
    Continue,
    /// Start from a fresh model with the same seed.
    Scratch,
}

/// The dev metric that selects each stage's epoch (test is evaluated once, afterwards).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SelectionMetric {
    /// Mean of T2V and V2T R@1.
    CoarseR1,
    /// Mean of T2V, V2T and fine-grained V2T R@1 when the dev split has a fine-grained
    /// benchmark; else as `CoarseR1`.
    CoarseAndFineGrainedR1,
}

/// What each clip is read as (`DESIGN.md` §4). Every kind becomes a `[T, F]` matrix per
/// clip, which the sign encoder reads in its own shape.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `pose/{split}/{name}.pose`: per-frame pose features (X, Y of every point, plus
    /// hand-relative hand points).
    Pose,
    /// `features/{split}/{name}.npy` or `.safetensors`: precomputed clip features `[T, F]`
    /// (e.g. I3D, F = 1024).
    Features,
    /// `features/fullFrame-210x260px/{split}/{name}/*.png`: RGB frames, preprocessed by
    /// `TrainConfig::frames`.
    Frames,
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
    /// pose input read as `[T, J, 2]` keypoints, parts from `TrainConfig::keypoint_parts`.
    Keypoints,
    /// [`FeatureEncoder`](san_models::feature_encoder::FeatureEncoder) over `[T, F]`.
    Features,
    /// [`FrameEncoder`](san_models::frame_encoder::FrameEncoder) (ResNet) over RGB frames.
    Frames,
}

/// Where stage 2's hard negatives come from (`DESIGN.md` §3.3, §3.4).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Miner {
    /// None: stage 2 trains with the coarse loss only.
    None,
    /// Captions with words swapped through a semantic table (word vectors of
    /// `wordvecs.vec`, same β): the baseline the method argues against.
    Semantic,
    /// Captions with words swapped through the SAN table of the stage-1 model.
    San,
    /// As `San`, less links whose words are near-synonyms in the text space
    /// (`TrainConfig::tau_syn`).
    SanSynonymFilter,
    /// Instance level: each clip's `instance_k` nearest other clips in sign space (after
    /// the §3.4 exclusions) share its batch, and their captions are its hard captions.
    Instance,
}

/// The whole two-stage SAN protocol (`DESIGN.md` §3.6).
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Random seed (model init, shuffling, sampling, substitution).
    #[config(default = 7)]
    pub seed: u64,
    /// What clips are read as.
    #[config(default = "InputKind::Pose")]
    pub input: InputKind,
    /// The sign encoder.
    #[config(default = "EncoderKind::Auto")]
    pub encoder: EncoderKind,
    /// Frame preprocessing of `InputKind::Frames`.
    #[config(
        default = "FrameConfig::new().with_max_frames(Some(32)).with_resize(Some((64, 64))).with_crop(None)"
    )]
    pub frames: FrameConfig,
    /// The CNN of `EncoderKind::Frames` (ResNet-18 layout by default; `pretrained` weights
    /// are not loaded by the trainer).
    #[config(default = "ResNetConfig::new()")]
    pub cnn: ResNetConfig,
    /// Hidden width of the sign encoder.
    #[config(default = 256)]
    pub hidden: usize,
    /// Token dimension `D`.
    #[config(default = 256)]
    pub dim: usize,
    /// Batching.
    #[config(default = "BatcherConfig::new()")]
    pub batcher: BatcherConfig,
    /// Pairs per batch.
    #[config(default = 32)]
    pub batch_size: usize,
    /// The optimiser.
    #[config(default = "OptimizerKind::AdamW")]
    pub optimizer: OptimizerKind,
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
    /// Stage-1 epochs (coarse loss only).
    #[config(default = 30)]
    pub stage1_epochs: usize,
    /// Stage-2 epochs (coarse + λ·fine).
    #[config(default = 20)]
    pub stage2_epochs: usize,
    /// The dev metric that selects each stage's epoch.
    #[config(default = "SelectionMetric::CoarseR1")]
    pub selection: SelectionMetric,
    /// Where stage 2 starts.
    #[config(default = "Stage2Init::Continue")]
    pub stage2_init: Stage2Init,
    /// Rebuild the table every this many stage-2 epochs (`None`: never).
    #[config(default = "None")]
    pub refresh_every: Option<usize>,
    /// Weight of the fine loss, `λ`.
    #[config(default = 0.4)]
    pub lambda_fine: f64,
    /// Where stage 2's hard negatives come from.
    #[config(default = "Miner::San")]
    pub miner: Miner,
    /// Text cosine at or above which `Miner::SanSynonymFilter` drops a link.
    #[config(default = 0.95)]
    pub tau_syn: f64,
    /// Neighbours per clip of `Miner::Instance`.
    #[config(default = 8)]
    pub instance_k: usize,
    /// `Miner::Instance` excludes neighbours whose caption has text cosine at or above this
    /// with the anchor's (paraphrases are not negatives).
    #[config(default = 0.9)]
    pub instance_tau_sem: f32,
    /// Words swapped per hard caption, `N_swap`.
    #[config(default = 2)]
    pub n_swap: usize,
    /// Hard captions per pair, `N_hard`.
    #[config(default = 5)]
    pub n_hard: usize,
    /// Token temperature `τ_tok`.
    #[config(default = 0.07)]
    pub tau_tok: f64,
    /// The SAN table (α, β, aggregation, filters).
    #[config(default = "TableConfig::new()")]
    pub table: TableConfig,
    /// Fine-grained distractors per query when the corpus has no ground truth.
    #[config(default = 40)]
    pub fine_grained_distractors: usize,
    /// Videos scored against the whole gallery at once during evaluation.
    #[config(default = 32)]
    pub eval_chunk: usize,
}
