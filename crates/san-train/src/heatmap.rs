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
    /// The values the colour scale spans (low → pale, high → dark).
    pub range: (f64, f64),
    /// Decimals printed in each cell.
    pub decimals: usize,
}

const CELL: (u32, u32) = (84, 44);
const MARGIN: (u32, u32) = (110, 110);

/// The fill of a value in `range`: from pale yellow to dark blue (viridis-like ends).
fn colour(v: f64, (lo, hi): (f64, f64)) -> RGBColor {
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(253, 38), mix(231, 60), mix(37, 134))
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
        let top = 50i32;
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
                let t = if grid.range.1 > grid.range.0 {
                    (v - grid.range.0) / (grid.range.1 - grid.range.0)
                } else {
                    0.5
                };
                let ink = if t > 0.55 { WHITE } else { BLACK };
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
        let mid_y = top + (rows as i32 * CELL.1 as i32) / 2;
        root.draw(&text(&grid.y.0, (left - 80, mid_y), 16, BLACK))
            .map_err(|e| draw_err(&e))?;
        root.present().map_err(|e| draw_err(&e))?;
    }
    write_png(path, size, buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_run_from_pale_to_dark_and_clamp() {
        assert_eq!(colour(0.0, (0.0, 1.0)), RGBColor(253, 231, 37));
        assert_eq!(colour(1.0, (0.0, 1.0)), RGBColor(38, 60, 134));
        assert_eq!(colour(7.0, (0.0, 1.0)), colour(1.0, (0.0, 1.0)));
        assert_eq!(colour(0.5, (0.5, 0.5)), colour(0.5, (0.0, 1.0)));
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
        // Row 0 (α 0.3) is drawn at the bottom: its first cell (value 0) is pale yellow;
        // sample near the cell's corner, away from the printed number.
        let (x, y) = (110 + 4, 50 + 44 + 4);
        assert_eq!(img.get_pixel(x, y).0, [253, 231, 37]);
        // Its third cell (value 1) is dark blue.
        assert_eq!(img.get_pixel(x + 2 * 84, y).0, [38, 60, 134]);
        // The missing value (row 1, column 0, top row) is white.
        assert_eq!(img.get_pixel(x, 50 + 4).0, [255, 255, 255]);
    }
}
