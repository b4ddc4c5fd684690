//! The SAN fine-grained loss (Lee et al., ACL 2026; `DESIGN.md` §3.2): a V2T InfoNCE over
//! the true caption and its sign-aware hard negatives.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, activation::log_softmax};

/// `L_fine = mean_i CE(exp(λ_s) · [z_v2t(v_i, c_i), z_v2t(v_i, h_i1), …, z_v2t(v_i, h_iK)], 0)`.
///
/// # Shapes
/// - `v2t`: `[N, 1 + K]`, column 0 the true caption (see
///   [`clcl_candidates`](crate::similarity::clcl_candidates))
/// - `log_scale`: `[1]`
/// - output: `[1]`
pub fn san_fine_loss<B: Backend>(v2t: Tensor<B, 2>, log_scale: Tensor<B, 1>) -> Tensor<B, 1> {
    let [n, k1] = v2t.dims();
    assert!(
        k1 >= 2,
        "SAN fine loss needs at least one hard negative, got {k1} columns"
    );
    let logits = v2t * log_scale.exp().reshape([1, 1]); // [N, 1+K]
    let logp = log_softmax(logits, 1);
    let target = Tensor::<B, 2, Int>::zeros([n, 1], &logp.device());
    logp.gather(1, target).mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    use crate::test_backend::B;

    #[test]
    fn matches_hand_computation() {
        // Row [1, 0, 0] at scale 1: -log(e / (e + 2)) = 0.551445 (hand arithmetic).
        let dev = Default::default();
        let z = Tensor::<B, 2>::from_data(TensorData::from([[1.0f32, 0.0, 0.0]]), &dev);
        let l = san_fine_loss(z, Tensor::zeros([1], &dev)).into_scalar();
        let e = std::f32::consts::E;
        assert!((l + (e / (e + 2.0)).ln()).abs() < 1e-6);
    }
}
