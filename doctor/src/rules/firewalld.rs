//! Incident A: firewalld flushing Docker's chains, and the latent order problem.

use super::{journal_since_last_start, restart_docker_step, sources_read, unit_line, START_DOCKER};
use crate::facts::*;
use crate::finding::{codes, Finding, Needs, Severity, Step};

/// Seconds between two monotonic stamps, for evidence lines.
fn secs(us: u64) -> String {
    format!("{:.2}s", us as f64 / 1e6)
}

/// firewalld's and dockerd's start stamps when firewalld became active last.
fn start_order(f: &Facts) -> Option<(u64, u64)> {
    let fw = f.firewalld.unit.as_ref()?.active_enter_monotonic_us.filter(|v| *v > 0)?;
    let dk = f.docker.unit.as_ref()?.active_enter_monotonic_us.filter(|v| *v > 0)?;
    Some((fw, dk))
}

fn firewalld_line(f: &Facts) -> Option<String> {
    if !f.firewalld.is_running() {
        return None;
    }
    let mut s = format!(
        "firewalld {} is running, backend {} ({})",
        f.firewalld.version.as_deref().unwrap_or("(version unknown)"),
        f.firewalld.backend.as_deref().unwrap_or("unknown"),
        f.firewalld.backend_source.as_deref().unwrap_or("?")
    );
    if let Some((fw, dk)) = start_order(f) {
        let order = if fw > dk { "AFTER" } else { "before" };
        s.push_str(&format!(
            "; it became active {order} dockerd (monotonic {} vs dockerd {})",
            secs(fw),
            secs(dk)
        ));
    }
    Some(s)
}

/// Whether dockerd connected to firewalld when it started: it then
/// re-applies its rules after every reload or restart of firewalld (seen on
/// Docker 20.10 and 28.5), so firewalld's start order is harmless.
///
/// Positive evidence only, strongest first: Docker >= 28.1 says so itself
/// (`docker info`'s `FirewallBackend` driver `iptables+firewalld`); docker0
/// bound to firewalld's `docker` zone at run time (only a connected dockerd
/// puts it there, and again after each firewalld start); a `Firewalld: ...`
/// line dockerd logged since its last start. Their absence says "not
/// subscribed" only where dockerd would have logged that line: its log
/// level shows info messages and the journal reaches back to its last start.
/// Otherwise (`log-level: warn`, a rotated or volatile journal): `None`,
/// "cannot tell", never "not subscribed".
fn docker_subscribed(f: &Facts) -> (Option<bool>, String) {
    if let Some(b) = &f.docker.firewall_backend {
        return (Some(b.subscribed_to_firewalld()), b.evidence());
    }
    if docker0_zone(f).as_deref() == Some("docker") {
        return (Some(true), "docker0 is bound to firewalld's `docker` zone: dockerd connected to firewalld".into());
    }
    let is_fw = |l: &String| l.contains("msg=\"Firewalld:") || l.contains("\"msg\":\"Firewalld:");
    let is_start = |l: &String| l.contains("Starting docker") || l.contains("Starting Docker");
    // The markers cover the whole boot; the journal tail may not reach the start.
    let since_start = f
        .docker
        .journal_markers
        .as_deref()
        .and_then(|m| m.iter().rposition(is_start).map(|i| &m[i..]))
        .or_else(|| {
            let j = &f.docker.journal;
            j.iter().rposition(is_start).map(|i| &j[i..])
        });
    let Some(lines) = since_start else {
        return (None, "dockerd's journal does not reach back to its last start: cannot tell whether it connected to firewalld".into());
    };
    if lines.iter().any(is_fw) {
        return (Some(true), "dockerd logged `Firewalld: ...` since it started: it connected to firewalld".into());
    }
    match f.docker.log_level.as_deref() {
        Some(l @ ("warn" | "warning" | "error" | "fatal" | "panic")) => (
            None,
            format!("dockerd logs at level {l}, which hides its `Firewalld:` info lines: cannot tell whether it connected to firewalld"),
        ),
        _ => (Some(false), "dockerd logged no `Firewalld:` message since it started: it never connected to firewalld".into()),
    }
}

/// firewalld (iptables backend) became active after dockerd, which is not subscribed.
fn unsubscribed_late_firewalld(f: &Facts) -> bool {
    f.firewalld.is_running()
        && f.firewalld.uses_iptables_backend()
        && start_order(f).is_some_and(|(fw, dk)| fw > dk)
        && docker_subscribed(f).0 == Some(false)
}

/// Whether Docker's chains are missing from the backend `iptables` uses
/// because they were flushed: gone from every backend, or firewalld's late
/// start explains the absence (copies elsewhere are then stale leftovers).
pub(crate) fn flushed(f: &Facts) -> bool {
    if !f.docker.is_running() || !f.docker.manages_iptables {
        return false;
    }
    let Some(cur) = f.iptables.current_backend else { return false };
    // Judge only on known facts: the backend `iptables` uses must have been read.
    let Some(rules) = f.iptables.rules(cur) else { return false };
    if rules.has_docker_chains() {
        return false;
    }
    f.iptables.backends_with_docker_chains().is_empty() || unsubscribed_late_firewalld(f)
}

/// Docker's major version (`28.5.2+dfsg4` -> 28).
fn docker_major(f: &Facts) -> Option<u32> {
    f.docker.version.as_deref()?.split('.').next()?.parse().ok()
}

/// The chains this dockerd writes, named as they are on its version:
/// 28.x adds `DOCKER-BRIDGE`, `DOCKER-CT` and `DOCKER-FORWARD` to 20.10's
/// layout (26.x and 27.x still have 20.10's).
fn expected_chains(f: &Facts) -> &'static str {
    match docker_major(f) {
        Some(m) if m >= 28 => "nat DOCKER, filter DOCKER/DOCKER-BRIDGE/DOCKER-CT/DOCKER-FORWARD/DOCKER-ISOLATION-STAGE-1/DOCKER-ISOLATION-STAGE-2/DOCKER-USER",
        Some(_) => "nat DOCKER, filter DOCKER/DOCKER-ISOLATION-STAGE-1/DOCKER-ISOLATION-STAGE-2/DOCKER-USER",
        None => "nat DOCKER, filter DOCKER/DOCKER-USER/DOCKER-ISOLATION-* and, on 28.x, DOCKER-BRIDGE/DOCKER-CT/DOCKER-FORWARD",
    }
}

/// FORWARD's jumps into Docker's chains (20.10-27.x: `DOCKER-USER`,
/// `DOCKER-ISOLATION-STAGE-1`, `-o docker0 -j DOCKER`; 28.x: `DOCKER-USER`
/// then `DOCKER-FORWARD`), as they are in the backend `iptables` uses: the
/// flush removes them too, so without them no container traffic is filtered
/// the Docker way even once the chains come back by hand.
fn forward_jumps_line(f: &Facts, cur: Backend) -> Option<String> {
    let r = f.iptables.rules(cur)?;
    let jumps: Vec<&str> = r
        .tables
        .get("filter")?
        .rules
        .iter()
        .filter(|l| l.starts_with("-A FORWARD ") && l.split_whitespace().skip_while(|w| *w != "-j").nth(1).is_some_and(is_docker_chain))
        .map(String::as_str)
        .collect();
    let want = match docker_major(f) {
        Some(m) if m >= 28 => "DOCKER-USER, then DOCKER-FORWARD",
        Some(_) => "DOCKER-USER, DOCKER-ISOLATION-STAGE-1, DOCKER",
        None => "DOCKER-USER and Docker's others",
    };
    Some(if jumps.is_empty() {
        format!("{} filter FORWARD has no jump to Docker's chains (dockerd {} writes {want})", r.tool, f.docker.version.as_deref().unwrap_or("(version unknown)"))
    } else {
        format!("{} filter FORWARD still jumps to Docker's chains: {}", r.tool, jumps.join("; "))
    })
}

/// firewalld-flushed-chains (or docker-chains-flushed when firewalld did
/// not do it): dockerd runs but its chains are gone.
pub fn flushed_chains(f: &Facts) -> Option<Finding> {
    if !flushed(f) {
        return None;
    }
    let cur = f.iptables.current_backend?;
    let mut ev = vec![unit_line("docker.service", f.docker.unit.as_ref())];
    let elsewhere = f.iptables.rules(cur.other()).filter(|r| r.has_docker_chains());
    match elsewhere {
        None => ev.push(format!("Docker's chains ({}) are absent from {}", expected_chains(f), sources_read(f))),
        Some(r) => {
            ev.push(format!(
                "Docker's chains are absent from {}, the backend `iptables` uses",
                f.iptables.rules(cur).map(|r| r.tool.as_str()).unwrap_or("?")
            ));
            ev.push(format!("stale copies from an earlier backend remain in {}: {}", r.tool, r.docker_chains().join(", ")));
        }
    }
    ev.extend(forward_jumps_line(f, cur));
    ev.extend(firewalld_line(f));
    ev.extend(f.docker.firewall_backend.as_ref().map(DockerFirewallBackend::evidence));
    for l in journal_since_last_start(&f.docker) {
        if l.contains("No chain/target/match by that name") {
            ev.push(format!("docker journal: {}", l.trim()));
        }
    }
    let flusher = who_flushed(f);
    let why = if f.firewalld.is_running() {
        "dockerd recreates its chains and every running container's DNAT rules at start, and, with firewalld already running, subscribes to firewalld's reloads"
    } else {
        "dockerd recreates its chains and every running container's DNAT rules at start"
    };
    let mut plan = vec![restart_docker_step(f, why)];
    if elsewhere.is_some() {
        // dockerd's restart rebuilds its chains in `cur`; the admin's
        // DOCKER-USER rules of the stale copy move there first.
        plan.extend(super::backend::stale_backend_steps(&f.iptables, cur.other(), cur));
    }
    // Who removed them: a code names the cause the evidence supports.
    let (code, title) = match flusher {
        Flusher::Firewalld => (
            codes::FIREWALLD_FLUSHED_CHAINS,
            "Docker's iptables chains were flushed (firewalld started or reloaded after dockerd): `docker run -p` fails with `No chain/target/match by that name`".to_string(),
        ),
        Flusher::FirewalldStopped(line) => {
            ev.push(line);
            (
                codes::FIREWALLD_FLUSHED_CHAINS,
                "Docker's iptables chains were flushed (firewalld was stopped after dockerd started; its stop clears the tables): `docker run -p` fails with `No chain/target/match by that name`".to_string(),
            )
        }
        Flusher::Other(lines) => {
            ev.extend(lines);
            (
                codes::DOCKER_CHAINS_FLUSHED,
                "Docker's iptables chains are gone and firewalld did not remove them (not running since before dockerd started): another tool or a person flushed the ruleset; `docker run -p` fails with `No chain/target/match by that name`".to_string(),
            )
        }
    };
    Some(Finding { code: code.into(), severity: Severity::Incident, title, evidence: ev, plan })
}

/// Who removed Docker's chains, as far as the facts show.
enum Flusher {
    /// firewalld runs: its start or reload did (the classic incident A).
    Firewalld,
    /// firewalld is down, but it stopped after dockerd started: its stop did.
    FirewalldStopped(String),
    /// Not firewalld: what the facts say about the other candidates.
    Other(Vec<String>),
}

fn who_flushed(f: &Facts) -> Flusher {
    // Running, or unknown (no systemctl): the classic cause stays the guess.
    let Some(fw) = f.firewalld.unit.as_ref().filter(|_| !f.firewalld.is_running()) else {
        return Flusher::Firewalld;
    };
    let dk = f.docker.unit.as_ref().and_then(|u| u.active_enter_monotonic_us).filter(|v| *v > 0);
    let stopped = fw.inactive_enter_monotonic_us.filter(|v| *v > 0);
    let fw_started = fw.active_enter_monotonic_us.filter(|v| *v > 0);
    if let (Some(stop), Some(dk)) = (stopped, dk)
        && stop > dk
        && fw_started.is_some()
    {
        return Flusher::FirewalldStopped(format!(
            "firewalld is stopped; it stopped AFTER dockerd started (monotonic {} vs dockerd {}), and stopping firewalld clears the tables it managed",
            secs(stop),
            secs(dk)
        ));
    }
    let mut lines = vec![if fw.is_installed() {
        format!("firewalld.service is {} and has not run since dockerd started", fw.active_state.as_deref().unwrap_or("inactive"))
    } else {
        "firewalld is not installed".to_string()
    }];
    let later: Vec<String> = f
        .ruleset_services
        .iter()
        .filter(|s| s.unit.is_active() && dk.is_some_and(|d| s.unit.active_enter_monotonic_us.is_some_and(|a| a > d)))
        .map(|s| s.id.clone())
        .collect();
    if later.is_empty() {
        lines.push("no ruleset service (nftables, netfilter-persistent, iptables, ufw) started after dockerd: the cause is not in the facts (a manual `iptables -F` / `nft flush ruleset`, an iptables-restore of a saved file, a script?)".into());
    } else {
        lines.push(format!("started after dockerd and loads a whole ruleset: {}", later.join(", ")));
    }
    Flusher::Other(lines)
}

/// firewalld-started-after-docker: latent, the next firewalld reload flushes.
pub fn started_after_docker(f: &Facts) -> Option<Finding> {
    if !f.docker.is_running() || !f.docker.manages_iptables || !f.firewalld.is_running() {
        return None;
    }
    if !f.firewalld.uses_iptables_backend() {
        return None; // the nftables backend keeps to its own table
    }
    let (fw, dk) = start_order(f)?;
    // Unknown subscription (quiet log, no journal): do not cry wolf.
    let (subscribed, not_subscribed) = docker_subscribed(f);
    if fw <= dk || subscribed != Some(false) {
        return None; // dockerd started with firewalld up: it is subscribed to reloads
    }
    if flushed(f) {
        return None; // already flushed: firewalld-flushed-chains says so
    }
    Some(Finding {
        code: codes::FIREWALLD_STARTED_AFTER_DOCKER.into(),
        severity: Severity::Warning,
        title: "firewalld (iptables backend) started after dockerd: Docker is not subscribed to its reloads, the next reload or restart flushes Docker's chains".into(),
        evidence: vec![
            firewalld_line(f).unwrap_or_default(),
            unit_line("docker.service", f.docker.unit.as_ref()),
            format!(
                "firewalld.service became active {} after docker.service",
                secs(fw - dk)
            ),
            not_subscribed,
        ],
        plan: vec![restart_docker_step(
            f,
            "a dockerd started while firewalld runs registers with firewalld over D-Bus and re-applies its rules after every reload",
        )],
    })
}

/// dockerd's network store (networks, endpoints, the default bridge).
const STORE: &str = "/var/lib/docker/network/files/local-kv.db";

/// The firewalld zone `docker0` is bound to at run time, from the active
/// zones (`trusted: interfaces=docker0 …`); `None` when firewalld is not
/// running, its zones were not read, or docker0 is in none.
fn docker0_zone(f: &Facts) -> Option<String> {
    if !f.firewalld.is_running() {
        return None;
    }
    f.firewalld.active_zones.as_ref()?.iter().find_map(|z| {
        let (zone, rest) = z.split_once(':')?;
        let bound = rest.split_whitespace().any(|w| w.trim_start_matches("interfaces=").trim_end_matches(';').split(',').any(|i| i == "docker0"));
        bound.then(|| zone.trim().to_string())
    })
}

/// The firewalld zone other than `docker` that `docker0` is bound to.
pub(crate) fn docker0_foreign_zone(f: &Facts) -> Option<String> {
    docker0_zone(f).filter(|z| z != "docker")
}

/// firewalld-zone-conflict: `docker0` is bound to another firewalld zone,
/// so dockerd, which puts it into the `docker` zone at start, fails with
/// `ZONE_CONFLICT` (an incident once it has; latent until its next start).
pub fn zone_conflict(f: &Facts) -> Option<Finding> {
    let zone = docker0_foreign_zone(f)?;
    // What dockerd's last start said; else the tail's last word on it (a
    // later start may have failed otherwise and need not repeat it).
    let conflict = |l: &&String| l.contains("ZONE_CONFLICT");
    let mut said: Vec<&String> = journal_since_last_start(&f.docker).iter().filter(conflict).collect();
    if said.is_empty() {
        said.extend(f.docker.journal.iter().rfind(conflict));
    }
    let said: Vec<String> = said.into_iter().map(|l| format!("docker journal: {}", l.trim())).collect();
    let failed = !said.is_empty() && !f.docker.is_running();
    let mut ev = vec![
        format!("firewalld's active zones bind docker0 to `{zone}`, not to `docker` (dockerd adds docker0 to `docker` at every start)"),
        unit_line("docker.service", f.docker.unit.as_ref()),
    ];
    ev.extend(firewalld_line(f));
    ev.extend(said);
    let mut plan = vec![Step {
        command: format!("firewall-cmd --permanent --zone={zone} --remove-interface=docker0 && firewall-cmd --zone={zone} --remove-interface=docker0"),
        why: format!("unbind docker0 from `{zone}` (permanently and now) so dockerd can put it into the `docker` zone"),
        disrupts: format!("docker0's traffic stops being handled by zone `{zone}`'s rules, which someone chose: check why it was bound there"),
        needs: Needs::Yes,
    }];
    if failed {
        plan.push(Step {
            // Docker 26.1 half-creates the default bridge when a start fails
            // on ZONE_CONFLICT (moby#52642): the next start fails on that
            // stale network in its store. Only then is the store set aside.
            command: format!(
                "{START_DOCKER} || {{ journalctl -u docker -n 20 --no-pager -o cat | grep -q 'networks have same bridge name' && mv {STORE} {STORE}.netdoctor-$(date +%s) && systemctl reset-failed docker && systemctl start docker; }}"
            ),
            why: "start dockerd again now that docker0 can join the `docker` zone; if that start fails on a stale default bridge in dockerd's network store (`networks have same bridge name`: Docker 26.1 leaves one after a start failed on ZONE_CONFLICT, moby#52642), set the store aside and start once more".into(),
            disrupts: "nothing while dockerd is down; only if the store is set aside: user-defined networks must be created again (`docker compose up` does), the old store stays beside it as local-kv.db.netdoctor-TIME".into(),
            needs: Needs::Yes,
        });
    }
    Some(Finding {
        code: codes::FIREWALLD_ZONE_CONFLICT.into(),
        severity: if failed { Severity::Incident } else { Severity::Warning },
        title: if failed {
            format!("dockerd fails to start: docker0 is bound to firewalld zone `{zone}` (ZONE_CONFLICT)")
        } else {
            format!("docker0 is bound to firewalld zone `{zone}`: dockerd's next start fails with ZONE_CONFLICT")
        },
        evidence: ev,
        plan,
    })
}
