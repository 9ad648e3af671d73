//! The doctor is a black box to the harness: scenarios run the `netdoctor`
//! binary (the workspace's own build by default, or any other via
//! `--doctor PATH`) and read its documented JSON. This lets a team validate a
//! new doctor build, or their own fix script, against every scenario.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `netdoctor check --format json`, the fields the harness relies on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    /// What the doctor found, most severe first.
    pub findings: Vec<Finding>,
    /// What its probe could not look at (then no incident means exit 3, no verdict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub could_not_look: Vec<String>,
}

impl CheckReport {
    /// Codes of incident and warning findings, sorted (info findings are not verdicts).
    pub fn verdict_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.severity != "info")
            .map(|f| f.code.clone())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// Stable code, e.g. `firewalld-flushed-chains`.
    pub code: String,
    /// `incident`, `warning` or `info`.
    pub severity: String,
    /// One line for people.
    pub title: String,
    /// The facts that convict.
    pub evidence: Vec<String>,
    /// The remediation plan.
    pub plan: Vec<PlanStep>,
}

/// One remediation step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanStep {
    /// The command to run on the target.
    pub command: String,
    /// Why it helps.
    pub why: String,
    /// What it disrupts.
    pub disrupts: String,
    /// What consent it needs: `nothing`, `yes` or `allow-reboot`.
    pub needs: String,
}

/// `netdoctor fix --apply --format json`, the fields the harness relies on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FixReport {
    /// Finding codes before the fix.
    pub before: Vec<String>,
    /// Commands applied, in order.
    pub applied: Vec<AppliedStep>,
    /// Steps that did not run, and why.
    pub skipped: Vec<SkippedStep>,
    /// Codes the fix made disappear.
    pub resolved: Vec<String>,
    /// Codes still present after the fix.
    pub remaining: Vec<String>,
    /// Whether the doctor says it rebooted the node (then the runner waits for it).
    pub rebooted: bool,
    /// Codes the doctor could not verify (after a reboot, or containers not back).
    pub unverified: Vec<String>,
    /// What the reader must know.
    pub note: Option<String>,
}

/// One step the fix did not run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkippedStep {
    /// The command.
    pub command: String,
    /// What it lacked: `yes`, `allow-reboot`, `earlier-failure`, …
    pub needs: String,
}

/// One applied command (its output goes to the transcript, not the snapshot).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppliedStep {
    /// The command.
    pub command: String,
    /// Its exit code.
    pub exit_code: i64,
}

/// One doctor invocation with everything it printed.
#[derive(Debug, Clone)]
pub struct DoctorRun {
    /// The command line, for the transcript.
    pub command: String,
    /// Exit code (-1 when killed).
    pub exit_code: i64,
    /// stdout (the JSON).
    pub stdout: String,
    /// stderr (the doctor's own diagnostics).
    pub stderr: String,
    /// How long it took.
    pub duration: Duration,
}

/// Runs `doctor ARGS… --target TARGET --format json` with a deadline.
pub async fn run(doctor: &Path, subcommand: &[&str], target: &str, timeout: Duration) -> Result<DoctorRun> {
    let mut args: Vec<String> = subcommand.iter().map(|s| s.to_string()).collect();
    args.extend(["--target".into(), target.into(), "--format".into(), "json".into()]);
    run_args(doctor, args, timeout).await
}

/// Runs `doctor ARGS…` exactly as given (saved facts: no target).
pub async fn run_args(doctor: &Path, args: Vec<String>, timeout: Duration) -> Result<DoctorRun> {
    let command = format!("{} {}", doctor.display(), args.join(" "));
    let started = Instant::now();
    let child = tokio::process::Command::new(doctor)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start the doctor `{}`; build it with `cargo build -p doctor` or pass --doctor PATH", doctor.display()))?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("`{command}` did not finish within {} s", timeout.as_secs()))??;
    Ok(DoctorRun {
        command,
        exit_code: out.status.code().map(i64::from).unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        duration: started.elapsed(),
    })
}

/// The `schema` numbers of the doctor's JSON this harness understands.
pub const KNOWN_SCHEMAS: &[u64] = &[1];

/// Parses the JSON a doctor printed, naming the command when it is not the
/// contract: its `schema` must be one this harness knows.
pub fn parse<T: for<'de> Deserialize<'de>>(run: &DoctorRun) -> Result<T> {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).with_context(|| {
        format!("`{}` (exit {}) did not print JSON; stderr: {}", run.command, run.exit_code, run.stderr.trim())
    })?;
    match v.get("schema").and_then(|s| s.as_u64()) {
        Some(n) if KNOWN_SCHEMAS.contains(&n) => {}
        other => bail!(
            "`{}` printed JSON of schema {}, but this harness knows schema {:?}: it cannot judge that doctor; \
             use a doctor of a known contract or update harness/src/doctor_cli.rs",
            run.command,
            other.map(|n| n.to_string()).unwrap_or_else(|| "(none)".into()),
            KNOWN_SCHEMAS
        ),
    }
    serde_json::from_value(v).with_context(|| {
        format!(
            "`{}` (exit {}) did not print the documented JSON; stderr: {}",
            run.command,
            run.exit_code,
            run.stderr.trim()
        )
    })
}

/// The workspace's own `netdoctor` (see [`crate::config::doctor_binary`]).
pub fn default_doctor() -> Result<PathBuf> {
    crate::config::doctor_binary()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_printing(stdout: &str) -> DoctorRun {
        DoctorRun { command: "netdoctor check".into(), exit_code: 0, stdout: stdout.into(), stderr: String::new(), duration: Duration::ZERO }
    }

    #[test]
    fn a_doctor_of_another_contract_is_refused_naming_both_schemas() {
        let ok: CheckReport = parse(&run_printing(r#"{"schema": 1, "findings": []}"#)).unwrap();
        assert!(ok.findings.is_empty());
        let e = format!("{:#}", parse::<CheckReport>(&run_printing(r#"{"schema": 7, "findings": []}"#)).unwrap_err());
        assert!(e.contains("schema 7") && e.contains("[1]"), "{e}");
        let e = format!("{:#}", parse::<CheckReport>(&run_printing(r#"{"findings": []}"#)).unwrap_err());
        assert!(e.contains("schema (none)"), "{e}");
    }
}
