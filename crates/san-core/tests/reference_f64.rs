//! The CLCL losses and gradients (DESIGN.md §3.1–3.2) in float64 against
//! `../shared/reference/clcl_losses.json` (PyTorch, float64), with tight bounds: only the
//! float32 read-back rounds. Skips, with a message, when the folder is absent.
//!
//! This binary makes float64 tensors only. Burn keeps one default float type per device
//! for the whole process, fixed by the first tensor made there, and `NdArray<f32>` and
//! `NdArray<f64>` share the CPU device: next to a float32 test this check ran in float32
//! whenever the other test happened to start first.

#![cfg(not(any(feature = "test-wgpu", feature = "test-cuda")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{FloatDType, IntDType};

type F64 = NdArray<f64>;

#[test]
fn clcl_losses_and_gradients_match_pytorch_in_float64() {
    // Fix the device's float type before anything else can; `Err` means it is already
    // fixed, and `check` then asserts that it is float64.
    let _ = burn::tensor::set_default_dtypes::<F64>(
        &Default::default(),
        FloatDType::F64,
        IntDType::I64,
    );
    let Some(doc) = common::reference("clcl_losses.json") else {
        return;
    };
    common::check::<Autodiff<F64>>(&doc, 1e-6, 1e-6);
}
