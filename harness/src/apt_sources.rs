//! Where image builds get their packages: the host's own apt configuration.
//!
//! No mirror host is written anywhere in this project. A recipe whose suite
//! is the host's own (bookworm on a Debian 12 host) gets no mirror argument
//! at all, and mmdebstrap reads the host's sources itself. A recipe for
//! another suite of the same archive (trixie, sid) gets `deb URI SUITE main`
//! lines whose URI is read, at build time, from the host's Debian source
//! (the one that carries the host's own release). `$REPRO_APT_MIRROR`
//! overrides that URI (hosts whose sources are not Debian's, e.g. Ubuntu
//! CI runners): it is configuration, never a default.

use anyhow::{Result, bail};
use std::path::Path;

/// The variable that names the Debian archive when the host's sources do not.
pub const MIRROR_ENV: &str = "REPRO_APT_MIRROR";

/// One `deb` source as apt has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The archive's URI.
    pub uri: String,
    /// The suites it serves here.
    pub suites: Vec<String>,
    /// Its components.
    pub components: Vec<String>,
}

/// The mirror arguments mmdebstrap needs for `suite` plus `extra` suites:
/// none when the host's own sources serve `suite` and nothing else is asked
/// for; otherwise one `deb URI S main` line per suite.
pub fn source_lines(suite: &str, extra: &[String]) -> Result<Vec<String>> {
    let forced = std::env::var(MIRROR_ENV).ok().map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
    let host = host_sources();
    if forced.is_none() && extra.is_empty() && host.iter().any(|s| s.suites.iter().any(|x| x == suite)) {
        return Ok(Vec::new());
    }
    let uri = match forced {
        Some(m) => {
            tracing::info!("apt source from ${MIRROR_ENV}");
            m
        }
        None => debian_archive(&host, &host_codename())?,
    };
    Ok(std::iter::once(suite).chain(extra.iter().map(String::as_str)).map(|s| format!("deb {uri} {s} main")).collect())
}

/// The URI of the host source that carries the host's own release (not its
/// `-security` or `-updates` suites): the Debian archive.
pub fn debian_archive(sources: &[Source], codename: &str) -> Result<String> {
    sources
        .iter()
        .find(|s| s.suites.iter().any(|x| x == codename) && s.components.iter().any(|c| c == "main"))
        .map(|s| s.uri.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "this host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/) have no Debian archive \
                 serving `{codename} main`, so other Debian suites cannot be built from it; set {MIRROR_ENV} to a \
                 Debian archive URI you can reach (e.g. your organisation's mirror)"
            )
        })
        .and_then(|u| if u.is_empty() { bail!("empty URI in the host's apt sources") } else { Ok(u) })
}

/// Every enabled `deb` source of the host, in both apt formats.
pub fn host_sources() -> Vec<Source> {
    let mut out = Vec::new();
    let etc = Path::new("/etc/apt");
    if let Ok(t) = std::fs::read_to_string(etc.join("sources.list")) {
        out.extend(parse_one_line(&t));
    }
    let mut files: Vec<_> = std::fs::read_dir(etc.join("sources.list.d"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let Ok(t) = std::fs::read_to_string(&f) else { continue };
        match f.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_one_line(&t)),
            Some("sources") => out.extend(parse_deb822(&t)),
            _ => {}
        }
    }
    out
}

/// The host's release codename (`VERSION_CODENAME` in /etc/os-release).
pub fn host_codename() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default()
}

/// `deb [opts] URI SUITE COMPONENT...` lines.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let close = rest.iter().position(|w| w.ends_with(']')).unwrap_or(0);
            rest.drain(..=close);
        }
        if let [uri, suite, components @ ..] = rest.as_slice() {
            out.push(Source {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
                components: components.iter().map(|c| c.to_string()).collect(),
            });
        }
    }
    out
}

/// deb822 stanzas (`Types: deb`, `URIs:`, `Suites:`, `Components:`), skipping `Enabled: no`.
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields = std::collections::HashMap::new();
        for line in stanza.lines() {
            if line.starts_with('#') || line.starts_with(' ') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let words = |k: &str| -> Vec<String> { fields.get(k).map(|v| v.split_whitespace().map(String::from).collect()).unwrap_or_default() };
        if !words("types").iter().any(|t| t == "deb") || fields.get("enabled").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
            continue;
        }
        for uri in words("uris") {
            out.push(Source { uri, suites: words("suites"), components: words("components") });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_and_one_line_sources_parse() {
        let d = parse_deb822(
            "Types: deb\n# comment\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
             Types: deb\nURIs: http://archive.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
             Types: deb\nEnabled: no\nURIs: http://off.example/\nSuites: bookworm\nComponents: main\n",
        );
        assert_eq!(d.len(), 2);
        assert_eq!(debian_archive(&d, "bookworm").unwrap(), "http://archive.example/debian");
        let l = parse_one_line("# x\ndeb [signed-by=/k.gpg arch=amd64] http://a.example/debian/ trixie main contrib\ndeb-src http://b/ x main\n");
        assert_eq!(l, vec![Source { uri: "http://a.example/debian/".into(), suites: vec!["trixie".into()], components: vec!["main".into(), "contrib".into()] }]);
        assert_eq!(debian_archive(&l, "trixie").unwrap(), "http://a.example/debian");
    }

    #[test]
    fn no_archive_names_the_variable() {
        let e = debian_archive(&[], "bookworm").unwrap_err().to_string();
        assert!(e.contains(MIRROR_ENV) && e.contains("bookworm main"), "{e}");
    }
}
