//! What one data-parallel step moves between peers, to size a cluster.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The two all-reduces of one step, in 32-bit floats: every peer contributes and receives
/// vectors of these lengths, whatever the number of peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTraffic {
    /// The gathered tokens: clip tokens, their mask, word tokens, their mask, for the
    /// whole batch.
    pub token_floats: usize,
    /// Every trainable parameter's gradient, one presence flag per parameter tensor, and
    /// the loss.
    pub gradient_floats: usize,
}

impl StepTraffic {
    /// A batch of `batch` items with `clip_tokens` clip tokens and `words` word slots each
    /// (after padding), tokens of dimension `dim`, and a model of `trainable` parameter
    /// values in `tensors` tensors.
    pub fn new(
        batch: usize,
        clip_tokens: usize,
        words: usize,
        dim: usize,
        (trainable, tensors): (usize, usize),
    ) -> Self {
        Self {
            token_floats: batch * (clip_tokens * dim + clip_tokens + words * dim + words),
            gradient_floats: trainable + tensors + 1,
        }
    }

    /// Bytes all-reduced per step (both vectors).
    pub fn bytes(&self) -> usize {
        4 * (self.token_floats + self.gradient_floats)
    }

    /// Bytes each peer sends per step in a ring all-reduce over `world` peers (the
    /// bandwidth-optimal schedule, Burn's default across machines): `2 (W − 1) / W` times
    /// [`bytes`](Self::bytes).
    pub fn ring_bytes_per_peer(&self, world: usize) -> f64 {
        let w = world.max(1) as f64;
        2.0 * (w - 1.0) / w * self.bytes() as f64
    }
}

/// Trainable parameter values of `module`, and the tensors holding them (on an autodiff
/// backend: elsewhere no parameter requires a gradient).
pub fn trainable_parameters<B: Backend, M: Module<B>>(module: &M) -> (usize, usize) {
    struct Count(usize, usize);
    impl<B: Backend> ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if param.is_require_grad() {
                self.0 += param.val().shape().num_elements();
                self.1 += 1;
            }
        }
    }
    let mut c = Count(0, 0);
    module.visit(&mut c);
    (c.0, c.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::nn::LinearConfig;

    #[test]
    fn traffic_counts_tokens_masks_gradients_and_flags() {
        // 2 items × (3·4 + 3 + 5·4 + 5) = 2 × 40 = 80 token floats; 100 + 2 + 1 = 103
        // gradient floats; 4 · 183 = 732 bytes (hand arithmetic)
        let t = StepTraffic::new(2, 3, 5, 4, (100, 2));
        assert_eq!(
            (t.token_floats, t.gradient_floats, t.bytes()),
            (80, 103, 732)
        );
        // ring over 4 peers: 2 · 3/4 · 732 = 1098 bytes sent per peer
        assert_eq!(t.ring_bytes_per_peer(4), 1098.0);
        assert_eq!(t.ring_bytes_per_peer(1), 0.0);
        // Linear 3 → 2 with bias: 6 + 2 values in 2 tensors (trainable on an autodiff
        // backend only)
        type AD = Autodiff<NdArray<f32>>;
        let layer = LinearConfig::new(3, 2).init::<AD>(&Default::default());
        assert_eq!(trainable_parameters::<AD, _>(&layer), (8, 2));
    }
}
