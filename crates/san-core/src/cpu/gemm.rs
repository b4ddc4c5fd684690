//! The one matrix product the host kernels need, through the `gemm` crate.

/// `dst[i, j] = ⟨lhs_i, rhs_j⟩` for row-major `lhs [m, k]` and `rhs [n, k]`, on the calling
/// thread, through the `gemm` crate (AVX2/FMA or AVX-512 chosen at run time). The product
/// inside the fused CLCL kernel and the instance miner; `cargo bench --bench core --
/// matmul_peak` measures its peak.
///
/// # Panics
/// If `dst`, `lhs` or `rhs` does not hold exactly `m·n`, `m·k` or `n·k` values.
#[allow(unsafe_code)]
pub fn matmul_nt(dst: &mut [f32], lhs: &[f32], rhs: &[f32], m: usize, n: usize, k: usize) {
    assert!(dst.len() == m * n && lhs.len() == m * k && rhs.len() == n * k);
    // SAFETY: the three slices hold exactly m·n, m·k and n·k elements (checked above), and
    // the strides below address element (i, j) of dst at i·n + j, (i, p) of lhs at i·k + p
    // and (p, j) of rhsᵀ at j·k + p, all in bounds. `dst` is a unique borrow, so it aliases
    // neither input. `read_dst = false` means its prior contents are never read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_nt_by_hand() {
        // [[1,2],[3,4]] · [[5,6],[7,8],[9,10]]ᵀ = [[17,23,29],[39,53,67]] (hand arithmetic).
        let mut dst = vec![0.0; 6];
        matmul_nt(
            &mut dst,
            &[1., 2., 3., 4.],
            &[5., 6., 7., 8., 9., 10.],
            2,
            3,
            2,
        );
        assert_eq!(dst, vec![17., 23., 29., 39., 53., 67.]);
    }
}
