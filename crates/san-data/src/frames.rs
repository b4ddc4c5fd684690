//! RGB frames in the official PHOENIX-2014-T layout,
//! `features/fullFrame-210x260px/{split}/{name}/images%04d.png`, read with `image`: temporal
//! sampling, resize, centre crop and per-channel normalisation, one lazy folder at a time.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn_dataset::Dataset;
use image::imageops::FilterType;

use crate::clips::linspace_indices;
use crate::error::DataError;
use crate::phoenix::Split;

/// The folder of a sample's frames in the official layout.
pub fn frames_dir(root: &Path, split: Split, name: &str) -> PathBuf {
    root.join("features/fullFrame-210x260px")
        .join(split.name())
        .join(name)
}

/// How frames are turned into tensors.
#[derive(Config, Debug)]
pub struct FrameConfig {
    /// Frames kept per video: CiCo linspace indices when longer (`None`: all).
    #[config(default = "Some(64)")]
    pub max_frames: Option<usize>,
    /// Resize every frame to (width, height) first (`None`: keep 210 × 260).
    #[config(default = "Some((256, 256))")]
    pub resize: Option<(u32, u32)>,
    /// Then crop the centre (width, height) (`None`: no crop).
    #[config(default = "Some((224, 224))")]
    pub crop: Option<(u32, u32)>,
    /// Per-channel mean subtracted after scaling to [0, 1] (ImageNet's by default).
    #[config(default = "[0.485, 0.456, 0.406]")]
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by.
    #[config(default = "[0.229, 0.224, 0.225]")]
    pub std: [f32; 3],
}

/// Decoded frames of one video, `[frames, 3, height, width]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    /// Frames kept.
    pub frames: usize,
    /// Frame height after resize and crop.
    pub height: usize,
    /// Frame width after resize and crop.
    pub width: usize,
    /// Normalised values, channel-first per frame.
    pub values: Vec<f32>,
    /// Which source frame each kept frame is (0-based, in name order).
    pub source: Vec<usize>,
}

/// The PNG frames of a folder, in numeric order of their names (`images0001.png`, …).
///
/// Files that are not `.png` (a stray `.DS_Store`, `Thumbs.db`, …) are ignored. A missing
/// folder or one with no PNG is an error naming it.
pub fn frame_paths(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::invalid(
            dir,
            "expected a folder of PNG frames (images0001.png, …); it does not exist",
        ),
        _ => DataError::io(dir, e),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    if paths.is_empty() {
        return Err(DataError::invalid(
            dir,
            "expected PNG frames (images0001.png, …), found none",
        ));
    }
    // Numeric order of the digits in the name, then the name (images10 after images9).
    let key = |p: &PathBuf| {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let digits: String = stem.chars().filter(char::is_ascii_digit).collect();
        (digits.parse::<u64>().unwrap_or(u64::MAX), stem)
    };
    paths.sort_by_key(key);
    Ok(paths)
}

/// DEFLATE's largest expansion (a run of one byte): a PNG cannot decode to more than
/// this many bytes per byte of its file, whatever its header says.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Decodes one frame (frame number `frame`, from 1, of `path`) from its file's bytes to
/// RGB. The header's width × height is checked against what the file's size can hold
/// before anything is allocated, so a corrupted header is an error, never a huge buffer.
pub fn decode_frame(bytes: &[u8], path: &Path, frame: usize) -> crate::Result<image::RgbImage> {
    let bad = |what: String| DataError::invalid(path, format!("frame {frame}: {what}"));
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| DataError::io(path, e))
    };
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| bad(format!("expected a decodable PNG: {e}")))?;
    let decoded = u64::from(w) * u64::from(h) * 4;
    let most = MAX_DEFLATE_RATIO * bytes.len() as u64 + 4096;
    if decoded > most {
        return Err(bad(format!(
            "the header says {w}×{h} pixels, more than a {}-byte file can hold",
            bytes.len()
        )));
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(decoded.saturating_mul(2).max(1 << 16));
    let mut reader = reader()?;
    reader.limits(limits);
    Ok(reader
        .decode()
        .map_err(|e| bad(format!("expected a decodable PNG: {e}")))?
        .to_rgb8())
}

/// Reads and preprocesses the frames of one folder.
///
/// Errors name the folder, or the frame file that does not decode or whose size differs
/// from the first frame's.
pub fn read_frames(dir: &Path, config: &FrameConfig) -> crate::Result<Frames> {
    let paths = frame_paths(dir)?;
    let idx = match config.max_frames {
        Some(max) => linspace_indices(paths.len(), max.max(1)),
        None => (0..paths.len()).collect(),
    };
    let mut values = Vec::new();
    let (mut height, mut width) = (0, 0);
    let mut first_size = None;
    for &i in &idx {
        let path = &paths[i];
        let bytes = crate::io::read(path)?;
        let img = decode_frame(&bytes, path, i + 1)?;
        let size = img.dimensions();
        match first_size {
            None => first_size = Some(size),
            Some(s) if s != size => {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "frame {}: expected {}×{} like the first frame, got {}×{}",
                        i + 1,
                        s.0,
                        s.1,
                        size.0,
                        size.1
                    ),
                ));
            }
            Some(_) => {}
        }
        let img = match config.resize {
            Some((w, h)) if (w, h) != size => {
                image::imageops::resize(&img, w, h, FilterType::Triangle)
            }
            _ => img,
        };
        let img = match config.crop {
            Some((cw, ch)) if cw <= img.width() && ch <= img.height() => {
                let (x, y) = ((img.width() - cw) / 2, (img.height() - ch) / 2);
                image::imageops::crop_imm(&img, x, y, cw, ch).to_image()
            }
            Some((cw, ch)) => {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "frame {}: crop {cw}×{ch} is larger than the {}×{} frame",
                        i + 1,
                        img.width(),
                        img.height()
                    ),
                ));
            }
            None => img,
        };
        (width, height) = (img.width() as usize, img.height() as usize);
        for c in 0..3 {
            let (m, s) = (config.mean[c], config.std[c]);
            values.extend(img.pixels().map(|p| (f32::from(p.0[c]) / 255.0 - m) / s));
        }
    }
    Ok(Frames {
        frames: idx.len(),
        height,
        width,
        values,
        source: idx,
    })
}

/// A lazy dataset of frame folders: each item is read when asked for, and a bad folder or
/// frame gives its own error.
#[derive(Debug, Clone)]
pub struct FrameFolders {
    /// One folder per video.
    pub dirs: Vec<PathBuf>,
    /// Preprocessing.
    pub config: FrameConfig,
}

impl Dataset<crate::Result<Frames>> for FrameFolders {
    fn get(&self, index: usize) -> Option<crate::Result<Frames>> {
        self.dirs.get(index).map(|d| read_frames(d, &self.config))
    }

    fn len(&self) -> usize {
        self.dirs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
        img.save(path).unwrap_or_else(|e| panic!("{e}"));
    }

    fn raw() -> FrameConfig {
        FrameConfig::new()
            .with_max_frames(None)
            .with_resize(None)
            .with_crop(None)
            .with_mean([0.0; 3])
            .with_std([1.0; 3])
    }

    #[test]
    fn numeric_order_stray_files_and_normalisation() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for i in [1u8, 2, 10] {
            write_png(
                &dir.path().join(format!("images{i:04}.png")),
                2,
                1,
                |x, _| [i, 51 * x as u8, 255],
            );
        }
        std::fs::write(dir.path().join(".DS_Store"), b"junk").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("notes.txt"), b"junk").unwrap_or_else(|e| panic!("{e}"));
        let f = read_frames(dir.path(), &raw()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.frames, f.height, f.width), (3, 1, 2));
        // Frame order 1, 2, 10: red channel i/255.
        let red = |k: usize| f.values[k * 6];
        assert_eq!(
            [red(0), red(1), red(2)],
            [1.0 / 255.0, 2.0 / 255.0, 10.0 / 255.0]
        );
        // Channel-first: frame 0 = R(2 px), G(0, 0.2), B(1, 1).
        assert_eq!(&f.values[2..6], &[0.0, 0.2, 1.0, 1.0]);
        // Mean 0.5, std 0.25: B = (1 - 0.5) / 0.25 = 2.
        let n = read_frames(dir.path(), &raw().with_mean([0.5; 3]).with_std([0.25; 3]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.values[4], 2.0);
        let s = read_frames(dir.path(), &raw().with_max_frames(Some(2)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.source, vec![0, 2], "linspace(0, 2, 2)");
    }

    #[test]
    fn resize_then_centre_crop() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // 4 × 2 frame: left half black, right half white; crop the middle 2 × 2.
        write_png(&dir.path().join("images0001.png"), 4, 2, |x, _| {
            if x < 2 { [0; 3] } else { [255; 3] }
        });
        let f = read_frames(dir.path(), &raw().with_crop(Some((2, 2))))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.width, f.height), (2, 2));
        assert_eq!(&f.values[0..4], &[0.0, 1.0, 0.0, 1.0]);
        let r = read_frames(dir.path(), &raw().with_resize(Some((8, 4))))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.width, r.height, r.values.len()), (8, 4, 3 * 32));
        let err = read_frames(dir.path(), &raw().with_crop(Some((9, 9))))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("images0001.png") && err.contains("larger"),
            "{err}"
        );
    }

    #[test]
    fn bad_folders_and_frames_name_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope");
        let err = read_frames(&missing, &raw())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("nope"), "{err}");
        let err = read_frames(dir.path(), &raw())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("expected PNG frames"), "{err}");
        write_png(&dir.path().join("images0001.png"), 2, 2, |_, _| [0; 3]);
        std::fs::write(
            dir.path().join("images0002.png"),
            b"\x89PNG\r\n\x1a\ncorrupt",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = read_frames(dir.path(), &raw())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("images0002.png") && err.contains("frame 2"),
            "{err}"
        );
        write_png(&dir.path().join("images0002.png"), 3, 2, |_, _| [0; 3]);
        let err = read_frames(dir.path(), &raw())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("images0002.png") && err.contains("expected 2×2"),
            "{err}"
        );
        let ds = FrameFolders {
            dirs: vec![missing, dir.path().to_path_buf()],
            config: raw(),
        };
        assert_eq!(ds.len(), 2);
        assert!(ds.get(0).is_some_and(|r| r.is_err()) && ds.get(2).is_none());
    }

    #[test]
    fn official_dummy_frames_load() {
        let Some(dir) = crate::shared_data("other/phoenix14t_tfds_dummy/frames") else {
            return;
        };
        let f = read_frames(&dir, &raw()).unwrap_or_else(|e| panic!("{e}"));
        // `file` reports both as 210 × 260 8-bit RGB PNGs.
        assert_eq!((f.frames, f.width, f.height), (2, 210, 260));
        assert!(f.values.iter().all(|v| (0.0..=1.0).contains(v)));
        let d = read_frames(&dir, &FrameConfig::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((d.frames, d.width, d.height), (2, 224, 224));
    }

    /// CRC-32 (the PNG chunk checksum, ISO-HDLC), bit by bit.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_header_claiming_more_pixels_than_the_file_holds_is_refused_before_decoding() {
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        // IHDR: 8-byte signature, length, "IHDR", then width and height (big-endian) at
        // 16..24; its CRC (over "IHDR" and the 13 data bytes) at 29..33 is rewritten so
        // only the size is wrong. 60000 × 60000 × 4 bytes is far beyond 1032 × the file.
        bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_frame(&bytes, Path::new("images0003.png"), 3)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("images0003.png"), "{err}");
        assert!(
            err.contains("frame 3: the header says 60000×60000 pixels"),
            "{err}"
        );
    }
}
