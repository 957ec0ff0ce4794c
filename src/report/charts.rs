//! Report charts: the SVG pictures of a run report and the HdrHistogram percentile files beside them.
//!
//! The pictures follow Jepsen's latency plots: time on the x axis (minutes for runs up to three hours,
//! hours beyond), latency on a log scale, and every injected fault shaded as a translucent vertical band
//! with its name on top, so that a person can see in a design review what a fault did to the flows.
//! Charts are drawn with `plotters`' SVG backend; text is measured with the DejaVu Sans font committed in
//! `assets/fonts/` (no system font library is needed), and the same input always gives the same bytes.
//!
//! [`percentile_distribution`] writes the text format of Java HdrHistogram's
//! `outputPercentileDistribution` (the `.hgrm` files that HdrHistogram's online plotter reads); the
//! layout (column widths, precision, footer lines) follows HdrHistogram's `AbstractHistogram`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

/// A fault's time window, shaded on time charts.
#[derive(Debug, Clone, Serialize)]
pub struct FaultWindow {
    pub label: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// Latency quantiles of one time bucket (values in milliseconds; `count` samples in the bucket).
#[derive(Debug, Clone, Serialize)]
pub struct QuantilePoint {
    pub t_s: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

/// A named series of points (x = seconds since the run started, y = the value).
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// An empirical CDF: (latency in ms, fraction of samples <= it, 0..=1), ascending.
#[derive(Debug, Clone, Serialize)]
pub struct Cdf {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The committed font could not be parsed (the binary was built with a broken font file).
    #[error("the chart font (assets/fonts/DejaVuSans.ttf) could not be loaded")]
    Font,
    /// The drawing backend failed.
    #[error("drawing the chart failed: {0}")]
    Drawing(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Drawing(e.to_string())
    }
}

/// Width of every chart, in pixels.
pub const CHART_WIDTH: u32 = 900;
/// Height of every chart, in pixels.
pub const CHART_HEIGHT: u32 = 420;

/// The colour of the IRSA flow in every chart.
pub const IRSA_COLOUR: RGBColor = RGBColor(0x1F, 0x77, 0xB4);
/// The colour of the EKS Pod Identity flow in every chart.
pub const POD_IDENTITY_COLOUR: RGBColor = RGBColor(0xFF, 0x7F, 0x0E);
/// The fill of fault bands (drawn at [`FAULT_OPACITY`]); no series ever gets this colour.
pub const FAULT_COLOUR: RGBColor = RGBColor(0xD6, 0x27, 0x28);
/// Opacity of the fault bands.
pub const FAULT_OPACITY: f64 = 0.14;

/// Colours of series that are not a flow, in order (blue, orange and red are reserved).
const OTHER_COLOURS: [RGBColor; 8] = [
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x17, 0xBE, 0xCF),
    RGBColor(0xBC, 0xBD, 0x22),
    RGBColor(0x7F, 0x7F, 0x7F),
    RGBColor(0x39, 0x3B, 0x79),
];

/// Colours of the latency quantile lines (p50, p95, p99, max).
const QUANTILE_COLOURS: [RGBColor; 4] = [
    RGBColor(0x1B, 0x9E, 0x77),
    RGBColor(0x75, 0x70, 0xB3),
    RGBColor(0xE7, 0x29, 0x8A),
    RGBColor(0x66, 0x66, 0x66),
];

const FAULT_TEXT: RGBColor = RGBColor(0x9B, 0x1C, 0x1C);
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
const AXIS_TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// The font family name the committed font is registered under (and written into the SVG).
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

const TITLE_SIZE: f64 = 24.0;
const DESC_SIZE: f64 = 17.0;
const TICK_SIZE: f64 = 15.0;
const LEGEND_SIZE: f64 = 15.0;
const NOTE_SIZE: f64 = 14.0;
/// Width of the legend column at the right of each chart.
const LEGEND_WIDTH: u32 = 190;
/// Runs up to this long get a time axis in minutes, longer ones in hours.
const MINUTES_AXIS_UP_TO_S: f64 = 3.0 * 3600.0;

/// The fixed colour of a flow: `"irsa"` and `"pod_identity"` (case, `-` and spaces ignored), else `None`.
pub fn flow_colour(name: &str) -> Option<RGBColor> {
    let norm: String = name
        .trim()
        .chars()
        .map(|c| {
            if c == '-' || c == ' ' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    match norm.as_str() {
        "irsa" => Some(IRSA_COLOUR),
        "pod_identity" => Some(POD_IDENTITY_COLOUR),
        _ => None,
    }
}

/// The colour of the `index`-th series named `name`: its flow colour, else a fixed palette by position.
pub fn series_colour(index: usize, name: &str) -> RGBColor {
    flow_colour(name).unwrap_or(OTHER_COLOURS[index % OTHER_COLOURS.len()])
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn ensure_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&AXIS_TEXT)
}

/// Draws one chart: a white page, the title, and `body` below it; returns the SVG text.
fn render(
    title: &str,
    body: impl FnOnce(&Area<'_>) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    ensure_font()?;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (CHART_WIDTH, CHART_HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let below_title = root.titled(title, (FONT, TITLE_SIZE).into_font().color(&BLACK))?;
        body(&below_title)?;
        root.present()?;
    }
    Ok(svg)
}

/// The body of a chart with nothing to show.
fn draw_no_samples(area: &Area<'_>) -> Result<(), ChartError> {
    let (w, h) = area.dim_in_pixel();
    let frame = Rectangle::new(
        [(20, 10), (w as i32 - 20, h as i32 - 20)],
        GRID.stroke_width(1),
    );
    area.draw(&frame)?;
    let style = font(DESC_SIZE).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text("no samples", &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Axes and ticks

/// The x axis of a time chart: seconds are divided by `divisor` to give the axis unit.
struct TimeAxis {
    divisor: f64,
    end: f64,
    desc: &'static str,
}

fn time_axis(duration_s: f64, data_max_t_s: f64) -> TimeAxis {
    let duration = if duration_s.is_finite() && duration_s > 0.0 {
        duration_s.min(MAX_DURATION_S)
    } else if data_max_t_s.is_finite() && data_max_t_s > 0.0 {
        data_max_t_s.min(MAX_DURATION_S)
    } else {
        60.0
    };
    let (divisor, desc) = if duration <= MINUTES_AXIS_UP_TO_S {
        (60.0, "time since start (minutes)")
    } else {
        (3600.0, "time since start (hours)")
    };
    TimeAxis {
        divisor,
        end: duration / divisor,
        desc,
    }
}

/// A number for a tick label: integers without a fraction, others with at most two decimals.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if (v - v.round()).abs() < 1e-9 {
        return format!("{}", v.round() as i64);
    }
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A value printed on a bar: whole above 1000, one decimal above 1, three significant digits below.
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A latency in milliseconds as a person reads it: `250 ms`, `2 s`, `5 min`, `1 h`.
fn fmt_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", fmt_num(ms))
    } else if ms < 60_000.0 {
        format!("{} s", fmt_num(ms / 1000.0))
    } else if ms < 3_600_000.0 {
        format!("{} min", fmt_num(ms / 60_000.0))
    } else {
        format!("{} h", fmt_num(ms / 3_600_000.0))
    }
}

/// Tick candidates of a generic log axis: 1, 2, 5 × 10^k with ranks 2 (decade), 0, 1.
fn number_ladder(lo: f64, hi: f64) -> Vec<(f64, u8)> {
    let (e0, e1) = (lo.log10().floor() as i32 - 1, hi.log10().ceil() as i32 + 1);
    let mut out = Vec::new();
    for e in e0..=e1 {
        let d = 10f64.powi(e);
        out.extend([(d, 2), (2.0 * d, 0), (5.0 * d, 1)]);
    }
    out
}

/// Tick candidates of a latency axis (ms) at human steps: 1-2-5 ms/s, then 10/20/30 s, 1/2/5/10/20/30
/// min, 1/2/5/10/24 h; rank 2 marks the steps kept when space is short.
fn latency_ladder(lo: f64, hi: f64) -> Vec<(f64, u8)> {
    let mut out = Vec::new();
    let e0 = lo.log10().floor() as i32 - 1;
    for e in e0..=3 {
        let d = 10f64.powi(e);
        if d >= 10_000.0 {
            break;
        }
        out.extend([(d, 2), (2.0 * d, 0), (5.0 * d, 1)]);
    }
    out.extend([(10_000.0, 2), (20_000.0, 0), (30_000.0, 1)]);
    let min = 60_000.0;
    out.extend([
        (min, 2),
        (2.0 * min, 0),
        (5.0 * min, 1),
        (10.0 * min, 2),
        (20.0 * min, 0),
        (30.0 * min, 1),
    ]);
    let hour = 60.0 * min;
    out.extend([
        (hour, 2),
        (2.0 * hour, 0),
        (5.0 * hour, 1),
        (10.0 * hour, 2),
        (24.0 * hour, 1),
    ]);
    let mut d = 100.0 * hour;
    while d < hi * 10.0 {
        out.push((d, 2));
        d *= 10.0;
    }
    out
}

/// Picks at most `max` ticks within `lo..=hi` from ranked candidates, dropping low ranks first.
fn pick_ticks(candidates: &[(f64, u8)], lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let inside: Vec<(f64, u8)> = candidates
        .iter()
        .copied()
        .filter(|&(v, _)| v >= lo && v <= hi)
        .collect();
    for min_rank in 0..=2u8 {
        let ticks: Vec<f64> = inside
            .iter()
            .filter(|&&(_, r)| r >= min_rank)
            .map(|&(v, _)| v)
            .collect();
        if ticks.len() <= max {
            return ticks;
        }
    }
    let majors: Vec<f64> = inside
        .iter()
        .filter(|&&(_, r)| r >= 2)
        .map(|&(v, _)| v)
        .collect();
    let step = majors.len().div_ceil(max.max(1));
    majors.into_iter().step_by(step.max(1)).collect()
}

/// A log range covering `lo..=hi` (both > 0) with room above for fault labels, at least a decade wide.
fn log_range(lo: f64, hi: f64, headroom: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (lo / 1.3, hi * headroom);
    if hi / lo < 10.0 {
        let mid = (lo * hi).sqrt();
        lo = mid / 10f64.sqrt();
        hi = mid * 10f64.sqrt();
    }
    (lo, hi)
}

/// A log axis over `lo..=hi`: its range ([`log_range`], bottom snapped to a labelled step) and its ticks
/// from `ladder` (latency steps or plain numbers).
fn log_axis(lo: f64, hi: f64, headroom: f64, ladder: fn(f64, f64) -> Vec<(f64, u8)>) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = log_range(lo, hi, headroom);
    let steps = ladder(lo, hi);
    let lo = snap_down(lo, hi, &steps, 9);
    let ticks = pick_ticks(&steps, lo, hi, 9);
    (lo, hi, ticks)
}

/// `lo` lowered to the nearest step at or below it that keeps its label among the (at most `max`) ticks
/// of `lo..=hi`, so that the bottom of a log axis always carries a label; `lo` itself if there is none.
fn snap_down(lo: f64, hi: f64, candidates: &[(f64, u8)], max: usize) -> f64 {
    for min_rank in 1..=2u8 {
        let below = candidates
            .iter()
            .filter(|&&(v, r)| r >= min_rank && v <= lo)
            .map(|&(v, _)| v);
        if let Some(snapped) = below.max_by(f64::total_cmp)
            && pick_ticks(candidates, snapped, hi, max).first() == Some(&snapped)
        {
            return snapped;
        }
    }
    lo
}

/// A linear range covering the values, starting at 0 unless values are negative.
fn linear_range(lo: f64, hi: f64, headroom: f64) -> (f64, f64) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    if hi - lo <= f64::EPSILON {
        return (lo, lo + 1.0);
    }
    (
        lo - if lo < 0.0 { (hi - lo) * 0.05 } else { 0.0 },
        hi + (hi - lo) * headroom,
    )
}

/// Splits points into runs of drawable points; `None` (a gap) ends a run.
fn segments(points: impl IntoIterator<Item = Option<(f64, f64)>>) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for p in points {
        match p {
            Some(p) => cur.push(p),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Values beyond these bounds are not measurements (a nanosecond-scale latency, a rate of 10^15/s)
/// and would break the axes' arithmetic; they are left out like gaps.
const LOG_MIN: f64 = 1e-9;
const LOG_MAX: f64 = 1e12;
const LINEAR_MAX: f64 = 1e15;
/// The longest time axis drawn (about 30 years); a longer duration is cut to it.
const MAX_DURATION_S: f64 = 1e9;

fn usable(x: f64, y: f64, log_y: bool) -> bool {
    x.is_finite()
        && y.is_finite()
        && if log_y {
            (LOG_MIN..=LOG_MAX).contains(&y)
        } else {
            y.abs() <= LINEAR_MAX
        }
}

// ---------------------------------------------------------------------------------------------------
// Shared drawing: lines, fault bands, legend

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// Draws runs of a series: a polyline per run of two or more points, a dot for a lone point.
fn draw_runs<Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, '_, Y>,
    runs: &[Vec<(f64, f64)>],
    colour: RGBColor,
    width: u32,
) -> Result<(), ChartError> {
    for run in runs {
        if run.len() >= 2 {
            chart.draw_series(LineSeries::new(
                run.iter().copied(),
                colour.stroke_width(width),
            ))?;
        } else {
            chart.draw_series(run.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
    }
    Ok(())
}

/// A fault band and its label, placed in pixels relative to the plotting area.
struct BandPx {
    x0: i32,
    x1: i32,
    label: String,
    label_x: i32,
    label_y: i32,
    label_w: i32,
    label_h: i32,
}

/// Places fault bands (clipped to the time axis, at least 3 px wide) and their labels (staggered in
/// rows so that neighbouring labels do not overlap).
fn layout_faults<Y: Ranged<ValueType = f64>>(
    chart: &Chart<'_, '_, Y>,
    faults: &[FaultWindow],
    axis: &TimeAxis,
) -> Result<Vec<BandPx>, ChartError> {
    let area = chart.plotting_area();
    let (xr, _) = area.get_pixel_range();
    let plot_w = xr.end - xr.start;
    let y_any = chart.y_range().start;
    let style = font(NOTE_SIZE);
    let mut row_ends: Vec<i32> = Vec::new();
    let mut out = Vec::new();
    let mut sorted: Vec<&FaultWindow> = faults
        .iter()
        .filter(|f| f.start_s.is_finite() && f.end_s.is_finite())
        .collect();
    sorted.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(a.end_s.total_cmp(&b.end_s))
    });
    for f in sorted {
        let start = (f.start_s.min(f.end_s) / axis.divisor).clamp(0.0, axis.end);
        let end = (f.start_s.max(f.end_s) / axis.divisor).clamp(0.0, axis.end);
        if f.start_s.max(f.end_s) < 0.0 || f.start_s.min(f.end_s) / axis.divisor > axis.end {
            continue;
        }
        let x0 = area.map_coordinate(&(start, y_any)).0 - xr.start;
        let mut x1 = area.map_coordinate(&(end, y_any)).0 - xr.start;
        if x1 - x0 < 3 {
            x1 = (x0 + 3).min(plot_w);
        }
        let (w, h) = area.estimate_text_size(&f.label, &style)?;
        let (w, h) = (w as i32, h as i32);
        let mut label_x = x0 + 3;
        if label_x + w > plot_w - 2 {
            label_x = (plot_w - 2 - w).max(0);
        }
        let row = match row_ends.iter().position(|&end| end + 8 <= label_x) {
            Some(r) => r,
            None if row_ends.len() < 4 => {
                row_ends.push(i32::MIN);
                row_ends.len() - 1
            }
            None => (0..row_ends.len())
                .min_by_key(|&r| row_ends[r])
                .unwrap_or(0),
        };
        row_ends[row] = label_x + w;
        out.push(BandPx {
            x0,
            x1,
            label: f.label.clone(),
            label_x,
            label_y: 4 + row as i32 * (h + 6),
            label_w: w,
            label_h: h,
        });
    }
    Ok(out)
}

fn draw_fault_bands<Y: Ranged<ValueType = f64>>(
    chart: &Chart<'_, '_, Y>,
    bands: &[BandPx],
) -> Result<(), ChartError> {
    let area = chart.plotting_area().strip_coord_spec();
    let (_, h) = area.dim_in_pixel();
    for b in bands {
        area.draw(&Rectangle::new(
            [(b.x0, 0), (b.x1, h as i32)],
            FAULT_COLOUR.mix(FAULT_OPACITY).filled(),
        ))?;
    }
    Ok(())
}

fn draw_fault_labels<Y: Ranged<ValueType = f64>>(
    chart: &Chart<'_, '_, Y>,
    bands: &[BandPx],
) -> Result<(), ChartError> {
    let area = chart.plotting_area().strip_coord_spec();
    let style = (FONT, NOTE_SIZE).into_font().color(&FAULT_TEXT);
    for b in bands {
        let bg = Rectangle::new(
            [
                (b.label_x - 2, b.label_y - 2),
                (b.label_x + b.label_w + 2, b.label_y + b.label_h + 4),
            ],
            WHITE.mix(0.65).filled(),
        );
        area.draw(&bg)?;
        area.draw_text(&b.label, &style, (b.label_x, b.label_y))?;
    }
    Ok(())
}

enum Swatch {
    Line(RGBColor, u32),
    Band,
    Block(RGBColor),
}

/// Draws a legend column: one entry per row, a swatch and the (shortened if needed) name.
fn draw_legend(area: &Area<'_>, top: i32, entries: &[(String, Swatch)]) -> Result<(), ChartError> {
    let (w, _) = area.dim_in_pixel();
    let style = font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    let max_text = w as i32 - 46;
    for (i, (name, swatch)) in entries.iter().enumerate() {
        let y = top + 10 + i as i32 * 24;
        match swatch {
            // A filled bar rather than a path, so the data lines are the only polylines of a colour.
            Swatch::Line(c, width) => {
                let half = (*width as i32 + 1) / 2;
                area.draw(&Rectangle::new([(6, y - half), (32, y + half)], c.filled()))?
            }
            Swatch::Band => area.draw(&Rectangle::new(
                [(6, y - 8), (32, y + 8)],
                FAULT_COLOUR.mix(FAULT_OPACITY * 2.0).filled(),
            ))?,
            Swatch::Block(c) => {
                area.draw(&Rectangle::new([(10, y - 7), (28, y + 7)], c.filled()))?
            }
        }
        let text = fit_text(area, name, &style, max_text)?;
        area.draw_text(&text, &style, (38, y))?;
    }
    Ok(())
}

/// `text`, cut with an ellipsis until it fits in `max_w` pixels.
fn fit_text(
    area: &Area<'_>,
    text: &str,
    style: &TextStyle<'_>,
    max_w: i32,
) -> Result<String, ChartError> {
    if area.estimate_text_size(text, style)?.0 as i32 <= max_w {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let cut: String = chars[..keep].iter().collect::<String>() + "…";
        if area.estimate_text_size(&cut, style)?.0 as i32 <= max_w {
            return Ok(cut);
        }
    }
    Ok("…".to_string())
}

const PLOT_MARGIN_TOP: i32 = 8;

/// Splits a chart body into the plotting side and the legend column.
fn split_body<'a>(body: &Area<'a>) -> (Area<'a>, Area<'a>) {
    let (w, _) = body.dim_in_pixel();
    body.split_horizontally(w.saturating_sub(LEGEND_WIDTH))
}

// ---------------------------------------------------------------------------------------------------
// The charts

/// Latency over time: p50/p95/p99/max lines (log scale, ms), fault windows shaded, legend at the right.
/// Buckets with no samples leave a gap.
pub fn latency_over_time(
    title: &str,
    points: &[QuantilePoint],
    faults: &[FaultWindow],
    duration_s: f64,
) -> Result<String, ChartError> {
    const NAMES: [&str; 4] = ["p50", "p95", "p99", "max"];
    let pick = |p: &QuantilePoint, q: usize| [p.p50, p.p95, p.p99, p.max][q];
    let data_max_t = points
        .iter()
        .map(|p| p.t_s)
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let axis = time_axis(duration_s, data_max_t);
    let in_time = |t: f64| t.is_finite() && t >= 0.0 && t / axis.divisor <= axis.end;
    let runs: Vec<Vec<Vec<(f64, f64)>>> = (0..4)
        .map(|q| {
            segments(points.iter().map(|p| {
                let v = pick(p, q);
                (p.count > 0 && in_time(p.t_s) && usable(p.t_s, v, true))
                    .then_some((p.t_s / axis.divisor, v))
            }))
        })
        .collect();
    let values = runs.iter().flatten().flatten().map(|&(_, v)| v);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    render(title, |body| {
        if hi <= 0.0 {
            return draw_no_samples(body);
        }
        let (plot, legend) = split_body(body);
        let (ylo, yhi, ticks) = log_axis(lo, hi, 3.0, latency_ladder);
        let mut chart = ChartBuilder::on(&plot)
            .margin(PLOT_MARGIN_TOP)
            .x_label_area_size(48)
            .y_label_area_size(92)
            .build_cartesian_2d(0.0..axis.end, (ylo..yhi).log_scale().with_key_points(ticks))?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .x_labels(10)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_ms(*v))
            .x_desc(axis.desc)
            .y_desc("latency (log scale)")
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(DESC_SIZE))
            .draw()?;
        let bands = layout_faults(&chart, faults, &axis)?;
        draw_fault_bands(&chart, &bands)?;
        // Labels before the data: a label's backing box must never hide a point (a latency excursion
        // often sits right under it, at the top of the band).
        draw_fault_labels(&chart, &bands)?;
        for q in (0..4).rev() {
            draw_runs(
                &mut chart,
                &runs[q],
                QUANTILE_COLOURS[q],
                if q == 3 { 1 } else { 2 },
            )?;
        }
        let mut entries: Vec<(String, Swatch)> = NAMES
            .iter()
            .enumerate()
            .map(|(q, n)| {
                (
                    n.to_string(),
                    Swatch::Line(QUANTILE_COLOURS[q], if q == 3 { 1 } else { 2 }),
                )
            })
            .collect();
        if !bands.is_empty() {
            entries.push(("fault".to_string(), Swatch::Band));
        }
        draw_legend(&legend, PLOT_MARGIN_TOP, &entries)
    })
}

/// Latency CDFs, one line per flow: x = latency (ms, log scale), y = fraction of samples at or below it.
pub fn cdf(title: &str, cdfs: &[Cdf]) -> Result<String, ChartError> {
    let runs: Vec<Vec<Vec<(f64, f64)>>> = cdfs
        .iter()
        .map(|c| {
            segments(c.points.iter().map(|&(x, y)| {
                // x is the latency, on the log axis.
                usable(y, x, true).then_some((x, y.clamp(0.0, 1.0)))
            }))
        })
        .collect();
    let xs = runs.iter().flatten().flatten().map(|&(x, _)| x);
    let (lo, hi) = xs.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    render(title, |body| {
        if hi <= 0.0 {
            return draw_no_samples(body);
        }
        let (plot, legend) = split_body(body);
        let (xlo, xhi, ticks) = log_axis(lo, hi, 1.3, latency_ladder);
        let mut chart = ChartBuilder::on(&plot)
            .margin(PLOT_MARGIN_TOP)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                (xlo..xhi).log_scale().with_key_points(ticks),
                // A little room above 1 so that the top of each curve is not drawn on the frame.
                0.0..1.03,
            )?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .y_labels(6)
            .x_label_formatter(&|v| fmt_ms(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .x_desc("latency (log scale)")
            .y_desc("fraction of requests ≤ latency")
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(DESC_SIZE))
            .draw()?;
        let mut entries = Vec::new();
        for (i, (c, r)) in cdfs.iter().zip(&runs).enumerate() {
            let colour = series_colour(i, &c.name);
            for run in r {
                if run.len() >= 2 {
                    chart.draw_series(LineSeries::new(
                        run.iter().copied(),
                        colour.stroke_width(2),
                    ))?;
                } else {
                    chart.draw_series(run.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
                }
            }
            entries.push((c.name.clone(), Swatch::Line(colour, 2)));
        }
        draw_legend(&legend, PLOT_MARGIN_TOP, &entries)
    })
}

/// Values over time, one line per series (e.g. request rate per service, cache hit ratio), fault windows
/// shaded, linear or log y axis.
pub fn series_over_time(
    title: &str,
    y_label: &str,
    series: &[Series],
    faults: &[FaultWindow],
    duration_s: f64,
    log_y: bool,
) -> Result<String, ChartError> {
    let data_max_t = series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.0)
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let axis = time_axis(duration_s, data_max_t);
    let in_time = |t: f64| t.is_finite() && t >= 0.0 && t / axis.divisor <= axis.end;
    let runs: Vec<Vec<Vec<(f64, f64)>>> = series
        .iter()
        .map(|s| {
            segments(s.points.iter().map(|&(t, y)| {
                (in_time(t) && usable(t, y, log_y)).then_some((t / axis.divisor, y))
            }))
        })
        .collect();
    let ys = runs.iter().flatten().flatten().map(|&(_, y)| y);
    let (lo, hi, n) = ys.fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0usize),
        |(lo, hi, n), y| (lo.min(y), hi.max(y), n + 1),
    );
    render(title, |body| {
        if n == 0 {
            return draw_no_samples(body);
        }
        let (plot, legend) = split_body(body);
        let mut builder = ChartBuilder::on(&plot);
        builder
            .margin(PLOT_MARGIN_TOP)
            .x_label_area_size(48)
            .y_label_area_size(80);
        let any_band = if log_y {
            let (ylo, yhi, ticks) = log_axis(lo, hi, 3.0, number_ladder);
            let mut chart = builder
                .build_cartesian_2d(0.0..axis.end, (ylo..yhi).log_scale().with_key_points(ticks))?;
            chart
                .configure_mesh()
                .bold_line_style(GRID)
                .light_line_style(TRANSPARENT)
                .x_labels(10)
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .x_desc(axis.desc)
                .y_desc(format!("{y_label} (log scale)"))
                .label_style(font(TICK_SIZE))
                .axis_desc_style(font(DESC_SIZE))
                .draw()?;
            let bands = layout_faults(&chart, faults, &axis)?;
            draw_fault_bands(&chart, &bands)?;
            draw_fault_labels(&chart, &bands)?;
            for (i, s) in series.iter().enumerate() {
                draw_runs(&mut chart, &runs[i], series_colour(i, &s.name), 2)?;
            }
            !bands.is_empty()
        } else {
            let (ylo, yhi) = linear_range(lo, hi, 0.2);
            let mut chart = builder.build_cartesian_2d(0.0..axis.end, ylo..yhi)?;
            chart
                .configure_mesh()
                .bold_line_style(GRID)
                .light_line_style(TRANSPARENT)
                .x_labels(10)
                .y_labels(8)
                .x_label_formatter(&|v| fmt_num(*v))
                .y_label_formatter(&|v| fmt_num(*v))
                .x_desc(axis.desc)
                .y_desc(y_label)
                .label_style(font(TICK_SIZE))
                .axis_desc_style(font(DESC_SIZE))
                .draw()?;
            let bands = layout_faults(&chart, faults, &axis)?;
            draw_fault_bands(&chart, &bands)?;
            draw_fault_labels(&chart, &bands)?;
            for (i, s) in series.iter().enumerate() {
                draw_runs(&mut chart, &runs[i], series_colour(i, &s.name), 2)?;
            }
            !bands.is_empty()
        };
        let mut entries: Vec<(String, Swatch)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), Swatch::Line(series_colour(i, &s.name), 2)))
            .collect();
        if any_band {
            entries.push(("fault".to_string(), Swatch::Band));
        }
        draw_legend(&legend, PLOT_MARGIN_TOP, &entries)
    })
}

fn bar_value(v: f64) -> bool {
    v.is_finite() && v.abs() <= LINEAR_MAX
}

/// Grouped bars: one group per workload, one bar per flow in it, each with its value printed above it.
/// Flows are ordered as they first appear; a flow missing from a group leaves its slot empty.
pub fn comparison_bars(
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<(String, f64)>)],
) -> Result<String, ChartError> {
    let mut flows: Vec<&str> = Vec::new();
    for (_, bars) in groups {
        for (flow, v) in bars {
            if bar_value(*v) && !flows.contains(&flow.as_str()) {
                flows.push(flow);
            }
        }
    }
    let values = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, v)| *v))
        .filter(|v| bar_value(*v));
    let (lo, hi, n) = values.fold((0.0f64, 0.0f64, 0usize), |(lo, hi, n), v| {
        (lo.min(v), hi.max(v), n + 1)
    });
    render(title, |body| {
        if n == 0 {
            return draw_no_samples(body);
        }
        let (plot, legend) = split_body(body);
        let (ylo, yhi) = linear_range(lo, hi, 0.15);
        let mut chart = ChartBuilder::on(&plot)
            .margin(PLOT_MARGIN_TOP)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..groups.len() as f64, ylo..yhi)?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(8)
            .y_label_formatter(&|v| fmt_num(*v))
            .y_desc(y_label)
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(DESC_SIZE))
            .draw()?;
        let slot = 0.8 / flows.len().max(1) as f64;
        let value_style = font(NOTE_SIZE);
        let (ax, ay) = plot.get_base_pixel();
        let group_style = font(TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Top));
        let group_w = chart.backend_coord(&(1.0, ylo)).0 - chart.backend_coord(&(0.0, ylo)).0;
        for (g, (name, _)) in groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(g as f64 + 0.5, ylo));
            let text = fit_text(&plot, name, &group_style, group_w - 6)?;
            plot.draw_text(&text, &group_style, (px - ax, py - ay + 8))?;
        }
        for (g, (_, bars)) in groups.iter().enumerate() {
            for (flow, v) in bars.iter().filter(|(_, v)| bar_value(*v)) {
                let Some(k) = flows.iter().position(|f| f == flow) else {
                    continue;
                };
                let colour = series_colour(k, flow);
                let x0 = g as f64 + 0.1 + k as f64 * slot + slot * 0.06;
                let x1 = x0 + slot * 0.88;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, *v)],
                    colour.filled(),
                )))?;
                let anchor = if *v >= 0.0 { VPos::Bottom } else { VPos::Top };
                let (px, py) = chart.backend_coord(&((x0 + x1) / 2.0, *v));
                let off = if *v >= 0.0 { -3 } else { 3 };
                plot.draw_text(
                    &fmt_value(*v),
                    &value_style.pos(Pos::new(HPos::Center, anchor)),
                    (px - ax, py - ay + off),
                )?;
            }
        }
        let entries: Vec<(String, Swatch)> = flows
            .iter()
            .enumerate()
            .map(|(k, f)| (f.to_string(), Swatch::Block(series_colour(k, f))))
            .collect();
        draw_legend(&legend, PLOT_MARGIN_TOP, &entries)
    })
}

// ---------------------------------------------------------------------------------------------------
// HdrHistogram percentile distribution (.hgrm)

/// The histogram's percentile distribution in the text format of Java HdrHistogram's
/// `outputPercentileDistribution(out, 5, scale)`: values divided by `scale` (e.g. 1000.0 for a histogram
/// of microseconds written in milliseconds; a `scale` that is not a positive number counts as 1).
pub fn percentile_distribution(hist: &Histogram<u64>, scale: f64) -> String {
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    let digits = usize::from(hist.sigfig());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !hist.is_empty() {
        let mut total = 0u64;
        for step in hist.iter_quantiles(5) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / scale;
            let q = step.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.digits$} {q:2.12} {total:10}");
            }
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        hist.mean() / scale,
        hist.stdev() / scale
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        hist.max() as f64 / scale,
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_bucket_count(hist.sigfig())
    );
    out
}

/// HdrHistogram's sub-bucket count for a precision: the power of two at or above 2 × 10^sigfig.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest_single_unit = 2 * 10u64.pow(u32::from(sigfig.min(5)));
    largest_single_unit.next_power_of_two()
}

#[cfg(test)]
mod tests;
