//! Optimisation settings of a stage: the optimiser, the learning-rate schedule and
//! gradient clipping by global norm.

use burn::config::Config;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

/// The optimiser.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay), β = (0.9, 0.999), ε = 1e-5: Burn's defaults.
    AdamW,
    /// SGD with momentum (`TrainConfig::momentum`, dampening 0) and L2 weight decay.
    Sgd,
}

/// How the learning rate moves within a stage. Each stage starts its schedule afresh.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum LrSchedule {
    /// The base rate at every step (after the warm-up).
    Constant,
    /// Cosine decay from the base rate to `min_lr_ratio` times it at the stage's last
    /// step (after the warm-up).
    Cosine,
}

/// The learning rate at `step` (0-based) of a stage of `total` steps: a linear warm-up
/// over the first `warmup` steps to `base` (step `s` gets `base·(s+1)/warmup`), then the
/// schedule over the remaining steps.
pub fn learning_rate(
    schedule: LrSchedule,
    base: f64,
    min_lr_ratio: f64,
    warmup: usize,
    step: usize,
    total: usize,
) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    match schedule {
        LrSchedule::Constant => base,
        LrSchedule::Cosine => {
            let span = total.saturating_sub(warmup).saturating_sub(1).max(1);
            let progress = ((step - warmup) as f64 / span as f64).min(1.0);
            let floor = base * min_lr_ratio;
            floor + 0.5 * (base - floor) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// Scales every gradient of `module` by `max_norm / ‖g‖` when the global L2 norm `‖g‖`
/// over all of them exceeds `max_norm` (PyTorch's `clip_grad_norm_`; Burn's own clipping
/// works per tensor). Returns `‖g‖` before clipping.
pub fn clip_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    struct SumSquares<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        total: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for SumSquares<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let s = g.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + s,
                    None => s,
                });
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut sum = SumSquares::<B> { grads, total: None };
    module.visit(&mut sum);
    // one read-back for the whole model
    let norm = sum
        .total
        .map_or(0.0, |t| t.into_scalar().elem::<f64>())
        .sqrt();
    if norm > max_norm && norm > 0.0 {
        let mut scale = Scale {
            grads,
            factor: max_norm / norm,
        };
        module.visit(&mut scale);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::TensorData;

    #[test]
    fn warm_up_then_cosine_by_hand() {
        let lr = |step| learning_rate(LrSchedule::Cosine, 1.0, 0.1, 2, step, 7);
        // warm-up: 1/2, 2/2; then cosine over steps 2..=6 (span 4): progress 0, ¼, ½, ¾, 1
        // → 0.1 + 0.45·(1 + cos(π·p)): 1, 0.1 + 0.45·1.70711 = 0.868198, 0.55,
        //   0.1 + 0.45·0.29289 = 0.231802, 0.1
        let want = [0.5, 1.0, 1.0, 0.868_198, 0.55, 0.231_802, 0.1];
        for (step, w) in want.iter().enumerate() {
            assert!(
                (lr(step) - w).abs() < 1e-6,
                "step {step}: {} vs {w}",
                lr(step)
            );
        }
        // past the end it stays at the floor
        assert!((lr(9) - 0.1).abs() < 1e-12);
        assert_eq!(learning_rate(LrSchedule::Constant, 0.3, 0.1, 0, 5, 7), 0.3);
        assert_eq!(learning_rate(LrSchedule::Constant, 0.3, 0.1, 4, 1, 7), 0.15);
    }

    #[test]
    fn clipping_scales_all_gradients_by_the_global_norm() {
        type AD = Autodiff<NdArray<f32>>;
        let dev = Default::default();
        let mut lin: Linear<AD> = LinearConfig::new(2, 1).init(&dev);
        lin.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.0f32, 0.0], [2, 1]),
            &dev,
        ));
        lin.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.0f32], [1]),
            &dev,
        )));
        // loss = y for x = (3, 4): dW = (3, 4), db = 1; global norm √26 = 5.0990195
        let x = Tensor::<AD, 2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &dev);
        let grads = lin.forward(x).sum().backward();
        let mut grads = GradientsParams::from_grads(grads, &lin);
        let norm = clip_grad_norm(&lin, &mut grads, 1.0);
        assert!((norm - 26f64.sqrt()).abs() < 1e-5, "{norm}");
        let w: Vec<f32> = grads
            .get::<NdArray<f32>, 2>(lin.weight.id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let b: Vec<f32> = grads
            .get::<NdArray<f32>, 1>(lin.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let s = 1.0 / 26f32.sqrt();
        assert!(
            (w[0] - 3.0 * s).abs() < 1e-6 && (w[1] - 4.0 * s).abs() < 1e-6,
            "{w:?}"
        );
        assert!((b[0] - s).abs() < 1e-6, "{b:?}");
        // below the bound nothing changes
        let norm2 = clip_grad_norm(&lin, &mut grads, 10.0);
        assert!((norm2 - 1.0).abs() < 1e-5, "{norm2}");
    }
}
