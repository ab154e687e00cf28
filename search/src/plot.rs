//! The front as a picture: every architecture evaluated (grey), the front (red), the
//! presets (blue, named), latency (or MAdds) across, accuracy up; SVG, or PNG. Text is
//! laid out with DejaVu Sans, which scripts/setup.sh installs (`MOGA_PLOT_FONT` names
//! another TrueType file).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::objectives::Metrics;
use crate::run::SearchReport;

/// Font files tried for text, in order.
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

/// Registers the plot font once per process (plotters lays text out with it).
fn ensure_font() -> Result<()> {
    static DONE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let candidates: Vec<PathBuf> = std::env::var_os("MOGA_PLOT_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONTS.iter().map(PathBuf::from))
            .collect();
        let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "no font for plot text (tried {}; install fonts-dejavu-core or set MOGA_PLOT_FONT)",
                tried.join(", ")
            )
        })?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // plotters keeps registered fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a TrueType font", path.display()))
    })
    .clone()
    .map_err(Error::Usage)
}

/// `svg` or `png`, from the file name; the plot font registered.
fn plot_format(path: &Path) -> Result<String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext != "svg" && ext != "png" {
        return Err(Error::Usage(format!(
            "{}: plots are .svg or .png",
            path.display()
        )));
    }
    ensure_font()?;
    Ok(ext)
}

/// The point of `m` in the plot: latency (or MAdds) against accuracy, or against
/// parameters (millions) when the search has no accuracy (`by_params`).
fn point_of(m: &Metrics, by_params: bool) -> Option<(f64, f64)> {
    let x = m.latency_ms.unwrap_or(m.madds as f64 / 1e6);
    if by_params {
        Some((x, m.params as f64 / 1e6))
    } else {
        Some((x, m.accuracy?))
    }
}

/// Draws `report` (plus `all` evaluated points) into `path`, SVG or PNG by extension.
pub fn plot_front(report: &SearchReport, all: &[Metrics], path: &Path) -> Result<()> {
    let ext = plot_format(path)?;
    let size = (900, 600);
    let outcome = if ext == "svg" {
        draw(SVGBackend::new(path, size).into_drawing_area(), report, all)
    } else {
        draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            report,
            all,
        )
    };
    outcome.map_err(|e| Error::Usage(format!("plotting {}: {e}", path.display())))
}

/// One series of points: in a fidelity plot (measured, predicted) ms, in a scatter
/// ([`plot_scatter`]) its two quantities.
pub struct FidelitySeries {
    /// Legend text.
    pub label: String,
    /// (x, y): (measured ms, predicted ms) in a fidelity plot.
    pub points: Vec<(f64, f64)>,
}

/// Predicted against measured latency with the y = x line and the ±10 % band (as
/// nn-Meter draws it), SVG or PNG by extension.
pub fn plot_fidelity(title: &str, series: &[FidelitySeries], path: &Path) -> Result<()> {
    let ext = plot_format(path)?;
    let size = (760, 680);
    let outcome = if ext == "svg" {
        draw_fidelity(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            series,
        )
    } else {
        draw_fidelity(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            series,
        )
    };
    outcome.map_err(|e| Error::Usage(format!("plotting {}: {e}", path.display())))
}

fn draw_fidelity<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[FidelitySeries],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let all = series.iter().flat_map(|s| &s.points);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(x, y)| {
        (a.min(x).min(y), b.max(x).max(y))
    });
    if !lo.is_finite() {
        return Err("nothing to plot: no network was measured".into());
    }
    let pad = (hi - lo).max(1e-9) * 0.08;
    let (lo, hi) = ((lo - pad).max(0.0), hi + pad);
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("measured latency (ms)")
        .y_desc("predicted latency (ms)")
        .draw()?;
    let band = RGBColor(120, 160, 220);
    chart
        .draw_series(LineSeries::new(
            vec![(lo, lo), (hi, hi)],
            BLACK.stroke_width(1),
        ))?
        .label("predicted = measured")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    for f in [0.9, 1.1] {
        let s = chart.draw_series(LineSeries::new(
            vec![(lo, lo * f), (hi, hi * f)],
            band.stroke_width(1),
        ))?;
        if f > 1.0 {
            s.label("±10 %")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], band));
        }
    }
    draw_dots(&mut chart, series)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &SearchReport,
    all: &[Metrics],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // Without an accuracy (an exact or additive search) parameters take its place.
    let by_params = report.front.iter().all(|m| m.accuracy.is_none());
    let xy = |m: &Metrics| point_of(m, by_params);
    // Whether larger is better on the vertical axis (accuracy, or parameters maximised
    // as MoGA does).
    let up = !by_params || report.objectives.iter().any(|o| o == "params:max");
    let pts: Vec<(f64, f64)> = all
        .iter()
        .chain(&report.front)
        .chain(report.presets.iter().map(|p| &p.metrics))
        .filter_map(xy)
        .collect();
    if pts.is_empty() {
        return Err("nothing to plot: no point has an accuracy".into());
    }
    let (mut x0, mut x1, mut y0, mut y1) = pts.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let (dx, dy) = ((x1 - x0).max(1e-9) * 0.05, (y1 - y0).max(1e-9) * 0.05);
    (x0, x1, y0, y1) = (x0 - dx, x1 + dx, y0 - dy, y1 + dy);
    let x_label = if report.front.iter().any(|m| m.latency_ms.is_some()) {
        "predicted latency (ms)"
    } else {
        "MAdds (M)"
    };
    let y_label = if by_params {
        "parameters (M)"
    } else if report.accuracy_oracle.starts_with("proxy") {
        "proxy score (not accuracy)"
    } else {
        "accuracy (%)"
    };
    root.fill(&WHITE)?;
    let caption = format!(
        "{} search on {}: {} evaluations, hypervolume {:.4}",
        report.settings_name(),
        report.space,
        report.evaluations,
        report.hypervolume
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()?;
    let grey = RGBColor(170, 170, 170);
    chart
        .draw_series(
            all.iter()
                .filter_map(xy)
                .map(|p| Circle::new(p, 2, grey.filled())),
        )?
        .label("evaluated")
        .legend(move |(x, y)| Circle::new((x, y), 3, grey.filled()));
    let mut front: Vec<(f64, f64)> = report.front.iter().filter_map(xy).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    // The line follows the front in these two objectives (with a third objective, some
    // front members sit below it).
    if !up {
        front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    let mut best = if up { f64::NEG_INFINITY } else { f64::INFINITY };
    let staircase: Vec<(f64, f64)> = front
        .iter()
        .copied()
        .filter(|p| {
            let better = if up { p.1 > best } else { p.1 < best };
            better.then(|| best = p.1).is_some()
        })
        .collect();
    chart.draw_series(LineSeries::new(staircase, RED.stroke_width(2)))?;
    chart
        .draw_series(front.iter().map(|&p| Circle::new(p, 3, RED.filled())))?
        .label("front")
        .legend(|(x, y)| Circle::new((x, y), 4, RED.filled()));
    for p in &report.presets {
        if let Some(pt) = xy(&p.metrics) {
            chart.draw_series(std::iter::once(TriangleMarker::new(pt, 7, BLUE.filled())))?;
            let label = (pt.0 + (x1 - x0) * 0.01, pt.1 - (y1 - y0) * 0.01);
            chart.draw_series(std::iter::once(Text::new(
                p.name.clone(),
                label,
                ("sans-serif", 13).into_font().color(&BLUE),
            )))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

impl SearchReport {
    fn settings_name(&self) -> String {
        let base = format!("{:?}", self.settings.algorithm).to_lowercase();
        if self.settings.rl.is_some() {
            format!("{base} + RL mutation")
        } else {
            base
        }
    }
}

/// A scatter of any two quantities: `series` as dots (grey, red, green, blue in turn),
/// `named` points as blue triangles with their names (e.g. presets).
pub fn plot_scatter(
    title: &str,
    axes: (&str, &str),
    series: &[FidelitySeries],
    named: &[(String, (f64, f64))],
    path: &Path,
) -> Result<()> {
    let ext = plot_format(path)?;
    let size = (900, 600);
    let outcome = if ext == "svg" {
        draw_scatter(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            axes,
            series,
            named,
        )
    } else {
        draw_scatter(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            axes,
            series,
            named,
        )
    };
    outcome.map_err(|e| Error::Usage(format!("plotting {}: {e}", path.display())))
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[FidelitySeries],
    named: &[(String, (f64, f64))],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .chain(named.iter().map(|(_, p)| *p))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if pts.is_empty() {
        return Err("nothing to plot".into());
    }
    let range = |f: fn(&(f64, f64)) -> f64| {
        let (lo, hi) = pts
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let pad = (hi - lo).abs().max(1e-9) * 0.08;
        (lo - pad, hi + pad)
    };
    let ((x0, x1), (y0, y1)) = (range(|p| p.0), range(|p| p.1));
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    draw_dots(&mut chart, series)?;
    for (name, pt) in named {
        chart.draw_series(std::iter::once(TriangleMarker::new(*pt, 7, BLUE.filled())))?;
        let label = (pt.0 + (x1 - x0) * 0.01, pt.1 - (y1 - y0) * 0.01);
        chart.draw_series(std::iter::once(Text::new(
            name.clone(),
            label,
            ("sans-serif", 13).into_font().color(&BLUE),
        )))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Each series as dots with a legend entry, grey, red, green, blue in turn.
fn draw_dots<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    series: &[FidelitySeries],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let colours = [RGBColor(150, 150, 150), RED, RGBColor(30, 120, 40), BLUE];
    for (i, s) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))?
            .label(s.label.clone())
            .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
    }
    Ok(())
}
