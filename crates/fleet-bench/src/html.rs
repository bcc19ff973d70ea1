//! bench.html: the sweep as one self-contained page, in the style of
//! `fleet report` (inline CSS and JS, the data as JSON in a
//! `<script type="application/json">`, CSP `default-src 'none'`, so it
//! opens from `file://` on an air-gapped machine and fetches nothing).
//!
//! Layouts are categories, so every metric is drawn as bars, one group per
//! layout: wall time (with the ideal beside it), CPU per session (client
//! and lab), peak RSS, and the ratios to the bare pool. The axes are
//! decided here, not in the browser ([`axis`]): a metric whose positive
//! values span more than [`LOG_SPAN`]× gets a log scale, so a 50 s `1x1`
//! and a 1 s `4x50` both stay readable. The page then only draws.

use crate::report::BenchReport;
use crate::summary::LayoutSummary;
use fleet_report::html::{html_escape, script_safe};
use serde::Serialize;

const TEMPLATE: &str = include_str!("bench.html");

/// Largest max/min ratio of a metric's values drawn on a linear axis.
pub const LOG_SPAN: f64 = 20.0;

/// How values map to heights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// From 0: heights proportional to values.
    Linear,
    /// Decades: equal ratios get equal steps.
    Log,
}

/// The value axis of one panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    /// Linear or log.
    pub scale: Scale,
    /// Bottom of the axis (0 for linear; a power of ten for log).
    pub lo: f64,
    /// Top of the axis.
    pub hi: f64,
    /// Where gridlines and labels go, ascending, within `lo..=hi`.
    pub ticks: Vec<f64>,
}

/// One metric across the layouts: grouped bars.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    /// Element id (`panel-wall`, ...), for tests and links.
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// Unit of the values (`s`, `ms`, `MiB`, `x`).
    pub unit: &'static str,
    /// Name of each bar of a group, in order.
    pub series: Vec<String>,
    /// One group per layout, in sweep order.
    pub groups: Vec<Group>,
    /// The value axis.
    pub axis: Axis,
    /// A horizontal reference line (1.0 on the ratio panel).
    pub reference: Option<f64>,
}

/// One layout's bars in a panel.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The layout (`4x50`, `bare(200)`).
    pub layout: String,
    /// `fleet` or `bare`.
    pub kind: &'static str,
    /// One value per series; `None` draws no bar (not measured).
    pub values: Vec<Option<f64>>,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
struct Page<'a> {
    title: String,
    facts: Vec<(String, String)>,
    bench_command: String,
    panels: Vec<Panel>,
    layouts: &'a [LayoutSummary],
}

/// Picks the axis for a set of values (non-positive and missing values
/// are ignored for the span; a linear axis always starts at 0).
pub fn axis(values: &[f64]) -> Axis {
    let pos: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let max = pos.iter().copied().fold(0.0, f64::max);
    let min = pos.iter().copied().fold(f64::INFINITY, f64::min);
    if max <= 0.0 {
        return Axis {
            scale: Scale::Linear,
            lo: 0.0,
            hi: 1.0,
            ticks: vec![0.0, 0.5, 1.0],
        };
    }
    if max / min > LOG_SPAN {
        let lo_exp = min.log10().floor() as i32;
        let hi_exp = max.log10().ceil().max(f64::from(lo_exp) + 1.0) as i32;
        let decades = hi_exp - lo_exp;
        let mut ticks = Vec::new();
        for e in lo_exp..=hi_exp {
            let base = 10f64.powi(e);
            ticks.push(base);
            // Few decades: 2 and 5 in between, so the grid still reads.
            if decades <= 2 && e < hi_exp {
                ticks.push(2.0 * base);
                ticks.push(5.0 * base);
            }
        }
        return Axis {
            scale: Scale::Log,
            lo: 10f64.powi(lo_exp),
            hi: 10f64.powi(hi_exp),
            ticks,
        };
    }
    // Linear: a 1-2-5 step giving about 5 intervals, top rounded up to it.
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil().max(1.0) as usize;
    let ticks = (0..=n).map(|i| i as f64 * step).collect();
    Axis {
        scale: Scale::Linear,
        lo: 0.0,
        hi: n as f64 * step,
        ticks,
    }
}

fn panel(
    id: &'static str,
    title: &str,
    unit: &'static str,
    series: &[&str],
    layouts: &[LayoutSummary],
    values: impl Fn(&LayoutSummary) -> Vec<Option<f64>>,
) -> Panel {
    let groups: Vec<Group> = layouts
        .iter()
        .map(|l| Group {
            layout: l.layout.clone(),
            kind: l.kind.as_str(),
            values: values(l),
        })
        .collect();
    let all: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().copied())
        .collect();
    Panel {
        id,
        title: title.to_string(),
        unit,
        series: series.iter().map(|s| s.to_string()).collect(),
        axis: axis(&all),
        groups,
        reference: None,
    }
}

/// The panels of a report, in page order (the ratio panel only when the
/// sweep has a bare pool).
pub fn panels(report: &BenchReport) -> Vec<Panel> {
    let n = report.devices.max(1) as f64;
    let ls = &report.layouts;
    let mut out = vec![
        panel(
            "panel-wall",
            "Wall time (median, process start to exit) and the ideal",
            "s",
            &["median wall", "ideal"],
            ls,
            |l| vec![Some(l.median_wall_ms / 1e3), Some(l.ideal_ms / 1e3)],
        ),
        panel(
            "panel-cpu",
            "CPU per session (median): client (fleet or the bare pool) and lab",
            "ms",
            &["client", "lab"],
            ls,
            |l| vec![Some(l.cpu_ms_per_session), l.lab_cpu_ms.map(|c| c / n)],
        ),
        panel(
            "panel-rss",
            "Peak RSS, master + workers (largest run)",
            "MiB",
            &["peak RSS"],
            ls,
            |l| vec![Some(l.peak_rss_total_kib as f64 / 1024.0)],
        ),
    ];
    if ls.iter().any(|l| l.wall_vs_bare.is_some()) {
        let mut p = panel(
            "panel-bare",
            "Ratio to the bare ssh2 pool (1.0: as good; above: fleet costs more)",
            "x",
            &["wall / bare", "CPU per session / bare"],
            ls,
            |l| vec![l.wall_vs_bare, l.cpu_vs_bare],
        );
        p.reference = Some(1.0);
        out.push(p);
    }
    out
}

/// Renders bench.html.
pub fn render(report: &BenchReport) -> Result<String, serde_json::Error> {
    let load = |l: Option<[f64; 3]>| {
        l.map(|l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]))
            .unwrap_or_else(|| "?".into())
    };
    let facts = vec![
        ("devices".into(), report.devices.to_string()),
        ("target".into(), report.target.to_string()),
        ("transport".into(), report.transport.to_string()),
        ("latency".into(), format!("{} ms", report.latency_ms)),
        ("command".into(), report.command.clone()),
        ("session".into(), format!("{:.1} ms", report.session_ms)),
        ("handshake".into(), format!("{:.1} ms", report.handshake_ms)),
        ("repeats".into(), report.repeat.to_string()),
        ("cores".into(), report.cores.to_string()),
        ("host".into(), report.host.clone()),
        ("started".into(), report.started_at.clone()),
        (
            "load".into(),
            format!(
                "{} -> {}",
                load(report.load_before),
                load(report.load_after)
            ),
        ),
    ];
    let title = format!(
        "fleet bench: {} devices, latency {} ms",
        report.devices, report.latency_ms
    );
    let page = Page {
        title: title.clone(),
        facts,
        bench_command: shell_join(&report.command_line),
        panels: panels(report),
        layouts: &report.layouts,
    };
    let json = serde_json::to_string(&page)?;
    Ok(TEMPLATE
        .replacen("__TITLE__", &html_escape(&title), 1)
        .replacen("__DATA__", &script_safe(&json), 1))
}

/// A command line as one would type it (single quotes where needed).
pub fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+<>".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_spanning_decades_get_a_log_axis() {
        // Today's sweep: 1x1 at 50 s, 0x50 .. 8x25 around 1 s.
        let a = axis(&[50.3, 2.07, 3.33, 3.34, 1.2]);
        assert_eq!(a.scale, Scale::Log);
        assert_eq!((a.lo, a.hi), (1.0, 100.0));
        assert_eq!(a.ticks, vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        // Many decades: powers of ten only.
        let a = axis(&[0.01, 5000.0]);
        assert_eq!(a.scale, Scale::Log);
        let want = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0];
        assert_eq!(a.ticks.len(), want.len(), "{a:?}");
        for (t, w) in a.ticks.iter().zip(want) {
            assert!((t / w - 1.0).abs() < 1e-9, "{a:?}");
        }
        for w in a.ticks.windows(2) {
            assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn close_values_get_a_linear_axis_from_zero() {
        let a = axis(&[10.2, 12.1, 12.2, 0.0]);
        assert_eq!(a.scale, Scale::Linear);
        assert_eq!(a.lo, 0.0);
        assert!(a.hi >= 12.2 && a.hi < 20.0, "{a:?}");
        assert_eq!(a.ticks.first(), Some(&0.0));
        assert_eq!(a.ticks.last(), Some(&a.hi));
        // Ratios around 1.
        let a = axis(&[0.86, 1.0, 1.11]);
        assert_eq!(a.scale, Scale::Linear);
        assert!(a.hi >= 1.11);
        // Nothing measured: a usable empty axis.
        assert_eq!(axis(&[]).hi, 1.0);
        assert_eq!(axis(&[f64::NAN, 0.0]).scale, Scale::Linear);
    }

    #[test]
    fn exactly_the_threshold_stays_linear() {
        assert_eq!(axis(&[1.0, LOG_SPAN]).scale, Scale::Linear);
        assert_eq!(axis(&[1.0, LOG_SPAN * 1.01]).scale, Scale::Log);
    }

    #[test]
    fn shell_join_quotes_what_needs_it() {
        let args: Vec<String> = [
            "fleet",
            "bench",
            "-c",
            "echo ok",
            "--layouts",
            "bare(4),0x4",
            "it's",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            shell_join(&args),
            "fleet bench -c 'echo ok' --layouts 'bare(4),0x4' 'it'\\''s'"
        );
    }
}
