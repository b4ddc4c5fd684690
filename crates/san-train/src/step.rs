//! One optimisation step (`DESIGN.md` §3.2): the batch on the device, its loss (coarse
//! InfoNCE plus `λ·` the SAN fine loss over hard captions), the backward pass, clipping and
//! the optimiser's update.

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, ElementConversion, Int, Tensor};
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::similarity::{ClclConfig, clcl_candidates_with, clcl_gallery};
use san_data::pose::StepLayout;
use san_models::retrieval::RetrievalModel;
use san_models::tokens::Tokens;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::eval::clip_tokens;
use crate::groups::gradient_groups;
use crate::schedule::clip_grad_norm;

/// One training batch on the device, as [`train_step`] takes it.
#[derive(Debug, Clone)]
pub struct StepBatch<B: Backend> {
    /// The clips, `[N, T, F]` (pose features, clip features or flattened frames).
    pub clips: Tensor<B, 3>,
    /// How each step's `F` values are laid out (images for frame input).
    pub layout: StepLayout,
    /// `[N, T]`, true for real clips.
    pub clip_mask: Tensor<B, 2, Bool>,
    /// Word ids of the captions, `[N, L]`.
    pub tokens: Tensor<B, 2, Int>,
    /// `[N, L]`, true for real words.
    pub token_mask: Tensor<B, 2, Bool>,
    /// Id of each caption's normalised text (equal ids are duplicates), length N.
    pub text_ids: Vec<usize>,
    /// Stage 2: each item's own caption followed by its K hard captions, as word ids
    /// `[N, 1+K, L']` and mask `[N, 1+K, L']`; `None` trains the coarse loss only.
    pub candidates: Option<(Tensor<B, 3, Int>, Tensor<B, 3, Bool>)>,
}

/// The training loss of one batch (`DESIGN.md` §3.2): coarse InfoNCE over the batch's CLCL
/// scores, plus `λ_fine ·` the SAN fine loss over the candidates when the batch has them.
pub fn step_loss<B: Backend>(
    model: &RetrievalModel<B>,
    batch: StepBatch<B>,
    config: &TrainConfig,
) -> Result<Tensor<B, 1>> {
    let clcl_cfg = loss_clcl(config);
    let sign = clip_tokens(model, batch.clips, batch.clip_mask, batch.layout)?;
    let text = model.encode_text_tokens(batch.tokens, batch.token_mask);
    let scores = clcl_gallery(
        sign.tokens.clone(),
        sign.mask.clone(),
        text.tokens,
        text.mask,
        &clcl_cfg,
    );
    let mut loss = CoarseLossConfig::new()
        .with_mix(config.mining.coarse_mix)
        .forward(&scores, model.log_scale(), &batch.text_ids);
    if let Some(candidates) = batch.candidates {
        loss = loss
            + fine_loss(
                model,
                sign,
                candidates,
                &clcl_cfg,
                config.mining.lambda_fine,
            );
    }
    Ok(loss)
}

/// The CLCL settings of the training loss (`model.tau_tok`, `model.token_padding`). The
/// default chunk (16 videos) keeps each temporary of the batch similarity small enough for
/// the allocator to reuse, which is faster than one batch-sized chunk on the CPU.
pub(crate) fn loss_clcl(config: &TrainConfig) -> ClclConfig {
    ClclConfig::new()
        .with_tau_tok(config.model.tau_tok)
        .with_padding(config.model.token_padding)
}

/// `weight ·` the SAN fine loss of items' clip tokens against their own caption and hard
/// captions (`DESIGN.md` §3.2).
///
/// # Shapes
/// - `sign`: tokens `[N, T, D]`, mask `[N, T]`
/// - `candidates`: word ids `[N, 1+K, L]` and mask `[N, 1+K, L]`
pub(crate) fn fine_loss<B: Backend>(
    model: &RetrievalModel<B>,
    sign: Tokens<B>,
    (ids, mask): (Tensor<B, 3, Int>, Tensor<B, 3, Bool>),
    clcl_cfg: &ClclConfig,
    weight: f64,
) -> Tensor<B, 1> {
    let [n, k1, l] = ids.dims();
    let caps = model.encode_text_tokens(ids.reshape([n * k1, l]), mask.reshape([n * k1, l]));
    let d = caps.tokens.dims()[2];
    let cand = clcl_candidates_with(
        sign.tokens,
        sign.mask,
        caps.tokens.reshape([n, k1, l, d]),
        caps.mask.reshape([n, k1, l]),
        clcl_cfg,
    );
    san_fine_loss(cand.v2t, model.log_scale()).mul_scalar(weight)
}

/// `value`, or [`TrainError::NonFiniteLoss`] (stage and step 0: the stage loop fills them
/// in) when it is not finite.
pub(crate) fn finite_loss(value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(TrainError::NonFiniteLoss {
            value,
            stage: 0,
            step: 0,
        })
    }
}

/// The trainer's AdamW (`config.optimizer.weight_decay`; Burn's defaults β = (0.9, 0.999), ε = 1e-5).
pub fn adamw<B: AutodiffBackend>(
    config: &TrainConfig,
) -> OptimizerAdaptor<AdamW, RetrievalModel<B>, B> {
    AdamWConfig::new()
        .with_weight_decay(config.optimizer.weight_decay)
        .init::<B, RetrievalModel<B>>()
}

/// The trainer's SGD (`optimizer.momentum`, dampening 0, L2 `optimizer.weight_decay`).
pub fn sgd<B: AutodiffBackend>(
    config: &TrainConfig,
) -> OptimizerAdaptor<Sgd<B::InnerBackend>, RetrievalModel<B>, B> {
    let o = &config.optimizer;
    SgdConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(o.weight_decay)))
        .with_momentum(Some(MomentumConfig::new().with_momentum(o.momentum)))
        .init::<B, RetrievalModel<B>>()
}

/// One optimiser step: [`step_loss`], its backward pass, gradient clipping
/// (`config.optimizer.grad_clip_norm`) and `optim`'s update at learning rate `lr`, times
/// each parameter group's multiplier ([`gradient_groups`]). Returns the updated model and
/// the batch's loss; a non-finite loss is [`TrainError::NonFiniteLoss`] (stage and step 0:
/// the stage loop fills them in) and leaves no update.
pub fn train_step<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    model: RetrievalModel<B>,
    optim: &mut O,
    batch: StepBatch<B>,
    config: &TrainConfig,
    lr: f64,
) -> Result<(RetrievalModel<B>, f64)> {
    let loss = step_loss(&model, batch, config)?;
    let value = finite_loss(loss.clone().into_scalar().elem::<f64>())?;
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    Ok((apply_gradients(model, optim, grads, config, lr), value))
}

/// The update of one step from its gradients: clipping (`config.optimizer.grad_clip_norm`)
/// and `optim`'s step at learning rate `lr` times each parameter group's multiplier
/// ([`gradient_groups`]).
pub fn apply_gradients<B: AutodiffBackend, O: Optimizer<RetrievalModel<B>, B>>(
    model: RetrievalModel<B>,
    optim: &mut O,
    mut grads: GradientsParams,
    config: &TrainConfig,
    lr: f64,
) -> RetrievalModel<B> {
    if let Some(max_norm) = config.optimizer.grad_clip_norm {
        clip_grad_norm(&model, &mut grads, max_norm);
    }
    let mut model = model;
    for (rate, group) in gradient_groups(&model, grads, config) {
        if !group.is_empty() {
            model = optim.step(lr * rate, model, group);
        }
    }
    model
}

/// Optimiser steps in one epoch of `n` training pairs: full batches, and a last partial
/// batch unless it holds a single pair (which is skipped). With mined neighbours the
/// batches differ, but their count is the same.
pub fn steps_per_epoch(n: usize, batch_size: usize) -> usize {
    let b = batch_size.max(2);
    n / b + usize::from(n % b >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_per_epoch_counts_partial_batches_of_two_or_more() {
        // 100 pairs in 32s: 3 full + 4 left → 4; 97: 3 full + 1 left (skipped) → 3
        assert_eq!(steps_per_epoch(100, 32), 4);
        assert_eq!(steps_per_epoch(97, 32), 3);
        assert_eq!(steps_per_epoch(96, 32), 3);
        assert_eq!(steps_per_epoch(5, 1), 2); // batch size 1 is raised to 2: 2 + 2, last 1 skipped
    }
}
