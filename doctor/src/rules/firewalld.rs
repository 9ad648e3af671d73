//! Incident A: firewalld flushing Docker's chains, and the latent order problem.

use super::{journal_since_last_start, restart_docker_step, sources_read, unit_line};
use crate::facts::*;
use crate::finding::{codes, Finding, Severity};

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

/// firewalld-flushed-chains: dockerd runs but its chains are in no backend.
pub fn flushed_chains(f: &Facts) -> Option<Finding> {
    if !f.docker.is_running() || !f.docker.manages_iptables {
        return None;
    }
    let cur = f.iptables.current_backend?;
    // Judge only on known facts: the backend `iptables` uses must have been read.
    f.iptables.rules(cur)?;
    if !f.iptables.backends_with_docker_chains().is_empty() {
        return None;
    }
    let mut ev = vec![
        unit_line("docker.service", f.docker.unit.as_ref()),
        format!(
            "Docker's chains (nat DOCKER, filter DOCKER/DOCKER-USER/DOCKER-ISOLATION-*) are absent from {}",
            sources_read(f)
        ),
    ];
    ev.extend(firewalld_line(f));
    for l in journal_since_last_start(&f.docker) {
        if l.contains("No chain/target/match by that name") {
            ev.push(format!("docker journal: {}", l.trim()));
        }
    }
    Some(Finding {
        code: codes::FIREWALLD_FLUSHED_CHAINS.into(),
        severity: Severity::Incident,
        title: "Docker's iptables chains were flushed (firewalld started or reloaded after dockerd): `docker run -p` fails with `No chain/target/match by that name`".into(),
        evidence: ev,
        plan: vec![restart_docker_step(
            f,
            "dockerd recreates its chains and every running container's DNAT rules at start, and, with firewalld already running, subscribes to firewalld's reloads",
        )],
    })
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
    if fw <= dk {
        return None; // dockerd started with firewalld up: it is subscribed to reloads
    }
    if f.iptables.backends_with_docker_chains().is_empty() {
        return None; // already flushed: firewalld-flushed-chains says so
    }
    // dockerd talks to firewalld (and logs `Firewalld: ...`) only when it
    // connected at start; then it re-applies its rules after every reload or
    // restart of firewalld (seen on Docker 20.10), so the order is harmless.
    let subscribed: Vec<&String> =
        journal_since_last_start(&f.docker).iter().filter(|l| l.contains("msg=\"Firewalld:")).collect();
    if !subscribed.is_empty() {
        return None;
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
            "dockerd logged no `Firewalld:` message since it started: it never connected to firewalld".into(),
        ],
        plan: vec![restart_docker_step(
            f,
            "a dockerd started while firewalld runs registers with firewalld over D-Bus and re-applies its rules after every reload",
        )],
    })
}
