//! Apply a plan through the transport, then re-collect and report which
//! findings are gone. Steps run in order; the first failing step stops the
//! run (later steps may depend on it). Re-running on a healed host finds
//! nothing and runs nothing: fixes are idempotent by construction.

use crate::facts::SCHEMA;
use crate::finding::{merged_plan, Finding, Needs, Severity};
use crate::transport::Transport;
use crate::{collect, Error};
use serde::Serialize;

/// Consent given on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consent {
    /// `--yes`: steps that stop running containers may run.
    pub yes: bool,
    /// `--allow-reboot`: a reboot step may run.
    pub allow_reboot: bool,
}

/// A step that ran.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The command.
    pub command: String,
    /// Its exit code.
    pub exit_code: i32,
    /// stdout and stderr, trimmed.
    pub output: String,
}

/// A step that did not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The command.
    pub command: String,
    /// `yes` or `allow-reboot`: the flag it lacked; `earlier-failure` otherwise.
    pub needs: String,
    /// Human reason.
    pub reason: String,
}

/// `fix --apply --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct FixReport {
    /// Layout version (1).
    pub schema: u32,
    /// Target.
    pub target: String,
    /// Finding codes before the fix.
    pub before: Vec<String>,
    /// Steps that ran.
    pub applied: Vec<Applied>,
    /// Steps that did not run.
    pub skipped: Vec<Skipped>,
    /// Finding codes after re-collecting (empty when a reboot was issued).
    pub after: Vec<String>,
    /// Codes gone after the fix.
    pub resolved: Vec<String>,
    /// Codes still there after the fix.
    pub remaining: Vec<String>,
    /// Whether a reboot was issued (then nothing was re-collected).
    pub rebooted: bool,
    /// Codes not verified because of the reboot.
    pub unverified: Vec<String>,
    /// Anything the reader must know (reboot issued, step failed, consent missing).
    pub note: Option<String>,
    /// Exit code of `fix --apply`: 0 all incidents resolved, 2 some remain.
    #[serde(skip)]
    pub exit_code: i32,
}

fn codes_of(f: &[Finding]) -> Vec<String> {
    f.iter().map(|x| x.code.clone()).collect()
}

/// Run the plan for `findings` on `t`, re-collect, and compare.
pub fn apply(t: &Transport, findings: &[Finding], consent: Consent) -> Result<FixReport, Error> {
    let mut r = FixReport {
        schema: SCHEMA,
        target: t.to_string(),
        before: codes_of(findings),
        applied: vec![],
        skipped: vec![],
        after: vec![],
        resolved: vec![],
        remaining: vec![],
        rebooted: false,
        unverified: vec![],
        note: None,
        exit_code: 0,
    };
    let mut notes = Vec::new();
    let mut failed = false;
    for s in merged_plan(findings) {
        if failed {
            r.skipped.push(Skipped { command: s.command, needs: "earlier-failure".into(), reason: "an earlier step failed".into() });
            continue;
        }
        match s.needs {
            Needs::Yes if !consent.yes => {
                r.skipped.push(Skipped {
                    command: s.command,
                    needs: "yes".into(),
                    reason: format!("{}: run again with --yes to allow it", s.disrupts),
                });
                continue;
            }
            Needs::AllowReboot if !consent.allow_reboot => {
                r.skipped.push(Skipped {
                    command: s.command,
                    needs: "allow-reboot".into(),
                    reason: "a reboot is never implied: run again with --allow-reboot".into(),
                });
                continue;
            }
            _ => {}
        }
        let out = t.run(&format!("{}\n", s.command))?;
        let output = format!("{}{}", out.stdout, out.stderr).trim().to_string();
        if s.needs == Needs::AllowReboot {
            // The connection may drop as the host goes down: not a failure.
            r.applied.push(Applied { command: s.command, exit_code: out.code, output });
            r.rebooted = true;
            break;
        }
        failed = out.code != 0;
        if failed {
            notes.push(format!("step `{}` failed with exit {}; later steps were not run", s.command, out.code));
        }
        r.applied.push(Applied { command: s.command, exit_code: out.code, output });
    }
    if !r.skipped.is_empty() && r.skipped.iter().any(|s| s.needs != "earlier-failure") {
        notes.push("some steps need consent: see skipped".into());
    }
    if r.rebooted {
        r.unverified = r.before.clone();
        notes.push(format!(
            "reboot issued; re-collect skipped: verify after the node comes back with `netdoctor check --target {t}`"
        ));
        r.exit_code = 0;
    } else {
        let after = crate::rules::analyse(&collect(t)?);
        r.after = codes_of(&after);
        r.resolved = r.before.iter().filter(|c| !r.after.contains(c)).cloned().collect();
        r.remaining = r.before.iter().filter(|c| r.after.contains(c)).cloned().collect();
        let incidents_left = after.iter().any(|f| f.severity == Severity::Incident);
        r.exit_code = if incidents_left { 2 } else { 0 };
    }
    if !notes.is_empty() {
        r.note = Some(notes.join("; "));
    }
    Ok(r)
}
