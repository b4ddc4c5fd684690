//! Pose input: the `.pose` format and per-frame features.

mod features;
mod format;
mod select;

pub use features::{PoseFeatures, StepLayout, feature_dim, pose_features};
pub use format::{Pose, PoseComponent, PoseHeader, encode_pose, parse_pose, read_pose, write_pose};
pub use select::{
    ComponentSelection, KeypointSelection, NormalizedPose, PoseFiles, normalize_shoulders,
    pose_from_array, select,
};
