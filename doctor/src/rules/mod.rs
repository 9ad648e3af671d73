//! Rules: pure functions from [`Facts`] to findings. Each file holds one
//! incident family; [`analyse`] runs them all and applies precedence.

use crate::facts::*;
use crate::finding::{Finding, Needs, Step};

pub(crate) mod backend;
mod docker;
pub(crate) mod firewalld;
mod kernel;
pub(crate) mod ports;

pub use backend::{carry_over_commands, cleanup_commands, wrappers_choice};
pub use kernel::stale_kernel_evidence;
pub(crate) use kernel::unavailable_modules;

/// Every finding for these facts, incidents first.
pub fn analyse(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let stale = kernel::stale_kernel(f);
    // A stale kernel makes iptables-nft and iptables-legacy both fail: those
    // are symptoms, not backend or firewalld problems, so they are not
    // judged. But where netfilter still works (its modules were loaded
    // before the purge: dockerd runs and the rules read), a missing chain is
    // no symptom of the kernel: one finding must not hide an unrelated one.
    let netfilter_works = f.docker.is_running() && f.iptables.current_backend.is_some_and(|b| f.iptables.rules(b).is_some());
    let kernel_blamed = stale.is_some() && !netfilter_works;
    out.extend(stale);
    out.extend(kernel::reboot_pending(f));
    out.extend(firewalld::zone_conflict(f));
    out.extend(docker::daemon_failed(f));
    if !kernel_blamed {
        out.extend(kernel::modules_unavailable(f));
        out.extend(firewalld::flushed_chains(f));
        out.extend(firewalld::started_after_docker(f));
        out.extend(backend::mismatch(f));
        out.extend(backend::kubelet_split(f));
        out.extend(ports::published_without_rule(f));
    }
    out.extend(ports::already_allocated(f));
    out.extend(docker::ip_forwarding_disabled(f));
    out.sort_by_key(|x| (x.severity, crate::finding::codes::ALL.iter().position(|c| *c == x.code)));
    out
}

/// Journal lines of dockerd's latest start attempt (after the last "Starting").
pub(crate) fn journal_since_last_start(d: &Docker) -> &[String] {
    let start = d
        .journal
        .iter()
        .rposition(|l| l.contains("Starting docker") || l.contains("Starting Docker Application Container Engine"))
        .unwrap_or(0);
    &d.journal[start..]
}

/// How many containers run, from the inspected list and `docker info`
/// (the larger when both are known); `None` when neither could be read.
pub(crate) fn running_count(d: &Docker) -> Option<usize> {
    let listed = d.containers.as_ref().map(|c| c.len());
    let counted = d.containers_running.map(|n| n as usize);
    listed.max(counted)
}

/// Starts a dockerd that is down (a failed unit first needs its failure reset).
pub(crate) const START_DOCKER: &str = "systemctl reset-failed docker; systemctl start docker";

/// Start a dockerd that is down, once `why` (its cause) is dealt with.
pub(crate) fn start_docker_step(why: String) -> Step {
    Step {
        command: START_DOCKER.into(),
        why,
        disrupts: "nothing: dockerd is down already".into(),
        needs: Needs::Nothing,
    }
}

/// How long a restart that stops containers takes, and what follows it.
const STOP_TIME: &str = ": each gets up to its stop timeout (10 s by default) to exit before SIGKILL, so the step can take that long plus dockerd's start; only those with a restart policy start again, and `fix --apply` waits up to the stop timeout + 30 s for them before judging";

/// The step that restarts dockerd, with what it disrupts for these facts.
/// An unknown container count needs consent, as if containers ran.
pub(crate) fn restart_docker_step(f: &Facts, why: &str) -> Step {
    let live = f.docker.live_restore == Some(true);
    let (disrupts, needs) = match running_count(&f.docker) {
        _ if live => ("dockerd restarts; containers keep running (live-restore is on)".to_string(), Needs::Nothing),
        Some(0) => ("dockerd restarts; no container is running".to_string(), Needs::Nothing),
        Some(n) => (format!("stops the {n} running container(s){STOP_TIME}"), Needs::Yes),
        None => (format!("stops every running container (how many run could not be read){STOP_TIME}"), Needs::Yes),
    };
    Step { command: "systemctl restart docker".into(), why: why.into(), disrupts, needs }
}

/// The reboot, 3 s from now, by a transient systemd timer: the command
/// returns 0 and its answer travels back before the host goes down. With
/// `systemctl --no-block reboot` it was a race whether the transport got the
/// exit code (0) or the dropped connection (255) first: seen both on the
/// same VM scenario. `systemd-run --on-active` exists since systemd 218
/// (CentOS 7 has 219).
const REBOOT_COMMAND: &str = "systemd-run --on-active=3 systemctl reboot";

/// The reboot step (issued by a timer, so the transport does not hang).
pub(crate) fn reboot_step(why: String) -> Step {
    Step {
        command: REBOOT_COMMAND.into(),
        why,
        disrupts: "the whole host reboots: every container and service restarts".into(),
        needs: Needs::AllowReboot,
    }
}

/// `docker.service: active (running)` style summary of a unit.
pub(crate) fn unit_line(name: &str, u: Option<&Unit>) -> String {
    match u {
        None => format!("{name}: state unknown (systemctl missing)"),
        Some(u) => format!(
            "{name}: {} ({}), result {}",
            u.active_state.as_deref().unwrap_or("?"),
            u.sub_state.as_deref().unwrap_or("?"),
            u.result.as_deref().unwrap_or("?")
        ),
    }
}

/// Names of the rule sources read for IPv4 (`iptables-nft-save`, ...).
pub(crate) fn sources_read(f: &Facts) -> String {
    let v: Vec<&str> = [Backend::Nft, Backend::Legacy]
        .iter()
        .filter_map(|b| f.iptables.rules(*b).map(|r| r.tool.as_str()))
        .collect();
    if v.is_empty() { "no readable iptables-save".into() } else { v.join(" and ") }
}
