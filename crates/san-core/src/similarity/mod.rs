//! Similarity between sign and text tokens.

mod clcl;

pub use clcl::{
    ClclConfig, ClclKernel, ClclScores, SHIFT_LIMIT, TokenPadding, clcl_candidates,
    clcl_candidates_with, clcl_gallery, clcl_reduce, cosine_gallery, l2_normalize,
};
