//! Training losses: pure functions over scores, with thin config wrappers.

mod fine;
mod hinge;
mod info_nce;

pub use fine::san_fine_loss;
pub use hinge::{HingeLossConfig, HingeReduction};
pub use info_nce::{
    CoarseLossConfig, CoarseMix, coarse_balance, coarse_info_nce, diagonal_ce, duplicate_mask,
};
