//! The Prometheus text format, as every `/metrics` of ours writes it: a family's `# HELP` and
//! `# TYPE` lines, and families of one figure per labelled thing (a function, a database).

use std::fmt::{Display, Write};

/// A family of figures read from a `T`: its name, its kind (`counter`, `gauge`), its help text,
/// and how to read its figure.
pub type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// Writes a family's `# HELP` and `# TYPE` lines; its samples follow.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes each of `families`: its header, then one sample per row, labelled `label="<key>"`.
pub fn families<'a, K: Display, T: 'a>(
    out: &mut String,
    families: &[Family<T>],
    label: &str,
    rows: impl Iterator<Item = (K, &'a T)> + Clone,
) {
    for (name, kind, help, value) in families {
        header(out, name, kind, help);
        for (key, figures) in rows.clone() {
            let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {}", value(figures));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_each_family_with_a_sample_per_row() {
        let both: [Family<(u64, u64)>; 2] = [
            ("calls_total", "counter", "Calls.", |f| f.0),
            ("idle", "gauge", "Idle ones.", |f| f.1),
        ];
        let rows = [("a", (1, 2)), ("b", (3, 4))];
        let mut out = String::new();
        families(&mut out, &both, "fn", rows.iter().map(|(k, f)| (k, f)));
        assert_eq!(
            out,
            "# HELP calls_total Calls.\n# TYPE calls_total counter\n\
             calls_total{fn=\"a\"} 1\ncalls_total{fn=\"b\"} 3\n\
             # HELP idle Idle ones.\n# TYPE idle gauge\n\
             idle{fn=\"a\"} 2\nidle{fn=\"b\"} 4\n"
        );
    }
}
