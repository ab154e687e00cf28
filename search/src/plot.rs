//! The front as a picture: every architecture evaluated (grey), the front (red), the
//! presets (blue, named), latency or the first objective across, accuracy up.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::objectives::Metrics;
use crate::run::SearchReport;

fn xy(m: &Metrics) -> Option<(f64, f64)> {
    let x = m.latency_ms.unwrap_or(m.madds as f64 / 1e6);
    Some((x, m.accuracy?))
}

/// Draws `report` (plus `all` evaluated points) as SVG into `path`.
pub fn plot_front(report: &SearchReport, all: &[Metrics], path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext != "svg" {
        return Err(Error::Usage(format!(
            "{}: plots are written as SVG (name the file .svg)",
            path.display()
        )));
    }
    let pts: Vec<(f64, f64)> = all
        .iter()
        .chain(&report.front)
        .chain(report.presets.iter().map(|p| &p.metrics))
        .filter_map(xy)
        .collect();
    if pts.is_empty() {
        return Err(Error::Usage(
            "nothing to plot: no point has an accuracy".into(),
        ));
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
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
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
            .y_desc(if report.accuracy_oracle.starts_with("proxy") {
                "proxy score (not accuracy)"
            } else {
                "accuracy (%)"
            })
            .draw()?;
        chart
            .draw_series(
                all.iter()
                    .filter_map(xy)
                    .map(|p| Circle::new(p, 2, RGBColor(170, 170, 170).filled())),
            )?
            .label("evaluated")
            .legend(|(x, y)| Circle::new((x, y), 3, RGBColor(170, 170, 170).filled()));
        let mut front: Vec<(f64, f64)> = report.front.iter().filter_map(xy).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(front.clone(), RED.stroke_width(1)))?;
        chart
            .draw_series(front.iter().map(|&p| Circle::new(p, 4, RED.filled())))?
            .label("front")
            .legend(|(x, y)| Circle::new((x, y), 4, RED.filled()));
        for p in &report.presets {
            if let Some(pt) = xy(&p.metrics) {
                chart.draw_series(std::iter::once(TriangleMarker::new(pt, 7, BLUE.filled())))?;
                chart.draw_series(std::iter::once(Text::new(
                    p.name.clone(),
                    (pt.0, pt.1),
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
    };
    draw().map_err(|e| Error::Usage(format!("plotting {}: {e}", path.display())))
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
