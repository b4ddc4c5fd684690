//! A heat map of a grid of values as a PNG (the sweeps' pictures): one coloured cell per
//! grid point, its value printed inside, white for a missing value. Drawn with plotters
//! into a buffer and written atomically.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::plots::{register_font, write_png};

/// A grid of values to draw: `values[row][column]`, rows along y (bottom to top) and
/// columns along x.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The title over the map.
    pub title: String,
    /// The x axis's name and each column's label.
    pub x: (String, Vec<String>),
    /// The y axis's name and each row's label.
    pub y: (String, Vec<String>),
    /// One row per y label, one value per x label (NaN: missing).
    pub values: Vec<Vec<f64>>,
    /// The values the colour scale spans (low → dark purple, high → yellow);
    /// [`value_range`] gives the data's own.
    pub range: (f64, f64),
    /// Decimals printed in each cell.
    pub decimals: usize,
}

const CELL: (u32, u32) = (84, 44);
const MARGIN: (u32, u32) = (110, 110);
/// The top of the first row of cells.
const TOP: i32 = 56;

/// Viridis at five stops, low to high.
const VIRIDIS: [(f64, f64, f64); 5] = [
    (68.0, 1.0, 84.0),
    (59.0, 82.0, 139.0),
    (33.0, 145.0, 140.0),
    (94.0, 201.0, 98.0),
    (253.0, 231.0, 37.0),
];

/// Where `v` lies in `range`, clamped to 0..=1 (0.5 for an empty range).
fn position(v: f64, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

/// The fill of a value in `range`: viridis, dark purple (low) to yellow (high).
fn colour(v: f64, range: (f64, f64)) -> RGBColor {
    let t = position(v, range) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour range of `values`: their finite minimum and maximum, or `fallback` when
/// there are none.
pub fn value_range(values: &[Vec<f64>], fallback: (f64, f64)) -> (f64, f64) {
    let finite = values.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi { fallback } else { (lo, hi) }
}

/// Draws `grid` to a PNG at `path`; its size follows the grid (one 84×44 cell per value).
pub fn heat_map(path: &Path, grid: &Grid) -> Result<()> {
    register_font();
    let (cols, rows) = (grid.x.1.len() as u32, grid.y.1.len() as u32);
    let size = (
        MARGIN.0 + cols.max(1) * CELL.0 + 20,
        MARGIN.1 + rows.max(1) * CELL.1 + 10,
    );
    let mut buffer = vec![255u8; (size.0 * size.1 * 3) as usize];
    let draw_err = |e: &dyn std::fmt::Display| TrainError::Plot {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(&e))?;
        let text = |s: &str, at: (i32, i32), px: u32, color: RGBColor| {
            Text::new(
                s.to_string(),
                at,
                ("sans-serif", px).into_font().color(&color).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )
        };
        let left = MARGIN.0 as i32;
        let top = TOP;
        root.draw(&text(&grid.title, (size.0 as i32 / 2, 20), 20, BLACK))
            .map_err(|e| draw_err(&e))?;
        for (r, row) in grid.values.iter().enumerate().take(rows as usize) {
            // Row 0 at the bottom.
            let y = top + ((rows as usize - 1 - r) as i32) * CELL.1 as i32;
            for (c, &v) in row.iter().enumerate().take(cols as usize) {
                let x = left + c as i32 * CELL.0 as i32;
                let fill = if v.is_finite() {
                    colour(v, grid.range)
                } else {
                    WHITE
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL.0 as i32, y + CELL.1 as i32)],
                    fill.filled(),
                ))
                .map_err(|e| draw_err(&e))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL.0 as i32, y + CELL.1 as i32)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))
                .map_err(|e| draw_err(&e))?;
                let ink = if position(v, grid.range) < 0.5 {
                    WHITE
                } else {
                    BLACK
                };
                let label = if v.is_finite() {
                    format!("{v:.*}", grid.decimals)
                } else {
                    "n/a".to_string()
                };
                let centre = (x + CELL.0 as i32 / 2, y + CELL.1 as i32 / 2);
                root.draw(&text(&label, centre, 15, ink))
                    .map_err(|e| draw_err(&e))?;
            }
            let label = grid.y.1.get(r).map_or("", String::as_str);
            root.draw(&text(label, (left - 30, y + CELL.1 as i32 / 2), 14, BLACK))
                .map_err(|e| draw_err(&e))?;
        }
        let bottom = top + rows as i32 * CELL.1 as i32;
        for (c, label) in grid.x.1.iter().enumerate() {
            let x = left + c as i32 * CELL.0 as i32 + CELL.0 as i32 / 2;
            root.draw(&text(label, (x, bottom + 14), 14, BLACK))
                .map_err(|e| draw_err(&e))?;
        }
        let mid_x = left + (cols as i32 * CELL.0 as i32) / 2;
        root.draw(&text(&grid.x.0, (mid_x, bottom + 38), 16, BLACK))
            .map_err(|e| draw_err(&e))?;
        // The y axis's name stands over its labels, where no cell is.
        let name_x = (grid.y.0.chars().count() as i32 * 4).max(left - 30);
        root.draw(&text(&grid.y.0, (name_x, top - 14), 16, BLACK))
            .map_err(|e| draw_err(&e))?;
        root.present().map_err(|e| draw_err(&e))?;
    }
    write_png(path, size, buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_viridis_and_clamp() {
        assert_eq!(colour(0.0, (0.0, 1.0)), RGBColor(68, 1, 84));
        assert_eq!(colour(1.0, (0.0, 1.0)), RGBColor(253, 231, 37));
        assert_eq!(colour(0.5, (0.0, 1.0)), RGBColor(33, 145, 140));
        // Halfway between the first two stops: (68+59)/2 = 63.5 → 64, 41.5 → 42, 111.5 → 112.
        assert_eq!(colour(0.125, (0.0, 1.0)), RGBColor(64, 42, 112));
        assert_eq!(colour(7.0, (0.0, 1.0)), colour(1.0, (0.0, 1.0)));
        assert_eq!(colour(0.5, (0.5, 0.5)), colour(0.5, (0.0, 1.0)));
        assert_eq!(
            value_range(&[vec![0.3, f64::NAN], vec![0.9]], (0.0, 1.0)),
            (0.3, 0.9)
        );
        assert_eq!(value_range(&[vec![f64::NAN]], (0.0, 1.0)), (0.0, 1.0));
    }

    #[test]
    fn writes_a_png_sized_by_the_grid_with_cells_in_their_colour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.png");
        let grid = Grid {
            title: "precision".into(),
            x: ("β".into(), vec!["0.6".into(), "0.7".into(), "0.8".into()]),
            y: ("α".into(), vec!["0.3".into(), "0.5".into()]),
            values: vec![vec![0.0, 0.5, 1.0], vec![f64::NAN, 0.2, 0.9]],
            range: (0.0, 1.0),
            decimals: 2,
        };
        heat_map(&path, &grid).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (110 + 3 * 84 + 20, 110 + 2 * 44 + 10));
        // Row 0 (α 0.3) is drawn at the bottom: its first cell (value 0) is dark purple;
        // sample near the cell's corner, away from the printed number.
        let top = TOP as u32;
        let (x, y) = (110 + 4, top + 44 + 4);
        assert_eq!(img.get_pixel(x, y).0, [68, 1, 84]);
        // Its third cell (value 1) is yellow.
        assert_eq!(img.get_pixel(x + 2 * 84, y).0, [253, 231, 37]);
        // The missing value (row 1, column 0, top row) is white.
        assert_eq!(img.get_pixel(x, top + 4).0, [255, 255, 255]);
    }
}
