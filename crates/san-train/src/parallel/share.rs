//! A peer's share of a batch: its rows, its loss with every other peer's tokens gathered,
//! and its gradients summed over peers.

use std::ops::Range;

use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, ElementConversion, Int, Tensor, TensorData};
use san_core::loss::CoarseLossConfig;
use san_core::similarity::clcl_gallery;
use san_data::pose::StepLayout;
use san_models::retrieval::RetrievalModel;

use crate::config::TrainConfig;
use crate::error::Result;
use crate::eval::clip_tokens;
use crate::parallel::gather::gather_rows;
use crate::parallel::grads::all_reduce_grads;
use crate::parallel::link::PeerLink;
use crate::step::{StepBatch, fine_loss, loss_clcl};

/// Rows of peer `rank` when `n` items are split over `world` peers: the first `n % world`
/// peers take one item more. A peer past the items (`n < world`) gets an empty range.
pub fn share_rows(n: usize, world: usize, rank: usize) -> Range<usize> {
    let (base, extra) = (n / world, n % world);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// A peer's share of a batch: its rows of every tensor of a [`StepBatch`] (or row 0, as a
/// stand-in that fixes the shapes, when `rows` is empty), with the caption ids of the whole
/// batch.
#[derive(Debug, Clone)]
pub struct Share<B: Backend> {
    /// The rows; `text_ids` is the whole batch's.
    pub batch: StepBatch<B>,
    /// This peer's rows of the whole batch.
    pub rows: Range<usize>,
    /// Items in the whole batch.
    pub total: usize,
}

impl<B: Backend> Share<B> {
    /// Peer `rank`'s share of `batch` (split by [`share_rows`]).
    pub fn of(batch: &StepBatch<B>, world: usize, rank: usize) -> Self {
        let total = batch.clips.dims()[0];
        let rows = share_rows(total, world, rank);
        let take = if rows.is_empty() { 0..1 } else { rows.clone() };
        let b = batch.clone();
        Self {
            batch: StepBatch {
                clips: b.clips.slice(take.clone()),
                layout: b.layout,
                clip_mask: b.clip_mask.slice(take.clone()),
                tokens: b.tokens.slice(take.clone()),
                token_mask: b.token_mask.slice(take.clone()),
                text_ids: b.text_ids,
                candidates: b
                    .candidates
                    .map(|(ids, mask)| (ids.slice(take.clone()), mask.slice(take))),
            },
            rows,
            total,
        }
    }

    /// The share as host data, to hand to another peer's thread.
    pub fn to_host(self) -> HostShare {
        let b = self.batch;
        HostShare {
            clips: b.clips.into_data(),
            layout: b.layout,
            clip_mask: b.clip_mask.into_data(),
            tokens: b.tokens.into_data(),
            token_mask: b.token_mask.into_data(),
            text_ids: b.text_ids,
            candidates: b.candidates.map(|(i, m)| (i.into_data(), m.into_data())),
            rows: self.rows,
            total: self.total,
        }
    }
}

/// A [`Share`] on the host.
#[derive(Debug, Clone)]
pub struct HostShare {
    clips: TensorData,
    layout: StepLayout,
    clip_mask: TensorData,
    tokens: TensorData,
    token_mask: TensorData,
    text_ids: Vec<usize>,
    candidates: Option<(TensorData, TensorData)>,
    rows: Range<usize>,
    total: usize,
}

impl HostShare {
    /// The share on `device`.
    pub fn to_device<B: Backend>(self, device: &B::Device) -> Share<B> {
        Share {
            batch: StepBatch {
                clips: Tensor::from_data(self.clips, device),
                layout: self.layout,
                clip_mask: Tensor::<B, 2, Bool>::from_data(self.clip_mask, device),
                tokens: Tensor::<B, 2, Int>::from_data(self.tokens, device),
                token_mask: Tensor::<B, 2, Bool>::from_data(self.token_mask, device),
                text_ids: self.text_ids,
                candidates: self.candidates.map(|(i, m)| {
                    (
                        Tensor::<B, 3, Int>::from_data(i, device),
                        Tensor::<B, 3, Bool>::from_data(m, device),
                    )
                }),
            },
            rows: self.rows,
            total: self.total,
        }
    }
}

/// The loss a peer differentiates, and the part of the batch's loss value it accounts
/// for. The loss is the whole batch's coarse loss over the gathered tokens (through the
/// logit scale on peer 0 only) plus `λ · n_peer / N ·` the fine loss of the peer's own
/// items; the value is the coarse loss's on peer 0 plus the fine part on every peer, so
/// that the values summed over peers are the batch's loss. `None` for a peer without
/// items (it still joins the gather).
pub fn share_loss<B: AutodiffBackend>(
    model: &RetrievalModel<B>,
    share: Share<B>,
    config: &TrainConfig,
    link: &PeerLink,
) -> Result<Option<(Tensor<B, 1>, Tensor<B, 1>)>> {
    let clcl_cfg = loss_clcl(config);
    let Share { batch, rows, total } = share;
    let sign = clip_tokens(model, batch.clips, batch.clip_mask, batch.layout)?;
    let text = model.encode_text_tokens(batch.tokens, batch.token_mask);
    let [n, t, d] = sign.tokens.dims();
    let [_, l, _] = text.tokens.dims();
    let gathered = gather_rows(
        link,
        vec![
            sign.tokens.clone().reshape([n, t * d]),
            sign.mask.clone().float().reshape([n, t]),
            text.tokens.reshape([n, l * d]),
            text.mask.float().reshape([n, l]),
        ],
        rows.clone(),
        total,
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let [s_tok, s_mask, w_tok, w_mask]: [Tensor<B, 2>; 4] = match gathered.try_into() {
        Ok(a) => a,
        Err(_) => unreachable!("gather_rows returns one tensor per section"),
    };
    let scores = clcl_gallery(
        s_tok.reshape([total, t, d]),
        s_mask.greater_elem(0.5),
        w_tok.reshape([total, l, d]),
        w_mask.greater_elem(0.5),
        &clcl_cfg,
    );
    let scale = if link.rank == 0 {
        model.log_scale()
    } else {
        model.log_scale().detach()
    };
    let coarse = CoarseLossConfig::new()
        .with_mix(config.mining.coarse_mix)
        .forward(&scores, scale, &batch.text_ids);
    let mut loss = coarse.clone();
    let mut value = if link.rank == 0 {
        coarse.detach()
    } else {
        coarse.detach().mul_scalar(0.0)
    };
    if let Some(candidates) = batch.candidates {
        let weight = config.mining.lambda_fine * n as f64 / total as f64;
        let fine = fine_loss(model, sign, candidates, &clcl_cfg, weight);
        value = value + fine.clone().detach();
        loss = loss + fine;
    }
    Ok(Some((loss, value)))
}

/// This peer's gradients summed over all peers (exactly the one-device gradients of the
/// whole batch), and the batch's loss.
pub fn share_gradients<B: AutodiffBackend>(
    model: &RetrievalModel<B>,
    share: Share<B>,
    config: &TrainConfig,
    link: &PeerLink,
) -> Result<(GradientsParams, f64)> {
    let (grads, value) = match share_loss(model, share, config, link)? {
        Some((loss, value)) => (
            GradientsParams::from_grads(loss.backward(), model),
            value.into_scalar().elem::<f64>(),
        ),
        None => (GradientsParams::new(), 0.0),
    };
    let (grads, values) = all_reduce_grads(link, model, grads, &[value])?;
    Ok((grads, values.first().copied().unwrap_or(f64::NAN)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_evenly_with_the_remainder_first() {
        // 10 items over 4 peers: 3, 3, 2, 2 (hand arithmetic)
        let rows: Vec<_> = (0..4).map(|r| share_rows(10, 4, r)).collect();
        assert_eq!(rows, vec![0..3, 3..6, 6..8, 8..10]);
        // 2 items over 3 peers: the third has none
        assert_eq!(share_rows(2, 3, 2), 2..2);
        assert_eq!(share_rows(5, 1, 0), 0..5);
    }
}
