//! The report's charts, drawn in code from the facts: revenue trend, regional split, products.
//! PNG files, embedded in the DOCX and PDF and linked from the Markdown.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::ReportError;
use crate::facts::Facts;

const FAMILY: &str = "report-sans";
const SIZE: (u32, u32) = (1200, 600);
const BAR: RGBColor = RGBColor(46, 94, 170);
const LINE: RGBColor = RGBColor(200, 80, 40);

#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub file_name: String,
    pub path: PathBuf,
    pub png: Vec<u8>,
}

/// Registers the font the charts' text is drawn with (once per process; plotters keeps fonts
/// for the life of the program).
fn register_font(font: &Path) -> Result<(), ReportError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(font).map_err(|err| format!("{}: {err}", font.display()))?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
                .map_err(|_| format!("{} is not a font plotters can read", font.display()))
        })
        .clone()
        .map_err(|reason| ReportError::Chart {
            chart: "any",
            reason,
        })
}

pub fn draw_all(facts: &Facts, dir: &Path, font: &Path) -> Result<Vec<Chart>, ReportError> {
    register_font(font)?;
    std::fs::create_dir_all(dir).map_err(|err| ReportError::Chart {
        chart: "any",
        reason: format!("cannot create {}: {err}", dir.display()),
    })?;
    let trend: Vec<(String, f64)> = facts
        .trend
        .iter()
        .map(|(month, revenue)| (month.to_string(), revenue / 1e6))
        .collect();
    let regions: Vec<(String, f64)> = facts
        .regions
        .iter()
        .map(|b| (b.name.clone(), b.revenue / 1e6))
        .collect();
    let products: Vec<(String, f64)> = facts
        .products
        .iter()
        .map(|b| (b.name.clone(), b.revenue / 1e6))
        .collect();
    let period = facts.month.long_name();
    let charts = [
        (
            "trend",
            format!("Revenue, last {} months (million CNY)", trend.len()),
            draw_line as fn(&Path, &str, &[(String, f64)]) -> Result<(), String>,
            trend,
        ),
        (
            "regions",
            format!("Revenue by region, {period} (million CNY)"),
            draw_bars,
            regions,
        ),
        (
            "products",
            format!("Revenue by product, {period} (million CNY)"),
            draw_bars,
            products,
        ),
    ];
    charts
        .into_iter()
        .map(|(name, title, draw, data)| {
            let file_name = format!("{name}.png");
            let path = dir.join(&file_name);
            let failed = |reason: String| ReportError::Chart {
                chart: name,
                reason,
            };
            draw(&path, &title, &data).map_err(failed)?;
            let png = std::fs::read(&path).map_err(|err| failed(err.to_string()))?;
            Ok(Chart {
                title,
                file_name,
                path,
                png,
            })
        })
        .collect()
}

fn draw_line(path: &Path, title: &str, points: &[(String, f64)]) -> Result<(), String> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let last = points.len().saturating_sub(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 30))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.3..last + 0.3, 0.0..top.max(1.0))
        .map_err(|e| e.to_string())?;
    let label = |x: &f64| {
        let index = x.round();
        if (x - index).abs() < 1e-6 && index >= 0.0 {
            points
                .get(index as usize)
                .map(|p| p.0.clone())
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_labels(points.len())
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((FAMILY, 18))
        .disable_x_mesh()
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            points.iter().enumerate().map(|(i, p)| (i as f64, p.1)),
            LINE.stroke_width(3),
        ))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            points
                .iter()
                .enumerate()
                .map(|(i, p)| Circle::new((i as f64, p.1), 5, LINE.filled())),
        )
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Horizontal bars, largest first at the top.
fn draw_bars(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<(), String> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let widest = bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.15;
    let count = bars.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 30))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(260)
        .build_cartesian_2d(0.0..widest.max(1.0), -0.5..count - 0.5)
        .map_err(|e| e.to_string())?;
    // Row 0 at the top: the largest bar.
    let name_at = |y: &f64| {
        let row = y.round();
        if (y - row).abs() < 1e-6 && row >= 0.0 {
            let index = (count - 1.0 - row) as usize;
            bars.get(index).map(|b| b.0.clone()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&name_at)
        .x_label_formatter(&|x| format!("{x:.1}"))
        .label_style((FAMILY, 18))
        .disable_y_mesh()
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let row = count - 1.0 - i as f64;
            Rectangle::new([(0.0, row - 0.35), (b.1, row + 0.35)], BAR.filled())
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let row = count - 1.0 - i as f64;
            Text::new(format!("{:.2}", b.1), (b.1, row + 0.1), (FAMILY, 18))
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
