//! Dropout whose mask is drawn by the backend or, in bulk, on the host.
//!
//! Burn 0.21's [`Dropout`] draws its mask with `Tensor::random_like(Bernoulli)`. On the CPU
//! backends that samples every element on one thread through a ChaCha generator and a
//! per-element Bernoulli sampler: about 15% of a training step at the trainer's default
//! clip-feature model (B = 32, T = 64, width 256; `perf`, burn-flex). With
//! [`DropoutMasks::Host`] the mask is instead drawn by a PCG generator on the host and
//! uploaded as one tensor. That is the faster choice on a CPU backend, where "upload" is a
//! copy; on a GPU the backend's own sampler is, so the caller chooses (the binaries pick
//! `Host` for `--device cpu`), never the backend's name.
//!
//! Both choices keep runs reproducible from `B::seed`: the host generator is seeded from
//! four values of the backend's own generator, drawn at each call.

use std::sync::atomic::{AtomicU8, Ordering};

use burn::nn::Dropout;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::Rng;
use serde::{Deserialize, Serialize};

/// Where dropout masks are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DropoutMasks {
    /// Burn's own [`Dropout::forward`] (`random_like` on the backend).
    #[default]
    Backend,
    /// On the host in bulk, then uploaded: faster on CPU backends.
    Host,
}

static MASKS: AtomicU8 = AtomicU8::new(0);

/// Sets where every san-models dropout draws its masks, for the whole process (like
/// `B::seed`, this is process state: one process trains on one kind of device).
pub fn set_dropout_masks(masks: DropoutMasks) {
    MASKS.store(masks as u8, Ordering::Relaxed);
}

/// Runs `job` with `masks` as the process-wide choice, then restores the previous choice
/// (also when `job` panics), so a job run inside a larger process (a test, a notebook
/// binding) leaves no setting behind.
pub fn with_dropout_masks<R>(masks: DropoutMasks, job: impl FnOnce() -> R) -> R {
    struct Restore(DropoutMasks);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_dropout_masks(self.0);
        }
    }
    let _restore = Restore(dropout_masks());
    set_dropout_masks(masks);
    job()
}

/// The current choice of [`set_dropout_masks`] (`Backend` unless set).
pub fn dropout_masks() -> DropoutMasks {
    match MASKS.load(Ordering::Relaxed) {
        1 => DropoutMasks::Host,
        _ => DropoutMasks::Backend,
    }
}

/// `module`'s dropout of `x`, with its mask drawn where [`dropout_masks`] says. As
/// [`Dropout::forward`]: the identity without autodiff or at probability 0; otherwise each
/// element is kept with probability `1 − p` and scaled by `1 / (1 − p)` (all zeros at
/// `p = 1`).
///
/// # Shapes
/// - `x`: any; the result has the same shape.
pub fn dropout<B: Backend, const D: usize>(module: &Dropout, x: Tensor<B, D>) -> Tensor<B, D> {
    dropout_with(module, x, dropout_masks())
}

/// [`dropout`] with the masks' source given.
pub fn dropout_with<B: Backend, const D: usize>(
    module: &Dropout,
    x: Tensor<B, D>,
    masks: DropoutMasks,
) -> Tensor<B, D> {
    if !B::ad_enabled(&x.device()) || module.prob == 0.0 {
        return x;
    }
    match masks {
        DropoutMasks::Backend => module.forward(x),
        DropoutMasks::Host => {
            let device = x.device();
            let shape = x.shape();
            let Some(seed) = backend_seed::<B>(&device) else {
                return module.forward(x);
            };
            let mask = host_mask(shape.num_elements(), 1.0 - module.prob, seed);
            x * Tensor::from_data(TensorData::new(mask, shape), &device)
        }
    }
}

/// A 64-bit seed from four uniform draws of the backend's generator (their bit patterns,
/// mixed), or `None` if the values cannot be read back.
fn backend_seed<B: Backend>(device: &B::Device) -> Option<u64> {
    let draws = Tensor::<B, 1>::random([4], Distribution::Uniform(0.0, 1.0), device);
    let values = draws.into_data().convert::<f32>().to_vec::<f32>().ok()?;
    Some(values.iter().fold(0x9E37_79B9_7F4A_7C15_u64, |h, v| {
        (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01B3)
    }))
}

/// `n` mask values: `1 / keep` with probability `keep`, else 0 (all 0 when `keep` is 0).
/// Each 64-bit draw decides two elements by its two 32-bit halves.
fn host_mask(n: usize, keep: f64, seed: u64) -> Vec<f32> {
    let mut rng = Pcg64Mcg::new(u128::from(seed) | 1);
    // An element is kept when its 32-bit draw is below keep · 2³².
    let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
    let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
    let value = |bits: u64| if bits < threshold { scale } else { 0.0 };
    let mut mask = Vec::with_capacity(n);
    while mask.len() + 2 <= n {
        let r = rng.next_u64();
        mask.push(value(r & 0xFFFF_FFFF));
        mask.push(value(r >> 32));
    }
    if mask.len() < n {
        mask.push(value(rng.next_u64() & 0xFFFF_FFFF));
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::B;
    use burn::backend::Autodiff;
    use burn::nn::DropoutConfig;

    type AD = Autodiff<B>;

    #[test]
    fn host_mask_keeps_the_asked_fraction_with_the_scale() {
        // keep 0.9: values are 1/0.9 or 0. Over 1e6 draws the kept fraction has standard
        // deviation √(0.9·0.1/1e6) = 3e-4 (binomial, hand arithmetic); allow 5σ.
        let mask = host_mask(1_000_001, 0.9, 42);
        assert_eq!(mask.len(), 1_000_001);
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.9).abs() < 1.5e-3, "kept {kept}");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.9).abs() < 1e-6)
        );
        // The same seed, the same mask; another seed, another.
        assert_eq!(host_mask(1000, 0.5, 7), host_mask(1000, 0.5, 7));
        assert_ne!(host_mask(1000, 0.5, 7), host_mask(1000, 0.5, 8));
        // keep 1: every value 1; keep 0: every value 0.
        assert!(host_mask(33, 1.0, 1).iter().all(|&m| m == 1.0));
        assert!(host_mask(33, 0.0, 1).iter().all(|&m| m == 0.0));
    }

    #[test]
    fn host_masks_change_per_call_and_keep_inference_exact() {
        // That `B::seed` decides the host mask is checked in `tests/dropout_seed.rs`, a
        // binary of its own: here, other tests draw from the process-wide generator
        // between a seed and a draw.
        let device = Default::default();
        let module = DropoutConfig::new(0.25).init();
        let x = Tensor::<AD, 2>::ones([64, 64], &device);
        let host = |x| dropout_with(&module, x, DropoutMasks::Host).into_data();
        let b = host(x.clone());
        let c = host(x.clone());
        assert_ne!(b, c, "each call draws a new mask");
        // Without autodiff (inference) dropout is the identity.
        let y = Tensor::<B, 2>::ones([4, 4], &device);
        let same = dropout_with(&module, y.clone(), DropoutMasks::Host).into_data();
        assert_eq!(same, y.into_data());
        // The process-wide choice is Backend unless a binary sets it (no test sets it, so
        // tests running in parallel never see it change).
        assert_eq!(dropout_masks(), DropoutMasks::Backend);
    }
}
