//! Small line charts of the live figures, as inline SVG: no scripts, no external
//! assets, so the page reads the same through an SSM port forward.

use serde_json::Value;
use std::fmt::Write;

/// One line of a chart: which member of each history entry, its name and colour.
pub struct Line<'a> {
    /// The member of a `figures.history` entry (e.g. `requests_per_second`).
    pub key: &'a str,
    /// The name in the legend.
    pub label: &'a str,
    /// A CSS colour.
    pub colour: &'a str,
}

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 130.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 352.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 108.0;

/// A value with as many decimals as it is worth.
pub fn number(x: f64) -> String {
    if x >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `x` (and at least `floor`).
fn nice_ceiling(x: f64, floor: f64) -> f64 {
    let x = x.max(floor);
    let magnitude = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= x)
        .unwrap_or(x)
}

/// `(end_unix, value)` of every entry with a number for `key`.
fn points(figures: &Value, key: &str) -> Vec<(f64, f64)> {
    figures["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| Some((entry["end_unix"].as_f64()?, entry[key].as_f64()?)))
        .collect()
}

/// The seconds the x axis spans: back to the oldest sample, at least a minute (so a
/// young process' first samples are not squeezed against the right edge), at most
/// the whole history.
fn span_seconds(figures: &Value, now: f64) -> f64 {
    let history = figures["history_seconds"]
        .as_f64()
        .unwrap_or(900.0)
        .max(60.0);
    let oldest = figures["history"][0]["end_unix"].as_f64().unwrap_or(now);
    let interval = figures["sample_interval_seconds"].as_f64().unwrap_or(5.0);
    (now - oldest + interval).clamp(60.0, history)
}

/// "-60 s", "-15 min": how far back the left edge is.
fn age_label(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("-{} s", seconds.round())
    } else {
        format!("-{} min", (seconds / 60.0).round())
    }
}

/// A chart of `lines` over `figures.history` (the `figures` member of `/status`) up
/// to `figures.now_unix`, with the latest value of each line in its legend. Without
/// any value it says so instead of drawing an empty frame.
pub fn chart(title: &str, unit: &str, figures: &Value, lines: &[Line<'_>]) -> String {
    let now = figures["now_unix"].as_f64().unwrap_or(0.0);
    let span = span_seconds(figures, now);
    let interval = figures["sample_interval_seconds"].as_f64().unwrap_or(5.0);
    let data: Vec<Vec<(f64, f64)>> = lines
        .iter()
        .map(|l| {
            points(figures, l.key)
                .into_iter()
                .filter(|(t, _)| *t >= now - span)
                .collect()
        })
        .collect();
    let top = nice_ceiling(
        data.iter().flatten().map(|(_, v)| *v).fold(0.0, f64::max),
        if unit == "ms" { 1.0 } else { 0.1 },
    );
    let x = |t: f64| LEFT + (t - (now - span)) / span * (RIGHT - LEFT);
    let y = |v: f64| BOTTOM - v / top * (BOTTOM - TOP);

    let mut svg = String::with_capacity(2048);
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{title}\"><title>{title}</title>\
         <text x=\"{LEFT}\" y=\"12\" class=\"ct\">{title}</text>\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\
         <line x1=\"{LEFT}\" y1=\"{mid}\" x2=\"{RIGHT}\" y2=\"{mid}\" class=\"grid\"/>\
         <text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">{} {unit}</text>\
         <text x=\"{}\" y=\"{BOTTOM}\" class=\"axis\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{}\" class=\"axis\">{}</text>\
         <text x=\"{RIGHT}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">now</text>",
        RIGHT - LEFT,
        BOTTOM - TOP,
        LEFT - 4.0,
        TOP + 8.0,
        number(top),
        LEFT - 4.0,
        BOTTOM + 14.0,
        age_label(span),
        BOTTOM + 14.0,
        mid = (TOP + BOTTOM) / 2.0,
    );
    if data.iter().all(Vec::is_empty) {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">no data yet (sampled every {interval} s)</text></svg>",
            (LEFT + RIGHT) / 2.0,
            (TOP + BOTTOM) / 2.0 + 4.0,
        );
        return svg;
    }
    // after the title (12px bold: about 7px a character)
    let mut legend_x = LEFT + 7.0 * title.len() as f64 + 14.0;
    for (line, pts) in lines.iter().zip(&data) {
        svg.push_str(&polyline(pts, interval, line.colour, &x, &y));
        let latest = pts.last().map(|(_, v)| number(*v)).unwrap_or("-".into());
        let _ = write!(
            svg,
            "<text x=\"{legend_x}\" y=\"12\" class=\"legend\" fill=\"{}\">{} {latest}</text>",
            line.colour, line.label
        );
        legend_x += 80.0;
    }
    svg.push_str("</svg>");
    svg
}

/// One line as a path, broken where samples are missing (a gap over two intervals),
/// with a dot on its latest point so a single sample still shows.
fn polyline(
    pts: &[(f64, f64)],
    interval: f64,
    colour: &str,
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut previous: Option<f64> = None;
    for &(t, v) in pts {
        let joined = previous.is_some_and(|p| t - p <= 2.0 * interval + 1.0);
        let _ = write!(
            d,
            "{}{:.1},{:.1} ",
            if joined { "L" } else { "M" },
            x(t),
            y(v)
        );
        previous = Some(t);
    }
    let mut out = format!(
        "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
        d.trim_end()
    );
    if let Some(&(t, v)) = pts.last() {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\"/>",
            x(t),
            y(v)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RATE: [Line<'static>; 1] = [Line {
        key: "requests_per_second",
        label: "req/s",
        colour: "#36c",
    }];

    #[test]
    fn a_chart_with_data_draws_a_line_and_the_latest_value() {
        let figures = json!({
            "now_unix": 1000, "history_seconds": 900, "sample_interval_seconds": 5,
            "history": [
                {"end_unix": 990, "requests_per_second": 4.0},
                {"end_unix": 995, "requests_per_second": 8.0},
                {"end_unix": 1000, "requests_per_second": 6.5},
            ]
        });
        let svg = chart("requests/s", "/s", &figures, &RATE);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<path d=\"M"), "{svg}");
        assert_eq!(
            svg.matches(" L").count() + svg.matches("\"L").count(),
            2,
            "{svg}"
        );
        assert!(svg.contains("req/s 6.50"), "{svg}");
        assert!(
            svg.contains(">10 /s<"),
            "the scale's top is a round number: {svg}"
        );
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn a_chart_without_data_says_so() {
        let figures = json!({"now_unix": 1000, "history_seconds": 900, "sample_interval_seconds": 5,
                             "history": [{"end_unix": 995, "requests_per_second": null}]});
        let svg = chart("requests/s", "/s", &figures, &RATE);
        assert!(svg.contains("no data yet (sampled every 5 s)"), "{svg}");
        assert!(!svg.contains("<path"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn a_gap_in_the_samples_breaks_the_line() {
        let figures = json!({"now_unix": 1000, "history_seconds": 900, "sample_interval_seconds": 5,
                             "history": [{"end_unix": 500, "requests_per_second": 1.0},
                                         {"end_unix": 505, "requests_per_second": 1.0},
                                         {"end_unix": 900, "requests_per_second": 1.0}]});
        let svg = chart("requests/s", "/s", &figures, &RATE);
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
    }

    #[test]
    fn scales_are_round_numbers() {
        assert_eq!(nice_ceiling(0.0, 1.0), 1.0);
        assert_eq!(nice_ceiling(3.2, 0.1), 5.0);
        assert_eq!(nice_ceiling(12.0, 0.1), 20.0);
        assert_eq!(nice_ceiling(480.0, 1.0), 500.0);
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(0.5), "0.50");
        assert_eq!(number(10.0), "10");
    }

    #[test]
    fn the_time_axis_reaches_back_to_the_oldest_sample_within_bounds() {
        let young = json!({"now_unix": 1000, "history_seconds": 900, "sample_interval_seconds": 5,
                           "history": [{"end_unix": 990}]});
        assert_eq!(span_seconds(&young, 1000.0), 60.0);
        assert_eq!(age_label(60.0), "-60 s");
        let older = json!({"now_unix": 1000, "history_seconds": 900, "sample_interval_seconds": 5,
                           "history": [{"end_unix": 700}]});
        assert_eq!(span_seconds(&older, 1000.0), 305.0);
        let full = json!({"now_unix": 5000, "history_seconds": 900, "history": [{"end_unix": 10}]});
        assert_eq!(span_seconds(&full, 5000.0), 900.0);
        assert_eq!(age_label(900.0), "-15 min");
    }
}
