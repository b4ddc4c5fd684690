//! Summing parameter gradients over peers in one all-reduce, with a presence flag per
//! parameter (a parameter that no peer's loss reached keeps no gradient, as on one device,
//! so the optimiser leaves it untouched) and a few extra scalars (the loss) riding along.

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use crate::error::{Result, TrainError};
use crate::parallel::link::PeerLink;

/// `grads` summed over all peers, and `extra` summed likewise. Every peer must pass the same
/// model structure (the same parameters in the same order); the gradients come back on each
/// parameter's device.
pub fn all_reduce_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    link: &PeerLink,
    model: &M,
    grads: GradientsParams,
    extra: &[f64],
) -> Result<(GradientsParams, Vec<f64>)> {
    if link.world == 1 {
        return Ok((grads, extra.to_vec()));
    }
    struct Flatten<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        pieces: Vec<Tensor<B::InnerBackend, 1>>,
        flags: Vec<f64>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if !param.is_require_grad() {
                return;
            }
            let value = param.val();
            let n = value.shape().num_elements();
            match self.grads.get::<B::InnerBackend, D>(param.id) {
                Some(g) => {
                    self.pieces.push(g.reshape([n]));
                    self.flags.push(1.0);
                }
                None => {
                    self.pieces.push(Tensor::zeros([n], &value.device()));
                    self.flags.push(0.0);
                }
            }
        }
    }
    let mut flat = Flatten::<B> {
        grads: &grads,
        pieces: Vec::new(),
        flags: Vec::new(),
    };
    model.visit(&mut flat);
    let Flatten { pieces, flags, .. } = flat;
    let Some(first) = pieces.first() else {
        return Ok((grads, extra.to_vec()));
    };
    let device = first.device();
    let sizes: Vec<usize> = pieces.iter().map(|p| p.dims()[0]).collect();
    let tail: Vec<f64> = flags.iter().copied().chain(extra.iter().copied()).collect();
    let tail_len = tail.len();
    let mut all = pieces;
    all.push(Tensor::from_data(
        TensorData::new(tail, [tail_len]),
        &device,
    ));
    let summed = link.sum(Tensor::cat(all, 0))?;
    let total: usize = sizes.iter().sum();
    let tail = summed
        .clone()
        .slice(total..total + tail_len)
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .map_err(|e| TrainError::Collective {
            rank: link.rank,
            problem: format!("reading the summed flags back: {e:?}"),
        })?;
    let (flags, extra) = tail.split_at(flags.len());

    struct Unflatten<'a, B: AutodiffBackend> {
        summed: Tensor<B::InnerBackend, 1>,
        flags: &'a [f64],
        at: usize,
        index: usize,
        out: GradientsParams,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Unflatten<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if !param.is_require_grad() {
                return;
            }
            let dims = param.val().dims();
            let n: usize = dims.iter().product();
            if self.flags[self.index] > 0.0 {
                let g = self
                    .summed
                    .clone()
                    .slice(self.at..self.at + n)
                    .reshape(dims);
                register(&mut self.out, param.id, g);
            }
            self.at += n;
            self.index += 1;
        }
    }
    fn register<B: burn::tensor::backend::Backend, const D: usize>(
        out: &mut GradientsParams,
        id: ParamId,
        g: Tensor<B, D>,
    ) {
        out.register(id, g);
    }
    let mut un = Unflatten::<B> {
        summed,
        flags,
        at: 0,
        index: 0,
        out: GradientsParams::new(),
    };
    model.visit(&mut un);
    Ok((un.out, extra.to_vec()))
}

/// One value per trainable parameter (the sum of its elements), for checking that peers
/// hold the same parameters.
pub fn fingerprint<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> Vec<f64> {
    struct Sums<B: AutodiffBackend> {
        sums: Vec<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Sums<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.sums.push(param.val().inner().sum());
        }
    }
    let mut s = Sums::<B> { sums: Vec::new() };
    model.visit(&mut s);
    if s.sums.is_empty() {
        return Vec::new();
    }
    Tensor::cat(s.sums, 0)
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .unwrap_or_default()
}

/// Checks that every peer holds the same parameters as peer 0: each peer's
/// [`fingerprint`] is gathered (its slot of a zero matrix, summed) and compared with peer
/// 0's, to a relative `1e-6` (the sums are reductions, which a GPU may order differently).
pub fn check_in_sync<B: AutodiffBackend, M: AutodiffModule<B>>(
    link: &PeerLink,
    model: &M,
    device: &B::Device,
) -> Result<()> {
    if link.world == 1 {
        return Ok(());
    }
    let own = fingerprint::<B, M>(model);
    let p = own.len();
    let mut slot = vec![0.0; p * link.world];
    slot[link.rank * p..(link.rank + 1) * p].copy_from_slice(&own);
    let all = link
        .sum(Tensor::<B::InnerBackend, 1>::from_data(
            TensorData::new(slot, [p * link.world]),
            device,
        ))?
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .map_err(|e| TrainError::Collective {
            rank: link.rank,
            problem: format!("reading the fingerprints back: {e:?}"),
        })?;
    let zero = &all[..p];
    for peer in 1..link.world {
        let other = &all[peer * p..(peer + 1) * p];
        for (i, (a, b)) in zero.iter().zip(other).enumerate() {
            if (a - b).abs() > 1e-6 * a.abs().max(b.abs()).max(1.0) || !b.is_finite() {
                return Err(TrainError::Collective {
                    rank: peer,
                    problem: format!(
                        "its parameters differ from peer 0's (parameter {i}: sum {b} against {a}); the peers are out of step"
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::nn::{Linear, LinearConfig};

    // f32: in this test binary ndarray's default float type is f32 (Burn fixes it per
    // device type at the first tensor), so an f64 ndarray would compute in f32 anyway.
    type AD = Autodiff<NdArray<f32>>;

    #[test]
    fn one_peer_keeps_its_gradients_and_extras() {
        let device = Default::default();
        let layer: Linear<AD> = LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<AD, 2>::ones([1, 2], &device);
        let grads = GradientsParams::from_grads(layer.forward(x).sum().backward(), &layer);
        let (out, extra) = all_reduce_grads(&PeerLink::single(), &layer, grads, &[1.5]).unwrap();
        assert_eq!(extra, vec![1.5]);
        // d/dW Σ(xW + b) with x = [1, 1]: ones (hand arithmetic)
        let g = out
            .get::<NdArray<f32>, 2>(layer.weight.id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(g, vec![1.0, 1.0]);
        assert_eq!(fingerprint::<AD, _>(&layer).len(), 2);
    }
}
