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

/// The hint chains of one backend, as `table/CHAIN` (v4 and v6).
fn hint_chains(ipt: &Iptables, b: Backend) -> Vec<String> {
    let mut out = Vec::new();
    for (v, rs) in [("", ipt.rules(b)), ("ip6 ", ipt.rules6(b))] {
        for (t, table) in rs.map(|r| &r.tables).into_iter().flatten() {
            for c in table.chains.iter().filter(|c| *c == "KUBE-IPTABLES-HINT" || *c == "KUBE-KUBELET-CANARY") {
                out.push(format!("{v}{t}/{c}"));
            }
        }
    }
    out
}

/// kubelet-backend-split: Docker's rules sit consistently in one backend,
/// but kubelet's hint chains are in (or win for) the other: kube-proxy and
/// anything else started through kubernetes-sigs/iptables-wrappers writes
/// its rules there, so the kernel runs two rule sets for the same traffic.
/// A warning that names the split; no automatic cure (which side to move is
/// the cluster admin's choice).
pub fn kubelet_split(f: &Facts) -> Option<Finding> {
    if !f.docker.manages_iptables || !f.docker.is_running() {
        return None;
    }
    let ipt = &f.iptables;
    let cur = ipt.current_backend?;
    if ipt.backends_with_docker_chains() != [cur] || !any_hint(ipt) {
        return None; // no Docker rules, a swap (iptables-backend-mismatch), or no kubelet
    }
    let kube = wrappers_choice(ipt);
    if kube == cur {
        return None;
    }
    let docker_tool = format!("iptables-{}", cur.name());
    let kube_tool = format!("iptables-{}", kube.name());
    let mut ev = vec![
        format!("kubelet's hint chains in {kube_tool}: {}", hint_chains(ipt, kube).join(", ")),
        format!("Docker's chains are in {docker_tool}: {}", ipt.rules(cur).map(|r| r.docker_chains().join(", ")).unwrap_or_default()),
    ];
    if let Some(a) = &ipt.alternative {
        ev.push(format!("iptables alternative -> {} ({} mode)", a.value.as_deref().unwrap_or("?"), a.status.as_deref().unwrap_or("?")));
    }
    ev.push(format!(
        "kubernetes-sigs/iptables-wrappers (kube-proxy's images, Calico, Cilium) picks {} from those hint chains: their rules and Docker's would be in different backends",
        kube.name()
    ));
    Some(Finding {
        code: codes::KUBELET_BACKEND_SPLIT.into(),
        severity: Severity::Warning,
        title: format!(
            "kubelet's hint chains are in {kube_tool}, Docker's rules in {docker_tool}: Kubernetes' rules will land in the other backend than Docker's"
        ),
        evidence: ev,
        plan: vec![],
    })
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

/// Docker's own chains: every `DOCKER*` chain except `DOCKER-USER`, which
/// Docker creates but leaves to the admin (20.10: `DOCKER`,
/// `DOCKER-ISOLATION-STAGE-1/2`; 28.x adds `DOCKER-BRIDGE`, `DOCKER-CT`,
/// `DOCKER-FORWARD`; swarm adds `DOCKER-INGRESS`).
pub(crate) fn is_dockers_own_chain(name: &str) -> bool {
    is_docker_chain(name) && name != "DOCKER-USER"
}

/// The rules Docker writes into built-in chains, as `(table, chain, rest)`
/// templates over the saved rule text. Placeholders: `<br>` a Docker bridge
/// (`docker0`, `docker_gwbridge`, `br-` + 12 hex digits), `<net>` a subnet,
/// `<h>` one address (`/32`, `/128`), `<proto>`, `<port>`, `<chain>` any
/// `DOCKER*` chain, `<lo>` the loopback net. A placeholder used twice must
/// match the same text twice. From Docker 20.10's and 28.5's rule sets
/// (DESIGN.md section 2b) and their IPv6 and userland-proxy=false forms.
const DOCKER_TEMPLATES: &[(&str, &str, &str)] = &[
    ("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j <chain>"),
    ("nat", "OUTPUT", "! -d <lo> -m addrtype --dst-type LOCAL -j <chain>"),
    ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j <chain>"),
    ("nat", "POSTROUTING", "-s <net> ! -o <br> -j MASQUERADE"),
    ("nat", "POSTROUTING", "-o <br> -m addrtype --src-type LOCAL -j MASQUERADE"),
    ("nat", "POSTROUTING", "-s <h> -d <h> -p <proto> -m <proto> --dport <port> -j MASQUERADE"),
    ("filter", "FORWARD", "-j <chain>"),
    ("filter", "FORWARD", "-o <br> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
    ("filter", "FORWARD", "-o <br> -j DOCKER"),
    ("filter", "FORWARD", "-i <br> ! -o <br> -j ACCEPT"),
    ("filter", "FORWARD", "-i <br> -o <br> -j ACCEPT"),
    ("filter", "FORWARD", "-i <br> -o <br> -j DROP"),
    ("raw", "PREROUTING", "-d <h> ! -i <br> -j DROP"),
];

/// Whether one word of a rule fits one template word.
fn fits(placeholder: &str, word: &str) -> bool {
    let addr = |w: &str| w.split_once('/').is_some_and(|(a, m)| !a.is_empty() && m.parse::<u8>().is_ok());
    match placeholder {
        "<br>" => {
            word == "docker0"
                || word == "docker_gwbridge"
                || word.strip_prefix("br-").is_some_and(|h| h.len() == 12 && h.chars().all(|c| c.is_ascii_hexdigit()))
        }
        "<net>" => addr(word),
        "<h>" => addr(word) && (word.ends_with("/32") || word.ends_with("/128")),
        "<proto>" => ["tcp", "udp", "sctp"].contains(&word),
        "<port>" => word.parse::<u16>().is_ok(),
        "<chain>" => is_docker_chain(word),
        "<lo>" => word == "127.0.0.0/8" || word == "::1/128",
        lit => lit == word,
    }
}

/// Whether `words` match `template`, with repeated placeholders equal.
fn matches_template(template: &str, words: &[&str]) -> bool {
    let t: Vec<&str> = template.split_whitespace().collect();
    if t.len() != words.len() {
        return false;
    }
    let mut bound: Vec<(&str, &str)> = Vec::new();
    for (p, w) in t.iter().zip(words) {
        if !fits(p, w) {
            return false;
        }
        if p.starts_with('<') {
            match bound.iter().find(|(q, _)| q == p) {
                Some((_, v)) if v != w => return false,
                Some(_) => {}
                None => bound.push((p, w)),
            }
        }
    }
    true
}

/// Whether a rule in a built-in chain is one Docker wrote (it fits one of
/// [`DOCKER_TEMPLATES`]). Anything else there (the admin's, firewalld's)
/// is not Docker's and is never touched.
pub(crate) fn is_docker_rule_in_builtin(table: &str, rule: &str) -> bool {
    let words: Vec<&str> = rule.split_whitespace().collect();
    let [flag, chain, rest @ ..] = words.as_slice() else { return false };
    *flag == "-A"
        && DOCKER_TEMPLATES
            .iter()
            .any(|(t, c, tpl)| *t == table && c == chain && matches_template(tpl, rest))
}

/// The admin's rules in `DOCKER-USER` (anything but Docker's default `-j RETURN`).
fn admin_docker_user_rules(rules: &RuleSet) -> Vec<&str> {
    rules
        .tables
        .get("filter")
        .map(|t| {
            t.rules
                .iter()
                .filter(|r| r.starts_with("-A DOCKER-USER ") && r.as_str() != "-A DOCKER-USER -j RETURN")
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default()
}

/// Commands that remove only Docker's rules and chains from one backend's
/// rule set: `-D` of each rule Docker wrote into a built-in chain (exact
/// text), then `-F` and `-X` of Docker's own chains. `DOCKER-USER` (the
/// admin's chain) and every other rule stay. One command string per table,
/// with a summary.
pub fn cleanup_commands(rules: &RuleSet, backend: Backend, v6: bool) -> Vec<(String, String)> {
    let tool = tool_name(backend, v6);
    let mut out = Vec::new();
    for (table, t) in &rules.tables {
        let own: Vec<&String> = t.chains.iter().filter(|c| is_dockers_own_chain(c)).collect();
        let mut cmds: Vec<String> = t
            .rules
            .iter()
            .filter(|r| is_docker_rule_in_builtin(table, r))
            .map(|r| format!("{tool} -w -t {table} -D {}", &r[3..]))
            .collect();
        let ndel = cmds.len();
        cmds.extend(own.iter().map(|c| format!("{tool} -w -t {table} -F {c}")));
        cmds.extend(own.iter().map(|c| format!("{tool} -w -t {table} -X {c}")));
        if !cmds.is_empty() {
            let summary = format!(
                "{tool} {table}: {ndel} Docker rule(s) in built-in chains, chains {}",
                if own.is_empty() { "none".to_string() } else { own.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ") }
            );
            out.push((cmds.join(" && "), summary));
        }
    }
    out
}

/// Commands that copy the admin's `DOCKER-USER` rules of the stale backend
/// into the live backend's `DOCKER-USER`, keeping their order (inserted at
/// position 1, last rule first), each only when it is not there yet: skipped
/// at plan time when `live` already holds it, and guarded by `-C` at run time.
pub fn carry_over_commands(stale: &RuleSet, live: Option<&RuleSet>, live_backend: Backend, v6: bool) -> Vec<String> {
    let tool = tool_name(live_backend, v6);
    let present = |r: &str| live.and_then(|l| l.tables.get("filter")).is_some_and(|t| t.rules.iter().any(|x| x == r));
    admin_docker_user_rules(stale)
        .into_iter()
        .rev()
        .filter(|r| !present(r))
        .map(|r| {
            let spec = &r["-A DOCKER-USER ".len()..];
            format!("{tool} -w -C DOCKER-USER {spec} 2>/dev/null || {tool} -w -I DOCKER-USER 1 {spec}")
        })
        .collect()
}

fn tool_name(b: Backend, v6: bool) -> String {
    format!("{}-{}", if v6 { "ip6tables" } else { "iptables" }, b.name())
}

/// The steps that retire Docker's stale copy in `stale_b` while Docker lives
/// (or will live, after a restart) in `live_b`: first the admin's
/// `DOCKER-USER` rules are carried to the live backend, then Docker's own
/// rules and chains are removed from the stale one. IPv4 and IPv6.
pub(crate) fn stale_backend_steps(ipt: &Iptables, stale_b: Backend, live_b: Backend) -> Vec<Step> {
    let mut plan = Vec::new();
    let sets = [(ipt.rules(stale_b), ipt.rules(live_b), false), (ipt.rules6(stale_b), ipt.rules6(live_b), true)];
    for (stale, live, v6) in sets {
        let Some(stale) = stale else { continue };
        for cmd in carry_over_commands(stale, live, live_b, v6) {
            plan.push(Step {
                command: cmd,
                why: format!(
                    "carry the admin's DOCKER-USER rule to the {live} backend's DOCKER-USER, where Docker's FORWARD jump is live: once Docker's own jump is removed from the {stale} backend the kernel no longer evaluates that chain there, so without this copy the rule would stop being enforced; the {stale} DOCKER-USER chain itself is left in place",
                    live = live_b.name(),
                    stale = stale_b.name()
                ),
                disrupts: "nothing: it adds a rule the admin already had, only if it is not there yet".into(),
                needs: Needs::Nothing,
            });
        }
        for (cmd, summary) in cleanup_commands(stale, stale_b, v6) {
            plan.push(Step {
                command: cmd,
                why: format!(
                    "remove only Docker's own leftovers from the {} backend ({summary}): Docker's rules in built-in chains are deleted one by one by their exact text, and Docker's chains are flushed and deleted except DOCKER-USER, which is the admin's; rules in built-in chains that Docker did not write (the admin's, firewalld's) stay untouched",
                    stale_b.name()
                ),
                disrupts: "nothing: these rules belong to no running Docker".into(),
                needs: Needs::Nothing,
            });
        }
    }
    plan
}

/// Rules in `rules` that point at container addresses no running container has.
fn stale_container_rules<'a>(rules: &'a RuleSet, live: &[String]) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for (table, t) in &rules.tables {
        for r in &t.rules {
            let addrs = container_addrs(r);
            // DOCKER-USER is the admin's: an address there is not a container's.
            let dockerish = is_dockers_own_chain(chain_of(r)) || is_docker_rule_in_builtin(table, r);
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
    // Docker's rules in the backend that is not the target, v4 and v6; the
    // admin's DOCKER-USER rules there move to the target first.
    plan.extend(stale_backend_steps(ipt, target.other(), target));
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
        let docker = [
            ("nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"),
            ("nat", "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"),
            ("nat", "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"),
            ("nat", "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE"),
            ("filter", "-A FORWARD -j DOCKER-USER"),
            ("filter", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"),
            ("filter", "-A FORWARD -j DOCKER-FORWARD"),
            ("filter", "-A FORWARD -o br-0123456789ab -j DOCKER"),
            ("filter", "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            ("filter", "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT"),
            ("raw", "-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP"),
        ];
        for (t, r) in docker {
            assert!(is_docker_rule_in_builtin(t, r), "{t}: {r}");
        }
        let not_docker = [
            ("nat", "-A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE"),
            ("nat", "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.3/32 -p tcp -m tcp --dport 80 -j MASQUERADE"),
            ("filter", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
            ("filter", "-A FORWARD -i docker0 -j DROP"),
            ("filter", "-A FORWARD -o docker0 -p tcp --dport 22 -j DROP"),
            ("filter", "-A FORWARD -j FORWARD_direct"),
            // firewalld's zone rules for docker0 are firewalld's, not Docker's.
            ("filter", "-A FORWARD_ZONES -i docker0 -g FWD_docker"),
            // Docker's words in the wrong table are not Docker's.
            ("nat", "-A FORWARD -j DOCKER-USER"),
        ];
        for (t, r) in not_docker {
            assert!(!is_docker_rule_in_builtin(t, r), "{t}: {r}");
        }
    }

    #[test]
    fn docker_user_is_the_admins_chain() {
        assert!(is_dockers_own_chain("DOCKER") && is_dockers_own_chain("DOCKER-FORWARD") && is_dockers_own_chain("DOCKER-CT"));
        assert!(!is_dockers_own_chain("DOCKER-USER") && !is_dockers_own_chain("FORWARD"));
    }
}
