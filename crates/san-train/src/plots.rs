//! PNG plots of a run, drawn with plotters into a buffer and written atomically:
//! `loss.png` (training loss per epoch), `dev_r1.png` (dev R@1 per epoch) and
//! `coarse_vs_fine.png` (coarse against fine-grained R@1, per stage). Text uses the
//! embedded DejaVu Sans, so no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::record::EpochRecord;

const SIZE: (u32, u32) = (800, 500);

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// How a chart draws its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Lines through the points, with markers.
    Lines,
    /// Markers only.
    Points,
}

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws a chart to a PNG at `path` (written under a temporary name, then renamed).
pub fn chart(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
    style: Style,
) -> Result<()> {
    register_font();
    let (w, h) = SIZE;
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| {
        let m = ((b - a) * 0.05).max(1e-6);
        (a - m, b + m)
    };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1), pad(y0, y1));
    let draw_err = |e: &dyn std::fmt::Display| TrainError::Plot {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| draw_err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| draw_err(&e))?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if style == Style::Lines {
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(|e| draw_err(&e))?;
            }
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| draw_err(&e))?
                .label(s.label.clone())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| draw_err(&e))?;
        root.present().map_err(|e| draw_err(&e))?;
    }
    write_png(path, (w, h), buffer)
}

/// Encodes an RGB buffer of `size` as a PNG at `path` (temporary name, then renamed).
pub(crate) fn write_png(path: &Path, (w, h): (u32, u32), buffer: Vec<u8>) -> Result<()> {
    let err = |problem: String| TrainError::Plot {
        path: path.to_path_buf(),
        problem,
    };
    let image = image::RgbImage::from_raw(w, h, buffer)
        .ok_or_else(|| err("plot buffer of the wrong size".into()))?;
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| err(e.to_string()))?;
    Ok(san_data::io::write_atomic(path, &png)?)
}

/// The x position of each epoch when the stages are laid end to end.
fn run_epoch(records: &[EpochRecord], r: &EpochRecord) -> f64 {
    let stage1 = records.iter().filter(|x| x.stage == 1).count();
    if r.stage == 1 {
        r.epoch as f64
    } else {
        (stage1 + r.epoch) as f64
    }
}

/// Writes `loss.png`, `dev_r1.png` and `coarse_vs_fine.png` into `dir`; returns their
/// file names.
pub fn plot_run(dir: &Path, records: &[EpochRecord]) -> Result<Vec<String>> {
    let by_stage = |f: &dyn Fn(&EpochRecord) -> Option<f64>, stage: u8| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter(|r| r.stage == stage)
            .filter_map(|r| f(r).map(|y| (run_epoch(records, r), y)))
            .collect()
    };
    let loss = |r: &EpochRecord| Some(r.loss);
    chart(
        &dir.join("loss.png"),
        "Training loss",
        ("epoch (stage 2 follows stage 1)", "mean loss"),
        &[
            Series {
                label: "stage 1 (coarse)".into(),
                points: by_stage(&loss, 1),
            },
            Series {
                label: "stage 2 (coarse + λ·fine)".into(),
                points: by_stage(&loss, 2),
            },
        ],
        Style::Lines,
    )?;
    let all = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|y| (run_epoch(records, r), y)))
            .collect()
    };
    let mut dev = vec![
        Series {
            label: "T2V R@1".into(),
            points: all(&|r| Some(r.dev.t2v.r1)),
        },
        Series {
            label: "V2T R@1".into(),
            points: all(&|r| Some(r.dev.v2t.r1)),
        },
    ];
    let fg = all(&|r| r.dev.fine_grained.map(|m| m.r1));
    if !fg.is_empty() {
        dev.push(Series {
            label: "FG-V2T R@1".into(),
            points: fg,
        });
    }
    chart(
        &dir.join("dev_r1.png"),
        "Dev R@1 per epoch",
        ("epoch (stage 2 follows stage 1)", "R@1 (%)"),
        &dev,
        Style::Lines,
    )?;
    let pairs = |stage: u8| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter(|r| r.stage == stage)
            .filter_map(|r| {
                r.dev
                    .fine_grained
                    .map(|fg| ((r.dev.t2v.r1 + r.dev.v2t.r1) / 2.0, fg.r1))
            })
            .collect()
    };
    chart(
        &dir.join("coarse_vs_fine.png"),
        "Coarse against fine-grained R@1 (dev, one point per epoch)",
        ("coarse R@1, mean of T2V and V2T (%)", "FG-V2T R@1 (%)"),
        &[
            Series {
                label: "stage 1".into(),
                points: pairs(1),
            },
            Series {
                label: "stage 2".into(),
                points: pairs(2),
            },
        ],
        Style::Points,
    )?;
    Ok(vec![
        "loss.png".into(),
        "dev_r1.png".into(),
        "coarse_vs_fine.png".into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_writes_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("c.png");
        let s = Series {
            label: "a".into(),
            points: vec![(1.0, 2.0), (2.0, 3.0), (3.0, f64::NAN)],
        };
        chart(&path, "t", ("x", "y"), &[s], Style::Lines).unwrap_or_else(|e| panic!("{e}"));
        let img = image::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((img.width(), img.height()), SIZE);
        // Something other than the white background was drawn.
        assert!(img.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
    }
}
