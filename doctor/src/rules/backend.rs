//! Incident B: Docker's rules in the iptables backend the `iptables`
//! alternative does not point at (an `update-alternatives` swap).

use crate::facts::*;
use crate::finding::{codes, Finding, Needs, Severity, Step};

/// The backend kubernetes-sigs/iptables-wrappers would pick for these rules.
///
/// Source: kubernetes-sigs/iptables-wrappers, `iptables-wrapper-installer.sh`
/// (shell wrapper) and `pkg/xtables/detect.go`: kubelet's hint chains
/// (`KUBE-IPTABLES-HINT`, `KUBE-KUBELET-CANARY`) in nft win, then in legacy;
/// otherwise `num_legacy_lines -gt num_nft_lines` picks legacy, else nft
/// (ties and empty systems go to nft). Lines counted are `^-` lines of v4+v6.
pub fn wrappers_choice(ipt: &Iptables) -> Backend {
    let hint = |b: Backend| {
        ipt.rules(b).is_some_and(RuleSet::has_kubelet_hint) || ipt.rules6(b).is_some_and(RuleSet::has_kubelet_hint)
    };
    if hint(Backend::Nft) {
        return Backend::Nft;
    }
    if hint(Backend::Legacy) {
        return Backend::Legacy;
    }
    let count = |b: Backend| {
        ipt.rules(b).map_or(0, RuleSet::rule_count) + ipt.rules6(b).map_or(0, RuleSet::rule_count)
    };
    if count(Backend::Legacy) > count(Backend::Nft) { Backend::Legacy } else { Backend::Nft }
}

/// Whether kubelet's hint chains exist in any backend.
fn any_hint(ipt: &Iptables) -> bool {
    [Backend::Nft, Backend::Legacy]
        .iter()
        .any(|b| ipt.rules(*b).is_some_and(RuleSet::has_kubelet_hint) || ipt.rules6(*b).is_some_and(RuleSet::has_kubelet_hint))
}

/// Second word of a saved rule: its chain.
fn chain_of(rule: &str) -> &str {
    rule.split_whitespace().nth(1).unwrap_or("")
}

/// `--to-destination 172.17.0.2:80` and `-d 172.17.0.2/32` addresses of a rule.
fn container_addrs(rule: &str) -> Vec<String> {
    let w: Vec<&str> = rule.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, t) in w.iter().enumerate() {
        let next = w.get(i + 1).copied().unwrap_or("");
        match *t {
            "--to-destination" => out.push(next.split(':').next().unwrap_or("").to_string()),
            "-d" | "-s" if next.ends_with("/32") => out.push(next.trim_end_matches("/32").to_string()),
            _ => {}
        }
    }
    out
}

/// Built-in chains: besides its own DOCKER* chains, Docker adds rules only here.
/// Rules in other chains (firewalld's `FORWARD_ZONES -i docker0 ...`) are not Docker's.
const BUILTIN: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// Whether a rule in a built-in chain is one Docker added.
fn is_docker_rule_in_builtin(rule: &str) -> bool {
    if !BUILTIN.contains(&chain_of(rule)) {
        return false;
    }
    let w: Vec<&str> = rule.split_whitespace().collect();
    let jumps_docker = w.windows(2).any(|p| (p[0] == "-j" || p[0] == "-g") && is_docker_chain(p[1]));
    let bridge_iface = w.windows(2).any(|p| {
        (p[0] == "-i" || p[0] == "-o") && (p[1] == "docker0" || (p[1].starts_with("br-") && p[1].len() == 15))
    });
    // Docker's hairpin rule: -s X/32 -d X/32 ... -j MASQUERADE for one container.
    let addrs = container_addrs(rule);
    let hairpin = rule.contains("-j MASQUERADE") && addrs.len() == 2 && addrs[0] == addrs[1];
    jumps_docker || bridge_iface || hairpin
}

/// Commands that remove only Docker's rules and chains from one backend's
/// rule set (admin rules stay): delete Docker's rules from built-in chains,
/// then flush and delete the DOCKER* chains. One command string per table.
pub fn cleanup_commands(rules: &RuleSet, backend: Backend, v6: bool) -> Vec<(String, String)> {
    let tool = format!("{}-{}", if v6 { "ip6tables" } else { "iptables" }, backend.name());
    let mut out = Vec::new();
    for (table, t) in &rules.tables {
        let docker_chains: Vec<&String> = t.chains.iter().filter(|c| is_docker_chain(c)).collect();
        let mut cmds: Vec<String> = t
            .rules
            .iter()
            .filter(|r| !is_docker_chain(chain_of(r)) && is_docker_rule_in_builtin(r))
            .map(|r| format!("{tool} -w -t {table} -D {}", &r[3..]))
            .collect();
        let ndel = cmds.len();
        cmds.extend(docker_chains.iter().map(|c| format!("{tool} -w -t {table} -F {c}")));
        cmds.extend(docker_chains.iter().map(|c| format!("{tool} -w -t {table} -X {c}")));
        if !cmds.is_empty() {
            let summary = format!(
                "{tool} {table}: {ndel} Docker rule(s) in built-in chains, chains {}",
                if docker_chains.is_empty() { "none".to_string() } else { docker_chains.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ") }
            );
            out.push((cmds.join(" && "), summary));
        }
    }
    out
}

/// Rules in `rules` that point at container addresses no running container has.
fn stale_container_rules<'a>(rules: &'a RuleSet, live: &[String]) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for (table, t) in &rules.tables {
        for r in &t.rules {
            let addrs = container_addrs(r);
            let dockerish = is_docker_chain(chain_of(r)) || is_docker_rule_in_builtin(r);
            if dockerish && !addrs.is_empty() && addrs.iter().any(|a| !live.contains(a)) {
                out.push((table.as_str(), r.as_str()));
            }
        }
    }
    out
}

/// Where a stale DNAT rule sends its port now: the kernel still applies it,
/// so a port nobody publishes can reach whichever container got the address.
fn dnat_reach(f: &Facts, rule: &str) -> String {
    let w: Vec<&str> = rule.split_whitespace().collect();
    let field = |k: &str| w.windows(2).find(|p| p[0] == k).map(|p| p[1]);
    let (Some(port), Some(to)) = (field("--dport"), field("--to-destination")) else { return String::new() };
    let proto = field("-p").unwrap_or("tcp");
    let addr = to.split(':').next().unwrap_or(to);
    let owner = f.docker.running().iter().find(|c| {
        c.addresses.iter().any(|a| a.split_once('=').is_some_and(|(_, ip)| ip == addr))
    });
    match owner {
        Some(c) if c.ports.iter().any(|p| p.host_port.to_string() == port && p.proto == proto) => {
            format!(" (port {port} reaches `{}` at {addr}, which publishes it)", c.name)
        }
        Some(c) => format!(
            " (port {port} now reaches container `{}` at {addr}, which does not publish it)",
            c.name
        ),
        None => format!(" (no running container has {addr}: port {port} leads nowhere)"),
    }
}

/// Addresses of running containers (`bridge=172.17.0.2` -> `172.17.0.2`).
fn live_addrs(f: &Facts) -> Vec<String> {
    f.docker
        .running()
        .iter()
        .flat_map(|c| c.addresses.iter().filter_map(|a| a.split_once('=').map(|(_, ip)| ip.to_string())))
        .filter(|ip| !ip.is_empty())
        .collect()
}

/// How many running containers' published ports have a DNAT rule in `b`.
fn dnat_matches(f: &Facts, b: Backend) -> usize {
    let Some(r) = f.iptables.rules(b) else { return 0 };
    f.docker.running().iter().flat_map(|c| &c.ports).filter(|p| super::ports::has_dnat_for(r, p)).count()
}

/// iptables-backend-mismatch.
pub fn mismatch(f: &Facts) -> Option<Finding> {
    if !f.docker.manages_iptables || super::firewalld::flushed(f) {
        return None; // a flush, not a swap, explains the missing chains
    }
    let ipt = &f.iptables;
    let cur = ipt.current_backend?;
    let with = ipt.backends_with_docker_chains();
    if with.is_empty() || with == [cur] {
        return None; // flushed (another rule) or consistent, legacy or nft alike
    }
    // Where Docker's live rules are: only one backend has chains -> there;
    // both -> the one matching running containers' ports, else `iptables`'.
    let live = if with.len() == 1 {
        with[0]
    } else if dnat_matches(f, cur.other()) > dnat_matches(f, cur) {
        cur.other()
    } else {
        cur
    };
    let stale = live.other();
    let alt_line = match &ipt.alternative {
        Some(a) => format!(
            "iptables alternative -> {} ({} mode); `iptables -V`: {}",
            a.value.as_deref().unwrap_or("?"),
            a.status.as_deref().unwrap_or("?"),
            ipt.version.as_deref().unwrap_or("?")
        ),
        None => format!("`iptables -V`: {}", ipt.version.as_deref().unwrap_or("?")),
    };
    let live_rules = ipt.rules(live)?;
    let mut ev = vec![
        alt_line,
        format!("Docker's live chains are in {}: {}", live_rules.tool, live_rules.docker_chains().join(", ")),
    ];
    let live_addrs = live_addrs(f);
    let stale_rules = ipt.rules(stale).filter(|r| r.has_docker_chains());
    if let Some(sr) = stale_rules {
        ev.push(format!("Docker's chains also linger in {}: {}", sr.tool, sr.docker_chains().join(", ")));
        for d in sr.docker_dnat_rules() {
            ev.push(format!("stale rule in {} (nat): {d}{}", sr.tool, dnat_reach(f, d)));
        }
    } else {
        ev.push(format!(
            "{} has no DOCKER chain: Docker's next call through `iptables` fails with `No chain/target/match by that name`",
            ipt.rules(cur).map(|r| r.tool.as_str()).unwrap_or(cur.name())
        ));
    }
    // Rules for containers that no longer run, left in the live backend when
    // Docker tried to delete them through the other backend.
    let dead_in_live = stale_container_rules(live_rules, &live_addrs);
    for (t, r) in &dead_in_live {
        ev.push(format!("stale rule in {} ({t}) for a container that no longer runs: {r}", live_rules.tool));
    }
    for w in ipt.rules(cur).map(|r| r.warnings.clone()).unwrap_or_default() {
        ev.push(format!("{}: {w}", ipt.rules(cur).map(|r| r.tool.as_str()).unwrap_or("")));
    }

    // Target backend: kubelet's hint chains decide (iptables-wrappers);
    // otherwise keep Docker where its live rules are (no restart needed).
    let target = if any_hint(ipt) { wrappers_choice(ipt) } else { live };
    let mut plan = Vec::new();
    if cur != target {
        plan.push(Step {
            command: alt_set_command(f, target),
            why: format!("point `iptables` at {} so Docker, firewalld and the admin use one backend", target.name()),
            disrupts: "nothing".into(),
            needs: Needs::Nothing,
        });
    }
    if target != live {
        plan.push(super::restart_docker_step(f, "dockerd recreates its chains and DNAT rules in the target backend"));
    }
    // Docker's rules in the backend that is not the target, v4 and v6.
    let other = target.other();
    for (rs, v6) in [(ipt.rules(other), false), (ipt.rules6(other), true)] {
        let Some(rs) = rs else { continue };
        for (cmd, summary) in cleanup_commands(rs, other, v6) {
            plan.push(Step {
                command: cmd,
                why: format!("remove only Docker's leftovers from the {} backend ({summary}); the admin's own rules there stay", other.name()),
                disrupts: "nothing: these rules belong to no running Docker".into(),
                needs: Needs::Nothing,
            });
        }
    }
    if target == live {
        let tool = format!("iptables-{}", live.name());
        for (t, r) in &dead_in_live {
            plan.push(Step {
                command: format!("{tool} -w -t {t} -D {}", &r[3..]),
                why: "delete a rule for a container that no longer runs; it would catch traffic meant for the next container on that port".into(),
                disrupts: "nothing".into(),
                needs: Needs::Nothing,
            });
        }
    }
    let stale_dnat = stale_rules.is_some_and(|r| !r.docker_dnat_rules().is_empty());
    let severity = if with.len() == 1 || stale_dnat || !dead_in_live.is_empty() { Severity::Incident } else { Severity::Warning };
    Some(Finding {
        code: codes::IPTABLES_BACKEND_MISMATCH.into(),
        severity,
        title: if live == cur {
            format!(
                "Docker's rules are split between backends: live in {} (where `iptables` points), stale copies left in {}",
                live.name(),
                stale.name()
            )
        } else {
            format!(
                "`iptables` points at {} but Docker's live rules are in {}: Docker's next rule change fails or lands in the wrong backend",
                cur.name(),
                live.name()
            )
        },
        evidence: ev,
        plan,
    })
}

fn alt_set_command(f: &Facts, b: Backend) -> String {
    let fedora = f.iptables.alternative.as_ref().is_some_and(|a| a.value.as_deref().is_some_and(|v| v.starts_with("/usr/sbin")) && f.os.id.as_deref().is_some_and(|id| id != "debian" && id != "ubuntu"));
    let tool = if fedora { "alternatives" } else { "update-alternatives" };
    format!(
        "{tool} --set iptables /usr/sbin/iptables-{b} && {tool} --set ip6tables /usr/sbin/ip6tables-{b}",
        b = b.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules_in_builtin_chains_are_recognised_and_admin_rules_are_not() {
        assert!(is_docker_rule_in_builtin("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"));
        assert!(is_docker_rule_in_builtin("-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"));
        assert!(is_docker_rule_in_builtin("-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE"));
        assert!(is_docker_rule_in_builtin("-A FORWARD -o br-0123456789ab -j DOCKER"));
        assert!(!is_docker_rule_in_builtin("-A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE"));
        assert!(!is_docker_rule_in_builtin("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"));
        // firewalld's zone rules for docker0 are firewalld's, not Docker's.
        assert!(!is_docker_rule_in_builtin("-A FORWARD_ZONES -i docker0 -g FWD_docker"));
    }
}
