//! The CPU backend as the facade builds it computes what it is asked to.

use burn::tensor::{Tensor, TensorData};

type B = san::backend::Cpu;

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

/// burn-ndarray 0.21 with its `simd` feature (one of Burn's default features) computes its
/// SIMD unary ops (`recip` of f32, `abs`) on a *shared* tensor whose layout is not
/// row-major (a transpose still referenced elsewhere) into a fresh row-major array in the
/// input's memory order, so from 32 elements on the result comes back transposed
/// (tracel-ai/burn#5552). In training this silently corrupts gradients: autodiff keeps
/// such tensors for the backward pass, and a division's gradient takes a `recip`. The
/// facade therefore builds burn-ndarray without `simd`; this test fails if that changes.
#[test]
fn unary_ops_keep_the_layout_of_shared_transposed_tensors() {
    let dev = Default::default();
    let x = Tensor::<B, 2>::from_data(
        TensorData::new((0..64).map(|i| i as f32 / 64.0).collect(), [8, 8]),
        &dev,
    );
    let x = x.add_scalar(0.5);
    let t = x.clone().transpose();
    let _still_used = t.clone(); // keeps `t` shared, as autodiff does
    let want_recip = values(x.clone().recip().transpose());
    let want_abs = values(x.clone().neg().abs().transpose());
    assert_eq!(
        values(t.clone().recip()),
        want_recip,
        "recip of a shared transpose"
    );
    let n = t.clone().neg();
    let _n_still_used = n.clone();
    assert_eq!(values(n.abs()), want_abs, "abs of a shared transpose");
}
