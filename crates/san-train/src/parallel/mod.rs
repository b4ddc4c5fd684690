//! Data-parallel training: one global batch split over peers (devices of this machine,
//! threads of this process, and optionally several machines), with exactly the gradients of
//! the whole batch on one device.
//!
//! Each peer encodes its share of the batch ([`share`]). It gathers every other peer's clip
//! and word tokens **without gradient** and puts its own (with gradient) in its slot
//! ([`gather`]), so its loss is the whole batch's coarse loss: every clip against every
//! caption. The gradient of that loss with respect to the peer's own embeddings is the
//! whole batch's gradient with respect to them, so summing the parameter gradients over
//! peers ([`grads`]) gives the one-device gradient of the whole batch. Two details make it
//! exact: the learnable logit scale sees the whole coarse loss on every peer, so only peer
//! 0 differentiates the coarse loss through it; and the fine loss, a mean over each item's
//! own hard captions, is normalised by the global batch (each peer's mean times
//! `n_peer / N`). Hard captions are never gathered: an item's fine loss involves only its
//! own clip and captions.
//!
//! The collectives are Burn's (`burn-collective` 0.21): an all-gather is an all-reduce (sum)
//! of a zero vector with the peer's slot filled in. One step makes two all-reduces: the
//! tokens (one flat vector), then the gradients, their presence flags and the loss (one
//! flat vector). [`peers`] runs the peers of this machine as threads; peer 0 runs the
//! protocol (data, evaluation, tables, checkpoints) and hands each other peer its share.

pub mod gather;
pub mod grads;
pub mod link;
pub mod peers;
pub mod share;
pub mod traffic;

pub use link::{GlobalPeers, ParallelOptions, PeerLink};
pub use traffic::{StepTraffic, trainable_parameters};
