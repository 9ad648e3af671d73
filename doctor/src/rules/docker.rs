//! Docker daemon rules: docker-daemon-failed, ip-forwarding-disabled.

use super::{journal_since_last_start, reboot_step, unit_line};
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
    let journal = journal_since_last_start(&f.docker);
    let text = journal.join("\n");
    let causes = explain::classify(&text);
    let top = causes.iter().find(|c| c.code != codes::DOCKER_DAEMON_FAILED);
    let mut ev = vec![unit_line("docker.service", Some(u))];
    for l in journal {
        if l.contains("failed to start daemon") || l.contains("level=fatal") || l.contains("level=error") || l.contains("iptables v") || l.contains("modprobe:") {
            ev.push(format!("docker journal: {}", l.trim()));
        }
    }
    let stale = crate::rules::stale_kernel_evidence(f);
    // Facts beat phrases: the same iptables errors mean a stale kernel only
    // when the running kernel's module tree is really gone.
    let cause = if stale.is_some() {
        codes::STALE_KERNEL.to_string()
    } else if top.is_some_and(|c| c.code == codes::STALE_KERNEL) || !crate::rules::unavailable_modules(f).is_empty() {
        codes::KERNEL_MODULES_UNAVAILABLE.to_string()
    } else {
        top.map(|c| c.code.clone()).unwrap_or_else(|| codes::UNKNOWN.to_string())
    };
    if let Some(c) = top {
        ev.push(format!("journal classified as {} (confidence {:.2}): {}", c.code, c.confidence, c.why.join("; ")));
    }
    let plan = if let Some(_s) = &stale {
        ev.push("the running kernel's module tree is gone: see stale-kernel".into());
        vec![reboot_step("dockerd cannot set up NAT until the kernel that matches the installed modules runs".into())]
    } else {
        vec![Step {
            command: "systemctl reset-failed docker; systemctl start docker".into(),
            why: format!("start dockerd again once the cause ({cause}) is dealt with; if it fails the same way, read `journalctl -u docker -n 50`"),
            disrupts: "nothing: dockerd is down already".into(),
            needs: Needs::Nothing,
        }]
    };
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
