//! signsim rendering: gloss motions and handshapes turned into 2-D keypoints at 25 fps.
//!
//! Coordinates are pixels of a 210×260 PHOENIX frame. One body unit is half the shoulder
//! width (30 px for a signer of scale 1). Points: 7 body joints, then two 21-point hands in
//! MediaPipe order (wrist, then 4 joints per finger from thumb to little finger).

use std::f32::consts::PI;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::lexicon::normal;
use crate::pose::{Pose, PoseComponent, PoseHeader};

/// Body joints of the signsim skeleton, named as MediaPipe Pose names them where it has
/// the joint (`NECK` and `CENTER`, the shoulder midpoint and the torso centre, it has not).
pub const BODY: [&str; 7] = [
    "NOSE",
    "NECK",
    "LEFT_SHOULDER",
    "RIGHT_SHOULDER",
    "LEFT_ELBOW",
    "RIGHT_ELBOW",
    "CENTER",
];
/// Hand points after the wrist, four per finger from the palm out, named as MediaPipe Hands
/// names them.
const HAND_POINTS: [[&str; 4]; 5] = [
    ["THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP"],
    [
        "INDEX_FINGER_MCP",
        "INDEX_FINGER_PIP",
        "INDEX_FINGER_DIP",
        "INDEX_FINGER_TIP",
    ],
    [
        "MIDDLE_FINGER_MCP",
        "MIDDLE_FINGER_PIP",
        "MIDDLE_FINGER_DIP",
        "MIDDLE_FINGER_TIP",
    ],
    [
        "RING_FINGER_MCP",
        "RING_FINGER_PIP",
        "RING_FINGER_DIP",
        "RING_FINGER_TIP",
    ],
    ["PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP"],
];

/// The path a hand draws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PathKind {
    /// Back and forth along a line.
    Line,
    /// Back and forth along a half circle.
    Arc,
    /// Around a full circle.
    Circle,
}

/// What a family shares: location, path, repetitions, duration, and handedness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    /// Hand location relative to the neck, body units (x right, y down).
    pub location: [f32; 2],
    /// Path kind.
    pub path: PathKind,
    /// Path direction, radians.
    pub direction: f32,
    /// Path amplitude, body units.
    pub amplitude: f32,
    /// Repetitions.
    pub repetitions: u32,
    /// Duration in frames at speed 1.
    pub duration: u32,
    /// Whether the non-dominant hand mirrors the dominant one.
    pub two_handed: bool,
    /// Hand orientation, radians.
    pub orientation: f32,
}

impl Motion {
    /// A random family motion.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let path = [PathKind::Line, PathKind::Arc, PathKind::Circle][rng.random_range(0..3)];
        Self {
            location: [rng.random_range(-0.6..1.4), rng.random_range(-1.6..1.4)],
            path,
            direction: rng.random_range(0.0..PI),
            amplitude: rng.random_range(0.2..0.5),
            repetitions: rng.random_range(1..=3),
            duration: rng.random_range(9..=15),
            two_handed: rng.random_bool(0.3),
            orientation: rng.random_range(-2.2..-0.9),
        }
    }

    /// Dominant-hand wrist position at phase `u ∈ [0, 1]`, body units.
    pub fn wrist(&self, u: f32) -> [f32; 2] {
        let reps = self.repetitions as f32;
        let tri = |x: f32| 1.0 - (2.0 * x.fract() - 1.0).abs(); // 0 → 1 → 0 per cycle
        let (dx, dy) = (self.direction.cos(), self.direction.sin());
        let a = self.amplitude;
        let [x, y] = self.location;
        match self.path {
            PathKind::Line => {
                let s = a * (tri(u * reps) - 0.5);
                [x + dx * s, y + dy * s]
            }
            PathKind::Arc => {
                let t = PI * tri(u * reps);
                let (c, s) = (a * t.cos(), a * t.sin() * 0.6);
                [x + c * dx - s * dy, y + c * dy + s * dx]
            }
            PathKind::Circle => {
                let t = 2.0 * PI * u * reps + self.direction;
                [x + a * t.cos(), y + a * t.sin()]
            }
        }
    }
}

/// A handshape: flexion of each finger in [0, 1].
pub type Handshape = [f32; 5];

/// A signer's body: scale, offset and speed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signer {
    /// Body scale (1 = 30 px per body unit).
    pub scale: f32,
    /// Offset of the neck from the frame's default, pixels.
    pub offset: [f32; 2],
    /// Signing speed (durations are divided by it).
    pub speed: f32,
}

impl Signer {
    /// A random signer.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self {
            scale: rng.random_range(0.88..1.12),
            offset: [rng.random_range(-10.0..10.0), rng.random_range(-8.0..8.0)],
            speed: rng.random_range(0.85..1.15),
        }
    }
}

/// Hand state at one frame: wrist (body units), handshape, orientation; and whether the
/// left hand mirrors the right.
#[derive(Debug, Clone, Copy)]
pub struct HandState {
    /// Right wrist, body units.
    pub wrist: [f32; 2],
    /// Right handshape.
    pub shape: Handshape,
    /// Right-hand orientation, radians.
    pub orientation: f32,
    /// Blend of the left hand between rest (0) and mirroring the right (1).
    pub mirror: f32,
}

const REST: HandState = HandState {
    wrist: [0.7, 2.2],
    shape: [0.3; 5],
    orientation: -1.57,
    mirror: 0.0,
};

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn blend(a: &HandState, b: &HandState, t: f32) -> HandState {
    let mut shape = [0.0; 5];
    for (k, s) in shape.iter_mut().enumerate() {
        *s = lerp(a.shape[k], b.shape[k], t);
    }
    HandState {
        wrist: [
            lerp(a.wrist[0], b.wrist[0], t),
            lerp(a.wrist[1], b.wrist[1], t),
        ],
        shape,
        orientation: lerp(a.orientation, b.orientation, t),
        mirror: lerp(a.mirror, b.mirror, t),
    }
}

/// The frame-by-frame hand states of a gloss sequence, with rests and transitions.
pub fn timeline(signs: &[(&Motion, Handshape)], speed: f32) -> Vec<HandState> {
    let frames = |n: u32| ((n as f32 / speed).round() as usize).max(2);
    let mut out = vec![REST; 3];
    let mut last = REST;
    for (motion, shape) in signs {
        let start = HandState {
            wrist: motion.wrist(0.0),
            shape: *shape,
            orientation: motion.orientation,
            mirror: f32::from(u8::from(motion.two_handed)),
        };
        let n_tr = frames(5);
        for k in 1..=n_tr {
            out.push(blend(&last, &start, k as f32 / n_tr as f32));
        }
        let n = frames(motion.duration);
        for k in 0..n {
            let u = k as f32 / (n - 1) as f32;
            out.push(HandState {
                wrist: motion.wrist(u),
                ..start
            });
        }
        last = HandState {
            wrist: motion.wrist(1.0),
            ..start
        };
    }
    let n_tr = frames(5);
    for k in 1..=n_tr {
        out.push(blend(&last, &REST, k as f32 / n_tr as f32));
    }
    out.extend([REST; 3]);
    out
}

/// 21 hand points (body units) for a wrist, handshape and orientation; `side` = 1 for the
/// right hand, -1 for the mirrored left.
fn hand_points(wrist: [f32; 2], shape: &Handshape, orientation: f32, side: f32) -> Vec<[f32; 2]> {
    let mut pts = vec![wrist];
    for (k, &flex) in shape.iter().enumerate() {
        let spread = (k as f32 - 2.0) * 0.32 + if k == 0 { -0.45 } else { 0.0 };
        let mut angle = orientation + spread;
        let base = if k == 0 { 0.18 } else { 0.30 };
        let mut p = [
            wrist[0] + side * base * angle.cos(),
            wrist[1] + base * angle.sin(),
        ];
        pts.push(p);
        for seg in [0.16f32, 0.11, 0.09] {
            angle += flex * 1.25;
            p = [p[0] + side * seg * angle.cos(), p[1] + seg * angle.sin()];
            pts.push(p);
        }
    }
    pts
}

/// Noise and dropout of the renderer.
#[derive(Debug, Clone, Copy)]
pub struct RenderNoise {
    /// Gaussian noise on every coordinate, pixels.
    pub pixel_sigma: f32,
    /// Probability that a hand is missing (confidence 0) in a frame.
    pub hand_dropout: f64,
}

/// Renders hand states into a pose (3 components: POSE_LANDMARKS, LEFT_HAND_LANDMARKS,
/// RIGHT_HAND_LANDMARKS; XYC).
pub fn render<R: Rng + ?Sized>(
    states: &[HandState],
    signer: &Signer,
    noise: RenderNoise,
    rng: &mut R,
) -> Pose {
    let unit = 30.0 * signer.scale;
    let neck = [105.0 + signer.offset[0], 105.0 + signer.offset[1]];
    let px = |p: [f32; 2]| [neck[0] + unit * p[0], neck[1] + unit * p[1]];
    let n_pts = BODY.len() + 42;
    let mut data = Vec::with_capacity(states.len() * n_pts * 2);
    let mut confidence = Vec::with_capacity(states.len() * n_pts);
    for s in states {
        let right = hand_points(s.wrist, &s.shape, s.orientation, 1.0);
        let rest_left = hand_points(
            [-REST.wrist[0], REST.wrist[1]],
            &REST.shape,
            REST.orientation,
            -1.0,
        );
        let mirror_left = hand_points([-s.wrist[0], s.wrist[1]], &s.shape, s.orientation, -1.0);
        let left: Vec<[f32; 2]> = rest_left
            .iter()
            .zip(&mirror_left)
            .map(|(a, b)| [lerp(a[0], b[0], s.mirror), lerp(a[1], b[1], s.mirror)])
            .collect();
        let elbow =
            |w: [f32; 2], sx: f32| [(sx + w[0]) / 2.0 + 0.35 * sx, (0.0 + w[1]) / 2.0 + 0.6];
        let body = [
            [0.0, -1.6],
            [0.0, 0.0],
            [-1.0, 0.0],
            [1.0, 0.0],
            elbow(left[0], -1.0),
            elbow(right[0], 1.0),
            [0.0, 1.5],
        ];
        let drop_left = rng.random_bool(noise.hand_dropout);
        let drop_right = rng.random_bool(noise.hand_dropout);
        let groups: [(&[[f32; 2]], bool); 3] =
            [(&body, false), (&left, drop_left), (&right, drop_right)];
        for (points, dropped) in groups {
            for &p in points {
                if dropped {
                    data.extend([0.0, 0.0]);
                    confidence.push(0.0);
                } else {
                    let [x, y] = px(p);
                    data.extend([
                        x + noise.pixel_sigma * normal(rng),
                        y + noise.pixel_sigma * normal(rng),
                    ]);
                    confidence.push(1.0);
                }
            }
        }
    }
    Pose {
        header: header(),
        fps: 25.0,
        frames: states.len(),
        people: 1,
        data,
        confidence,
    }
}

/// The pose header of signsim files.
pub fn header() -> PoseHeader {
    let hand = |name: &str| {
        let mut points = vec!["WRIST".to_string()];
        let mut limbs = Vec::new();
        for (k, finger) in HAND_POINTS.iter().enumerate() {
            for (j, point) in finger.iter().enumerate() {
                points.push((*point).to_string());
                let idx = (1 + 4 * k + j) as u16;
                limbs.push((if j == 0 { 0 } else { idx - 1 }, idx));
            }
        }
        PoseComponent {
            name: name.into(),
            format: "XYC".into(),
            points,
            limbs,
            colors: vec![(255, 128, 0)],
        }
    };
    let body = PoseComponent {
        name: "POSE_LANDMARKS".into(),
        format: "XYC".into(),
        points: BODY.iter().map(|s| s.to_string()).collect(),
        limbs: vec![(0, 1), (1, 2), (1, 3), (2, 4), (3, 5), (1, 6)],
        colors: vec![(0, 128, 255)],
    };
    PoseHeader {
        version: 0.2,
        width: 210,
        height: 260,
        depth: 0,
        components: vec![
            body,
            hand("LEFT_HAND_LANDMARKS"),
            hand("RIGHT_HAND_LANDMARKS"),
        ],
    }
}

/// Draws frame `t` of a pose as a stick figure on a `width × height` image (the header's
/// size, 210 × 260 for signsim): every limb of every component in the component's colour
/// on a grey background, body limbs 3 px wide and hand limbs 2 px. Missing points
/// (confidence 0) and the limbs that touch them are not drawn; a frame past the end is
/// blank.
pub fn draw_frame(pose: &Pose, t: usize) -> image::RgbImage {
    let (w, h) = (pose.header.width.max(1), pose.header.height.max(1));
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([96, 96, 96]));
    let n_points: usize = pose.header.components.iter().map(|c| c.points.len()).sum();
    let dims = pose
        .header
        .components
        .first()
        .map_or(2, |c| c.format.len().max(2) - 1);
    if t >= pose.frames || n_points == 0 {
        return img;
    }
    let base = t * pose.people * n_points;
    let mut offset = 0;
    for comp in &pose.header.components {
        let colour = comp.colors.first().copied().unwrap_or((255, 255, 255));
        let rgb = image::Rgb([colour.0, colour.1, colour.2].map(|c| c.min(255) as u8));
        let radius = if comp.points.len() > 10 { 1.0 } else { 1.5 };
        for person in 0..pose.people {
            let at = |k: usize| {
                let i = base + person * n_points + offset + k;
                let c = pose.confidence.get(i).copied().unwrap_or(0.0);
                let x = pose.data.get(i * dims).copied().unwrap_or(f32::NAN);
                let y = pose.data.get(i * dims + 1).copied().unwrap_or(f32::NAN);
                (c > 0.0 && x.is_finite() && y.is_finite()).then_some([x, y])
            };
            for &(a, b) in &comp.limbs {
                if let (Some(p), Some(q)) = (at(a as usize), at(b as usize)) {
                    draw_segment(&mut img, p, q, radius, rgb);
                }
            }
        }
        offset += comp.points.len();
    }
    img
}

/// Paints a segment as a chain of discs of `radius` pixels, half a pixel apart.
fn draw_segment(
    img: &mut image::RgbImage,
    p: [f32; 2],
    q: [f32; 2],
    radius: f32,
    rgb: image::Rgb<u8>,
) {
    let len = ((q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2)).sqrt();
    let steps = (len * 2.0).ceil().max(1.0) as usize;
    let (w, h) = (img.width() as i64, img.height() as i64);
    let r = radius.ceil() as i64;
    for s in 0..=steps {
        let u = s as f32 / steps as f32;
        let (cx, cy) = (p[0] + u * (q[0] - p[0]), p[1] + u * (q[1] - p[1]));
        let (ix, iy) = (cx.round() as i64, cy.round() as i64);
        for y in iy - r..=iy + r {
            for x in ix - r..=ix + r {
                let inside = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= radius * radius;
                if inside && (0..w).contains(&x) && (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, rgb);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn straight_finger_has_full_length_and_flexion_shortens_reach() {
        // flexion 0: the index finger is straight, tip at 0.30 + 0.16 + 0.11 + 0.09 = 0.66
        // units from the wrist (hand arithmetic); flexed, the tip comes closer.
        let open = hand_points([0.0, 0.0], &[0.0; 5], 0.0, 1.0);
        let tip = open[8];
        let d = |p: [f32; 2]| (p[0] * p[0] + p[1] * p[1]).sqrt();
        assert!((d(tip) - 0.66).abs() < 1e-5, "{}", d(tip));
        let closed = hand_points([0.0, 0.0], &[1.0; 5], 0.0, 1.0);
        assert!(d(closed[8]) < 0.6);
        assert_eq!(open.len(), 21);
    }

    #[test]
    fn timeline_starts_and_ends_at_rest_and_renders_all_points() {
        let mut rng = StdRng::seed_from_u64(9);
        let m = Motion::random(&mut rng);
        let states = timeline(&[(&m, [0.5; 5]), (&m, [0.1; 5])], 1.0);
        assert_eq!(states[0].wrist, REST.wrist);
        assert_eq!(states.last().unwrap().wrist, REST.wrist);
        let noise = RenderNoise {
            pixel_sigma: 0.0,
            hand_dropout: 0.0,
        };
        let pose = render(
            &states,
            &Signer {
                scale: 1.0,
                offset: [0.0, 0.0],
                speed: 1.0,
            },
            noise,
            &mut rng,
        );
        assert_eq!(pose.data.len(), states.len() * 49 * 2);
        assert_eq!(pose.header.total_points(), 49);
        // Neck at (105, 105) for the default signer.
        assert_eq!(&pose.data[2..4], &[105.0, 105.0]);
    }

    #[test]
    fn draw_frame_paints_limbs_in_component_colours_and_skips_missing_points() {
        // One frame, header from `header()`: body points at the neck (100, 100) and the
        // right shoulder (130, 100); everything else missing except the right wrist (60, 200)
        // and its thumb CMC (60, 220).
        let h = header();
        let n = 7 + 21 + 21;
        let mut data = vec![0.0; n * 2];
        let mut confidence = vec![0.0; n];
        let mut set = |k: usize, x: f32, y: f32| {
            data[2 * k] = x;
            data[2 * k + 1] = y;
            confidence[k] = 1.0;
        };
        set(1, 100.0, 100.0); // NECK
        set(3, 130.0, 100.0); // RIGHT_SHOULDER
        set(7 + 21, 60.0, 200.0); // right WRIST
        set(7 + 21 + 1, 60.0, 220.0); // right THUMB_CMC
        let pose = Pose {
            header: h,
            fps: 25.0,
            frames: 1,
            people: 1,
            data,
            confidence,
        };
        let img = draw_frame(&pose, 0);
        assert_eq!(img.dimensions(), (210, 260));
        let px = |x: u32, y: u32| img.get_pixel(x, y).0;
        // the neck–shoulder limb (1, 3) in the body colour (0, 128, 255), midway at (115, 100)
        assert_eq!(px(115, 100), [0, 128, 255]);
        // the wrist–thumb limb (0, 1) of the right hand in the hand colour (255, 128, 0)
        assert_eq!(px(60, 210), [255, 128, 0]);
        // the nose (missing) to neck limb is not drawn: (100, 80) stays grey
        assert_eq!(px(100, 80), [96, 96, 96]);
        assert_eq!(px(0, 0), [96, 96, 96]);
        // past the end: blank
        assert!(draw_frame(&pose, 1).pixels().all(|p| p.0 == [96, 96, 96]));
    }
}
