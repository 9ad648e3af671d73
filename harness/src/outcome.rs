//! What a scenario run returns: a report that reads like an incident write-up
//! (symptom, findings with evidence, plan, verification), serialisable for
//! snapshots, plus the full transcript of every command for the log file.

use crate::doctor_cli::{CheckReport, FixReport};
use crate::platform::NodeBackend;
use crate::scenario::{Expect, Stage};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// The result of one scenario on one platform and backend.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Scenario name.
    pub scenario: String,
    /// What happens, in one line.
    pub summary: String,
    /// Where the incident comes from.
    pub source: String,
    /// The node's platform label, e.g. `debian13-docker28` (or `centos7-emulated-docker20`).
    pub platform: String,
    /// The platform in one line: OS, Docker, firewalld and iptables versions.
    pub platform_versions: String,
    /// Container or VM.
    pub backend: NodeBackend,
    /// Every stage that ran, in order.
    pub stages: Vec<StageReport>,
    /// Every command that ran, for the transcript file (not snapshotted).
    #[serde(skip)]
    pub transcript: Transcript,
    /// Values this run's node defines that differ run to run (its doctor
    /// target, name, address, kernels), with their placeholders: the outcome
    /// keeps the real values, [`Outcome::redacted`] replaces them.
    #[serde(skip)]
    pub drifting: Vec<(String, &'static str)>,
}

/// A probe's result in snapshots when packets were dropped or rejected
/// without a TCP reset (see [`Outcome::redacted`]).
pub const DROPPED: &str = "no answer (timed out or host unreachable)";

impl Outcome {
    /// The report of one stage, if it ran.
    pub fn stage(&self, stage: Stage) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// A copy for snapshots: everything that drifts between runs (the
    /// node's own values, then ids, times, pids; see [`crate::redact`]) is
    /// replaced by a placeholder in the evidence, the findings and the fix
    /// reports. What the test is about stays verbatim.
    pub fn redacted(&self) -> Outcome {
        let known: Vec<(&str, &str)> = self.drifting.iter().map(|(v, p)| (v.as_str(), *p)).collect();
        let r = |s: &str| crate::redact::redact(s, &known);
        let mut o = self.clone();
        for step in o.stages.iter_mut().flat_map(|st| st.steps.iter_mut()) {
            // A probe that got no answer: whether the last of its bounded
            // retries timed out or drew an ICMP unreachable varies run to
            // run (seen on Docker 28); a reset is another matter and stays.
            if step.result.starts_with("no answer (") && step.result != "no answer (connection refused)" {
                step.result = DROPPED.to_string();
            }
            let mut evidence: Vec<String> = Vec::new();
            for l in step.evidence.iter().map(|l| r(l)) {
                if !evidence.contains(&l) {
                    evidence.push(l);
                }
            }
            step.evidence = evidence;
            if let Some(check) = step.check.as_mut() {
                for f in &mut check.findings {
                    f.title = r(&f.title);
                    f.evidence = f.evidence.iter().map(|e| r(e)).collect();
                    for p in &mut f.plan {
                        p.command = r(&p.command);
                        p.why = r(&p.why);
                        p.disrupts = r(&p.disrupts);
                    }
                }
            }
            if let Some(fix) = step.fix.as_mut() {
                for a in &mut fix.applied {
                    a.command = r(&a.command);
                }
                for sk in &mut fix.skipped {
                    sk.command = r(&sk.command);
                }
                fix.note = fix.note.as_deref().map(r);
            }
        }
        o
    }

    /// Findings of the last doctor check in a stage, if any ran.
    pub fn findings(&self, stage: Stage) -> Option<&CheckReport> {
        self.stage(stage)?.steps.iter().rev().find_map(|s| s.check.as_ref())
    }
}

/// One stage's steps.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// Which stage.
    pub stage: Stage,
    /// Its steps, in order.
    pub steps: Vec<StepReport>,
}

/// One step, as a reader of the incident report needs it.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// What the step did, e.g. `systemctl restart docker`.
    pub step: String,
    /// What it had to do.
    pub expect: Expect,
    /// What it did: `exit 0`, `exit 125`, `HTTP 200`, `no answer`, ...
    pub result: String,
    /// The output lines that carry the expected texts (normalised).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// A doctor check's findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckReport>,
    /// A doctor fix's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixReport>,
    /// The facts (`netdoctor collect`) taken beside the diagnose stage's
    /// check, for the replay round trip; not in snapshots.
    #[serde(skip)]
    pub facts: Option<String>,
}

/// Every command a run executed, with its full output and timing.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// Entries in execution order.
    pub entries: Vec<TranscriptEntry>,
}

/// One executed command.
#[derive(Debug, Clone)]
pub struct TranscriptEntry {
    /// The stage it belongs to (`None` for node creation and teardown).
    pub stage: Option<Stage>,
    /// Where it ran: `node` or `host`.
    pub place: &'static str,
    /// The command line or script.
    pub command: String,
    /// Its exit code (-1 unknown).
    pub exit_code: i64,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// How long it took.
    pub duration: Duration,
}

impl Transcript {
    /// Renders all entries as plain text.
    pub fn render(&self) -> String {
        self.render_entries(&self.entries)
    }

    /// Renders the last `n` entries, for failure reports.
    pub fn tail(&self, n: usize) -> String {
        let start = self.entries.len().saturating_sub(n);
        self.render_entries(&self.entries[start..])
    }

    fn render_entries(&self, entries: &[TranscriptEntry]) -> String {
        let mut out = String::new();
        for e in entries {
            let stage = e.stage.map(|s| s.name()).unwrap_or("node");
            let _ = writeln!(
                out,
                "--- [{stage}] {} $ {}\n    exit {} in {} ms",
                e.place,
                e.command.trim(),
                e.exit_code,
                e.duration.as_millis()
            );
            for (label, text) in [("stdout", &e.stdout), ("stderr", &e.stderr)] {
                if !text.trim().is_empty() {
                    let _ = writeln!(out, "    {label}:");
                    for line in text.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
        }
        out
    }
}

