//! A bundle a customer can send (`netdoctor collect --bundle FILE`): the
//! facts, plus what a reproduction needs stated on its own (the versions,
//! firewalld's state and start order against dockerd's, which backend holds
//! Docker's rules, dockerd's effective settings, the published containers,
//! the rules that are not Docker's), optionally redacted so it can leave the
//! customer's network. Format: `doctor/README.md`, "Bundles".

use crate::facts::{Backend, Facts, RuleSet};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The bundle format's version (independent of the facts' `schema`).
pub const BUNDLE_FORMAT: u32 = 1;

/// What `--bundle` writes.
#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub bundle: u32,
    /// The netdoctor that wrote it.
    pub written_by: String,
    /// Whether addresses, names and ids were replaced (see [`redact`]).
    pub redacted: bool,
    /// What a reproduction needs, stated (derived from `facts`).
    pub reproduction: Reproduction,
    /// The facts as `netdoctor collect` prints them.
    pub facts: Facts,
}

/// The host's state, as a replay would rebuild it.
#[derive(Debug, Clone, Serialize)]
pub struct Reproduction {
    /// The OS release (`PRETTY_NAME`).
    pub os: String,
    /// `docker info`'s server version.
    pub docker_version: Option<String>,
    /// firewalld's version (when it answered).
    pub firewalld_version: Option<String>,
    /// `iptables -V`.
    pub iptables_version: Option<String>,
    /// `running` or the unit's state (`inactive`, `failed`, `not-installed`).
    pub firewalld_state: String,
    /// firewalld's `FirewallBackend` (`iptables`, `nftables`).
    pub firewalld_backend: Option<String>,
    /// `firewalld-before-dockerd`, `firewalld-after-dockerd`,
    /// `firewalld-not-running` or `unknown` (from the units' monotonic stamps).
    pub start_order: String,
    /// The backend the `iptables` command resolves to.
    pub iptables_backend: Option<&'static str>,
    /// The backends whose rule sets hold Docker's chains.
    pub docker_rules_in: Vec<&'static str>,
    /// The running kernel's module tree is present (absent: a VM replay).
    pub kernel_module_tree: bool,
    /// dockerd's flags (argv without the binary).
    pub dockerd_flags: Vec<String>,
    /// /etc/docker/daemon.json as written.
    pub daemon_json: Option<String>,
    /// `net.ipv4.ip_forward`.
    pub ip_forward: Option<bool>,
    /// The running containers and what they publish.
    pub containers: Vec<PublishedContainer>,
    /// Per backend (`legacy`, `nft`), `table: rule` of every rule that is
    /// not Docker's (the admin's, firewalld's, another tool's).
    pub other_rules: BTreeMap<&'static str, Vec<String>>,
    /// `other_rules` without firewalld's own (its iptables backend's zone,
    /// direct and policy chains and the base rules it writes into the
    /// built-in chains, while it runs): what a replay must add by hand.
    pub admin_rules: BTreeMap<&'static str, Vec<String>>,
    /// Per backend, `table: chain` of the chains that are neither Docker's
    /// nor firewalld's (kubelet's hint chains are empty: only declared).
    pub admin_chains: BTreeMap<&'static str, Vec<String>>,
    /// Per backend, per table, Docker's chains and how many rules each holds.
    pub docker_chains: BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, usize>>>,
    /// dockerd manages iptables (`--iptables` not false).
    pub docker_manages_iptables: bool,
    /// Containers created but never started (a failed `docker run -p`).
    pub created: Vec<String>,
    /// Whether firewalld, not running now, stopped after dockerd started
    /// (its stop cleared the tables it managed, Docker's chains with them).
    pub firewalld_stopped_after_dockerd: bool,
    /// firewalld's active zones (`zone: interfaces=…`), when it runs.
    pub firewalld_zones: Vec<String>,
    /// Where the facts were collected: `container`, `vm`, `none` (bare metal), `unknown`.
    pub virtualization: crate::facts::Virtualization,
    /// The modules loaded when the facts were collected.
    pub loaded_modules: Option<Vec<String>>,
    /// Published IPv4 ports (`8081/tcp`) of running containers that have no
    /// DNAT rule in the backend Docker's live rules are in.
    pub ports_without_rule: Vec<String>,
    /// `docker run -p` conflicts still going on (dockerd's current start).
    pub port_conflicts: Vec<PortConflict>,
}

/// A container that could not start because its host port is taken.
#[derive(Debug, Clone, Serialize)]
pub struct PortConflict {
    /// The host port.
    pub port: u16,
    /// `tcp`, `udp`, or none where Docker's error does not say.
    pub proto: Option<&'static str>,
    /// The container that could not start (created, never started).
    pub container: Option<String>,
    /// `container NAME` for each running container publishing it, else
    /// `host` (a process of the host listens on it).
    pub held_by: Vec<String>,
}

/// A running container and what it publishes.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedContainer {
    /// The container's name.
    pub name: String,
    /// `HostConfig.NetworkMode` (`default`, `host`, a network).
    pub network_mode: Option<String>,
    /// `proto host_ip:host_port->container_port`.
    pub ports: Vec<String>,
}

/// The bundle of `facts`, redacted when asked.
pub fn bundle(facts: Facts, redacted: bool) -> Value {
    let b = Bundle {
        bundle: BUNDLE_FORMAT,
        written_by: format!("netdoctor {}", env!("CARGO_PKG_VERSION")),
        redacted,
        reproduction: reproduction(&facts),
        facts,
    };
    let v = serde_json::to_value(&b).expect("bundle types serialize");
    if redacted { redact(v) } else { v }
}

fn reproduction(f: &Facts) -> Reproduction {
    let fw_unit = f.firewalld.unit.as_ref();
    let firewalld_state = if f.firewalld.is_running() {
        "running".to_string()
    } else {
        match fw_unit {
            Some(u) if u.is_installed() => u.active_state.clone().unwrap_or_else(|| "unknown".into()),
            Some(_) => "not-installed".into(),
            None => "unknown".into(),
        }
    };
    let stamp = |u: Option<&crate::facts::Unit>| u.and_then(|u| u.active_enter_monotonic_us).filter(|v| *v > 0);
    let start_order = match (f.firewalld.is_running(), stamp(fw_unit), stamp(f.docker.unit.as_ref())) {
        (false, _, _) => "firewalld-not-running",
        (true, Some(fw), Some(dk)) if fw < dk => "firewalld-before-dockerd",
        (true, Some(_), Some(_)) => "firewalld-after-dockerd",
        _ => "unknown",
    }
    .to_string();
    let mut other_rules = BTreeMap::new();
    let mut admin_rules = BTreeMap::new();
    let mut docker_chains = BTreeMap::new();
    let mut admin_chains = BTreeMap::new();
    let firewalld_iptables = f.firewalld.is_running() && f.firewalld.backend.as_deref() != Some("nftables");
    for b in [Backend::Legacy, Backend::Nft] {
        if let Some(rs) = f.iptables.rules(b) {
            let rules = not_dockers(rs);
            let admins: Vec<String> = rules.iter().filter(|r| !(firewalld_iptables && is_firewallds(r))).cloned().collect();
            if !admins.is_empty() {
                admin_rules.insert(b.name(), admins);
            }
            if !rules.is_empty() {
                other_rules.insert(b.name(), rules);
            }
            let mut tables = BTreeMap::new();
            let mut chains_of_others = Vec::new();
            for (table, t) in &rs.tables {
                for c in &t.chains {
                    let builtin = ["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"].contains(&c.as_str());
                    let firewallds = firewalld_iptables && is_firewallds(&format!("{table}: -A {c}"));
                    if !builtin && !firewallds && !crate::facts::is_docker_chain(c) && !c.starts_with("DOCKER_") {
                        chains_of_others.push(format!("{table}: {c}"));
                    }
                }
                let chains: BTreeMap<String, usize> = t
                    .chains
                    .iter()
                    .filter(|c| crate::facts::is_docker_chain(c))
                    .map(|c| (c.clone(), t.rules.iter().filter(|r| r.split_whitespace().nth(1) == Some(c.as_str())).count()))
                    .collect();
                if !chains.is_empty() {
                    tables.insert(table.clone(), chains);
                }
            }
            if !tables.is_empty() {
                docker_chains.insert(b.name(), tables);
            }
            if !chains_of_others.is_empty() {
                admin_chains.insert(b.name(), chains_of_others);
            }
        }
    }
    let firewalld_stopped_after_dockerd = !f.firewalld.is_running()
        && match (fw_unit.and_then(|u| u.inactive_enter_monotonic_us), stamp(f.docker.unit.as_ref())) {
            (Some(stop), Some(dk)) => stop > dk && stamp(fw_unit).is_some(),
            _ => false,
        };
    let containers = f
        .docker
        .containers
        .iter()
        .flatten()
        .map(|c| PublishedContainer {
            name: c.name.clone(),
            network_mode: c.network_mode.clone(),
            ports: c.ports.iter().map(|p| format!("{} {}:{}->{}", p.proto, p.host_ip, p.host_port, p.container_port)).collect(),
        })
        .collect();
    Reproduction {
        os: f.os.pretty_name.clone().unwrap_or_else(|| format!("{} {}", f.os.id.as_deref().unwrap_or("?"), f.os.version_id.as_deref().unwrap_or("?"))),
        docker_version: f.docker.version.clone(),
        firewalld_version: f.firewalld.version.clone(),
        iptables_version: f.iptables.version.clone(),
        firewalld_state,
        firewalld_backend: f.firewalld.backend.clone(),
        start_order,
        iptables_backend: f.iptables.current_backend.map(Backend::name),
        docker_rules_in: f.iptables.backends_with_docker_chains().into_iter().map(Backend::name).collect(),
        kernel_module_tree: f.kernel.module_trees.iter().any(|t| t.release == f.kernel.release),
        dockerd_flags: f.docker.argv.iter().flatten().skip(1).cloned().collect(),
        daemon_json: f.docker.daemon_json.clone(),
        ip_forward: f.sysctl.ip_forward,
        containers,
        other_rules,
        admin_rules,
        admin_chains,
        docker_chains,
        docker_manages_iptables: f.docker.manages_iptables,
        created: f.docker.created.clone().unwrap_or_default(),
        firewalld_stopped_after_dockerd,
        firewalld_zones: f.firewalld.active_zones.clone().unwrap_or_default(),
        virtualization: f.kernel.virtualization,
        loaded_modules: f.kernel.loaded_modules.clone(),
        ports_without_rule: crate::rules::ports::missing_dnat(f)
            .into_iter()
            .flat_map(|(_, m)| m)
            .map(|(_, p)| format!("{}/{}", p.host_port, p.proto))
            .collect(),
        port_conflicts: crate::rules::ports::conflicts(f)
            .into_iter()
            .map(|c| PortConflict {
                port: c.port,
                proto: c.proto,
                container: c.victim,
                held_by: if c.holders.is_empty() { vec!["host".into()] } else { c.holders.iter().map(|n| format!("container {n}")).collect() },
            })
            .collect(),
    }
}

/// A rule firewalld's iptables backend writes: in or to its zone, direct
/// and policy chains (`INPUT_direct`, `FORWARD_ZONES`, `IN_public_allow`,
/// `FWD_docker`, `PRE_…`, `POST_…`, `…_POLICIES_pre`, 2.x's `…_POLICIES`), or one of the base
/// rules it puts at the top and bottom of the built-in chains.
fn is_firewallds(rule: &str) -> bool {
    let Some((_, r)) = rule.split_once(": ") else { return false };
    let words: Vec<&str> = r.split_whitespace().collect();
    let chain = words.get(1).copied().unwrap_or("");
    let target = words.iter().position(|w| *w == "-j" || *w == "-g").and_then(|i| words.get(i + 1)).copied().unwrap_or("");
    let firewalld_chain = |c: &str| {
        ["_direct", "_ZONES", "_ZONES_SOURCE", "_POLICIES", "_POLICIES_pre", "_POLICIES_post", "_IN_ZONES", "_OUT_ZONES", "_IN_ZONES_SOURCE", "_OUT_ZONES_SOURCE"]
            .iter()
            .any(|s| c.ends_with(s))
            || ["IN_", "FWD_", "FWDI_", "FWDO_", "PRE_", "POST_", "OUT_"].iter().any(|p| c.starts_with(p))
    };
    let base = [
        "-m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT",
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-i lo -j ACCEPT",
        "-o lo -j ACCEPT",
        "-m conntrack --ctstate INVALID -j DROP",
        "-j REJECT --reject-with icmp-host-prohibited",
    ];
    let builtin = ["INPUT", "FORWARD", "OUTPUT"].contains(&chain);
    firewalld_chain(chain) || firewalld_chain(target) || (builtin && base.iter().any(|b| r.ends_with(b) && r.len() == format!("-A {chain} {b}").len()))
}

/// `table: rule` of the rules that are not Docker's: not in Docker's own
/// chains, not Docker's templates in built-in chains, not the outer
/// engine's embedded-DNS chains (`DOCKER_…`, present only inside a container).
fn not_dockers(rs: &RuleSet) -> Vec<String> {
    let mut out = Vec::new();
    for (table, t) in &rs.tables {
        for r in &t.rules {
            let chain = r.split_whitespace().nth(1).unwrap_or("");
            let jump = r.split_whitespace().skip_while(|w| *w != "-j").nth(1).unwrap_or("");
            // DOCKER-USER is the admin's chain: only Docker's default RETURN there is Docker's.
            let dockers = crate::rules::backend::is_dockers_own_chain(chain)
                || chain.starts_with("DOCKER_")
                || jump.starts_with("DOCKER_")
                || crate::rules::backend::is_docker_rule_in_builtin(table, r)
                || r == "-A DOCKER-USER -j RETURN";
            if !dockers {
                out.push(format!("{table}: {r}"));
            }
        }
    }
    out
}

/// Replaces, everywhere in the bundle and consistently (one value, one
/// placeholder): IPv4 addresses other than loopback, `0.0.0.0` and Docker's
/// default bridge pools (172.17.0.0/16 - 172.31.0.0/16, kept: a replay needs
/// them and they name nothing of the customer's) by addresses of
/// 198.18.0.0/15 (reserved for benchmarks, never a customer's), prefix
/// lengths kept; container names by `container-N`; container ids (full and
/// 12-character) by `c0ffee…N`; the host name (dockerd's journal lines) by
/// `host-1`.
pub fn redact(mut v: Value) -> Value {
    let mut names: Vec<(String, String)> = Vec::new();
    let facts = &v["facts"];
    for (i, c) in facts["docker"]["containers"].as_array().into_iter().flatten().enumerate() {
        if let Some(n) = c["name"].as_str().filter(|n| !n.is_empty()) {
            names.push((n.to_string(), format!("container-{}", i + 1)));
        }
        if let Some(id) = c["id"].as_str().filter(|id| id.len() >= 12) {
            let fake = format!("{:0<64}", format!("c0ffee{:06}", i + 1));
            names.push((id[..12].to_string(), fake[..12].to_string()));
            names.push((id.to_string(), fake));
        }
    }
    // Containers created but never started are named too (a failed `docker run --name`).
    let running = names.len();
    for (i, n) in facts["docker"]["created"].as_array().into_iter().flatten().filter_map(|n| n.as_str()).enumerate() {
        if !names.iter().any(|(from, _)| from == n) {
            names.push((n.to_string(), format!("created-{}", i + 1 + running)));
        }
    }
    if let Some(host) = facts["docker"]["journal"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).find_map(journal_host) {
        names.push((host, "host-1".into()));
    }
    // Longest first, so an id is replaced before its 12-character prefix.
    names.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
    let mut addrs = BTreeMap::new();
    walk(&mut v, &mut |s| {
        let mut out = s.to_string();
        for (from, to) in &names {
            out = replace_word(&out, from, to);
        }
        replace_ipv4(&out, &mut addrs)
    });
    v
}

/// `from` replaced where it stands as a whole name (not inside a longer
/// name: a container `web` leaves `webhook` alone).
fn replace_word(s: &str, from: &str, to: &str) -> String {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        let whole = !before.is_some_and(name_char) && !after.is_some_and(|c| name_char(c) && c != '.');
        out.push_str(&rest[..i]);
        out.push_str(if whole { to } else { from });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

fn walk(v: &mut Value, f: &mut dyn FnMut(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// `2026-12-03T18:43:50+0000 HOST dockerd[66]: …` → HOST.
fn journal_host(line: &str) -> Option<String> {
    let mut w = line.split_whitespace();
    let (_, host, tag) = (w.next()?, w.next()?, w.next()?);
    (tag.contains('[') || tag.ends_with(':')).then(|| host.to_string()).filter(|h| h != "localhost")
}

/// Every dotted quad in `s` replaced through `map` (a new one gets the next
/// placeholder).
fn replace_ipv4(s: &str, map: &mut BTreeMap<[u8; 4], [u8; 4]>) -> String {
    if !s.is_ascii() {
        return redo_utf8(s, map);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.');
        if boundary && b[i].is_ascii_digit() {
            if let Some((q, len)) = dotted_quad(&b[i..]) {
                let after = b.get(i + len).copied();
                if !after.is_some_and(|c| c.is_ascii_digit() || (c == b'.' && b.get(i + len + 1).is_some_and(u8::is_ascii_digit))) {
                    let r = if keep(q) { q } else { placeholder(q, map) };
                    out.push_str(&format!("{}.{}.{}.{}", r[0], r[1], r[2], r[3]));
                    i += len;
                    continue;
                }
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Text with non-ASCII characters: the same replacement on its ASCII runs.
fn redo_utf8(s: &str, map: &mut BTreeMap<[u8; 4], [u8; 4]>) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for ch in s.chars() {
        if ch.is_ascii() {
            run.push(ch);
        } else {
            out.push_str(&replace_ipv4(&run, map));
            run.clear();
            out.push(ch);
        }
    }
    out.push_str(&replace_ipv4(&run, map));
    out
}

fn dotted_quad(b: &[u8]) -> Option<([u8; 4], usize)> {
    let mut q = [0u8; 4];
    let mut i = 0;
    for (k, part) in q.iter_mut().enumerate() {
        let start = i;
        let mut n: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            n = n * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        if i == start || n > 255 {
            return None;
        }
        *part = n as u8;
        if k < 3 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    Some((q, i))
}

fn keep(q: [u8; 4]) -> bool {
    q[0] == 127 || q == [0, 0, 0, 0] || q == [255, 255, 255, 255] || (q[0] == 172 && (17..=31).contains(&q[1]))
}

fn placeholder(q: [u8; 4], map: &mut BTreeMap<[u8; 4], [u8; 4]>) -> [u8; 4] {
    let n = map.len() as u32 + 1;
    *map.entry(q).or_insert([198, 18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_consistently_and_docker_pools_stay() {
        let mut m = BTreeMap::new();
        let a = replace_ipv4("-A INPUT -s 203.0.113.7/32 -j DROP; to 203.0.113.7 via 10.1.2.3, docker 172.17.0.2 lo 127.0.0.1 any 0.0.0.0", &mut m);
        assert_eq!(a, "-A INPUT -s 198.18.0.1/32 -j DROP; to 198.18.0.1 via 198.18.0.2, docker 172.17.0.2 lo 127.0.0.1 any 0.0.0.0");
        // Not addresses: versions, longer dotted runs.
        assert_eq!(replace_ipv4("iptables v1.8.9, kernel 6.1.0-28, 1.2.3.4.5", &mut m), "iptables v1.8.9, kernel 6.1.0-28, 1.2.3.4.5");
        assert_eq!(replace_ipv4("é 10.1.2.3", &mut m), "é 198.18.0.2");
    }

    #[test]
    fn names_are_replaced_whole() {
        assert_eq!(replace_word("web /web web8893 webhook web-2 web.", "web", "container-1"), "container-1 /container-1 web8893 webhook web-2 container-1.");
    }

    #[test]
    fn journal_host_is_the_second_field_of_a_tagged_line() {
        assert_eq!(journal_host("2026-12-03T18:43:50+0000 web-7 dockerd[66]: Starting up").as_deref(), Some("web-7"));
        assert_eq!(journal_host("-- No entries --"), None);
    }
}
