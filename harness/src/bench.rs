//! Figures printed by `repro bench`, one line each:
//! `name: median=… min=… max=… n=…`.

use std::time::Duration;

/// Samples of one measured quantity.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The figure's name, e.g. `node_ready_ms`.
    pub name: String,
    /// The samples, in milliseconds.
    pub samples_ms: Vec<f64>,
}

impl Figure {
    /// A figure with no samples yet.
    pub fn new(name: &str) -> Figure {
        Figure { name: name.to_string(), samples_ms: Vec::new() }
    }

    /// Adds one sample.
    pub fn push(&mut self, d: Duration) {
        self.samples_ms.push(d.as_secs_f64() * 1000.0);
    }

    /// The `name: median=… min=… max=… n=…` line (values in whole ms).
    pub fn line(&self) -> String {
        let mut v = self.samples_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return format!("{}: median=- min=- max=- n=0", self.name);
        }
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        format!("{}: median={:.0} min={:.0} max={:.0} n={n}", self.name, median, v[0], v[n - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_median_min_max_n() {
        let mut f = Figure::new("x_ms");
        for ms in [30, 10, 20, 40] {
            f.push(Duration::from_millis(ms));
        }
        assert_eq!(f.line(), "x_ms: median=25 min=10 max=40 n=4");
        assert_eq!(Figure::new("y").line(), "y: median=- min=- max=- n=0");
    }
}
