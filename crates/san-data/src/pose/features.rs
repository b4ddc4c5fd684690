//! Per-frame feature vectors from a pose, for the pose encoder.
//!
//! Layout-agnostic: the first component is taken as the body. Each frame is centred on the
//! mean of the body's visible points and scaled by their spread, so signers of different
//! size and position line up. Every component named like a hand (`HAND` in its name)
//! additionally contributes its points relative to its first point (the wrist), which
//! carries the handshape. Missing points (confidence 0, or NaN) become 0.

use std::path::Path;

use super::format::Pose;
use crate::error::{DataError, Result};

/// How the `dim` values of one time step are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepLayout {
    /// A flat vector: pose features, keypoints `(X, Y)` per point, or clip features.
    #[default]
    Flat,
    /// An RGB image, `[3, height, width]` (`dim = 3·height·width`).
    Image {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
}

/// Frame-by-frame features of a clip, row-major `[frames, dim]`: a pose's features (what
/// [`pose_features`] gives), or any clip read as a `[T, F]` matrix with its step layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseFeatures {
    /// Number of frames.
    pub frames: usize,
    /// Features per frame.
    pub dim: usize,
    /// Values, `frames × dim`.
    pub values: Vec<f32>,
    /// How each frame's `dim` values are laid out.
    pub layout: StepLayout,
}

/// Features per frame produced by [`pose_features`] for a header.
pub fn feature_dim(pose: &Pose) -> usize {
    let dims = pose.header.dims().min(2);
    let hands: usize = pose
        .header
        .components
        .iter()
        .filter(|c| is_hand(&c.name))
        .map(|c| c.points.len())
        .sum();
    (pose.header.total_points() + hands) * dims
}

fn is_hand(name: &str) -> bool {
    name.to_ascii_uppercase().contains("HAND")
}

/// Computes features from the first person, using X and Y only.
///
/// A frame without a detected point (confidence 0 or NaN coordinates) is kept, all zeros.
/// Errors (naming `path`, and the frame where there is one) when no point is detected in
/// any frame, or a detected point holds an infinite coordinate.
pub fn pose_features(pose: &Pose, path: &Path) -> Result<PoseFeatures> {
    let dims = pose.header.dims();
    let pts = pose.header.total_points();
    if dims < 2 {
        return Err(DataError::invalid(
            path,
            format!("expected 2-D or 3-D points, got {dims} dims"),
        ));
    }
    if pose.frames == 0 {
        return Err(DataError::invalid(
            path,
            "expected at least one frame, got 0",
        ));
    }
    let body_n = pose.header.components.first().map_or(0, |c| c.points.len());
    let dim = feature_dim(pose);
    let mut values = Vec::with_capacity(pose.frames * dim);
    let stride = pose.people * pts;
    let mut detected = false;
    for f in 0..pose.frames {
        let xy = |p: usize| -> Option<[f32; 2]> {
            let c = pose.confidence[f * stride + p];
            let base = (f * stride + p) * dims;
            let (x, y) = (pose.data[base], pose.data[base + 1]);
            (c != 0.0 && !x.is_nan() && !y.is_nan()).then_some([x, y])
        };
        for p in 0..pts {
            let Some([x, y]) = xy(p) else { continue };
            detected = true;
            if !x.is_finite() || !y.is_finite() {
                return Err(DataError::invalid(
                    path,
                    format!("frame {f}, point {p}: expected finite coordinates, got ({x}, {y})"),
                ));
            }
        }
        let body: Vec<[f32; 2]> = (0..body_n).filter_map(xy).collect();
        let (cx, cy, scale) = if body.is_empty() {
            // Fall back to all visible points; a frame with none is all zeros.
            let all: Vec<[f32; 2]> = (0..pts).filter_map(xy).collect();
            centre_scale(&all)
        } else {
            centre_scale(&body)
        };
        for p in 0..pts {
            match xy(p) {
                Some([x, y]) => values.extend([(x - cx) / scale, (y - cy) / scale]),
                None => values.extend([0.0, 0.0]),
            }
        }
        let mut offset = 0;
        for comp in &pose.header.components {
            let n = comp.points.len();
            if is_hand(&comp.name) {
                let wrist = xy(offset);
                for p in offset..offset + n {
                    match (wrist, xy(p)) {
                        (Some([wx, wy]), Some([x, y])) => {
                            values.extend([(x - wx) / scale * 4.0, (y - wy) / scale * 4.0])
                        }
                        _ => values.extend([0.0, 0.0]),
                    }
                }
            }
            offset += n;
        }
    }
    if !detected {
        return Err(DataError::invalid(
            path,
            format!(
                "expected at least one detected point; none of the {} frames has one (every confidence 0 or coordinate NaN)",
                pose.frames
            ),
        ));
    }
    Ok(PoseFeatures {
        frames: pose.frames,
        dim,
        values,
        layout: StepLayout::Flat,
    })
}

fn centre_scale(points: &[[f32; 2]]) -> (f32, f32, f32) {
    if points.is_empty() {
        return (0.0, 0.0, 1.0);
    }
    let n = points.len() as f32;
    let cx = points.iter().map(|p| p[0]).sum::<f32>() / n;
    let cy = points.iter().map(|p| p[1]).sum::<f32>() / n;
    let var = points
        .iter()
        .map(|p| (p[0] - cx).powi(2) + (p[1] - cy).powi(2))
        .sum::<f32>()
        / n;
    let scale = var.sqrt();
    (cx, cy, if scale > 1e-6 { scale } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::format::{PoseComponent, PoseHeader};

    fn pose(data: Vec<f32>, conf: Vec<f32>) -> Pose {
        let comp = |name: &str| PoseComponent {
            name: name.into(),
            format: "XYC".into(),
            points: vec!["A".into(), "B".into()],
            limbs: vec![],
            colors: vec![],
        };
        Pose {
            header: PoseHeader {
                version: 0.2,
                width: 1,
                height: 1,
                depth: 0,
                components: vec![comp("BODY"), comp("RIGHT_HAND")],
            },
            fps: 25.0,
            frames: 1,
            people: 1,
            data,
            confidence: conf,
        }
    }

    #[test]
    fn centred_scaled_and_hand_relative() {
        // Body points (0,0) and (2,0): centre (1,0), spread 1 (hand arithmetic).
        // Hand points (1,1) and (1,2): relative to the wrist (0,0) and (0,1)·4.
        let p = pose(vec![0.0, 0.0, 2.0, 0.0, 1.0, 1.0, 1.0, 2.0], vec![1.0; 4]);
        let f = pose_features(&p, Path::new("p.pose")).unwrap();
        assert_eq!(f.dim, 12);
        assert_eq!(
            f.values,
            vec![-1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 4.0]
        );
    }

    #[test]
    fn missing_points_are_zero_and_infinite_is_an_error() {
        let p = pose(
            vec![0.0, 0.0, 2.0, 0.0, f32::NAN, f32::NAN, 1.0, 2.0],
            vec![1.0, 1.0, 0.0, 1.0],
        );
        let f = pose_features(&p, Path::new("p.pose")).unwrap();
        assert_eq!(&f.values[4..6], &[0.0, 0.0]);
        assert_eq!(&f.values[8..12], &[0.0; 4], "no wrist → no relative hand");
        let p = pose(
            vec![0.0, 0.0, f32::INFINITY, 0.0, 1.0, 1.0, 1.0, 2.0],
            vec![1.0; 4],
        );
        let e = pose_features(&p, Path::new("bad.pose"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.pose") && e.contains("frame 0"), "{e}");
    }

    #[test]
    fn a_clip_without_any_detected_point_is_an_error() {
        let p = pose(vec![f32::NAN; 8], vec![1.0; 4]);
        let e = pose_features(&p, Path::new("nan.pose"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nan.pose") && e.contains("none of the 1 frames"),
            "{e}"
        );
        let p = pose(vec![1.0; 8], vec![0.0; 4]);
        assert!(pose_features(&p, Path::new("zero.pose")).is_err());
    }
}
