//! Where tensors and host slices meet: every copy of a backend tensor to host memory in
//! SAN goes through these two functions (scores for ranking, features for tables and
//! mining). The host kernels of [`crate::cpu`] and the metrics take the slices they return.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// Copies a float tensor to a row-major `Vec<f32>`.
///
/// The tensor first goes through one element-wise operation, which gives the backend a
/// fresh buffer it owns alone: burn-ndarray copies a buffer that is still shared with a
/// clone one element at a time through a dynamic-rank iterator (about 40 ns per element),
/// while an unshared buffer moves out without a copy.
///
/// # Panics
/// Only if the backend breaks its own dtype contract (conversion to f32 always exists).
pub fn to_vec_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.mul_scalar(1.0)
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_else(|e| panic!("backend returned data not convertible to f32: {e:?}"))
}

/// Copies an int tensor to a row-major `Vec<i64>`.
///
/// # Panics
/// Only if the backend breaks its own dtype contract.
pub fn to_vec_i64<B: Backend, const D: usize>(t: Tensor<B, D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .unwrap_or_else(|e| panic!("backend returned data not convertible to i64: {e:?}"))
}
