//! Keypoint selection by component and point name, shoulder-centred scale normalisation,
//! and pose arrays from `.npy` `[T, J, C]` (MMPose / RTMPose style).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::format::{Pose, PoseComponent, PoseHeader};
use crate::clips::Array;
use crate::error::{DataError, Result};

/// Points to keep from one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSelection {
    /// The component's name, e.g. `RIGHT_HAND_LANDMARKS`.
    pub component: String,
    /// Point names to keep, in this order (`None`: all, in file order).
    pub points: Option<Vec<String>>,
}

impl ComponentSelection {
    /// Every point of `component`.
    pub fn all(component: &str) -> Self {
        Self {
            component: component.to_string(),
            points: None,
        }
    }

    /// The named points of `component`.
    pub fn points(component: &str, points: &[&str]) -> Self {
        Self {
            component: component.to_string(),
            points: Some(points.iter().map(|p| p.to_string()).collect()),
        }
    }
}

/// Which components and points to keep, in the order listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeypointSelection(pub Vec<ComponentSelection>);

impl KeypointSelection {
    /// MediaPipe Holistic body and both hands (no face).
    pub fn mediapipe_body_hands() -> Self {
        Self(vec![
            ComponentSelection::all("POSE_LANDMARKS"),
            ComponentSelection::all("LEFT_HAND_LANDMARKS"),
            ComponentSelection::all("RIGHT_HAND_LANDMARKS"),
        ])
    }

    /// OpenPose body and both hands (no face).
    pub fn openpose_body_hands() -> Self {
        Self(vec![
            ComponentSelection::all("pose_keypoints_2d"),
            ComponentSelection::all("hand_left_keypoints_2d"),
            ComponentSelection::all("hand_right_keypoints_2d"),
        ])
    }
}

/// The pose with only the selected components and points, in the selection's order.
///
/// Errors (naming `path`) when a component or a point is not in the header.
pub fn select(pose: &Pose, selection: &KeypointSelection, path: &Path) -> Result<Pose> {
    let mut offsets = Vec::new();
    let mut offset = 0;
    for c in &pose.header.components {
        offsets.push(offset);
        offset += c.points.len();
    }
    let mut keep: Vec<usize> = Vec::new();
    let mut components = Vec::new();
    for sel in &selection.0 {
        let Some(ci) = pose
            .header
            .components
            .iter()
            .position(|c| c.name == sel.component)
        else {
            let names: Vec<&str> = pose
                .header
                .components
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(DataError::invalid(
                path,
                format!(
                    "expected a component {:?}, the file has: {}",
                    sel.component,
                    names.join(", ")
                ),
            ));
        };
        let comp = &pose.header.components[ci];
        let chosen: Vec<usize> = match &sel.points {
            None => (0..comp.points.len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    comp.points.iter().position(|p| p == n).ok_or_else(|| {
                        DataError::invalid(
                            path,
                            format!("component {:?}: expected a point {n:?}", comp.name),
                        )
                    })
                })
                .collect::<Result<_>>()?,
        };
        // Limbs survive when both ends are kept, renumbered.
        let new_index = |old: u16| chosen.iter().position(|&c| c == usize::from(old));
        let (limbs, colors) = comp
            .limbs
            .iter()
            .zip(
                comp.colors
                    .iter()
                    .chain(std::iter::repeat(&(255, 255, 255))),
            )
            .filter_map(|(&(a, b), &color)| {
                let (a, b) = (new_index(a)?, new_index(b)?);
                Some(((a as u16, b as u16), color))
            })
            .unzip();
        components.push(PoseComponent {
            name: comp.name.clone(),
            format: comp.format.clone(),
            points: chosen.iter().map(|&i| comp.points[i].clone()).collect(),
            limbs,
            colors,
        });
        keep.extend(chosen.iter().map(|&i| offsets[ci] + i));
    }
    let (dims, pts) = (pose.header.dims(), pose.header.total_points());
    let mut data = Vec::with_capacity(pose.frames * pose.people * keep.len() * dims);
    let mut confidence = Vec::with_capacity(pose.frames * pose.people * keep.len());
    for fp in 0..pose.frames * pose.people {
        for &p in &keep {
            let base = (fp * pts + p) * dims;
            data.extend_from_slice(&pose.data[base..base + dims]);
            confidence.push(pose.confidence[fp * pts + p]);
        }
    }
    Ok(Pose {
        header: PoseHeader {
            components,
            ..pose.header.clone()
        },
        fps: pose.fps,
        frames: pose.frames,
        people: pose.people,
        data,
        confidence,
    })
}

/// Keypoints of the first person, centred and scaled, with a visibility mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedPose {
    /// Frames.
    pub frames: usize,
    /// Points per frame.
    pub points: usize,
    /// Coordinates per point.
    pub dims: usize,
    /// `[frames, points, dims]`, 0 where masked; never NaN.
    pub values: Vec<f32>,
    /// `[frames, points]`, true where the point was detected (confidence ≠ 0).
    pub mask: Vec<bool>,
}

const RIGHT_SHOULDER: [&str; 2] = ["RIGHT_SHOULDER", "RShoulder"];
const LEFT_SHOULDER: [&str; 2] = ["LEFT_SHOULDER", "LShoulder"];

/// Shoulder-centred, scale-normalised coordinates of the first person.
///
/// - The shoulders are the points named `RIGHT_SHOULDER`/`LEFT_SHOULDER` (MediaPipe) or
///   `RShoulder`/`LShoulder` (OpenPose), in the first component that has them.
/// - Scale: the mean shoulder distance (over all dims) across frames where both are seen.
/// - Centre: each frame's shoulder midpoint; frames without both shoulders use the mean
///   midpoint of the frames that have them.
/// - A point with confidence 0 is masked and 0. A detected point with a non-finite
///   coordinate is an error naming the frame, as is a file whose shoulders are never both
///   seen.
pub fn normalize_shoulders(pose: &Pose, path: &Path) -> Result<NormalizedPose> {
    let (dims, pts) = (pose.header.dims(), pose.header.total_points());
    let find = |names: [&str; 2]| -> Option<usize> {
        let mut offset = 0;
        for c in &pose.header.components {
            if let Some(i) = c.points.iter().position(|p| names.contains(&p.as_str())) {
                return Some(offset + i);
            }
            offset += c.points.len();
        }
        None
    };
    let (Some(r), Some(l)) = (find(RIGHT_SHOULDER), find(LEFT_SHOULDER)) else {
        return Err(DataError::invalid(
            path,
            "expected shoulder points (RIGHT_SHOULDER and LEFT_SHOULDER, or RShoulder and LShoulder)",
        ));
    };
    let stride = pose.people * pts;
    let point = |f: usize, p: usize| -> Result<Option<&[f32]>> {
        if pose.confidence[f * stride + p] == 0.0 {
            return Ok(None);
        }
        let base = (f * stride + p) * dims;
        let xs = &pose.data[base..base + dims];
        if let Some(x) = xs.iter().find(|x| !x.is_finite()) {
            return Err(DataError::invalid(
                path,
                format!(
                    "frame {f}, point {p}: expected finite coordinates of a detected point, got {x}"
                ),
            ));
        }
        Ok(Some(xs))
    };
    let mut centres: Vec<Option<Vec<f32>>> = Vec::with_capacity(pose.frames);
    let (mut dist_sum, mut seen) = (0.0f64, 0usize);
    for f in 0..pose.frames {
        match (point(f, r)?, point(f, l)?) {
            (Some(a), Some(b)) => {
                let d: f32 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
                dist_sum += f64::from(d.sqrt());
                seen += 1;
                centres.push(Some(a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect()));
            }
            _ => centres.push(None),
        }
    }
    let scale = if seen > 0 {
        dist_sum / seen as f64
    } else {
        0.0
    };
    if seen == 0 || scale <= 1e-9 {
        return Err(DataError::invalid(
            path,
            "expected both shoulders detected, apart, in at least one frame",
        ));
    }
    let mut mean = vec![0.0f32; dims];
    for c in centres.iter().flatten() {
        mean.iter_mut()
            .zip(c)
            .for_each(|(m, x)| *m += x / seen as f32);
    }
    let scale = scale as f32;
    let mut values = Vec::with_capacity(pose.frames * pts * dims);
    let mut mask = Vec::with_capacity(pose.frames * pts);
    for (f, centre) in centres.iter().enumerate() {
        let centre = centre.as_deref().unwrap_or(&mean);
        for p in 0..pts {
            match point(f, p)? {
                Some(xs) => {
                    values.extend(xs.iter().zip(centre).map(|(x, c)| (x - c) / scale));
                    mask.push(true);
                }
                None => {
                    values.extend(std::iter::repeat_n(0.0, dims));
                    mask.push(false);
                }
            }
        }
    }
    Ok(NormalizedPose {
        frames: pose.frames,
        points: pts,
        dims,
        values,
        mask,
    })
}

/// A pose from a `[T, J, C]` keypoint array (e.g. MMPose / RTMPose output saved with
/// `np.save`). With `confidence_last`, the last channel is the detection score (0 =
/// missing) and the others are coordinates; otherwise every channel is a coordinate and
/// all points count as detected, except those with a NaN coordinate.
pub fn pose_from_array(
    array: &Array,
    fps: f32,
    confidence_last: bool,
    path: &Path,
) -> Result<Pose> {
    let [frames, joints, channels] = array.shape[..] else {
        return Err(DataError::invalid(
            path,
            format!(
                "expected a [T, J, C] keypoint array, got shape {:?}",
                array.shape
            ),
        ));
    };
    let dims = if confidence_last {
        channels.saturating_sub(1)
    } else {
        channels
    };
    if frames == 0 || joints == 0 || !(2..=3).contains(&dims) {
        return Err(DataError::invalid(
            path,
            format!(
                "expected T ≥ 1, J ≥ 1 and 2 or 3 coordinates per point{}, got shape {:?}",
                if confidence_last { " plus a score" } else { "" },
                array.shape
            ),
        ));
    }
    let mut data = Vec::with_capacity(frames * joints * dims);
    let mut confidence = Vec::with_capacity(frames * joints);
    for point in array.values.chunks_exact(channels) {
        let coords = &point[..dims];
        data.extend_from_slice(coords);
        let c = if confidence_last { point[dims] } else { 1.0 };
        let missing = c.is_nan() || coords.iter().any(|x| x.is_nan());
        confidence.push(if missing { 0.0 } else { c });
    }
    let format = if dims == 3 { "XYZC" } else { "XYC" };
    Ok(Pose {
        header: PoseHeader {
            version: 0.2,
            width: 0,
            height: 0,
            depth: 0,
            components: vec![PoseComponent {
                name: "KEYPOINTS".into(),
                format: format.into(),
                points: (0..joints).map(|j| j.to_string()).collect(),
                limbs: Vec::new(),
                colors: Vec::new(),
            }],
        },
        fps,
        frames,
        people: 1,
        data,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::read_pose;

    fn tiny(conf: [f32; 3], third: [f32; 2]) -> Pose {
        // One frame, component BODY with RIGHT_SHOULDER (0,0), LEFT_SHOULDER (2,0) and a
        // third point; component HAND with one point (5,5).
        let comp = |name: &str, points: &[&str]| PoseComponent {
            name: name.into(),
            format: "XYC".into(),
            points: points.iter().map(|p| p.to_string()).collect(),
            limbs: vec![(0, 1)],
            colors: vec![(1, 2, 3)],
        };
        Pose {
            header: PoseHeader {
                version: 0.2,
                width: 10,
                height: 10,
                depth: 0,
                components: vec![
                    comp("BODY", &["RIGHT_SHOULDER", "LEFT_SHOULDER", "NOSE"]),
                    comp("HAND", &["WRIST"]),
                ],
            },
            fps: 25.0,
            frames: 1,
            people: 1,
            data: vec![0.0, 0.0, 2.0, 0.0, third[0], third[1], 5.0, 5.0],
            confidence: vec![conf[0], conf[1], conf[2], 1.0],
        }
    }

    #[test]
    fn shoulder_normalisation_by_hand() {
        // Centre (1,0), scale 2: NOSE (1,2) → (0,1); WRIST (5,5) → (2,2.5).
        let n = normalize_shoulders(&tiny([1.0; 3], [1.0, 2.0]), Path::new("t.pose"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.values, vec![-0.5, 0.0, 0.5, 0.0, 0.0, 1.0, 2.0, 2.5]);
        assert_eq!(n.mask, vec![true; 4]);
        // A missing point (confidence 0, NaN coordinates) is masked and 0, never NaN.
        let n = normalize_shoulders(
            &tiny([1.0, 1.0, 0.0], [f32::NAN, f32::NAN]),
            Path::new("t.pose"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n.values[4], n.values[5], n.mask[2]), (0.0, 0.0, false));
    }

    #[test]
    fn nan_in_a_detected_point_and_missing_shoulders_are_errors() {
        let err = normalize_shoulders(&tiny([1.0; 3], [f32::NAN, 1.0]), Path::new("x/t.pose"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("x/t.pose") && err.contains("frame 0, point 2"),
            "{err}"
        );
        let err = normalize_shoulders(&tiny([0.0, 1.0, 1.0], [1.0, 1.0]), Path::new("t.pose"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("both shoulders"), "{err}");
    }

    #[test]
    fn selection_keeps_named_points_in_order_and_renumbers_limbs() {
        let pose = tiny([1.0, 0.5, 0.25], [7.0, 8.0]);
        let sel = KeypointSelection(vec![
            ComponentSelection::points("BODY", &["NOSE", "RIGHT_SHOULDER"]),
            ComponentSelection::all("HAND"),
        ]);
        let s = select(&pose, &sel, Path::new("t.pose")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.header.components[0].points,
            vec!["NOSE", "RIGHT_SHOULDER"]
        );
        assert!(
            s.header.components[0].limbs.is_empty(),
            "limb 0–1 lost LEFT_SHOULDER"
        );
        assert_eq!(s.data, vec![7.0, 8.0, 0.0, 0.0, 5.0, 5.0]);
        assert_eq!(s.confidence, vec![0.25, 1.0, 1.0]);
        let bad = KeypointSelection(vec![ComponentSelection::points("BODY", &["TAIL"])]);
        let err = select(&pose, &bad, Path::new("t.pose"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("t.pose") && err.contains("\"TAIL\""), "{err}");
        let bad = KeypointSelection(vec![ComponentSelection::all("FACE")]);
        let err = select(&pose, &bad, Path::new("t.pose"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("BODY, HAND"), "{err}");
    }

    #[test]
    fn arrays_with_and_without_scores() {
        let a = Array {
            shape: vec![1, 2, 3],
            values: vec![1.0, 2.0, 0.9, 3.0, 4.0, 0.0],
        };
        let p =
            pose_from_array(&a, 25.0, true, Path::new("k.npy")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.header.dims(), p.data.clone(), p.confidence.clone()),
            (2, vec![1.0, 2.0, 3.0, 4.0], vec![0.9, 0.0])
        );
        let p =
            pose_from_array(&a, 25.0, false, Path::new("k.npy")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.header.dims(), p.confidence.clone()), (3, vec![1.0, 1.0]));
        let flat = Array {
            shape: vec![2, 3],
            values: vec![0.0; 6],
        };
        let err = pose_from_array(&flat, 25.0, true, Path::new("k.npy"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("k.npy") && err.contains("[T, J, C]"), "{err}");
    }

    #[test]
    fn mediapipe_file_matches_numpy() {
        let Some(path) = crate::shared_data("pose/mediapipe.pose") else {
            return;
        };
        let pose = read_pose(&path).unwrap_or_else(|e| panic!("{e}"));
        let sel = KeypointSelection(vec![
            ComponentSelection::all("POSE_LANDMARKS"),
            ComponentSelection::all("RIGHT_HAND_LANDMARKS"),
        ]);
        let s = select(&pose, &sel, &path).unwrap_or_else(|e| panic!("{e}"));
        let n = normalize_shoulders(&s, &path).unwrap_or_else(|e| panic!("{e}"));
        // numpy over pose-format 0.15's reader (same selection and definition): 170 frames,
        // 29 points, 3 dims; shoulders seen in all 170 frames, scale 490.4386; 4405 points
        // detected; sum of normalised values over them −181.0774, of |values| 3390.5136;
        // frame 0 point 0 (LEFT_SHOULDER) = (0.536277, 0.023999, 0.0000595); frame 9
        // point 8 (right WRIST) = (−0.188674, 0.390300, 0.001205); frame 5 point 8 masked.
        assert_eq!((n.frames, n.points, n.dims), (170, 29, 3));
        assert_eq!(n.mask.iter().filter(|&&m| m).count(), 4405);
        let sum: f64 = n.values.iter().map(|&x| f64::from(x)).sum();
        let abs: f64 = n.values.iter().map(|&x| f64::from(x.abs())).sum();
        assert!(
            (sum + 181.077_414).abs() < 1e-2 && (abs - 3_390.513_567).abs() < 1e-2,
            "{sum} {abs}"
        );
        let at = |f: usize, p: usize| &n.values[(f * 29 + p) * 3..(f * 29 + p) * 3 + 3];
        for (got, want) in at(0, 0).iter().zip([0.536_277, 0.023_999, 0.000_059_5]) {
            assert!((got - want).abs() < 1e-5, "{:?}", at(0, 0));
        }
        for (got, want) in at(9, 8).iter().zip([-0.188_674, 0.390_300, 0.001_205]) {
            assert!((got - want).abs() < 1e-5, "{:?}", at(9, 8));
        }
        assert!(!n.mask[5 * 29 + 8] && at(5, 8) == [0.0, 0.0, 0.0]);
        assert!(n.values.iter().all(|x| x.is_finite()));
    }
}

/// A lazy dataset of `.pose` files, one per video: each read selects the keypoints (when
/// a selection is given) and normalises them to the shoulders. Items are `Result`s, so a
/// bad file is an error of its own.
#[derive(Debug, Clone)]
pub struct PoseFiles {
    /// One `.pose` file per video.
    pub paths: Vec<std::path::PathBuf>,
    /// Keypoints to keep (`None`: all).
    pub selection: Option<KeypointSelection>,
}

impl burn_dataset::Dataset<Result<NormalizedPose>> for PoseFiles {
    fn get(&self, index: usize) -> Option<Result<NormalizedPose>> {
        let path = self.paths.get(index)?;
        Some((|| {
            let pose = super::format::read_pose(path)?;
            let pose = match &self.selection {
                Some(s) => select(&pose, s, path)?,
                None => pose,
            };
            normalize_shoulders(&pose, path)
        })())
    }

    fn len(&self) -> usize {
        self.paths.len()
    }
}

#[cfg(test)]
mod dataset_tests {
    use super::*;
    use burn_dataset::Dataset;

    #[test]
    fn pose_files_read_lazily_with_their_own_errors() {
        let Some(dir) = crate::shared_data("pose") else {
            return;
        };
        let ds = PoseFiles {
            paths: vec![
                dir.join("mediapipe.pose"),
                dir.join("openpose.pose"),
                dir.join("none.pose"),
            ],
            selection: None,
        };
        assert_eq!(ds.len(), 3);
        // expected.json: mediapipe.pose has 170 frames, 178 points; openpose.pose 93 frames.
        let a = ds.get(0).and_then(|r| r.ok()).map(|n| (n.frames, n.points));
        assert_eq!(a, Some((170, 178)));
        assert_eq!(ds.get(1).and_then(|r| r.ok()).map(|n| n.frames), Some(93));
        let err = ds
            .get(2)
            .and_then(|r| r.err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("none.pose"), "{err}");
        let hands = PoseFiles {
            selection: Some(KeypointSelection::openpose_body_hands()),
            ..ds
        };
        assert!(hands.get(1).is_some_and(|r| r.is_ok()));
    }
}
