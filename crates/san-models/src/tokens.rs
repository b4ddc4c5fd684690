//! Token sequences: what every encoder returns.

use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

/// A padded batch of L2-normalised tokens with its mask.
#[derive(Debug, Clone)]
pub struct Tokens<B: Backend> {
    /// `[B, N, D]`, each valid row L2-normalised.
    pub tokens: Tensor<B, 3>,
    /// `[B, N]`, true for real tokens.
    pub mask: Tensor<B, 2, Bool>,
}

impl<B: Backend> Tokens<B> {
    /// Masked mean of the tokens, L2-normalised: the pooled (global) embedding, `[B, D]`.
    pub fn pooled(&self) -> Tensor<B, 2> {
        let [b, n, d] = self.tokens.dims();
        let m = self.mask.clone().float().reshape([b, n, 1]); // [B, N, 1]
        let sum = (self.tokens.clone() * m.clone()).sum_dim(1); // [B, 1, D]
        let count = m.sum_dim(1).clamp_min(1.0); // [B, 1, 1]
        san_core::similarity::l2_normalize((sum / count).reshape([b, d]))
    }
}

/// `linear` applied to every token of `[B, N, I]` as one `[B·N, I]` matrix, giving
/// `[B, N, O]`. The same values as `linear.forward(x)`, but Burn 0.21 computes the weight
/// gradient of a 3-D input as one `[I, O]` product per batch row, summed afterwards
/// (B small matrix products and a `[B, I, O]` temporary); on rows it is one product.
pub fn linear_rows<B: Backend>(linear: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, n, i] = x.dims();
    let y = linear.forward(x.reshape([b * n, i]));
    let [_, o] = y.dims();
    y.reshape([b, n, o])
}
