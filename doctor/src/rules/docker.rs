//! Docker daemon rules: docker-daemon-failed, ip-forwarding-disabled.

use super::{journal_since_last_start, unit_line};
use crate::explain;
use crate::facts::*;
use crate::finding::{codes, Finding, Needs, Severity, Step};

/// docker-daemon-failed: the unit failed; its journal says why.
pub fn daemon_failed(f: &Facts) -> Option<Finding> {
    let u = f.docker.unit.as_ref()?;
    if !u.is_installed() {
        return None;
    }
    let failed = u.active_state.as_deref() == Some("failed")
        || u.sub_state.as_deref() == Some("auto-restart")
        || (u.active_state.as_deref() == Some("inactive") && u.result.as_deref().is_some_and(|r| r != "success"));
    if !failed {
        return None;
    }
    // A stale kernel explains the failure and `stale-kernel` already quotes
    // the journal: one finding with the one cure (a reboot), not two.
    if crate::rules::stale_kernel_evidence(f).is_some() {
        return None;
    }
    // Likewise docker0 bound to another firewalld zone: `firewalld-zone-conflict`
    // names the cause and its cure.
    if crate::rules::firewalld::docker0_foreign_zone(f).is_some() {
        return None;
    }
    let journal = journal_since_last_start(&f.docker);
    let text = journal.join("\n");
    let causes = explain::classify(&text);
    let top = causes.iter().find(|c| c.code != codes::DOCKER_DAEMON_FAILED);
    let mut ev = vec![unit_line("docker.service", Some(u))];
    for l in journal {
        // containerd's event stream closing while dockerd exits is the
        // exit's echo, not a cause (and it appears or not, by timing).
        if l.contains("msg=\"Failed to get event\"") && l.contains("transport is closing") {
            continue;
        }
        if l.contains("failed to start daemon") || l.contains("level=fatal") || l.contains("level=error") || l.contains("iptables v") || l.contains("modprobe:") {
            ev.push(format!("docker journal: {}", l.trim()));
        }
    }
    // A kernel-like journal without a stale kernel: the modules are
    // unavailable for another reason (a stale kernel returned above).
    let cause = if top.is_some_and(|c| c.code == codes::STALE_KERNEL) || !crate::rules::unavailable_modules(f).is_empty() {
        codes::KERNEL_MODULES_UNAVAILABLE.to_string()
    } else {
        top.map(|c| c.code.clone()).unwrap_or_else(|| codes::UNKNOWN.to_string())
    };
    if let Some(c) = top {
        ev.push(format!("journal classified as {} (confidence {:.2}): {}", c.code, c.confidence, c.why.join("; ")));
    }
    let plan = vec![super::start_docker_step(format!(
        "start dockerd again once the cause ({cause}) is dealt with; if it fails the same way, read `journalctl -u docker -n 50`"
    ))];
    Some(Finding {
        code: codes::DOCKER_DAEMON_FAILED.into(),
        severity: Severity::Incident,
        title: format!("docker.service failed to start; likely cause: {cause}"),
        evidence: ev,
        plan,
    })
}

/// ip-forwarding-disabled: Docker runs with net.ipv4.ip_forward=0.
pub fn ip_forwarding_disabled(f: &Facts) -> Option<Finding> {
    if !f.docker.is_running() || f.sysctl.ip_forward != Some(false) {
        return None;
    }
    Some(Finding {
        code: codes::IP_FORWARDING_DISABLED.into(),
        severity: Severity::Incident,
        title: "IPv4 forwarding is off: published ports and container egress do not work".into(),
        evidence: vec![
            "net.ipv4.ip_forward = 0 (/proc/sys/net/ipv4/ip_forward)".into(),
            unit_line("docker.service", f.docker.unit.as_ref()),
        ],
        plan: vec![Step {
            command: "sysctl -w net.ipv4.ip_forward=1".into(),
            why: "turn forwarding back on; then find what turned it off (grep -r ip_forward /etc/sysctl.conf /etc/sysctl.d) so a reboot does not undo it".into(),
            disrupts: "nothing".into(),
            needs: Needs::Nothing,
        }],
    })
}
