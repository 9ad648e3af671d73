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

    /// Median and maximum in ms (0 without samples).
    pub fn median_max_ms(&self) -> (f64, f64) {
        let mut v = self.samples_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        match v.len() {
            0 => (0.0, 0.0),
            n => (if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }, v[n - 1]),
        }
    }

    /// The `name: median=… min=… max=… n=…` line (values in whole ms).
    pub fn line(&self) -> String {
        if self.samples_ms.is_empty() {
            return format!("{}: median=- min=- max=- n=0", self.name);
        }
        let (median, max) = self.median_max_ms();
        let min = self.samples_ms.iter().copied().fold(f64::INFINITY, f64::min);
        format!("{}: median={median:.0} min={min:.0} max={max:.0} n={}", self.name, self.samples_ms.len())
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
