//! Findings (what is wrong, with evidence) and their remediation plans.

use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is broken now.
    Incident,
    /// Not broken yet, or a past failure worth knowing.
    Warning,
    /// For the record.
    Info,
}

/// What a step needs before `fix --apply` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Needs {
    /// Runs with plain `--apply`.
    #[serde(rename = "nothing")]
    Nothing,
    /// Stops running containers: needs `--yes`.
    #[serde(rename = "yes")]
    Yes,
    /// Reboots the host: needs `--allow-reboot`.
    #[serde(rename = "allow-reboot")]
    AllowReboot,
}

/// One remediation step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Shell command run on the target.
    pub command: String,
    /// Why this step cures the finding.
    pub why: String,
    /// What it interrupts ("nothing" when harmless).
    pub disrupts: String,
    /// Consent it needs.
    pub needs: Needs,
}

/// A diagnosed problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code (`firewalld-flushed-chains`, ...).
    pub code: String,
    /// Incident, warning or info.
    pub severity: Severity,
    /// One-line title.
    pub title: String,
    /// The facts that convict, one per line.
    pub evidence: Vec<String>,
    /// Steps that cure it, in order.
    pub plan: Vec<Step>,
}

/// The stable finding codes, as documented in the README.
pub mod codes {
    /// Docker's chains are gone from every iptables backend.
    pub const FIREWALLD_FLUSHED_CHAINS: &str = "firewalld-flushed-chains";
    /// firewalld (iptables backend) started after dockerd: next reload flushes.
    pub const FIREWALLD_STARTED_AFTER_DOCKER: &str = "firewalld-started-after-docker";
    /// Docker's rules live in the backend `iptables` does not point at.
    pub const IPTABLES_BACKEND_MISMATCH: &str = "iptables-backend-mismatch";
    /// The running kernel's modules are gone or replaced.
    pub const STALE_KERNEL: &str = "stale-kernel";
    /// A needed netfilter feature is neither built in, loaded nor loadable.
    pub const KERNEL_MODULES_UNAVAILABLE: &str = "kernel-modules-unavailable";
    /// A newer kernel is installed and not yet running.
    pub const REBOOT_PENDING: &str = "reboot-pending";
    /// A running container publishes a port that has no DNAT rule.
    pub const PUBLISHED_PORT_WITHOUT_RULE: &str = "published-port-without-rule";
    /// A publish failed because the host port was taken.
    pub const PORT_ALREADY_ALLOCATED: &str = "port-already-allocated";
    /// net.ipv4.ip_forward=0 while Docker runs.
    pub const IP_FORWARDING_DISABLED: &str = "ip-forwarding-disabled";
    /// The docker unit failed.
    pub const DOCKER_DAEMON_FAILED: &str = "docker-daemon-failed";
    /// Docker's chains or rules were removed by something other than
    /// firewalld (iptables-restore, `flush ruleset`, ufw, a manual flush).
    pub const DOCKER_CHAINS_FLUSHED: &str = "docker-chains-flushed";
    /// `docker0` is bound to another firewalld zone (`ZONE_CONFLICT`).
    pub const FIREWALLD_ZONE_CONFLICT: &str = "firewalld-zone-conflict";
    /// kubelet's hint chains are in the backend Docker's rules are not in.
    pub const KUBELET_BACKEND_SPLIT: &str = "kubelet-backend-split";
    /// explain: nothing matched.
    pub const UNKNOWN: &str = "unknown";
    /// Every code a rule can emit.
    pub const ALL: &[&str] = &[
        FIREWALLD_FLUSHED_CHAINS,
        DOCKER_CHAINS_FLUSHED,
        FIREWALLD_STARTED_AFTER_DOCKER,
        IPTABLES_BACKEND_MISMATCH,
        STALE_KERNEL,
        KERNEL_MODULES_UNAVAILABLE,
        REBOOT_PENDING,
        PUBLISHED_PORT_WITHOUT_RULE,
        PORT_ALREADY_ALLOCATED,
        IP_FORWARDING_DISABLED,
        DOCKER_DAEMON_FAILED,
        FIREWALLD_ZONE_CONFLICT,
        KUBELET_BACKEND_SPLIT,
    ];
    /// Every code `explain` can name (all of them), in the order ties are broken.
    pub fn explain_codes() -> impl Iterator<Item = &'static str> {
        ALL.iter().copied()
    }
}

/// Incident and warning counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of incident findings.
    pub incidents: usize,
    /// Number of warning findings.
    pub warnings: usize,
}

impl Summary {
    /// Count findings by severity.
    pub fn of(findings: &[Finding]) -> Summary {
        Summary {
            incidents: findings.iter().filter(|f| f.severity == Severity::Incident).count(),
            warnings: findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        }
    }
    /// `check`'s exit code when the probe could look at everything: 2
    /// incident, 1 warnings only, 0 healthy.
    pub fn exit_code(&self) -> i32 {
        if self.incidents > 0 {
            2
        } else if self.warnings > 0 {
            1
        } else {
            0
        }
    }
    /// `check`'s exit code: an incident found is 2 whatever could not be
    /// seen; otherwise a fact that could not be looked at makes it 3 ("could
    /// not look"), never 0 or 1.
    pub fn verdict_code(&self, could_not_look: &[String]) -> i32 {
        match self.exit_code() {
            2 => 2,
            _ if !could_not_look.is_empty() => 3,
            c => c,
        }
    }
}

/// A step of the merged plan, with the findings it serves and the steps it
/// depends on: the earlier steps of each of those findings' own plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedStep {
    /// The step (its first occurrence).
    pub step: Step,
    /// Codes of the findings whose plan holds this command.
    pub findings: Vec<String>,
    /// Commands that come before it in any of those plans: it runs only after them.
    pub depends_on: Vec<String>,
}

/// The steps of all findings in order, each command once, with the findings
/// each belongs to and what it depends on. A reboot goes last.
pub fn merged_steps(findings: &[Finding]) -> Vec<MergedStep> {
    let mut out: Vec<MergedStep> = Vec::new();
    for f in findings {
        for (i, s) in f.plan.iter().enumerate() {
            let earlier = f.plan[..i].iter().map(|e| e.command.clone());
            let m = match out.iter().position(|o| o.step.command == s.command) {
                Some(j) => &mut out[j],
                None => {
                    out.push(MergedStep { step: s.clone(), findings: vec![], depends_on: vec![] });
                    out.last_mut().expect("just pushed")
                }
            };
            if !m.findings.contains(&f.code) {
                m.findings.push(f.code.clone());
            }
            for e in earlier {
                if e != s.command && !m.depends_on.contains(&e) {
                    m.depends_on.push(e);
                }
            }
        }
    }
    // A reboot goes last: everything after it would be lost.
    out.sort_by_key(|m| m.step.needs == Needs::AllowReboot);
    out
}

/// The steps of all findings in order, each command once (see [`merged_steps`]).
pub fn merged_plan(findings: &[Finding]) -> Vec<Step> {
    merged_steps(findings).into_iter().map(|m| m.step).collect()
}
