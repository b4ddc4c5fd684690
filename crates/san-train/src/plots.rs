//! PNG plots of a run, drawn with plotters into a buffer and written atomically:
//! `loss.png` (training loss per epoch), `dev_r1.png` (dev coarse R@1 and, on its own
//! axis, FG-V2T R@1 per epoch) and `coarse_vs_fine.png` (coarse against fine-grained R@1,
//! one labelled point per epoch). Every plot marks where stage 2 starts and the epoch each
//! stage selected, numbers epochs with integers, and keeps its legend beside the data.
//! Text uses the embedded DejaVu Sans, so no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::record::EpochRecord;

const SIZE: (u32, u32) = (800, 500);
/// Width of the legend strip right of the data.
const LEGEND_WIDTH: u32 = 180;

/// One named series of (x, y) points.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
    /// A text beside each point (empty: none).
    pub point_labels: Vec<String>,
}

impl Series {
    /// A series without point labels.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            point_labels: Vec::new(),
        }
    }
}

/// How a chart draws its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Lines through the points, with markers.
    Lines,
    /// Markers only.
    Points,
}

/// One panel of a figure: its series on their own y axis.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// The y axis's label.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
    /// Points drawn with a ring and listed in the legend as "selected epoch".
    pub selected: Vec<(f64, f64)>,
}

/// A figure: panels stacked over one x axis, a legend strip on the right.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Title, above everything.
    pub title: String,
    /// A second line under the title (e.g. a point left out of view).
    pub note: Option<String>,
    /// The x axis's label.
    pub x_label: String,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
    /// Lines or markers.
    pub style: Style,
    /// Label the x axis with integers only (epochs).
    pub integer_x: bool,
    /// Dashed vertical lines across every panel, with their legend text.
    pub vlines: Vec<(f64, String)>,
    /// The x range; `None` fits the points.
    pub x_range: Option<(f64, f64)>,
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
const GREY: RGBColor = RGBColor(120, 120, 120);

/// An x tick's text when only integers are shown: the integer, or nothing between them.
pub fn integer_tick(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}

/// `(lo, hi)` of the finite values, widened by 5% on each side (a unit range when there
/// are none).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| v.is_finite()) {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let m = ((hi - lo) * 0.05).max(0.5);
    (lo - m, hi + m)
}

/// Draws `figure` to a PNG at `path` (written under a temporary name, then renamed).
pub fn draw(path: &Path, figure: &Figure) -> Result<()> {
    register_font();
    let (w, h) = SIZE;
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    let err = |e: &dyn std::fmt::Display| TrainError::Plot {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let root = root
            .titled(&figure.title, ("sans-serif", 20))
            .map_err(|e| err(&e))?;
        let root = match &figure.note {
            Some(note) => root.titled(note, ("sans-serif", 13)).map_err(|e| err(&e))?,
            None => root,
        };
        let (plots, legend) = root.split_horizontally(w - LEGEND_WIDTH);
        let labels = legend_labels(figure);
        let x_range = figure.x_range.unwrap_or_else(|| {
            span(
                figure
                    .panels
                    .iter()
                    .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|p| p.0))),
            )
        });
        let areas = plots.split_evenly((figure.panels.len().max(1), 1));
        let last = figure.panels.len().saturating_sub(1);
        for (i, (area, panel)) in areas.iter().zip(&figure.panels).enumerate() {
            draw_panel(area, figure, panel, &labels, x_range, i == last).map_err(|e| err(&e))?;
        }
        draw_legend(&legend, figure, &labels).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    write_png(path, (w, h), buffer)
}

/// The series labels of a figure, each once, in order of appearance (their colour is
/// their position).
fn legend_labels(figure: &Figure) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for s in figure.panels.iter().flat_map(|p| &p.series) {
        if !labels.contains(&s.label) {
            labels.push(s.label.clone());
        }
    }
    labels
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    figure: &Figure,
    panel: &Panel,
    labels: &[String],
    (x0, x1): (f64, f64),
    bottom: bool,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let in_view = |x: f64| x >= x0 && x <= x1;
    let (y0, y1) = span(
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| in_view(p.0)).map(|p| p.1)),
    );
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(if bottom { 36 } else { 18 })
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let tick = |x: &f64| integer_tick(*x);
    let decimals = if x1 - x0 > 10.0 { 0 } else { 1 };
    let plain = move |x: &f64| format!("{x:.decimals$}");
    let mut mesh = chart.configure_mesh();
    // Bold grid lines only: the light ones crowd the picture and triple the PNG's size.
    mesh.y_desc(panel.y_label.as_str())
        .light_line_style(WHITE)
        .label_style(("sans-serif", 13))
        .x_labels(if figure.integer_x {
            ((x1 - x0).round() as usize + 1).clamp(2, 25)
        } else {
            8
        });
    if figure.integer_x {
        mesh.x_label_formatter(&tick);
    } else {
        mesh.x_label_formatter(&plain);
    }
    if bottom {
        mesh.x_desc(figure.x_label.as_str());
    }
    mesh.draw()?;
    for &(x, _) in figure.vlines.iter().filter(|(x, _)| in_view(*x)) {
        chart.draw_series(DashedLineSeries::new(
            vec![(x, y0), (x, y1)],
            6,
            4,
            GREY.stroke_width(2),
        ))?;
    }
    for s in &panel.series {
        let color = PALETTE[labels.iter().position(|l| *l == s.label).unwrap_or(0) % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| x.is_finite() && y.is_finite() && in_view(x))
            .collect();
        if figure.style == Style::Lines {
            chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        let texts = s.points.iter().zip(&s.point_labels);
        chart.draw_series(
            texts
                .filter(|((x, y), _)| x.is_finite() && y.is_finite() && in_view(*x))
                .map(|(&p, t)| {
                    EmptyElement::at(p)
                        + Text::new(
                            t.clone(),
                            (6, -14),
                            ("sans-serif", 11).into_font().color(&color),
                        )
                }),
        )?;
    }
    chart.draw_series(
        panel
            .selected
            .iter()
            .filter(|(x, _)| in_view(*x))
            .map(|&p| Circle::new(p, 9, BLACK.stroke_width(2))),
    )?;
    Ok(())
}

fn draw_legend(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    figure: &Figure,
    labels: &[String],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let font = ("sans-serif", 13).into_font();
    let mut y = 24;
    for (i, label) in labels.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        area.draw(&Circle::new((14, y), 5, color.filled()))?;
        area.draw(&Text::new(label.clone(), (26, y - 8), font.clone()))?;
        y += 22;
    }
    if figure.panels.iter().any(|p| !p.selected.is_empty()) {
        area.draw(&Circle::new((14, y), 8, BLACK.stroke_width(2)))?;
        area.draw(&Text::new("selected epoch", (26, y - 8), font.clone()))?;
        y += 22;
    }
    for (_, label) in &figure.vlines {
        area.draw(&PathElement::new(
            vec![(9, y - 8), (9, y + 8)],
            GREY.stroke_width(2),
        ))?;
        area.draw(&Text::new(label.clone(), (26, y - 8), font.clone()))?;
        y += 22;
    }
    Ok(())
}

/// Draws one panel of `series` to a PNG at `path`: a [`Figure`] with a title, axis labels
/// and nothing marked.
pub fn chart(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
    style: Style,
) -> Result<()> {
    draw(
        path,
        &Figure {
            title: title.into(),
            note: None,
            x_label: x_label.into(),
            panels: vec![Panel {
                y_label: y_label.into(),
                series: series.to_vec(),
                selected: Vec::new(),
            }],
            style,
            integer_x: false,
            vlines: Vec::new(),
            x_range: None,
        },
    )
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

/// The epoch a stage selected: its first epoch with the highest selection score (as the
/// stage loop keeps the first of equal scores).
pub fn selected_epoch(records: &[EpochRecord], stage: u8) -> Option<&EpochRecord> {
    records
        .iter()
        .filter(|r| r.stage == stage)
        .fold(None, |best: Option<&EpochRecord>, r| match best {
            Some(b) if b.selection >= r.selection => Some(b),
            _ => Some(r),
        })
}

/// An x range that leaves out a first point far left of all others (stage 1's first
/// epoch, before the model has learnt anything, squeezes every later point into a corner):
/// `Some((range, left_out))` when the first x lies more than the others' whole spread
/// below their minimum, else `None`. Needs at least three other points.
pub fn range_without_first(xs: &[f64]) -> Option<((f64, f64), f64)> {
    let (&first, rest) = xs.split_first()?;
    if rest.len() < 3 {
        return None;
    }
    let lo = rest.iter().copied().fold(f64::MAX, f64::min);
    let hi = rest.iter().copied().fold(f64::MIN, f64::max);
    let spread = (hi - lo).max(1.0);
    (first < lo - spread).then(|| (span(rest.iter().copied()), first))
}

/// Writes `loss.png`, `dev_r1.png` and `coarse_vs_fine.png` into `dir`; returns their
/// file names.
pub fn plot_run(dir: &Path, records: &[EpochRecord]) -> Result<Vec<String>> {
    let x = |r: &EpochRecord| run_epoch(records, r);
    let stage1 = records.iter().filter(|r| r.stage == 1).count();
    let has_stage2 = records.iter().any(|r| r.stage == 2);
    let vlines = if has_stage2 && stage1 > 0 {
        vec![(stage1 as f64 + 0.5, "stage 2 starts".to_string())]
    } else {
        Vec::new()
    };
    let chosen: Vec<&EpochRecord> = [1, 2]
        .iter()
        .filter_map(|&s| selected_epoch(records, s))
        .collect();
    let points = |stage: Option<u8>, f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter(|r| stage.is_none_or(|s| r.stage == s))
            .filter_map(|r| f(r).map(|y| (x(r), y)))
            .collect()
    };
    let marked = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        chosen
            .iter()
            .filter_map(|r| f(r).map(|y| (x(r), y)))
            .collect()
    };
    let epochs = (0.5, records.len().max(1) as f64 + 0.5);
    let x_label = "epoch (stage 2 follows stage 1)".to_string();
    let figure = |title: &str, panels: Vec<Panel>| Figure {
        title: title.into(),
        note: None,
        x_label: x_label.clone(),
        panels,
        style: Style::Lines,
        integer_x: true,
        vlines: vlines.clone(),
        x_range: Some(epochs),
    };

    let loss = |r: &EpochRecord| Some(r.loss);
    draw(
        &dir.join("loss.png"),
        &figure(
            "Training loss",
            vec![Panel {
                y_label: "mean loss".into(),
                series: vec![
                    Series::new("stage 1 (coarse)", points(Some(1), &loss)),
                    Series::new("stage 2 (coarse + λ·fine)", points(Some(2), &loss)),
                ],
                selected: marked(&loss),
            }],
        ),
    )?;

    let t2v = |r: &EpochRecord| Some(r.dev.t2v.r1);
    let v2t = |r: &EpochRecord| Some(r.dev.v2t.r1);
    let fg = |r: &EpochRecord| r.dev.fine_grained.map(|m| m.r1);
    let mut panels = vec![Panel {
        y_label: "coarse R@1 (%)".into(),
        series: vec![
            Series::new("T2V R@1", points(None, &t2v)),
            Series::new("V2T R@1", points(None, &v2t)),
        ],
        selected: [marked(&t2v), marked(&v2t)].concat(),
    }];
    let fg_points = points(None, &fg);
    if !fg_points.is_empty() {
        panels.push(Panel {
            y_label: "FG-V2T R@1 (%)".into(),
            series: vec![Series::new("FG-V2T R@1", fg_points)],
            selected: marked(&fg),
        });
    }
    draw(
        &dir.join("dev_r1.png"),
        &figure("Dev R@1 per epoch", panels),
    )?;

    // Coarse against fine-grained: one point per epoch, labelled with its epoch.
    let coarse = |r: &EpochRecord| (r.dev.t2v.r1 + r.dev.v2t.r1) / 2.0;
    let stage_series = |stage: u8, label: &str| {
        let rs: Vec<&EpochRecord> = records
            .iter()
            .filter(|r| r.stage == stage && r.dev.fine_grained.is_some())
            .collect();
        Series {
            label: label.into(),
            points: rs
                .iter()
                .filter_map(|r| r.dev.fine_grained.map(|m| (coarse(r), m.r1)))
                .collect(),
            point_labels: rs.iter().map(|r| format!("{}", x(r))).collect(),
        }
    };
    let series = vec![stage_series(1, "stage 1"), stage_series(2, "stage 2")];
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let (x_range, note) = match range_without_first(&xs) {
        Some((range, left)) => (
            Some(range),
            Some(format!(
                "epoch 1 (coarse R@1 {left:.1}) lies left of this view; numbers are epochs"
            )),
        ),
        None => (None, Some("numbers are epochs".to_string())),
    };
    draw(
        &dir.join("coarse_vs_fine.png"),
        &Figure {
            title: "Coarse against fine-grained R@1 (dev, one point per epoch)".into(),
            note,
            x_label: "coarse R@1, mean of T2V and V2T (%)".into(),
            panels: vec![Panel {
                y_label: "FG-V2T R@1 (%)".into(),
                series,
                selected: chosen
                    .iter()
                    .filter_map(|r| r.dev.fine_grained.map(|m| (coarse(r), m.r1)))
                    .collect(),
            }],
            style: Style::Lines,
            integer_x: false,
            vlines: Vec::new(),
            x_range,
        },
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
    use san_core::metrics::{RetrievalMetrics, RetrievalReport};

    #[test]
    fn chart_writes_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("c.png");
        let s = Series::new("a", vec![(1.0, 2.0), (2.0, 3.0), (3.0, f64::NAN)]);
        chart(&path, "t", ("x", "y"), &[s], Style::Lines).unwrap_or_else(|e| panic!("{e}"));
        let img = image::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((img.width(), img.height()), SIZE);
        // Something other than the white background was drawn.
        assert!(img.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
    }

    #[test]
    fn integer_ticks_blank_the_halves() {
        assert_eq!(integer_tick(3.0), "3");
        assert_eq!(integer_tick(2.5), "");
        assert_eq!(integer_tick(12.000_000_000_1), "12");
    }

    #[test]
    fn a_far_first_point_is_left_out_of_view() {
        // others span 70..80 (spread 10): 30 lies 40 below, more than one spread → out
        let (range, left) = range_without_first(&[30.0, 70.0, 75.0, 80.0]).unwrap();
        assert_eq!(left, 30.0);
        assert!(range.0 > 30.0 && range.0 <= 70.0 && range.1 >= 80.0);
        // 65 is within one spread of 70: kept; too few points: kept
        assert!(range_without_first(&[65.0, 70.0, 75.0, 80.0]).is_none());
        assert!(range_without_first(&[30.0, 70.0, 80.0]).is_none());
    }

    fn record(stage: u8, epoch: usize, selection: f64) -> EpochRecord {
        let m = |r1: f64| RetrievalMetrics {
            r1,
            ..RetrievalMetrics::from_ranks(&[1])
        };
        EpochRecord {
            stage,
            epoch,
            loss: 1.0 / epoch as f64,
            learning_rate: 1e-3,
            seconds: 1.0,
            selection,
            dev: RetrievalReport {
                t2v: m(selection),
                v2t: m(selection - 5.0),
                fine_grained: Some(m(selection / 10.0)),
                fine_grained_t2v: None,
                fine_grained_detail: None,
                fine_grained_t2v_detail: None,
                fine_grained_v2t_only: None,
            },
        }
    }

    #[test]
    fn each_stage_selects_its_first_best_epoch_and_the_plots_are_drawn() {
        let records = vec![
            record(1, 1, 10.0),
            record(1, 2, 50.0),
            record(1, 3, 50.0),
            record(2, 1, 40.0),
            record(2, 2, 60.0),
        ];
        // stage 1: epochs 2 and 3 tie at 50 → the first, 2; stage 2: epoch 2
        assert_eq!(selected_epoch(&records, 1).map(|r| r.epoch), Some(2));
        assert_eq!(selected_epoch(&records, 2).map(|r| r.epoch), Some(2));
        assert!(selected_epoch(&records, 3).is_none());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let names = plot_run(dir.path(), &records).unwrap_or_else(|e| panic!("{e}"));
        for name in names {
            let img = image::open(dir.path().join(&name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((img.width(), img.height()), SIZE, "{name}");
        }
    }
}
