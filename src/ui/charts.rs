//! Inline SVG charts rendered on the server: a line chart over time buckets and a
//! horizontal bar chart. Sizes and positions are SVG attributes (the page's CSP allows no
//! inline styles); colours come from the stylesheet (`.s0`…`.s5`), so light and dark
//! themes apply.

use maud::{html, Markup};

use super::render::short_number;

/// One line: a name and one value per x position (None: no point).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Values aligned with the chart's x labels.
    pub values: Vec<Option<f64>>,
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const L: f64 = 52.0;
const R: f64 = 12.0;
const T: f64 = 12.0;
const B: f64 = 28.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

/// A line chart; `x_labels` name the buckets (a few are printed).
pub fn line_chart(title: &str, x_labels: &[String], series: &[Series]) -> Markup {
    let n = x_labels.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b));
    let top = nice_max(max);
    let pw = W - L - R;
    let ph = H - T - B;
    let x = |i: usize| {
        if n <= 1 {
            L + pw / 2.0
        } else {
            L + pw * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| T + ph - ph * (v / top);
    let ticks = [0.0, 0.25, 0.5, 0.75, 1.0];
    let label_every = (n / 6).max(1);
    html! {
        figure.chart data-kind="line" {
            figcaption { (title) }
            @if n == 0 || series.iter().all(|s| s.values.iter().all(Option::is_none)) {
                p.muted.empty { "No data in this range." }
            } @else {
                svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
                    @for t in ticks {
                        line.grid x1=(L) x2=(W - R) y1=(y(top * t)) y2=(y(top * t)) {}
                        text.axis x=(L - 6.0) y=(y(top * t) + 4.0) text-anchor="end" { (short_number(top * t)) }
                    }
                    @for (i, lab) in x_labels.iter().enumerate() {
                        @if i + 1 == n || (i % label_every == 0 && i + label_every / 2 < n - 1) {
                            @let anchor = if n > 1 && i + 1 == n { "end" } else if n > 1 && i == 0 { "start" } else { "middle" };
                            text.axis x=(x(i)) y=(H - 8.0) text-anchor=(anchor) { (lab) }
                        }
                    }
                    @for (k, s) in series.iter().enumerate() {
                        @let pts: Vec<String> = s.values.iter().enumerate()
                            .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v)))).collect();
                        polyline class=(format!("line s{}", k % 6)) points=(pts.join(" ")) {}
                        @for (i, v) in s.values.iter().enumerate() {
                            @if let Some(v) = v {
                                circle class=(format!("dot s{}", k % 6)) cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*v))) r="2.5" {
                                    title { (s.name) " · " (x_labels[i]) ": " (short_number(*v)) }
                                }
                            }
                        }
                    }
                }
                @if series.len() > 1 || !series.is_empty() && !series[0].name.is_empty() {
                    ul.legend {
                        @for (k, s) in series.iter().enumerate() {
                            li { span class=(format!("sw s{}", k % 6)) {} (s.name) }
                        }
                    }
                }
            }
        }
    }
}

/// Horizontal bars, one per `(label, value)`, with `fmt` printing the value.
pub fn bar_chart(title: &str, rows: &[(String, f64)], fmt: fn(f64) -> String) -> Markup {
    let max = rows.iter().fold(0.0f64, |a, (_, v)| a.max(*v));
    let top = if max > 0.0 { max } else { 1.0 };
    let row_h = 22.0;
    let label_w = 170.0;
    let h = row_h * rows.len() as f64 + 4.0;
    html! {
        figure.chart data-kind="bar" {
            figcaption { (title) }
            @if rows.is_empty() {
                p.muted.empty { "No data in this range." }
            } @else {
                svg viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
                    @for (i, (label, v)) in rows.iter().enumerate() {
                        @let yy = 2.0 + row_h * i as f64;
                        @let bw = ((W - label_w - 90.0) * (v / top)).max(1.0);
                        text.axis x=(label_w - 6.0) y=(yy + 15.0) text-anchor="end" {
                            (truncate(label, 26))
                            title { (label) }
                        }
                        rect class=(format!("bar s{}", i % 6)) x=(label_w) y=(yy + 3.0) width=(format!("{bw:.1}")) height=(row_h - 6.0) rx="2" {
                            title { (label) ": " (fmt(*v)) }
                        }
                        text.val x=(label_w + bw + 6.0) y=(yy + 15.0) { (fmt(*v)) }
                    }
                }
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(240.0), 250.0);
    }

    #[test]
    fn escapes_labels() {
        let m = bar_chart("t", &[("<b>".into(), 1.0)], short_number).into_string();
        assert!(m.contains("&lt;b&gt;"));
        let l = line_chart(
            "x",
            &["a".into(), "b".into()],
            &[Series {
                name: "s".into(),
                values: vec![Some(1.0), Some(2.0)],
            }],
        )
        .into_string();
        assert!(l.contains("polyline"));
    }
}
