//! bench.svg: median wall time (left axis) and peak RSS of master +
//! workers (right axis) per layout, one line series per metric.
//!
//! Drawn with plotters' SVG backend only (no fonts, no bitmap codecs):
//! text stays `<text>` elements that the viewer renders.

use crate::error::BenchError;
use crate::summary::LayoutSummary;
use plotters::prelude::*;

/// Legend label of the wall-time series.
pub const WALL_SERIES: &str = "median wall time (s)";
/// Legend label of the memory series.
pub const RSS_SERIES: &str = "peak RSS, master + workers (MiB)";

/// Renders the chart as an SVG document.
pub fn svg(title: &str, layouts: &[LayoutSummary]) -> Result<String, BenchError> {
    let mut buf = String::new();
    draw(&mut buf, title, layouts).map_err(|e| BenchError::Chart(e.to_string()))?;
    Ok(buf)
}

fn draw(
    buf: &mut String,
    title: &str,
    layouts: &[LayoutSummary],
) -> Result<(), Box<dyn std::error::Error>> {
    let n = layouts.len().max(1);
    let names: Vec<String> = layouts.iter().map(|l| l.layout.clone()).collect();
    let wall: Vec<f64> = layouts.iter().map(|l| l.median_wall_ms / 1e3).collect();
    let rss: Vec<f64> = layouts
        .iter()
        .map(|l| l.peak_rss_total_kib as f64 / 1024.0)
        .collect();
    let top = |v: &[f64]| {
        let m = v.iter().copied().fold(0.0, f64::max);
        if m > 0.0 {
            m * 1.15
        } else {
            1.0
        }
    };
    let width = (160 + 90 * n as u32).clamp(640, 1600);
    let root = SVGBackend::with_string(buf, (width, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .right_y_label_area_size(64)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..top(&wall))?
        .set_secondary_coord((0..n).into_segmented(), 0f64..top(&rss));
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            names.get(*i).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&label)
        .x_desc("layout (P x T)")
        .y_desc(WALL_SERIES)
        .draw()?;
    chart.configure_secondary_axes().y_desc(RSS_SERIES).draw()?;
    let at = |v: &[f64]| -> Vec<(SegmentValue<usize>, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, y)| (SegmentValue::CenterOf(i), *y))
            .collect()
    };
    let blue = BLUE.stroke_width(2);
    let red = RED.stroke_width(2);
    chart
        .draw_series(LineSeries::new(at(&wall), blue))?
        .label(WALL_SERIES)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
    chart.draw_series(
        at(&wall)
            .into_iter()
            .map(|p| Circle::new(p, 4, BLUE.filled())),
    )?;
    chart
        .draw_secondary_series(LineSeries::new(at(&rss), red))?
        .label(RSS_SERIES)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
    chart.draw_secondary_series(
        at(&rss)
            .into_iter()
            .map(|p| TriangleMarker::new(p, 5, RED.filled())),
    )?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
