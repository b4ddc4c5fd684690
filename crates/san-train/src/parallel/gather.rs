//! All-gather through all-reduce: each peer contributes a zero vector with its own rows
//! filled in, and the sum is every peer's rows. Own rows keep their gradient; the others'
//! come back as constants.

use std::ops::Range;

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::error::Result;
use crate::parallel::link::PeerLink;

/// Gathers row blocks from every peer: each section is this peer's rows `[n, k]`
/// (flattened per row), and the result is the same section for the whole batch,
/// `[total, k]`, with this peer's rows (`rows`) as given (gradient flowing into them) and
/// every other peer's as constants. All sections travel in one all-reduce.
///
/// A peer with no rows (`rows` empty, when the batch has fewer items than peers) passes
/// sections of any row count (only their width `k` is read) and contributes zeros.
///
/// # Shapes
/// - `sections[i]`: `[n, k_i]` with `n == rows.len()` (any `n ≥ 1` when `rows` is empty)
/// - result `[i]`: `[total, k_i]`
pub fn gather_rows<B: AutodiffBackend>(
    link: &PeerLink,
    sections: Vec<Tensor<B, 2>>,
    rows: Range<usize>,
    total: usize,
) -> Result<Vec<Tensor<B, 2>>> {
    let Some(first) = sections.first() else {
        return Ok(Vec::new());
    };
    let device = first.device();
    let own = rows.len();
    let (before, after) = (rows.start, total - rows.end);
    let widths: Vec<usize> = sections.iter().map(|s| s.dims()[1]).collect();
    let mut pieces = Vec::new();
    for (s, &k) in sections.iter().zip(&widths) {
        if before > 0 {
            pieces.push(Tensor::<B::InnerBackend, 1>::zeros([before * k], &device));
        }
        if own > 0 {
            pieces.push(s.clone().inner().reshape([own * k]));
        }
        if after > 0 {
            pieces.push(Tensor::zeros([after * k], &device));
        }
    }
    let summed = link.sum(Tensor::cat(pieces, 0))?;
    let mut out = Vec::with_capacity(sections.len());
    let mut at = 0;
    for (s, k) in sections.into_iter().zip(widths) {
        let all = Tensor::<B, 2>::from_inner(
            summed.clone().slice(at..at + total * k).reshape([total, k]),
        );
        at += total * k;
        if own == 0 {
            out.push(all);
            continue;
        }
        let mut parts = Vec::with_capacity(3);
        if before > 0 {
            parts.push(all.clone().slice(0..before));
        }
        parts.push(s);
        if after > 0 {
            parts.push(all.slice(rows.end..total));
        }
        out.push(Tensor::cat(parts, 0));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::TensorData;

    // f32: in this test binary ndarray's default float type is f32 (Burn fixes it per
    // device type at the first tensor), so an f64 ndarray would compute in f32 anyway.
    type AD = Autodiff<NdArray<f32>>;

    #[test]
    fn one_peer_gets_its_rows_back_with_their_gradient() {
        let device = Default::default();
        let x = Tensor::<AD, 2>::from_data(TensorData::from([[1.0f32, 2.0], [3.0, 4.0]]), &device)
            .require_grad();
        let out = gather_rows(&PeerLink::single(), vec![x.clone()], 0..2, 2).unwrap();
        assert_eq!(out[0].to_data(), x.to_data());
        // d/dx Σ (2·out) = 2 everywhere (hand arithmetic)
        let g = out[0].clone().mul_scalar(2.0).sum().backward();
        let gx = x.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap();
        assert_eq!(gx, vec![2.0; 4]);
    }
}
