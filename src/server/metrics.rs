//! Rendering the Prometheus text exposition format (0.0.4), so that nobody formats it by hand.

use std::collections::HashSet;
use std::fmt::Write as _;

/// A Prometheus text exposition being built: families declared once, then their samples.
///
/// Samples of one family must be written together, right after its [`MetricsText::family`],
/// as the format requires; a histogram's `_bucket`, `_sum` and `_count` samples belong to the
/// family named without those suffixes.
#[derive(Debug, Default)]
pub struct MetricsText {
    out: String,
    declared: HashSet<String>,
}

impl MetricsText {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// `# HELP name help` and `# TYPE name counter|gauge|histogram` once per family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(is_metric_name(name), "invalid metric name {name:?}");
        debug_assert!(
            matches!(
                kind,
                "counter" | "gauge" | "histogram" | "summary" | "untyped"
            ),
            "invalid metric type {kind:?}"
        );
        if !self.declared.insert(name.to_string()) {
            return;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample line; label values are escaped per the exposition format (\\, \", \n).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        debug_assert!(is_metric_name(name), "invalid metric name {name:?}");
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                debug_assert!(is_label_name(label), "invalid label name {label:?}");
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                push_label_value(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// The exposition text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Rust prints integral floats without a fraction ("3") and never in a form Prometheus
        // cannot parse.
        let _ = write!(out, "{value}");
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_is_declared_once_and_followed_by_its_samples() {
        let mut m = MetricsText::new();
        m.family(
            "bccreds_reconcile_total",
            "counter",
            "Reconcile passes by result.",
        );
        m.sample("bccreds_reconcile_total", &[("result", "ok")], 3.0);
        m.family(
            "bccreds_reconcile_total",
            "counter",
            "Reconcile passes by result.",
        );
        m.sample("bccreds_reconcile_total", &[("result", "failed")], 0.0);
        m.family("bccreds_credentials", "gauge", "Managed credentials.");
        m.sample("bccreds_credentials", &[], 10.0);
        assert_eq!(
            m.finish(),
            "# HELP bccreds_reconcile_total Reconcile passes by result.\n\
             # TYPE bccreds_reconcile_total counter\n\
             bccreds_reconcile_total{result=\"ok\"} 3\n\
             bccreds_reconcile_total{result=\"failed\"} 0\n\
             # HELP bccreds_credentials Managed credentials.\n\
             # TYPE bccreds_credentials gauge\n\
             bccreds_credentials 10\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut m = MetricsText::new();
        m.sample(
            "x",
            &[("path", "C:\\dir\\a \"b\".yaml"), ("msg", "two\nlines")],
            1.0,
        );
        assert_eq!(
            m.finish(),
            "x{path=\"C:\\\\dir\\\\a \\\"b\\\".yaml\",msg=\"two\\nlines\"} 1\n"
        );
    }

    #[test]
    fn help_escapes_backslash_and_newline_but_not_quotes() {
        let mut m = MetricsText::new();
        m.family("x", "gauge", "a \\ b\n\"c\"");
        assert_eq!(m.finish(), "# HELP x a \\\\ b\\n\"c\"\n# TYPE x gauge\n");
    }

    #[test]
    fn values_use_the_formats_spelling() {
        let mut m = MetricsText::new();
        for v in [
            0.5,
            -2.0,
            1e21,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.000_1,
        ] {
            m.sample("v", &[], v);
        }
        assert_eq!(
            m.finish(),
            "v 0.5\nv -2\nv 1000000000000000000000\nv NaN\nv +Inf\nv -Inf\nv 0.0001\n"
        );
    }

    #[test]
    fn histogram_samples_share_their_family() {
        let mut m = MetricsText::new();
        m.family("d_seconds", "histogram", "Pass duration.");
        m.sample("d_seconds_bucket", &[("le", "0.1")], 1.0);
        m.sample("d_seconds_bucket", &[("le", "+Inf")], 2.0);
        m.sample("d_seconds_sum", &[], 0.25);
        m.sample("d_seconds_count", &[], 2.0);
        let text = m.finish();
        assert_eq!(text.matches("# TYPE").count(), 1);
        assert!(text
            .ends_with("d_seconds_bucket{le=\"+Inf\"} 2\nd_seconds_sum 0.25\nd_seconds_count 2\n"));
    }

    #[test]
    fn names_are_checked() {
        assert!(is_metric_name("bccreds:x_total"));
        assert!(!is_metric_name("1x"));
        assert!(!is_metric_name(""));
        assert!(!is_metric_name("a-b"));
        assert!(is_label_name("_le"));
        assert!(!is_label_name("a:b"));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invalid label name")]
    fn a_bad_label_name_is_caught_in_debug_builds() {
        MetricsText::new().sample("x", &[("bad-name", "v")], 1.0);
    }
}
