//! Host (CPU) kernels that a caller chooses explicitly for CPU backends: the fused CLCL
//! gallery kernel ([`clcl_gallery_fused`], selected through
//! [`ClclKernel::Fused`](crate::similarity::ClclKernel::Fused)), the matrix product it and
//! the miners use ([`matmul_nt`]), and the worker pool they run on. Nothing here depends on
//! a Burn backend: inputs are host slices (see [`crate::host`] for moving tensors there).

mod clcl;
mod gemm;
pub(crate) mod pool;

pub use clcl::{HostTokens, clcl_gallery_fused};
pub use gemm::matmul_nt;
