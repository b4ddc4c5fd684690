//! Small previews of a clip for the HTML pages: its pose as an animated GIF (any `.pose`
//! layout the reader takes, drawn with the header's limbs and colours), or a strip of its
//! frames for a frame folder. A clip with features only has none.

use std::path::Path;

use image::codecs::gif::{GifEncoder, Repeat};
use image::imageops::FilterType;
use image::{Delay, Frame, RgbImage, RgbaImage};
use san_data::frames::{frame_paths, frames_dir};
use san_data::phoenix::Split;
use san_data::pose::{Pose, read_pose};
use san_data::sample::pose_path;
use san_data::signsim::draw_frame;

use crate::html::data_uri;

/// Frames in a pose preview.
pub const PREVIEW_FRAMES: usize = 12;
/// Longest side of a preview frame, pixels.
pub const PREVIEW_SIDE: u32 = 120;

/// `image` scaled to fit in `side × side`, keeping its aspect.
fn fit(image: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let scale = side as f64 / w.max(h).max(1) as f64;
    if scale >= 1.0 {
        return image.clone();
    }
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    image::imageops::resize(image, nw, nh, FilterType::Triangle)
}

/// An animated GIF of `pose`: up to `frames` frames spread over the clip, each scaled to
/// fit `side` pixels, played at the clip's speed and looped. `None` for a pose without
/// frames.
pub fn pose_gif(
    pose: &Pose,
    frames: usize,
    side: u32,
) -> Result<Option<Vec<u8>>, image::ImageError> {
    let n = pose.frames;
    if n == 0 || frames == 0 {
        return Ok(None);
    }
    let k = frames.min(n);
    let step_ms = if pose.fps > 0.0 {
        (1000.0 * n as f64 / k as f64 / f64::from(pose.fps)).clamp(40.0, 500.0)
    } else {
        120.0
    };
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite)?;
        for i in 0..k {
            let t = i * n / k;
            let rgb = fit(&draw_frame(pose, t), side);
            let rgba: RgbaImage = image::DynamicImage::ImageRgb8(rgb).to_rgba8();
            encoder.encode_frame(Frame::from_parts(
                rgba,
                0,
                0,
                Delay::from_numer_denom_ms(step_ms.round() as u32, 1),
            ))?;
        }
    }
    Ok(Some(bytes))
}

/// A PNG strip of up to `count` frames spread over a frame folder, each scaled to fit
/// `side` pixels.
pub fn frame_strip(
    paths: &[std::path::PathBuf],
    count: usize,
    side: u32,
) -> Result<Option<Vec<u8>>, String> {
    if paths.is_empty() || count == 0 {
        return Ok(None);
    }
    let k = count.min(paths.len());
    let mut tiles = Vec::with_capacity(k);
    for i in 0..k {
        let path = &paths[i * paths.len() / k];
        let img = image::open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_rgb8();
        tiles.push(fit(&img, side));
    }
    let width: u32 = tiles.iter().map(RgbImage::width).sum::<u32>() + 2 * (k as u32 - 1);
    let height = tiles.iter().map(RgbImage::height).max().unwrap_or(1);
    let mut strip = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut x = 0;
    for tile in &tiles {
        image::imageops::replace(&mut strip, tile, i64::from(x), 0);
        x += tile.width() + 2;
    }
    let mut png = Vec::new();
    strip
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(Some(png))
}

/// The preview of clip `name` under corpus `root` as a `data:` URI: its `.pose` file in
/// any split as a GIF, else its frame folder as a strip; `Ok(None)` when the corpus has
/// neither (features only); `Err` (a message naming the file) when a file is there but
/// unreadable, which the pages report as a warning and show the clip without preview.
pub fn clip_preview(root: &Path, name: &str) -> Result<Option<String>, String> {
    for split in Split::ALL {
        let path = pose_path(root, split, name);
        if path.is_file() {
            let pose = read_pose(&path).map_err(|e| e.to_string())?;
            return pose_gif(&pose, PREVIEW_FRAMES, PREVIEW_SIDE)
                .map(|g| g.map(|bytes| data_uri("image/gif", &bytes)))
                .map_err(|e| format!("{}: {e}", path.display()));
        }
        let dir = frames_dir(root, split, name);
        if dir.is_dir() {
            let paths = frame_paths(&dir).map_err(|e| e.to_string())?;
            return frame_strip(&paths, 6, 80)
                .map(|p| p.map(|bytes| data_uri("image/png", &bytes)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;
    use image::codecs::gif::GifDecoder;

    fn frames_of(gif: &[u8]) -> Vec<image::Frame> {
        GifDecoder::new(std::io::Cursor::new(gif))
            .and_then(|d| d.into_frames().collect_frames())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_pose_becomes_a_looping_gif_of_at_most_the_asked_frames() {
        let header = san_data::signsim::header();
        let n = header.total_points();
        let frames = 30;
        let pose = Pose {
            header,
            fps: 25.0,
            frames,
            people: 1,
            data: (0..frames * n * 2).map(|i| (i % 200) as f32).collect(),
            confidence: vec![1.0; frames * n],
        };
        let gif = pose_gif(&pose, 12, 120)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a preview"));
        assert!(gif.starts_with(b"GIF89a"));
        let decoded = frames_of(&gif);
        assert_eq!(decoded.len(), 12);
        let (w, h) = decoded[0].buffer().dimensions();
        // the 210 × 260 signsim frame scaled to fit 120: 97 × 120 (hand arithmetic)
        assert_eq!((w, h), (97, 120));
        let empty = Pose {
            frames: 0,
            data: Vec::new(),
            confidence: Vec::new(),
            ..pose
        };
        assert!(
            pose_gif(&empty, 12, 120)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
    }

    #[test]
    fn real_pose_files_preview_from_a_corpus_root() {
        // The pose-format project's files, laid out as a corpus root would hold them.
        let data =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pose");
        if !data.is_dir() {
            println!("skipping: {} not found", data.display());
            return;
        }
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in ["mediapipe", "openpose"] {
            let to = pose_path(root.path(), Split::Test, name);
            std::fs::create_dir_all(to.parent().unwrap_or(root.path()))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::copy(data.join(format!("{name}.pose")), &to).unwrap_or_else(|e| panic!("{e}"));
            let uri = clip_preview(root.path(), name)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("a preview of {name}"));
            assert!(uri.starts_with("data:image/gif;base64,R0lGOD"), "{name}");
            assert!(uri.len() < 400_000, "{name}: {} bytes", uri.len());
        }
        // features only: no preview, no error
        assert_eq!(clip_preview(root.path(), "no-such-clip"), Ok(None));
    }
}
