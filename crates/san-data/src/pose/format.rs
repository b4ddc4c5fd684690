//! The `.pose` binary format of the pose-format library, versions 0.0, 0.1 and 0.2
//! (little-endian; header, then body). Reading keeps the first person of v0.0 files, as
//! the reference reader does; writing produces v0.2.

use std::path::Path;

use crate::error::{DataError, Result};

/// One component of a pose header (e.g. `RIGHT_HAND_LANDMARKS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoseComponent {
    /// Component name.
    pub name: String,
    /// Per-point value letters; the last is the confidence (e.g. `XYC`).
    pub format: String,
    /// Point names.
    pub points: Vec<String>,
    /// Limbs as (from, to) point indices within the component.
    pub limbs: Vec<(u16, u16)>,
    /// Limb colours (R, G, B).
    pub colors: Vec<(u16, u16, u16)>,
}

/// The header of a `.pose` file.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseHeader {
    /// Format version (0.0, 0.1 or 0.2), rounded to 3 decimals.
    pub version: f32,
    /// Coordinate space width.
    pub width: u16,
    /// Coordinate space height.
    pub height: u16,
    /// Coordinate space depth (0 for 2-D).
    pub depth: u16,
    /// Components in file order.
    pub components: Vec<PoseComponent>,
}

impl PoseHeader {
    /// Spatial dimensions per point: the maximum over components of `len(format) - 1`.
    pub fn dims(&self) -> usize {
        self.components
            .iter()
            .map(|c| c.format.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
    }

    /// Total points over all components.
    pub fn total_points(&self) -> usize {
        self.components.iter().map(|c| c.points.len()).sum()
    }
}

/// A decoded pose sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// The header.
    pub header: PoseHeader,
    /// Frames per second.
    pub fps: f32,
    /// Number of frames.
    pub frames: usize,
    /// Number of people per frame.
    pub people: usize,
    /// Coordinates, row-major `[frames, people, points, dims]`.
    pub data: Vec<f32>,
    /// Confidences, row-major `[frames, people, points]`; 0 means missing.
    pub confidence: Vec<f32>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
    frame: Option<usize>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(DataError::Binary {
                path: self.path.to_path_buf(),
                offset: self.pos,
                frame: self.frame,
                expected: format!(
                    "{n} more bytes for {what}, file ends after {}",
                    self.bytes.len() - self.pos
                ),
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    fn f32s(&mut self, n: usize, what: &str) -> Result<Vec<f32>> {
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u16(what)? as usize;
        let at = self.pos;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DataError::Binary {
            path: self.path.to_path_buf(),
            offset: at,
            frame: None,
            expected: format!("UTF-8 text for {what}"),
        })
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<PoseHeader> {
    let raw = r.f32("version")?;
    let version = (raw * 1000.0).round() / 1000.0;
    if ![0.0, 0.1, 0.2].contains(&version) {
        return Err(DataError::Binary {
            path: r.path.to_path_buf(),
            offset: 0,
            frame: None,
            expected: format!("version 0.0, 0.1 or 0.2, got {raw}"),
        });
    }
    let (width, height, depth) = (r.u16("width")?, r.u16("height")?, r.u16("depth")?);
    let n = r.u16("component count")?;
    let mut components = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let name = r.string("component name")?;
        let format = r.string("component format")?;
        let (np, nl, nc) = (
            r.u16("point count")?,
            r.u16("limb count")?,
            r.u16("color count")?,
        );
        let points = (0..np)
            .map(|_| r.string("point name"))
            .collect::<Result<Vec<_>>>()?;
        let limbs = (0..nl)
            .map(|_| Ok((r.u16("limb")?, r.u16("limb")?)))
            .collect::<Result<Vec<_>>>()?;
        let colors = (0..nc)
            .map(|_| Ok((r.u16("color")?, r.u16("color")?, r.u16("color")?)))
            .collect::<Result<Vec<_>>>()?;
        components.push(PoseComponent {
            name,
            format,
            points,
            limbs,
            colors,
        });
    }
    Ok(PoseHeader {
        version,
        width,
        height,
        depth,
        components,
    })
}

/// Decodes a `.pose` file held in memory; `path` is used in errors.
pub fn parse_pose(bytes: &[u8], path: &Path) -> Result<Pose> {
    let mut r = Reader {
        bytes,
        pos: 0,
        path,
        frame: None,
    };
    let header = read_header(&mut r)?;
    let (dims, points) = (header.dims(), header.total_points());
    if dims == 0 || points == 0 {
        return Err(DataError::invalid(
            path,
            "expected at least one component with points and spatial dims",
        ));
    }
    let (fps, frames, people, data, confidence);
    if header.version == 0.0 {
        fps = f32::from(r.u16("fps")?);
        frames = r.u16("frame count")? as usize;
        let mut d = vec![0.0; frames * points * dims];
        let mut c = vec![0.0; frames * points];
        for f in 0..frames {
            r.frame = Some(f);
            let n_people = r.u16("people count")?;
            for p in 0..n_people {
                r.u16("person id")?;
                let mut idx = 0;
                for comp in &header.components {
                    let k = comp.format.len();
                    let cd = k.saturating_sub(1);
                    for _ in 0..comp.points.len() {
                        let v = r.f32s(k, "point values")?;
                        if p == 0 {
                            d[(f * points + idx) * dims..(f * points + idx) * dims + cd]
                                .copy_from_slice(&v[..cd]);
                            c[f * points + idx] = v[cd];
                        }
                        idx += 1;
                    }
                }
            }
        }
        (people, data, confidence) = (1, d, c);
    } else {
        let per_frame_people = if header.version == 0.1 {
            fps = f32::from(r.u16("fps")?);
            r.u16("frame count")?; // overflows on long videos; derived from the size instead
            let people = r.u16("people count")? as usize;
            let per = people * points * (dims + 1) * 4;
            let body = bytes.len() - r.pos;
            frames = body.checked_div(per).unwrap_or(0);
            if per > 0 && !body.is_multiple_of(per) {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "expected a body of whole frames of {per} bytes ({people} people × {points} points × {} values × 4 bytes); got {body} bytes, {} past frame {frames} (a truncated or padded file)",
                        dims + 1,
                        body % per
                    ),
                ));
            }
            people
        } else {
            fps = r.f32("fps")?;
            frames = r.u32("frame count")? as usize;
            r.u16("people count")? as usize
        };
        people = per_frame_people;
        data = r.f32s(
            frames * people * points * dims,
            "the coordinate block [frames, people, points, dims]",
        )?;
        confidence = r.f32s(
            frames * people * points,
            "the confidence block [frames, people, points]",
        )?;
    }
    if r.pos != bytes.len() {
        return Err(DataError::invalid(
            path,
            format!(
                "expected the file to end after {frames} frames at byte {}; {} bytes follow (a padded file, or a wrong frame count)",
                r.pos,
                bytes.len() - r.pos
            ),
        ));
    }
    Ok(Pose {
        header,
        fps,
        frames,
        people,
        data,
        confidence,
    })
}

/// Reads a `.pose` file.
pub fn read_pose(path: &Path) -> Result<Pose> {
    parse_pose(&crate::io::read(path)?, path)
}

/// Encodes a pose as a v0.2 `.pose` file.
pub fn encode_pose(pose: &Pose) -> Vec<u8> {
    let mut out = Vec::new();
    let put_str = |out: &mut Vec<u8>, s: &str| {
        out.extend((s.len() as u16).to_le_bytes());
        out.extend(s.as_bytes());
    };
    out.extend(0.2f32.to_le_bytes());
    let h = &pose.header;
    for v in [h.width, h.height, h.depth, h.components.len() as u16] {
        out.extend(v.to_le_bytes());
    }
    for c in &h.components {
        put_str(&mut out, &c.name);
        put_str(&mut out, &c.format);
        for v in [c.points.len(), c.limbs.len(), c.colors.len()] {
            out.extend((v as u16).to_le_bytes());
        }
        for p in &c.points {
            put_str(&mut out, p);
        }
        for (a, b) in &c.limbs {
            out.extend(a.to_le_bytes());
            out.extend(b.to_le_bytes());
        }
        for (r, g, b) in &c.colors {
            out.extend(r.to_le_bytes());
            out.extend(g.to_le_bytes());
            out.extend(b.to_le_bytes());
        }
    }
    out.extend(pose.fps.to_le_bytes());
    out.extend((pose.frames as u32).to_le_bytes());
    out.extend((pose.people as u16).to_le_bytes());
    for v in pose.data.iter().chain(&pose.confidence) {
        out.extend(v.to_le_bytes());
    }
    out
}

/// Writes a v0.2 `.pose` file atomically.
pub fn write_pose(path: &Path, pose: &Pose) -> Result<()> {
    crate::io::write_atomic(path, &encode_pose(pose))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Pose {
        let comp = PoseComponent {
            name: "HAND".into(),
            format: "XYC".into(),
            points: vec!["WRIST".into(), "TIP".into()],
            limbs: vec![(0, 1)],
            colors: vec![(255, 0, 0)],
        };
        Pose {
            header: PoseHeader {
                version: 0.2,
                width: 210,
                height: 260,
                depth: 0,
                components: vec![comp],
            },
            fps: 25.0,
            frames: 3,
            people: 1,
            data: (0..12).map(|i| i as f32).collect(),
            confidence: vec![1.0, 0.0, 1.0, 1.0, 1.0, 0.5],
        }
    }

    #[test]
    fn round_trip_v02() {
        let p = tiny();
        let back = parse_pose(&encode_pose(&p), Path::new("t.pose")).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn truncated_file_names_offset_and_what_was_expected() {
        let bytes = encode_pose(&tiny());
        let e = parse_pose(&bytes[..bytes.len() - 3], Path::new("cut.pose"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.pose") && e.contains("confidence block"),
            "{e}"
        );
        // Bytes after the last frame: v0.2 declares its frame count.
        let mut padded = bytes.clone();
        padded.extend([0u8; 5]);
        let e = parse_pose(&padded, Path::new("pad.pose"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pad.pose") && e.contains("5 bytes follow"),
            "{e}"
        );
        let e = parse_pose(&[0, 0], Path::new("tiny.pose"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("version"), "{e}");
    }

    #[test]
    fn unknown_version_is_named() {
        // The file opens with its version as a little-endian f32; 0.3 does not exist.
        let mut bytes = encode_pose(&tiny());
        bytes[..4].copy_from_slice(&0.3f32.to_le_bytes());
        let e = parse_pose(&bytes, Path::new("future.pose"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("future.pose") && e.contains("version 0.0, 0.1 or 0.2, got 0.3"),
            "{e}"
        );
    }

    /// A v0.1 file derives its frame count from the body's size, so a cut body must be an
    /// error with the byte counts, not a shorter clip read out of step.
    #[test]
    fn a_cut_v01_body_is_an_error_with_byte_counts() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pose/mediapipe.pose");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipping: {} not found", path.display());
            return;
        };
        assert_eq!(read_pose(&path).unwrap().frames, 170);
        // One frame: 1 person × 178 points × 4 values × 4 bytes = 2848 bytes.
        let cut = &bytes[..bytes.len() - 1000];
        let e = parse_pose(cut, Path::new("cut.pose"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.pose")
                && e.contains("frames of 2848 bytes")
                && e.contains("1848 past frame 169"),
            "{e}"
        );
    }

    /// The real files of pose-format, checked against `expected.json`, which an independent
    /// parser produced and cross-checked against pose-format 0.15.0 (PyPI).
    #[test]
    fn real_pose_files_match_expected_json() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pose");
        let Ok(text) = std::fs::read_to_string(dir.join("expected.json")) else {
            eprintln!("skipping: {} not found", dir.display());
            return;
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut checked = 0;
        for f in doc["files"].as_array().unwrap() {
            let name = f["file"].as_str().unwrap();
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            let p = read_pose(&path).unwrap();
            let shape: Vec<usize> = f["data_shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(
                vec![p.frames, p.people, p.header.total_points(), p.header.dims()],
                shape,
                "{name}"
            );
            assert!(
                (f64::from(p.fps) - f["fps"].as_f64().unwrap()).abs() < 1e-4,
                "{name} fps"
            );
            let conf_sum: f64 = p.confidence.iter().map(|&c| f64::from(c)).sum();
            let want = f["confidence_sum"].as_f64().unwrap();
            assert!(
                (conf_sum - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name}: {conf_sum} vs {want}"
            );
            let dims = p.header.dims();
            let data_sum: f64 = p
                .confidence
                .iter()
                .enumerate()
                .filter(|(_, c)| **c != 0.0)
                .flat_map(|(i, _)| p.data[i * dims..(i + 1) * dims].iter())
                .filter(|v| !v.is_nan())
                .map(|&v| f64::from(v))
                .sum();
            let want = f["data_sum_where_conf_nonzero"].as_f64().unwrap();
            assert!(
                (data_sum - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name}: {data_sum} vs {want}"
            );
            checked += 1;
        }
        assert!(checked >= 5, "checked only {checked} files");
    }
}
