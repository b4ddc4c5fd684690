//! Video files through FFmpeg (`ffmpeg-next`, behind the `video` feature): any container and
//! codec the system's FFmpeg decodes, out as RGB frames at a target size and frame rate.

use std::path::Path;

use burn::config::Config;
use ffmpeg::format::Pixel;
use ffmpeg::media::Type;
use ffmpeg::software::scaling::{Context as Scaler, Flags};
use ffmpeg::util::frame::video::Video as VideoFrame;
use ffmpeg_next as ffmpeg;

use crate::error::DataError;

/// Output of [`read_video`].
#[derive(Config, Debug)]
pub struct VideoConfig {
    /// Output (width, height) (`None`: the video's own size).
    #[config(default = "None")]
    pub size: Option<(u32, u32)>,
    /// Output frame rate: frames are kept at this rate by timestamp (`None`: every frame).
    #[config(default = "None")]
    pub fps: Option<f64>,
}

/// Decoded RGB frames, `[frames, height, width, 3]` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrames {
    /// Frames kept.
    pub frames: usize,
    /// Frame height.
    pub height: usize,
    /// Frame width.
    pub width: usize,
    /// Frame rate of the kept frames.
    pub fps: f64,
    /// RGB24 pixels, row-major, no row padding.
    pub rgb: Vec<u8>,
}

/// Decodes the best video stream of `path`.
///
/// Errors name the file and say what failed: opening, no video stream, the decoder, or a
/// frame (with its index).
pub fn read_video(path: &Path, config: &VideoConfig) -> crate::Result<VideoFrames> {
    let fail = |what: String| DataError::invalid(path, what);
    ffmpeg::init().map_err(|e| fail(format!("FFmpeg did not initialise: {e}")))?;
    let mut input = ffmpeg::format::input(path)
        .map_err(|e| fail(format!("expected a video FFmpeg can open: {e}")))?;
    let stream = input
        .streams()
        .best(Type::Video)
        .ok_or_else(|| fail("expected a video stream, found none".into()))?;
    let index = stream.index();
    let rate = stream.avg_frame_rate();
    let source_fps = if rate.denominator() != 0 && rate.numerator() > 0 {
        f64::from(rate.numerator()) / f64::from(rate.denominator())
    } else {
        25.0
    };
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| fail(format!("expected a decodable video codec: {e}")))?;
    let (w, h) = config.size.unwrap_or((decoder.width(), decoder.height()));
    let mut scaler = Scaler::get(
        decoder.format(),
        decoder.width(),
        decoder.height(),
        Pixel::RGB24,
        w,
        h,
        Flags::BILINEAR,
    )
    .map_err(|e| fail(format!("expected a convertible pixel format: {e}")))?;
    let step = config.fps.filter(|f| *f > 0.0).map(|f| source_fps / f);
    let mut out = VideoFrames {
        frames: 0,
        height: h as usize,
        width: w as usize,
        fps: config.fps.filter(|f| *f > 0.0).unwrap_or(source_fps),
        rgb: Vec::new(),
    };
    let (mut decoded, mut next_keep) = (0usize, 0.0f64);
    let mut receive =
        |decoder: &mut ffmpeg::decoder::Video, out: &mut VideoFrames| -> crate::Result<()> {
            let mut frame = VideoFrame::empty();
            while decoder.receive_frame(&mut frame).is_ok() {
                let keep = match step {
                    None => true,
                    Some(step) => {
                        let keep = decoded as f64 + 1e-9 >= next_keep;
                        if keep {
                            next_keep += step;
                        }
                        keep
                    }
                };
                if keep {
                    let mut rgb = VideoFrame::empty();
                    scaler.run(&frame, &mut rgb).map_err(|e| {
                        fail(format!("frame {decoded}: conversion to RGB failed: {e}"))
                    })?;
                    let stride = rgb.stride(0);
                    let row = w as usize * 3;
                    for y in 0..h as usize {
                        out.rgb
                            .extend_from_slice(&rgb.data(0)[y * stride..y * stride + row]);
                    }
                    out.frames += 1;
                }
                decoded += 1;
            }
            Ok(())
        };
    for (n, (s, packet)) in input.packets().enumerate() {
        if s.index() != index {
            continue;
        }
        decoder
            .send_packet(&packet)
            .map_err(|e| fail(format!("packet {n}: the decoder rejected it: {e}")))?;
        receive(&mut decoder, &mut out)?;
    }
    decoder
        .send_eof()
        .map_err(|e| fail(format!("the decoder did not flush: {e}")))?;
    receive(&mut decoder, &mut out)?;
    if out.frames == 0 {
        return Err(fail(
            "expected at least one decodable frame, got none".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A 1-second 210 × 260 test pattern at 25 fps, made with the `ffmpeg` CLI.
    fn make_video(dir: &Path) -> Option<std::path::PathBuf> {
        let out = dir.join("clip.mp4");
        let ok = Command::new("ffmpeg")
            .args([
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=210x260:rate=25",
                "-t",
                "1",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(out)
    }

    #[test]
    fn decodes_a_cli_made_video_like_the_cli() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let Some(path) = make_video(dir.path()) else {
            eprintln!("skipping: the ffmpeg CLI is not installed");
            return;
        };
        let v = read_video(&path, &VideoConfig::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.frames, v.width, v.height, v.fps), (25, 210, 260, 25.0));
        assert_eq!(v.rgb.len(), 25 * 260 * 210 * 3);
        // The CLI's own RGB24 decoding of the same file: mean byte value per frame.
        let cli = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-i"])
            .arg(&path)
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.stdout.len(), v.rgb.len());
        let mean = |b: &[u8]| b.iter().map(|&x| f64::from(x)).sum::<f64>() / b.len() as f64;
        assert!(
            (mean(&cli.stdout) - mean(&v.rgb)).abs() < 1.0,
            "{} vs {}",
            mean(&cli.stdout),
            mean(&v.rgb)
        );
        let small = read_video(
            &path,
            &VideoConfig::new()
                .with_size(Some((112, 112)))
                .with_fps(Some(5.0)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((small.frames, small.width, small.height), (5, 112, 112));
    }

    #[test]
    fn a_file_that_is_not_a_video_names_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("notes.mp4");
        std::fs::write(&path, b"this is not a video").unwrap_or_else(|e| panic!("{e}"));
        let err = read_video(&path, &VideoConfig::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("notes.mp4") && err.contains("expected"),
            "{err}"
        );
    }
}
