//! Normalises text for snapshots: what drifts between runs (node addresses,
//! container ids, timestamps) is replaced by a named placeholder, so a reader
//! sees exactly what is not compared. What the test is about stays verbatim.

use regex::Regex;
use std::sync::LazyLock;

/// Replaces drifting values in `text`: first the known ones, given as
/// `(value, placeholder)` (the node's address and name), then the patterns.
pub fn redact(text: &str, known: &[(&str, &str)]) -> String {
    static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            // ISO and journal timestamps.
            (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2}| UTC)?", "[time]"),
            (r"\b[A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2}\b", "[time]"),
            // Boot ids and other UUIDs (before the 12-digit id rule eats their tail).
            (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "[uuid]"),
            // Container and image ids, full and short.
            (r"\b[0-9a-f]{64}\b", "[id]"),
            (r"\b[0-9a-f]{12}\b", "[id]"),
            // Uptime-based times, e.g. firewalld's "monotonic 1448.52s".
            (r"\b\d+\.\d+s\b", "[secs]"),
            // OpenTelemetry ids Docker 26 appends to API log lines.
            (r"\b(spanID|traceID)=[0-9a-f]+\b", "$1=[id]"),
            // Process ids in journal lines: dockerd[1234].
            (r"\[\d+\]:", "[pid]:"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("static regex"), to))
        .collect()
    });
    let mut out = text.to_string();
    for (value, placeholder) in known {
        if !value.is_empty() {
            out = out.replace(value, placeholder);
        }
    }
    for (re, to) in RULES.iter() {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_error_and_names_what_drifts() {
        let line = "docker: Error response from daemon: driver failed programming external connectivity on endpoint web8893 (3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a): (iptables failed: iptables --wait -t nat -A DOCKER -p tcp -d 0/0 --dport 8893 -j DNAT --to-destination 172.17.0.2:80 ! -i docker0: iptables: No chain/target/match by that name.";
        let r = redact(line, &[("172.18.0.2", "[node-ip]")]);
        assert!(r.contains("on endpoint web8893 ([id])"), "{r}");
        assert!(r.contains("172.17.0.2:80"), "inner addresses are stable and kept: {r}");
        assert_eq!(redact("reach 172.18.0.2:8893 at 2026-11-23 01:02:03 UTC", &[("172.18.0.2", "[node-ip]")]), "reach [node-ip]:8893 at [time]");
        assert_eq!(redact("n1-3f2a dockerd[7]: up", &[("n1-3f2a", "[node]")]), "[node] dockerd[pid]: up");
        assert_eq!(redact("AFTER dockerd (monotonic 1448.52s vs dockerd 1448.15s)", &[]), "AFTER dockerd (monotonic [secs] vs dockerd [secs])");
        assert_eq!(redact("returned error: x\" spanID=9720d94d19c1a510 traceID=b1c4779e4f7a6a4ad92fdb6541487fa8", &[]), "returned error: x\" spanID=[id] traceID=[id]");
        assert_eq!(redact("same boot id 8c59afc1-a1a2-47f4-a631-1e226735e1d3)", &[]), "same boot id [uuid])");
        assert_eq!(redact("Dec 13 09:22:20 localhost dockerd[352906]: failed", &[]), "[time] localhost dockerd[pid]: failed");
    }
}
