//! Charts drawn on the server as SVG, from numbers only (no text a user wrote goes in): a
//! sparkline of verifications per bucket, and verifications over time stacked by outcome.
//! Presentation attributes only, so the Content-Security-Policy needs no inline style.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The outcomes a stacked chart draws, each with its colour; others are drawn as "other".
const OUTCOMES: [(&str, &str); 4] = [
    ("VALID", "#1a7f37"),
    ("FORBIDDEN", "#9a6700"),
    ("RATE_LIMITED", "#8250df"),
    ("REVOKED", "#cf222e"),
];
const OTHER: &str = "#57606a";

fn total(bucket: &BTreeMap<String, u64>) -> u64 {
    bucket.values().sum()
}

/// A small line of the total per bucket (the last seven days), with an accessible label.
pub fn sparkline(buckets: &[BTreeMap<String, u64>]) -> String {
    let (w, h) = (120.0_f64, 24.0_f64);
    let totals: Vec<u64> = buckets.iter().map(total).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if totals.len() > 1 {
        w / (totals.len() - 1) as f64
    } else {
        w
    };
    let mut points = String::new();
    for (i, t) in totals.iter().enumerate() {
        let x = i as f64 * step;
        let y = h - 2.0 - (*t as f64 / max) * (h - 4.0);
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    let sum: u64 = totals.iter().sum();
    format!(
        "<svg class=\"spark\" role=\"img\" aria-label=\"{sum} verifications in the last 7 days\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.trim_end()
    )
}

/// Bars per bucket, stacked by outcome, with a legend; `labels` name each bucket.
pub fn stacked(buckets: &[BTreeMap<String, u64>], labels: &[String]) -> String {
    let (w, h, pad) = (600.0_f64, 160.0_f64, 20.0_f64);
    let max = buckets.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let n = buckets.len().max(1) as f64;
    let slot = (w - pad) / n;
    let bar = (slot * 0.7).max(1.0);
    let mut svg = String::new();
    let sum: u64 = buckets.iter().map(total).sum();
    let _ = write!(
        svg,
        "<svg class=\"chart\" role=\"img\" aria-label=\"Verifications over time by outcome: \
         {sum} in all\" viewBox=\"0 0 {w} {}\" preserveAspectRatio=\"xMinYMin meet\">",
        h + 40.0
    );
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#8c959f\"/>\
         <text x=\"0\" y=\"12\" font-size=\"10\" fill=\"#57606a\">{}</text>",
        max as u64
    );
    for (i, bucket) in buckets.iter().enumerate() {
        let x = pad + i as f64 * slot;
        let mut y = h;
        let known: u64 = OUTCOMES
            .iter()
            .map(|(o, _)| bucket.get(*o).copied().unwrap_or(0))
            .sum();
        let parts = OUTCOMES
            .iter()
            .map(|(o, c)| (bucket.get(*o).copied().unwrap_or(0), *c))
            .chain([(total(bucket) - known, OTHER)]);
        for (count, colour) in parts {
            if count == 0 {
                continue;
            }
            let height = count as f64 / max * (h - pad);
            y -= height;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" \
                 fill=\"{colour}\"/>"
            );
        }
        if let Some(label) = labels.get(i).filter(|_| i % 2 == 0 || buckets.len() <= 8) {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\" font-size=\"9\" fill=\"#57606a\">{label}</text>",
                h + 12.0
            );
        }
    }
    let mut lx = pad;
    for (name, colour) in OUTCOMES.iter().copied().chain([("other", OTHER)]) {
        let _ = write!(
            svg,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#24292f\">{name}</text>",
            h + 22.0,
            lx + 14.0,
            h + 31.0
        );
        lx += 100.0;
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn a_stacked_chart_draws_one_bar_per_outcome_present() {
        let svg = stacked(
            &[bucket(&[("VALID", 3), ("FORBIDDEN", 1)]), bucket(&[])],
            &["a".into(), "b".into()],
        );
        assert_eq!(svg.matches("<rect").count(), 2 + 5);
        assert!(svg.contains("4 in all"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn a_sparkline_has_a_point_per_bucket_and_its_total_in_its_label() {
        let svg = sparkline(&[bucket(&[("VALID", 2)]), bucket(&[]), bucket(&[("X", 1)])]);
        assert!(svg.contains("3 verifications"));
        let points = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 3);
    }
}
