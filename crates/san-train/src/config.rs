//! The training configuration: model, batching, both stages, mining and evaluation.
//! Saved as `config.json` beside the run's outputs.

use burn::config::Config;
use san_core::mining::TableConfig;
use san_data::batch::BatcherConfig;

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

/// The whole two-stage SAN protocol (`DESIGN.md` §3.6).
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Random seed (model init, shuffling, sampling, substitution).
    #[config(default = 7)]
    pub seed: u64,
    /// Hidden width of the pose encoder.
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
    #[config(default = "SelectionMetric::CoarseAndFineGrainedR1")]
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
