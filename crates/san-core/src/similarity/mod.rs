//! Similarity between sign and text tokens.

mod clcl;
mod fused;

pub use clcl::{
    ClclConfig, ClclKernel, ClclScores, SHIFT_LIMIT, clcl_candidates, clcl_gallery, clcl_reduce,
    cosine_gallery, l2_normalize,
};
pub use fused::matmul_nt;
pub use fused::{HostTokens, clcl_gallery_fused};
