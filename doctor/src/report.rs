//! Rendering: the JSON contract types and the human text (colour only when
//! stdout is a terminal).

use crate::explain::parse::Line;
use crate::explain::Cause;
use crate::facts::SCHEMA;
use crate::finding::{merged_plan, Finding, Needs, Severity, Step, Summary};
use crate::fix::FixReport;
use serde::Serialize;
use std::fmt::Write;

/// `check --format json`.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    /// Layout version ([`SCHEMA`]).
    pub schema: u32,
    /// Target checked.
    pub target: &'a str,
    /// Findings, incidents first.
    pub findings: &'a [Finding],
    /// What the probe could not look at; non-empty and no incident: exit 3.
    pub could_not_look: &'a [String],
    /// Counts by severity.
    pub summary: Summary,
}

/// `fix --format json` without `--apply`: the plan that would run.
#[derive(Debug, Serialize)]
pub struct PlanReport<'a> {
    /// Layout version ([`SCHEMA`]).
    pub schema: u32,
    /// Target.
    pub target: &'a str,
    /// Always true: nothing was changed.
    pub dry_run: bool,
    /// Findings with their own plans.
    pub findings: &'a [Finding],
    /// All steps merged in the order `--apply` runs them.
    pub plan: Vec<Step>,
    /// Counts by severity.
    pub summary: Summary,
}

/// `explain --format json`.
#[derive(Debug, Serialize)]
pub struct ExplainReport<'a> {
    /// Layout version ([`SCHEMA`]).
    pub schema: u32,
    /// Causes, most likely first.
    pub causes: &'a [Cause],
    /// The parsed lines the causes were reasoned from.
    pub facts: &'a [Line],
}

impl<'a> ExplainReport<'a> {
    /// Report for these causes and facts.
    pub fn new(causes: &'a [Cause], facts: &'a [Line]) -> Self {
        ExplainReport { schema: SCHEMA, causes, facts }
    }
}

impl<'a> CheckReport<'a> {
    /// Report for these findings.
    pub fn new(target: &'a str, findings: &'a [Finding], could_not_look: &'a [String]) -> Self {
        CheckReport { schema: SCHEMA, target, findings, could_not_look, summary: Summary::of(findings) }
    }
}

impl<'a> PlanReport<'a> {
    /// Dry-run report for these findings.
    pub fn new(target: &'a str, findings: &'a [Finding]) -> Self {
        PlanReport { schema: SCHEMA, target, dry_run: true, findings, plan: merged_plan(findings), summary: Summary::of(findings) }
    }
}

/// ANSI styling that is a no-op without colour.
struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn sev(&self, s: Severity) -> String {
        match s {
            Severity::Incident => self.wrap("1;31", "INCIDENT"),
            Severity::Warning => self.wrap("1;33", "WARNING "),
            Severity::Info => self.wrap("1;34", "INFO    "),
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

fn needs_text(n: Needs) -> &'static str {
    match n {
        Needs::Nothing => "",
        Needs::Yes => " [needs --yes]",
        Needs::AllowReboot => " [needs --allow-reboot]",
    }
}

fn step_text(p: &Paint, out: &mut String, i: usize, s: &Step, indent: &str) {
    let _ = writeln!(out, "{indent}{i}. {}{}", p.bold(&s.command), needs_text(s.needs));
    let _ = writeln!(out, "{indent}   why: {}", s.why);
    let _ = writeln!(out, "{indent}   disrupts: {}", s.disrupts);
}

fn finding_text(p: &Paint, out: &mut String, f: &Finding, with_plan: bool) {
    let _ = writeln!(out, "{} {}  {}", p.sev(f.severity), p.bold(&f.code), f.title);
    let _ = writeln!(out, "  evidence:");
    for e in &f.evidence {
        let _ = writeln!(out, "    - {e}");
    }
    if with_plan && !f.plan.is_empty() {
        let _ = writeln!(out, "  plan:");
        for (i, s) in f.plan.iter().enumerate() {
            step_text(p, out, i + 1, s, "    ");
        }
    }
}

fn summary_line(s: Summary) -> String {
    if s.incidents == 0 && s.warnings == 0 {
        "healthy: no incident, no warning".to_string()
    } else {
        format!("{} incident(s), {} warning(s)", s.incidents, s.warnings)
    }
}

/// Human text for `check`.
pub fn check_human(target: &str, findings: &[Finding], notes: &[String], could_not_look: &[String], color: bool) -> String {
    let p = Paint(color);
    let mut out = format!("netdoctor check: {target}\n\n");
    for f in findings {
        finding_text(&p, &mut out, f, true);
        out.push('\n');
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "{}", p.dim("facts the probe could not read:"));
        for n in notes {
            let _ = writeln!(out, "{}", p.dim(&format!("  - {n}")));
        }
        out.push('\n');
    }
    let summary = Summary::of(findings);
    if summary.incidents == 0 && !could_not_look.is_empty() {
        // Exit 3: the verdict would rest on facts nobody saw.
        let _ = writeln!(out, "{}", p.bold("could not look, so no verdict:"));
        for n in could_not_look {
            let _ = writeln!(out, "  - {n}");
        }
        if summary.warnings > 0 {
            let _ = writeln!(out, "{} warning(s) in the facts that could be read", summary.warnings);
        }
    } else if summary.incidents == 0 && summary.warnings == 0 && !notes.is_empty() {
        // Facts that could not be read are not healthy ones.
        let _ = writeln!(out, "no incident, no warning in the facts that could be read; {} could not be looked at (see above)", notes.len());
    } else {
        let _ = writeln!(out, "{}", summary_line(summary));
    }
    out
}

/// Human text for `fix` without `--apply`.
pub fn plan_human(target: &str, findings: &[Finding], color: bool) -> String {
    let p = Paint(color);
    let mut out = format!("netdoctor fix (dry run): {target}\n\n");
    if findings.is_empty() {
        out.push_str("nothing to fix: no finding\n");
        return out;
    }
    for f in findings {
        let _ = writeln!(out, "{} {}  {}", p.sev(f.severity), p.bold(&f.code), f.title);
    }
    let plan = merged_plan(findings);
    out.push_str("\nplan (what `netdoctor fix --apply` would run, in order):\n");
    for (i, s) in plan.iter().enumerate() {
        step_text(&p, &mut out, i + 1, s, "  ");
    }
    if plan.iter().any(|s| s.needs != Needs::Nothing) {
        out.push('\n');
    }
    if plan.iter().any(|s| s.needs == Needs::Yes) {
        out.push_str("steps marked [needs --yes] stop running containers: add --yes to run them\n");
    }
    if plan.iter().any(|s| s.needs == Needs::AllowReboot) {
        out.push_str("steps marked [needs --allow-reboot] reboot the host: add --allow-reboot to run them\n");
    }
    let _ = writeln!(out, "\n{}", summary_line(Summary::of(findings)));
    out
}

/// Human text for `fix --apply`.
pub fn fix_human(r: &FixReport, color: bool) -> String {
    let p = Paint(color);
    let mut out = format!("netdoctor fix --apply: {}\n\n", r.target);
    let _ = writeln!(out, "before: {}", list(&r.before));
    for a in &r.applied {
        let _ = writeln!(out, "ran: {}  (exit {})", p.bold(&a.command), a.exit_code);
        for l in a.output.lines().take(20) {
            let _ = writeln!(out, "    {l}");
        }
    }
    for s in &r.skipped {
        let _ = writeln!(out, "skipped: {}  ({})", s.command, s.reason);
    }
    if let Some(n) = &r.note {
        let _ = writeln!(out, "note: {n}");
    }
    if !r.rebooted {
        let _ = writeln!(out, "after: {}", list(&r.after));
        let _ = writeln!(out, "resolved: {}", list(&r.resolved));
        let _ = writeln!(out, "remaining: {}", list(&r.remaining));
        if !r.unverified.is_empty() {
            let _ = writeln!(out, "unverified: {}", list(&r.unverified));
        }
        if !r.not_back.is_empty() {
            let _ = writeln!(out, "not back: {}", list(&r.not_back));
        }
    }
    out
}

fn list(v: &[String]) -> String {
    if v.is_empty() { "(none)".into() } else { v.join(", ") }
}

/// Human text for `explain`.
pub fn explain_human(causes: &[Cause], color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for c in causes {
        let _ = writeln!(out, "{}  confidence {:.2}", p.bold(&c.code), c.confidence);
        if !c.why.is_empty() {
            for w in &c.why {
                let _ = writeln!(out, "  because {w}");
            }
        }
        let _ = writeln!(out, "  confirm with:");
        for k in &c.confirm {
            let _ = writeln!(out, "    $ {k}");
        }
    }
    out
}
