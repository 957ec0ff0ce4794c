use std::collections::BTreeMap;

use super::*;

/// One element of a parsed SVG: its name, attributes and (unescaped) text content.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
}

/// Parses an SVG with quick-xml, failing the test on any XML error, and lists its elements.
fn parse(svg: &str) -> Vec<Element> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("SVG is not well-formed XML: {e}\n{svg}"));
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if open.is_empty() {
                    roots += 1;
                }
                let mut attrs = BTreeMap::new();
                for a in e.attributes() {
                    let a = a.expect("well-formed attribute");
                    let raw = a.value.to_string();
                    let value = quick_xml::escape::unescape(&raw)
                        .expect("valid escapes")
                        .into_owned();
                    attrs.insert(a.key.as_ref().to_string(), value);
                }
                out.push(Element {
                    name: e.name().as_ref().to_string(),
                    attrs,
                    text: String::new(),
                });
                if matches!(event, Event::Start(_)) {
                    open.push(out.len() - 1);
                }
            }
            Event::End(_) => {
                let i = open.pop().expect("balanced tags");
                let text = quick_xml::escape::unescape(&out[i].text)
                    .expect("valid escapes")
                    .trim()
                    .to_string();
                out[i].text = text;
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(&i) = open.last() {
                    let name: &str = &r;
                    out[i].text.push_str(&format!("&{name};"));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements");
    assert_eq!(roots, 1, "one root element");
    assert_eq!(out[0].name, "svg");
    out
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

fn texts(els: &[Element]) -> Vec<&str> {
    els.iter()
        .filter(|e| e.name == "text")
        .map(|e| e.text.as_str())
        .collect()
}

/// Polylines stroked in `colour` (data lines; legend swatches are rectangles).
fn polylines(els: &[Element], colour: RGBColor) -> usize {
    els.iter()
        .filter(|e| e.name == "polyline" && e.attrs.get("stroke") == Some(&hex(colour)))
        .count()
}

/// Rectangles filled like a fault band.
fn fault_bands(els: &[Element]) -> usize {
    els.iter()
        .filter(|e| {
            e.name == "rect"
                && e.attrs.get("fill") == Some(&hex(FAULT_COLOUR))
                && e.attrs.get("opacity") == Some(&format!("{FAULT_OPACITY}"))
        })
        .count()
}

fn qp(t_s: f64, base: f64, count: u64) -> QuantilePoint {
    QuantilePoint {
        t_s,
        p50: base,
        p95: base * 3.0,
        p99: base * 8.0,
        max: base * 20.0,
        count,
    }
}

fn fault(label: &str, start_s: f64, end_s: f64) -> FaultWindow {
    FaultWindow {
        label: label.to_string(),
        start_s,
        end_s,
    }
}

fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
    Series {
        name: name.to_string(),
        points,
    }
}

fn steady_points(n: usize, step_s: f64) -> Vec<QuantilePoint> {
    (0..n)
        .map(|i| qp(i as f64 * step_s, 10.0 + (i % 7) as f64, 100))
        .collect()
}

#[test]
fn latency_over_time_draws_title_one_line_per_quantile_and_the_fault_band() {
    let points = steady_points(60, 60.0);
    let faults = [fault("sts throttling", 1200.0, 1500.0)];
    let svg = latency_over_time("IRSA latency", &points, &faults, 3600.0).unwrap();
    let els = parse(&svg);
    let t = texts(&els);
    assert!(t.contains(&"IRSA latency"), "{t:?}");
    assert!(t.contains(&"sts throttling"), "fault label drawn: {t:?}");
    assert!(t.contains(&"time since start (minutes)"), "{t:?}");
    assert_eq!(fault_bands(&els), 1);
    for (q, colour) in QUANTILE_COLOURS.iter().enumerate() {
        assert_eq!(polylines(&els, *colour), 1, "quantile {q}");
    }
    for name in ["p50", "p95", "p99", "max", "fault"] {
        assert!(t.contains(&name), "legend entry {name}: {t:?}");
    }
}

#[test]
fn time_charts_without_faults_have_no_fault_band() {
    let points = steady_points(30, 60.0);
    let s = [series(
        "sts",
        (0..30).map(|i| (i as f64 * 60.0, 5.0 + i as f64)).collect(),
    )];
    for svg in [
        latency_over_time("no faults", &points, &[], 1800.0).unwrap(),
        series_over_time("no faults", "requests/s", &s, &[], 1800.0, false).unwrap(),
        series_over_time("no faults", "requests/s", &s, &[], 1800.0, true).unwrap(),
    ] {
        let els = parse(&svg);
        assert_eq!(fault_bands(&els), 0);
        assert!(!texts(&els).contains(&"fault"));
    }
}

#[test]
fn latency_buckets_without_samples_leave_a_gap() {
    let mut points = steady_points(20, 60.0);
    points[10].count = 0;
    points[10].p50 = 0.0;
    let svg = latency_over_time("gap", &points, &[], 1200.0).unwrap();
    let els = parse(&svg);
    // One line before the empty bucket and one after it; no zero drawn on the log scale.
    assert_eq!(polylines(&els, QUANTILE_COLOURS[0]), 2);
    // A lone bucket between two empty ones is a dot, not a line.
    let mut points = steady_points(5, 60.0);
    points[1].count = 0;
    points[3].count = 0;
    let els = parse(&latency_over_time("dots", &points, &[], 300.0).unwrap());
    assert_eq!(polylines(&els, QUANTILE_COLOURS[0]), 0);
    let dots = els
        .iter()
        .filter(|e| e.name == "circle" && e.attrs.get("fill") == Some(&hex(QUANTILE_COLOURS[0])))
        .count();
    assert_eq!(dots, 3);
}

#[test]
fn time_axis_is_in_minutes_up_to_three_hours_then_hours() {
    let cases: [(f64, f64, &str, f64); 5] = [
        (600.0, 0.0, "time since start (minutes)", 10.0),
        (10_800.0, 0.0, "time since start (minutes)", 180.0),
        (10_801.0, 0.0, "time since start (hours)", 10_801.0 / 3600.0),
        (86_400.0, 0.0, "time since start (hours)", 24.0),
        // No usable duration: the data decides; nothing at all: one minute.
        (f64::NAN, 120.0, "time since start (minutes)", 2.0),
    ];
    for (duration, data_max, desc, end) in cases {
        let axis = time_axis(duration, data_max);
        assert_eq!(axis.desc, desc, "duration {duration}");
        assert!(
            (axis.end - end).abs() < 1e-9,
            "duration {duration}: end {}",
            axis.end
        );
    }
    assert_eq!(time_axis(-5.0, 0.0).end, 1.0);
    let svg = latency_over_time("day", &steady_points(24, 3600.0), &[], 86_400.0).unwrap();
    assert!(texts(&parse(&svg)).contains(&"time since start (hours)"));
}

#[test]
fn cdf_draws_one_line_per_flow_in_the_flow_colours() {
    let mk = |name: &str, base: f64| Cdf {
        name: name.to_string(),
        points: (1..=50)
            .map(|i| (base * (1.0 + i as f64 / 5.0), i as f64 / 50.0))
            .collect(),
    };
    let svg = cdf(
        "Credential latency CDF",
        &[mk("irsa", 20.0), mk("pod_identity", 3.0)],
    )
    .unwrap();
    let els = parse(&svg);
    let t = texts(&els);
    assert!(t.contains(&"Credential latency CDF"));
    assert!(t.contains(&"irsa") && t.contains(&"pod_identity"));
    assert_eq!(polylines(&els, IRSA_COLOUR), 1);
    assert_eq!(polylines(&els, POD_IDENTITY_COLOUR), 1);
    assert_eq!(fault_bands(&els), 0);
}

#[test]
fn series_over_time_draws_one_line_per_series_and_the_fault_bands() {
    let s = [
        series(
            "sts",
            (0..60)
                .map(|i| (i as f64 * 60.0, 50.0 + i as f64))
                .collect(),
        ),
        series(
            "api_server",
            (0..60).map(|i| (i as f64 * 60.0, 5.0)).collect(),
        ),
        series(
            "eks_auth",
            (0..60).map(|i| (i as f64 * 60.0, 0.5)).collect(),
        ),
    ];
    let faults = [
        fault("oidc outage", 600.0, 900.0),
        fault("sts throttling", 1800.0, 2400.0),
    ];
    for log_y in [false, true] {
        let svg = series_over_time(
            "Requests per service",
            "requests/s",
            &s,
            &faults,
            3600.0,
            log_y,
        )
        .unwrap();
        let els = parse(&svg);
        let t = texts(&els);
        assert!(t.contains(&"Requests per service"));
        assert_eq!(fault_bands(&els), 2, "log_y {log_y}");
        for (i, one) in s.iter().enumerate() {
            assert_eq!(
                polylines(&els, series_colour(i, &one.name)),
                1,
                "{} log_y {log_y}",
                one.name
            );
            assert!(t.contains(&one.name.as_str()));
        }
        let desc = if log_y {
            "requests/s (log scale)"
        } else {
            "requests/s"
        };
        assert!(t.contains(&desc), "{t:?}");
    }
}

#[test]
fn fault_windows_outside_the_run_or_malformed_are_not_drawn() {
    let s = [series(
        "hit ratio",
        (0..10).map(|i| (i as f64 * 60.0, 0.9)).collect(),
    )];
    let cases: [(&str, Vec<FaultWindow>, usize); 5] = [
        ("inside", vec![fault("a", 60.0, 120.0)], 1),
        (
            "reversed ends are swapped",
            vec![fault("a", 120.0, 60.0)],
            1,
        ),
        ("after the run", vec![fault("a", 700.0, 800.0)], 0),
        ("before the run", vec![fault("a", -100.0, -50.0)], 0),
        (
            "not a number",
            vec![fault("a", f64::NAN, 60.0), fault("b", 0.0, f64::INFINITY)],
            0,
        ),
    ];
    for (case, faults, bands) in cases {
        let svg = series_over_time("ratio", "hit ratio", &s, &faults, 600.0, false).unwrap();
        assert_eq!(fault_bands(&parse(&svg)), bands, "{case}");
    }
}

#[test]
fn neighbouring_fault_labels_are_stacked_not_overlapped() {
    let s = [series(
        "sts",
        (0..10).map(|i| (i as f64 * 60.0, 1.0)).collect(),
    )];
    let faults = [
        fault("first fault label", 60.0, 70.0),
        fault("second fault label", 75.0, 80.0),
    ];
    let els = parse(&series_over_time("labels", "requests/s", &s, &faults, 600.0, false).unwrap());
    let labels: Vec<&Element> = els
        .iter()
        .filter(|e| e.name == "text" && e.text.ends_with("fault label"))
        .collect();
    assert_eq!(labels.len(), 2);
    assert_ne!(
        labels[0].attrs["y"], labels[1].attrs["y"],
        "second label goes on a second row"
    );
}

#[test]
fn comparison_bars_draw_one_bar_per_flow_with_its_value() {
    let groups = vec![
        (
            "steady-day".to_string(),
            vec![
                ("irsa".to_string(), 412.5),
                ("pod_identity".to_string(), 35.26),
            ],
        ),
        (
            "sts-brownout".to_string(),
            vec![
                ("irsa".to_string(), 2900.0),
                ("pod_identity".to_string(), 40.0),
            ],
        ),
    ];
    let svg = comparison_bars("p99 credential latency", "ms", &groups).unwrap();
    let els = parse(&svg);
    let t = texts(&els);
    for want in [
        "p99 credential latency",
        "steady-day",
        "sts-brownout",
        "412.5",
        "35.3",
        "2900",
        "40",
        "ms",
    ] {
        assert!(t.contains(&want), "{want}: {t:?}");
    }
    let bars = |c: RGBColor| {
        els.iter()
            .filter(|e| {
                e.name == "rect"
                    && e.attrs.get("fill") == Some(&hex(c))
                    && e.attrs["opacity"] == "1"
            })
            .count()
    };
    // Two bars per flow plus its legend block.
    assert_eq!(bars(IRSA_COLOUR), 3);
    assert_eq!(bars(POD_IDENTITY_COLOUR), 3);
}

#[test]
fn every_chart_is_deterministic() {
    let points = steady_points(40, 30.0);
    let faults = [fault("node drain", 300.0, 420.0)];
    let s = [series(
        "irsa",
        (0..40)
            .map(|i| (i as f64 * 30.0, 0.5 + (i % 3) as f64 / 10.0))
            .collect(),
    )];
    let c = [Cdf {
        name: "irsa".into(),
        points: vec![(1.0, 0.1), (10.0, 0.5), (100.0, 1.0)],
    }];
    let g = vec![("w".to_string(), vec![("irsa".to_string(), 1.0)])];
    let draw: [&dyn Fn() -> String; 4] = [
        &|| latency_over_time("a", &points, &faults, 1200.0).unwrap(),
        &|| cdf("b", &c).unwrap(),
        &|| series_over_time("c", "hit ratio", &s, &faults, 1200.0, false).unwrap(),
        &|| comparison_bars("d", "ms", &g).unwrap(),
    ];
    for (i, f) in draw.iter().enumerate() {
        assert_eq!(f(), f(), "chart {i}");
    }
}

#[test]
fn empty_or_unusable_input_draws_no_samples() {
    let zero_count = [qp(0.0, 10.0, 0), qp(60.0, 10.0, 0)];
    let nan = [QuantilePoint {
        t_s: 0.0,
        p50: f64::NAN,
        p95: 0.0,
        p99: -1.0,
        max: f64::INFINITY,
        count: 5,
    }];
    let empty_series = [series("sts", vec![])];
    let zero_series = [series("sts", vec![(0.0, 0.0), (1.0, 0.0)])];
    let empty_cdf = [Cdf {
        name: "irsa".into(),
        points: vec![],
    }];
    let no_bars = vec![("w".to_string(), vec![("irsa".to_string(), f64::NAN)])];
    let cases: Vec<(&str, String)> = vec![
        (
            "latency, no points",
            latency_over_time("t", &[], &[], 60.0).unwrap(),
        ),
        (
            "latency, count 0",
            latency_over_time("t", &zero_count, &[fault("f", 0.0, 1.0)], 60.0).unwrap(),
        ),
        (
            "latency, no finite positive value",
            latency_over_time("t", &nan, &[], f64::NAN).unwrap(),
        ),
        ("cdf, no flows", cdf("t", &[]).unwrap()),
        ("cdf, no points", cdf("t", &empty_cdf).unwrap()),
        (
            "series, none",
            series_over_time("t", "y", &[], &[], 60.0, false).unwrap(),
        ),
        (
            "series, no points",
            series_over_time("t", "y", &empty_series, &[], 60.0, true).unwrap(),
        ),
        (
            "series, zeros on a log scale",
            series_over_time("t", "y", &zero_series, &[], 60.0, true).unwrap(),
        ),
        ("bars, no groups", comparison_bars("t", "y", &[]).unwrap()),
        (
            "bars, no finite value",
            comparison_bars("t", "y", &no_bars).unwrap(),
        ),
    ];
    for (case, svg) in cases {
        let t: Vec<String> = texts(&parse(&svg))
            .into_iter()
            .map(str::to_string)
            .collect();
        assert!(t.contains(&"t".to_string()), "{case}: title");
        assert!(t.contains(&"no samples".to_string()), "{case}: {t:?}");
    }
    // Zeros on a linear scale are samples.
    let svg = series_over_time("t", "y", &zero_series, &[], 60.0, false).unwrap();
    assert!(!texts(&parse(&svg)).contains(&"no samples"));
}

#[test]
fn odd_values_are_skipped_not_drawn() {
    let s = [series(
        "sts",
        vec![
            (0.0, 1.0),
            (10.0, f64::NAN),
            (20.0, 2.0),
            (30.0, 3.0),
            (f64::INFINITY, 4.0),
            (-5.0, 1.0),
        ],
    )];
    let els = parse(&series_over_time("odd", "y", &s, &[], 60.0, false).unwrap());
    // (0,1) alone, then (20,2)-(30,3); the non-finite and negative times are gaps.
    assert_eq!(polylines(&els, series_colour(0, "sts")), 1);
    let c = [Cdf {
        name: "irsa".into(),
        points: vec![(0.0, 0.1), (-1.0, 0.2), (1.0, 0.5), (2.0, 1.5)],
    }];
    let els = parse(&cdf("odd", &c).unwrap());
    assert_eq!(polylines(&els, IRSA_COLOUR), 1);
}

#[test]
fn text_is_escaped() {
    let groups = vec![("a<b & c".to_string(), vec![("x\"y".to_string(), 1.0)])];
    let svg = comparison_bars("<script>&", "ms", &groups).unwrap();
    let els = parse(&svg);
    let t = texts(&els);
    assert!(t.contains(&"<script>&"), "{t:?}");
    assert!(t.contains(&"a<b & c"), "{t:?}");
    assert!(!svg.contains("<script>"));
}

#[test]
fn flows_keep_their_colours_everywhere() {
    let cases: [(&str, Option<RGBColor>); 6] = [
        ("irsa", Some(IRSA_COLOUR)),
        ("IRSA", Some(IRSA_COLOUR)),
        ("pod_identity", Some(POD_IDENTITY_COLOUR)),
        ("Pod Identity", Some(POD_IDENTITY_COLOUR)),
        ("pod-identity", Some(POD_IDENTITY_COLOUR)),
        ("pod_identity_agent", None),
    ];
    for (name, want) in cases {
        assert_eq!(flow_colour(name), want, "{name}");
    }
    for i in 0..20 {
        assert_eq!(series_colour(i, "irsa"), IRSA_COLOUR);
        assert_eq!(series_colour(i, "pod_identity"), POD_IDENTITY_COLOUR);
        let other = series_colour(i, "sts");
        assert!(other != IRSA_COLOUR && other != POD_IDENTITY_COLOUR && other != FAULT_COLOUR);
    }
}

#[test]
fn tick_labels_read_as_durations_and_numbers() {
    let cases: [(f64, &str); 9] = [
        (0.5, "0.5 ms"),
        (1.0, "1 ms"),
        (250.0, "250 ms"),
        (1000.0, "1 s"),
        (1500.0, "1.5 s"),
        (30_000.0, "30 s"),
        (120_000.0, "2 min"),
        (3_600_000.0, "1 h"),
        (0.02, "0.02 ms"),
    ];
    for (ms, want) in cases {
        assert_eq!(fmt_ms(ms), want);
    }
    let values: [(f64, &str); 5] = [
        (2950.4, "2950"),
        (412.5, "412.5"),
        (40.0, "40"),
        (0.1234, "0.123"),
        (0.0, "0"),
    ];
    for (v, want) in values {
        assert_eq!(fmt_value(v), want);
    }
    let nums: [(f64, &str); 5] = [
        (0.0, "0"),
        (2.5, "2.5"),
        (0.25, "0.25"),
        (1e6, "1000000"),
        (f64::NAN, ""),
    ];
    for (v, want) in nums {
        assert_eq!(fmt_num(v), want);
    }
}

#[test]
fn log_ticks_stay_few_and_inside_the_range() {
    let cases: [(f64, f64); 5] = [
        (1.0, 10.0),
        (0.3, 200_000.0),
        (5.0, 3_600_000.0),
        (0.001, 1e9),
        (40.0, 400.0),
    ];
    for (lo, hi) in cases {
        for ladder in [latency_ladder(lo, hi), number_ladder(lo, hi)] {
            let ticks = pick_ticks(&ladder, lo, hi, 9);
            assert!(
                ticks.len() >= 2 && ticks.len() <= 9,
                "{lo}..{hi}: {ticks:?}"
            );
            assert!(
                ticks.iter().all(|&t| t >= lo && t <= hi),
                "{lo}..{hi}: {ticks:?}"
            );
            // The bottom of the axis, lowered to a labelled step, carries a label.
            let snapped = snap_down(lo, hi, &ladder, 9);
            assert!(snapped <= lo && snapped * 10.0 >= lo, "{lo}: {snapped}");
            let ticks = pick_ticks(&ladder, snapped, hi, 9);
            assert_eq!(ticks.first(), Some(&snapped), "{lo}..{hi}: {ticks:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// .hgrm

fn hist_1_to_1000() -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).unwrap();
    for v in 1..=1000 {
        h.record(v).unwrap();
    }
    h
}

/// (value, percentile, total count, 1/(1-p) if any) of each row.
fn rows(text: &str) -> Vec<(f64, f64, u64, Option<f64>)> {
    text.lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f.get(3).map(|x| x.parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn hgrm_of_a_known_histogram() {
    let text = percentile_distribution(&hist_1_to_1000(), 1.0);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "       Value     Percentile TotalCount 1/(1-Percentile)"
    );
    assert_eq!(lines[1], "");
    let r = rows(&text);
    // 5 ticks per half distance: 10 rows up to 50%, 5 more per halving after, then the last row.
    assert!(r.len() > 40 && r.len() < 120, "{} rows", r.len());
    assert_eq!(r[0], (1.0, 0.0, 1, Some(1.0)));
    let half = r.iter().find(|row| row.1 == 0.5).expect("a row at 0.5");
    assert!((half.0 - 500.0).abs() <= 1.0, "{half:?}");
    assert_eq!(half.2, 500);
    let last = r.last().unwrap();
    assert_eq!((last.0, last.1, last.2, last.3), (1000.0, 1.0, 1000, None));
    assert!(
        r.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2),
        "ascending"
    );
    // Fixed-width columns: 12 for the value (3 decimals for 3 significant digits), 14 for the
    // percentile, 10 for the count, 14 for 1/(1-p).
    assert_eq!(
        lines[2],
        "       1.000 0.000000000000          1           1.00"
    );
    let footer: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("#["))
        .collect();
    assert_eq!(
        footer,
        [
            "#[Mean    =      500.500, StdDeviation   =      288.675]",
            "#[Max     =     1000.000, Total count    =         1000]",
            "#[Buckets =           12, SubBuckets     =         2048]",
        ]
    );
}

#[test]
fn hgrm_scales_values() {
    let text = percentile_distribution(&hist_1_to_1000(), 1000.0);
    let r = rows(&text);
    assert_eq!(r.last().unwrap().0, 1.0);
    assert!(
        text.contains("#[Max     =        1.000, Total count    =         1000]"),
        "{text}"
    );
    // A scale that is not a positive number counts as 1.
    for bad in [0.0, -2.0, f64::NAN] {
        assert_eq!(
            percentile_distribution(&hist_1_to_1000(), bad),
            percentile_distribution(&hist_1_to_1000(), 1.0)
        );
    }
}

#[test]
fn hgrm_of_an_empty_histogram_is_header_and_zero_footer() {
    let h = Histogram::<u64>::new_with_bounds(1, 60_000, 2).unwrap();
    let text = percentile_distribution(&h, 1.0);
    let want = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n\
                #[Mean    =         0.00, StdDeviation   =         0.00]\n\
                #[Max     =         0.00, Total count    =            0]\n";
    assert!(text.starts_with(want), "{text}");
    assert!(text.ends_with("SubBuckets     =          256]\n"), "{text}");
}

#[test]
fn hgrm_of_a_single_value_has_a_final_row() {
    let mut h = Histogram::<u64>::new(3).unwrap();
    h.record(42).unwrap();
    let r = rows(&percentile_distribution(&h, 1.0));
    assert_eq!(r.last().unwrap(), &(42.0, 1.0, 1, None));
}

// ---------------------------------------------------------------------------------------------------
// Examples for people

/// Writes one example of each chart into `target/chart-examples/` (to look at; not asserted on pixels).
#[test]
fn write_examples_for_people() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chart-examples");
    std::fs::create_dir_all(&dir).unwrap();
    let wave = |i: usize| ((i as f64) * 0.7).sin().abs();
    // One hour in 10 s buckets: a steady flow, STS throttled from 20 to 25 min, the OIDC issuer down
    // for a minute at 40 min (no credential fetched at all: empty buckets).
    let points: Vec<QuantilePoint> = (0..360)
        .map(|i| {
            let t = i as f64 * 10.0;
            let base = 18.0 + 6.0 * wave(i);
            let (p99x, maxx) = if (1200.0..1500.0).contains(&t) {
                (250.0, 1500.0)
            } else {
                (6.0, 15.0)
            };
            let count = if (2400.0..2460.0).contains(&t) { 0 } else { 40 };
            QuantilePoint {
                t_s: t,
                p50: base,
                p95: base * 2.5,
                p99: base * p99x,
                max: base * maxx,
                count,
            }
        })
        .collect();
    let faults = vec![
        fault("sts throttling", 1200.0, 1500.0),
        fault("oidc issuer down", 2400.0, 2460.0),
        fault("kubelet restart", 2490.0, 2520.0),
    ];
    let mut files: Vec<(&str, String)> = vec![(
        "latency_over_time.svg",
        latency_over_time(
            "IRSA credential latency (steady-day)",
            &points,
            &faults,
            3600.0,
        )
        .unwrap(),
    )];
    let day: Vec<QuantilePoint> = (0..288)
        .map(|i| qp(i as f64 * 300.0, 2.0 + wave(i), 500))
        .collect();
    files.push((
        "latency_over_time_day.svg",
        latency_over_time(
            "Pod Identity credential latency (24 h)",
            &day,
            &[fault("agent rollout", 30_000.0, 33_600.0)],
            86_400.0,
        )
        .unwrap(),
    ));
    let mk = |name: &str, base: f64, tail: f64| Cdf {
        name: name.to_string(),
        points: (1..=200)
            .map(|i| {
                let f = i as f64 / 200.0;
                (
                    base * (1.0 + 3.0 * f) * if f > 0.97 { tail } else { 1.0 },
                    f,
                )
            })
            .collect(),
    };
    files.push((
        "cdf.svg",
        cdf(
            "Credential latency CDF (steady-day)",
            &[mk("irsa", 15.0, 20.0), mk("pod_identity", 1.5, 4.0)],
        )
        .unwrap(),
    ));
    let rate = |base: f64, k: usize| -> Vec<(f64, f64)> {
        (0..120)
            .map(|i| {
                let t = i as f64 * 30.0;
                let dip = if (1200.0..1500.0).contains(&t) && k == 0 {
                    0.1
                } else {
                    1.0
                };
                (t, base * (1.0 + 0.2 * wave(i + k)) * dip)
            })
            .collect()
    };
    let services = vec![
        series("sts", rate(120.0, 0)),
        series("eks_auth", rate(80.0, 1)),
        series("api_server", rate(15.0, 2)),
        series("oidc_issuer", rate(0.5, 3)),
        series("pod_identity_agent", rate(300.0, 4)),
    ];
    files.push((
        "series_rate_log.svg",
        series_over_time(
            "Requests per service",
            "requests/s",
            &services,
            &faults,
            3600.0,
            true,
        )
        .unwrap(),
    ));
    let hits = vec![series(
        "pod_identity",
        (0..120)
            .map(|i| {
                (
                    i as f64 * 30.0,
                    if (40..50).contains(&i) {
                        0.4
                    } else {
                        0.97 - 0.02 * wave(i)
                    },
                )
            })
            .collect(),
    )];
    files.push((
        "series_hit_ratio.svg",
        series_over_time(
            "Agent cache hit ratio",
            "hit ratio",
            &hits,
            &faults,
            3600.0,
            false,
        )
        .unwrap(),
    ));
    let groups = vec![
        (
            "steady-day".to_string(),
            vec![
                ("irsa".to_string(), 62.4),
                ("pod_identity".to_string(), 4.1),
            ],
        ),
        (
            "sts-brownout".to_string(),
            vec![
                ("irsa".to_string(), 2950.0),
                ("pod_identity".to_string(), 7.25),
            ],
        ),
        (
            "node-churn".to_string(),
            vec![
                ("irsa".to_string(), 410.0),
                ("pod_identity".to_string(), 380.0),
            ],
        ),
    ];
    files.push((
        "comparison_bars.svg",
        comparison_bars(
            "p99 credential latency, IRSA vs Pod Identity",
            "p99 latency (ms)",
            &groups,
        )
        .unwrap(),
    ));
    files.push((
        "empty.svg",
        latency_over_time("A run with no samples", &[], &faults, 3600.0).unwrap(),
    ));
    for (name, svg) in &files {
        parse(svg);
        std::fs::write(dir.join(name), svg).unwrap();
    }
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for p in &points {
        h.record_n((p.p50 * 1000.0) as u64, 30).unwrap();
        h.record_n((p.p99 * 1000.0) as u64, 1).unwrap();
    }
    std::fs::write(
        dir.join("latency_us_in_ms.hgrm"),
        percentile_distribution(&h, 1000.0),
    )
    .unwrap();
}

#[test]
fn extreme_values_do_not_panic() {
    let huge = [
        qp(0.0, 1e-300, 1),
        qp(1.0, 1e300, 1),
        qp(2.0, f64::MAX, 1),
        qp(3.0, f64::MIN_POSITIVE, 1),
    ];
    let s = [series(
        "sts",
        vec![(0.0, f64::MAX), (1.0, -f64::MAX), (2.0, 1e-300)],
    )];
    let c = [Cdf {
        name: "irsa".into(),
        points: vec![(f64::MIN_POSITIVE, 0.0), (f64::MAX, 1.0)],
    }];
    let g = vec![(
        "w".to_string(),
        vec![
            ("irsa".to_string(), f64::MAX),
            ("pod_identity".to_string(), -f64::MAX),
        ],
    )];
    for duration in [1e300, f64::MAX, 1e-300, 0.0] {
        parse(&latency_over_time("huge", &huge, &[fault("f", 0.0, f64::MAX)], duration).unwrap());
        parse(&series_over_time("huge", "y", &s, &[], duration, false).unwrap());
        parse(&series_over_time("huge", "y", &s, &[], duration, true).unwrap());
    }
    parse(&cdf("huge", &c).unwrap());
    parse(&comparison_bars("huge", "y", &g).unwrap());
    // Values at the edges of what is drawn.
    let edge = [series(
        "sts",
        vec![
            (0.0, LINEAR_MAX),
            (1.0, -LINEAR_MAX),
            (2.0, LOG_MIN),
            (3.0, LOG_MAX),
        ],
    )];
    for log_y in [false, true] {
        parse(&series_over_time("edge", "y", &edge, &[], MAX_DURATION_S, log_y).unwrap());
    }
}

#[test]
fn many_faults_and_points_draw_quickly() {
    let points = steady_points(20_000, 5.0);
    let faults: Vec<FaultWindow> = (0..1000)
        .map(|i| {
            fault(
                &format!("fault {i}"),
                i as f64 * 100.0,
                i as f64 * 100.0 + 30.0,
            )
        })
        .collect();
    let els = parse(&latency_over_time("busy", &points, &faults, 100_000.0).unwrap());
    assert_eq!(fault_bands(&els), 1000);
}
