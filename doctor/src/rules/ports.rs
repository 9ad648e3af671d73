//! Port rules: published-port-without-rule, port-already-allocated.

use super::{journal_since_last_start, restart_docker_step};
use crate::facts::*;
use crate::finding::{codes, Finding, Needs, Severity, Step};

/// A port as the evidence names it: `8080` for TCP, `5353/udp` otherwise.
fn port_name(port: u16, proto: &str) -> String {
    if proto == "tcp" { port.to_string() } else { format!("{port}/{proto}") }
}

/// Whether the nat DOCKER chain has a DNAT rule for this published port.
pub(crate) fn has_dnat_for(r: &RuleSet, p: &PublishedPort) -> bool {
    r.docker_dnat_rules().iter().any(|d| {
        let w: Vec<&str> = d.split_whitespace().collect();
        let port_ok = w.windows(2).any(|x| x[0] == "--dport" && x[1] == p.host_port.to_string());
        let proto_ok = w.windows(2).any(|x| x[0] == "-p" && x[1] == p.proto);
        port_ok && proto_ok
    })
}

/// The backend Docker's live rules are in: `iptables`' own if it has them, else the other.
fn docker_backend(f: &Facts) -> Option<Backend> {
    let cur = f.iptables.current_backend?;
    let with = f.iptables.backends_with_docker_chains();
    if with.contains(&cur) || with.is_empty() || super::firewalld::flushed(f) { Some(cur) } else { with.first().copied() }
}

/// The running containers' published IPv4 ports that have no DNAT rule in
/// the backend Docker's live rules are in (with that rule set), or None
/// when dockerd does not run or does not manage iptables.
pub(crate) fn missing_dnat(f: &Facts) -> Option<(&RuleSet, Vec<(&Container, &PublishedPort)>)> {
    if !f.docker.is_running() || !f.docker.manages_iptables {
        return None;
    }
    let rules = f.iptables.rules(docker_backend(f)?)?;
    let mut missing = Vec::new();
    // Only bridge-network publishes are DNAT rules (host networking uses
    // the node's own ports; `-p` is then discarded by dockerd).
    for c in f.docker.running().iter().filter(|c| c.publishes_through_nat()) {
        let mut seen = Vec::new();
        for p in &c.ports {
            // Only IPv4 bindings are DNATed by iptables; `::` ones go to ip6tables.
            if p.host_ip.contains(':') || seen.contains(&(&p.proto, p.host_port)) {
                continue;
            }
            seen.push((&p.proto, p.host_port));
            if !has_dnat_for(rules, p) {
                missing.push((c, p));
            }
        }
    }
    Some((rules, missing))
}

/// published-port-without-rule: a running container's port has no DNAT rule.
pub fn published_without_rule(f: &Facts) -> Option<Finding> {
    let (rules, without) = missing_dnat(f)?;
    let mut ev = Vec::new();
    let mut names = Vec::new();
    let mut missing: Vec<(String, u16)> = Vec::new();
    for (c, p) in without {
        let host = if p.host_ip.is_empty() { "0.0.0.0" } else { &p.host_ip };
        ev.push(format!(
            "container {} ({}) publishes {host}:{}->{}/{} but {} nat DOCKER has no DNAT rule for {} dport {}",
            c.name,
            &c.id[..c.id.len().min(12)],
            p.host_port,
            p.container_port,
            p.proto,
            rules.tool,
            p.proto,
            p.host_port
        ));
        if !names.contains(&c.name) {
            names.push(c.name.clone());
        }
        missing.push((p.proto.clone(), p.host_port));
    }
    if ev.is_empty() {
        return None;
    }
    let chains_exist = rules.has_chain("nat", "DOCKER");
    if !chains_exist {
        ev.push(format!("{} has no nat DOCKER chain at all", rules.tool));
    }
    let plan = if chains_exist {
        names
            .iter()
            .map(|n| Step {
                command: format!("docker restart {n}"),
                why: "restarting the container makes Docker program its port mapping again".into(),
                disrupts: format!("restarts container {n}: it gets up to its stop timeout (10 s by default) to exit before SIGKILL, so the step can take that long"),
                needs: Needs::Yes,
            })
            .collect()
    } else {
        vec![restart_docker_step(f, "dockerd recreates its chains and the DNAT rules of running containers at start")]
    };
    // With the DNAT rule gone, a connection to the node's address goes to
    // INPUT: where the userland proxy (or Docker 28's own listener) holds
    // the port and nothing filters INPUT, it still reaches the container,
    // without the client's address. Say so, instead of "they fail".
    // With `userland-proxy: false` dockerd only holds the port open (a
    // dummy listener that never forwards): nothing answers.
    let open = input_unfiltered(f, rules) && f.docker.userland_proxy != Some(false);
    let proxied = open && missing.iter().all(|(proto, port)| f.port_in_use(proto, *port));
    let (severity, title) = if proxied {
        ev.push(format!(
            "the node listens on {} (docker-proxy: the userland proxy is on) and nothing filters INPUT (firewalld is not running, {} filter INPUT is empty with policy ACCEPT): outside connections still reach the container through the proxy, without the client's address",
            missing.iter().map(|(proto, port)| port_name(*port, proto)).collect::<Vec<_>>().join(", "),
            rules.tool
        ));
        (
            Severity::Warning,
            format!("published port(s) of {} have no DNAT rule: only the userland proxy still serves them (client addresses lost; they fail once the proxy is off)", names.join(", ")),
        )
    } else {
        (Severity::Incident, format!("published port(s) of {} have no DNAT rule: connections to them fail", names.join(", ")))
    };
    Some(Finding { code: codes::PUBLISHED_PORT_WITHOUT_RULE.into(), severity, title, evidence: ev, plan })
}

/// Nothing filters INPUT: firewalld is not running and the backend's
/// filter INPUT chain has no rule and policy ACCEPT.
fn input_unfiltered(f: &Facts, r: &RuleSet) -> bool {
    let Some(filter) = r.tables.get("filter") else { return false };
    f.firewalld.unit.as_ref().is_some_and(|u| !u.is_active())
        && filter.policies.get("INPUT").is_some_and(|p| p == "ACCEPT")
        && !filter.rules.iter().any(|l| l.starts_with("-A INPUT "))
}

/// The host port of a port-conflict error, in each wording Docker uses:
///
/// - 20.10-28.x, another container holds it:
///   `Bind for 0.0.0.0:8080 failed: port is already allocated` -> 8080
///   (28.x wraps it in `failed to set up container networking: driver
///   failed programming external connectivity on endpoint …: `);
/// - 20.10-27.x, a host process holds it (docker-proxy's listen):
///   `listen tcp4 0.0.0.0:8080: bind: address already in use` -> 8080;
/// - 28.x, a host process holds it (dockerd binds the port itself):
///   `failed to bind host port for 0.0.0.0:9090:172.17.0.3:80/tcp: address already in use` -> 9090.
///
/// UDP alike: `listen udp4 0.0.0.0:5353: bind: address already in use`,
/// `…:5353/udp: address already in use`. The protocol is `None` where the
/// text does not say (`port is already allocated`).
fn allocated_port(line: &str) -> Option<(u16, Option<&'static str>)> {
    let last_port = |s: &str| -> Option<u16> { s.rsplit(':').next()?.trim().parse().ok() };
    if line.contains("port is already allocated") {
        let rest = after(line, "Bind for ")?;
        return Some((last_port(&rest[..rest.find(" failed")?])?, None));
    }
    if !line.contains("address already in use") {
        return None;
    }
    if let Some(rest) = after(line, "failed to bind host port for ") {
        // HOSTIP:HOSTPORT:CONTAINERIP:CONTAINERPORT/PROTO; an IPv6 host
        // address has colons of its own, so count from the right.
        let spec = rest.split_whitespace().next()?.trim_end_matches(':');
        let proto = if spec.ends_with("/udp") { "udp" } else { "tcp" };
        let fields: Vec<&str> = spec.split(':').collect();
        return fields.len().checked_sub(3).and_then(|i| fields[i].parse().ok()).map(|p| (p, Some(proto)));
    }
    for (needle, proto) in [("listen tcp", "tcp"), ("listen udp", "udp")] {
        if let Some(i) = line.find(needle) {
            let rest = &line[i..];
            return Some((last_port(&rest[..rest.find(": bind")?])?, Some(proto)));
        }
    }
    None
}

/// The text after the first `pat` in `s`.
fn after<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[i + pat.len()..])
}

/// The container that failed to start: `... on endpoint NAME (id): ...`
/// (the error), or `ep=NAME` (28.x's `Failed to allocate and map port` warning).
fn endpoint_name(line: &str) -> Option<&str> {
    if let Some(rest) = after(line, "on endpoint ") {
        return rest.split_whitespace().next();
    }
    line.split_whitespace().find_map(|w| w.strip_prefix("ep=")).filter(|n| !n.is_empty())
}

/// A port conflict still going on: a container could not start because
/// its host port is taken, and something still holds the port.
pub(crate) struct Conflict {
    /// The host port.
    pub port: u16,
    /// The protocol the error names (`port is already allocated` names none).
    pub proto: Option<&'static str>,
    /// dockerd's journal line.
    pub line: String,
    /// The container that could not start, when the line names it.
    pub victim: Option<String>,
    /// The running containers publishing the port.
    pub holders: Vec<String>,
    /// The protocols the port is listened on (`ss`).
    pub in_use: Vec<&'static str>,
}

/// The conflicts of dockerd's current start that are not over (the failed
/// container removed or started, or nothing holding the port any more).
pub(crate) fn conflicts(f: &Facts) -> Vec<Conflict> {
    let mut ports: Vec<(u16, Option<&'static str>, String, Option<String>)> = Vec::new();
    for l in journal_since_last_start(&f.docker) {
        if let Some((p, proto)) = allocated_port(l) {
            ports.retain(|(q, _, _, _)| *q != p);
            ports.push((p, proto, l.trim().to_string(), endpoint_name(l).map(String::from)));
        }
    }
    let mut out = Vec::new();
    for (port, proto, line, victim) in ports {
        if let (Some(v), Some(created)) = (&victim, &f.docker.created)
            && !created.contains(v)
        {
            continue;
        }
        let holders: Vec<String> = f
            .docker
            .running()
            .iter()
            .filter(|c| c.ports.iter().any(|x| x.host_port == port && proto.is_none_or(|pr| x.proto == pr)))
            .map(|c| c.name.clone())
            .collect();
        let in_use: Vec<&'static str> = ["tcp", "udp"].into_iter().filter(|pr| proto.is_none_or(|x| x == *pr) && f.port_in_use(pr, port)).collect();
        if holders.is_empty() && in_use.is_empty() {
            continue;
        }
        out.push(Conflict { port, proto, line, victim, holders, in_use });
    }
    out
}

/// port-already-allocated: a container that could not start because its
/// host port is taken still exists, and something still holds the port.
pub fn already_allocated(f: &Facts) -> Option<Finding> {
    let mut ev = Vec::new();
    let mut plan = Vec::new();
    for Conflict { port: p, proto, line, victim, holders, in_use } in conflicts(f) {
        let holders: Vec<String> = holders.iter().map(|n| format!("container {n}")).collect();
        ev.push(format!("docker journal: {line}"));
        let containers_known = f.docker.containers.is_some();
        let how = in_use.iter().map(|pr| if *pr == "udp" { "ss -uln" } else { "ss -tln" }).collect::<Vec<_>>().join(", ");
        let name = port_name(p, proto.unwrap_or("tcp"));
        if !holders.is_empty() {
            ev.push(format!("port {name} is held by {}", holders.join(", ")));
        } else if containers_known {
            ev.push(format!("port {name} is held by a process listening on the host ({how})"));
        } else {
            ev.push(format!("port {name} is listened on ({how}); whether a container or a host process holds it could not be looked at (the containers could not be listed)"));
        }
        match (victim.as_deref(), f.docker.created.is_some()) {
            (Some(v), true) => ev.push(format!("container {v} was created but never started")),
            (Some(v), false) => ev.push(format!("container {v} failed to start; whether it still exists could not be looked at (the containers could not be listed)")),
            (None, _) => {}
        }
        plan.push(Step {
            command: if proto == Some("udp") {
                format!("docker ps --filter publish={p}/udp; ss -ulnp 'sport = :{p}'")
            } else {
                format!("docker ps --filter publish={p}; ss -tlnp 'sport = :{p}'")
            },
            why: format!(
                "show who holds port {p}; then re-create {} on another host port, or stop the holder",
                victim.as_deref().unwrap_or("the container")
            ),
            disrupts: "nothing (read-only)".into(),
            needs: Needs::Nothing,
        });
    }
    if ev.is_empty() {
        return None;
    }
    Some(Finding {
        code: codes::PORT_ALREADY_ALLOCATED.into(),
        severity: Severity::Warning,
        title: "a container could not publish a host port that is already taken".into(),
        evidence: ev,
        plan,
    })
}

#[cfg(test)]
mod tests {
    use super::allocated_port;
    #[test]
    fn ports_from_allocation_errors() {
        assert_eq!(allocated_port("driver failed programming external connectivity on endpoint web (abc): Bind for 0.0.0.0:8080 failed: port is already allocated"), Some((8080, None)));
        assert_eq!(allocated_port("Error starting userland proxy: listen tcp4 0.0.0.0:9000: bind: address already in use"), Some((9000, Some("tcp"))));
        assert_eq!(allocated_port("nothing here"), None);
        assert_eq!(super::endpoint_name("driver failed programming external connectivity on endpoint clash (90c2): Bind"), Some("clash"));
    }

    /// Docker 28.5.2's journal, verbatim from a debian13-docker28 node
    /// (tests/fixtures/debian13-docker28-port-already-allocated.json).
    #[test]
    fn docker28_wordings() {
        let held_by_container = r#"dockerd[549]: time="2026-12-02T10:34:34.196807079Z" level=error msg="Handler for POST /v1.51/containers/197093b71a3b/start returned error: failed to set up container networking: driver failed programming external connectivity on endpoint clash (c1a6063dea37): Bind for 0.0.0.0:8080 failed: port is already allocated""#;
        assert_eq!(allocated_port(held_by_container), Some((8080, None)));
        assert_eq!(super::endpoint_name(held_by_container), Some("clash"));
        let held_by_process = r#"dockerd[549]: time="2026-12-02T10:34:35.463389458Z" level=error msg="Handler for POST /v1.51/containers/c017d49e74a7/start returned error: failed to set up container networking: driver failed programming external connectivity on endpoint clash2 (75c722122d3e): failed to bind host port for 0.0.0.0:9090:172.17.0.3:80/tcp: address already in use""#;
        assert_eq!(allocated_port(held_by_process), Some((9090, Some("tcp"))));
        assert_eq!(super::endpoint_name(held_by_process), Some("clash2"));
        let warning = r#"dockerd[549]: level=warning msg="Failed to allocate and map port" eid=75c7 ep=clash2 error="failed to bind host port for 0.0.0.0:9090:172.17.0.3:80/tcp: address already in use" net=bridge"#;
        assert_eq!(allocated_port(warning), Some((9090, Some("tcp"))));
        assert_eq!(super::endpoint_name(warning), Some("clash2"));
        // The wording the issue quotes for a host process (docker-proxy's listen, wrapped as 28.x wraps errors).
        let wrapped_listen = "failed to set up container networking: driver failed programming external connectivity on endpoint web (abc): listen tcp4 0.0.0.0:8080: bind: address already in use";
        assert_eq!(allocated_port(wrapped_listen), Some((8080, Some("tcp"))));
        // UDP, in docker-proxy's wording (20.10-27) and dockerd's own (28).
        assert_eq!(allocated_port("Error starting userland proxy: listen udp4 0.0.0.0:5353: bind: address already in use"), Some((5353, Some("udp"))));
        assert_eq!(allocated_port("failed to bind host port for 0.0.0.0:5353:172.17.0.2:5353/udp: address already in use"), Some((5353, Some("udp"))));
        assert_eq!(super::endpoint_name(wrapped_listen), Some("web"));
    }
}
