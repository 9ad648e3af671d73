//! Apply a plan through the transport, then re-collect and report which
//! findings are gone. Steps run in order. The first failing step stops the
//! run; a step that is skipped (consent missing) also skips every later step
//! of the same finding's plan, since a finding's steps build on each other.
//! A reboot counts only when it happened (see [`reboot`]). Re-running on a
//! healed host finds nothing and runs nothing: fixes are idempotent.

use crate::facts::SCHEMA;
use crate::finding::{merged_steps, Finding, MergedStep, Needs, Severity};
use crate::transport::{Output, Transport};
use crate::{collect, Error};
use serde::Serialize;
use std::time::{Duration, Instant};

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
    /// Codes of the findings this step serves.
    pub findings: Vec<String>,
}

/// A step that did not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The command.
    pub command: String,
    /// `yes` or `allow-reboot`: the flag it lacked; `earlier-skip`: an earlier
    /// step of its finding did not run; `earlier-failure`: an earlier step failed.
    pub needs: String,
    /// Human reason.
    pub reason: String,
    /// Codes of the findings this step serves.
    pub findings: Vec<String>,
    /// For `earlier-skip` and `earlier-failure`: the command that did not run or failed.
    pub depends_on: Option<String>,
}

/// `fix --apply --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct FixReport {
    /// Layout version ([`SCHEMA`]).
    pub schema: u32,
    /// Target.
    pub target: String,
    /// Finding codes before the fix.
    pub before: Vec<String>,
    /// Steps that ran.
    pub applied: Vec<Applied>,
    /// Steps that did not run.
    pub skipped: Vec<Skipped>,
    /// Finding codes after re-collecting (empty when the host rebooted).
    pub after: Vec<String>,
    /// Codes gone after the fix.
    pub resolved: Vec<String>,
    /// Codes still there after the fix (or whose reboot did not happen).
    pub remaining: Vec<String>,
    /// Whether the host really went down for a reboot (then nothing was re-collected).
    pub rebooted: bool,
    /// Codes not verified: the host rebooted, or a container did not come back.
    pub unverified: Vec<String>,
    /// Containers that ran before a docker restart, with a restart policy
    /// (`always`, `unless-stopped`) or restarted by name, and did not run again in time.
    pub not_back: Vec<String>,
    /// Anything the reader must know (reboot issued or failed, step failed, consent missing).
    pub note: Option<String>,
    /// Exit code of `fix --apply`: 0 no incident left (or rebooted), 2 some remain.
    #[serde(skip)]
    pub exit_code: i32,
}

fn codes_of(f: &[Finding]) -> Vec<String> {
    f.iter().map(|x| x.code.clone()).collect()
}

/// The flag a step lacks under this consent, and why it matters.
fn missing_consent(m: &MergedStep, consent: Consent) -> Option<(&'static str, String)> {
    match m.step.needs {
        Needs::Yes if !consent.yes => Some(("yes", format!("{}: run again with --yes to allow it", m.step.disrupts))),
        Needs::AllowReboot if !consent.allow_reboot => {
            Some(("allow-reboot", "a reboot is never implied: run again with --allow-reboot".into()))
        }
        _ => None,
    }
}

/// Trimmed stdout and stderr of a step.
fn output_text(out: &Output) -> String {
    format!("{}{}", out.stdout, out.stderr).trim().to_string()
}

/// What the target said when asked for its boot id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BootId {
    /// It answered with this boot id.
    Id(String),
    /// It answered, but without a boot id (no /proc, odd output).
    Unreadable,
    /// The transport failed (exit 255, could not connect, no answer in time).
    Down(i32),
}

/// The command that reads the boot id; it changes on every boot.
pub const BOOT_ID_COMMAND: &str = "cat /proc/sys/kernel/random/boot_id";

fn read_boot_id(t: &Transport, limit: Duration) -> BootId {
    match t.run_timeout(&format!("{BOOT_ID_COMMAND}\n"), limit) {
        Err(_) => BootId::Down(-1),
        Ok(o) if o.code == 255 || o.timed_out => BootId::Down(o.code),
        Ok(o) if o.code == 0 && !o.stdout.trim().is_empty() && !o.stdout.trim().contains(char::is_whitespace) => {
            BootId::Id(o.stdout.trim().to_string())
        }
        Ok(_) => BootId::Unreadable,
    }
}

/// How long one plan step may run through the transport (a docker restart
/// waits out every container's stop timeout; ten minutes is past any).
const STEP_DEADLINE: Duration = Duration::from_secs(600);

/// How long to watch a host after its reboot command failed:
/// `NETDOCTOR_REBOOT_WAIT` seconds (default 10).
fn reboot_wait() -> Duration {
    let secs = std::env::var("NETDOCTOR_REBOOT_WAIT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|v| *v >= 0.0);
    Duration::from_secs_f64(secs.unwrap_or(10.0).min(600.0))
}

/// What became of a reboot step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reboot {
    /// The command exited 0: the host accepted the reboot.
    Accepted,
    /// The command failed and then the transport failed too: the host went down.
    Dropped {
        /// The reboot command's exit code.
        code: i32,
    },
    /// The command failed but the host came back with a new boot id.
    NewBoot {
        /// The reboot command's exit code.
        code: i32,
    },
    /// The command failed and the host kept answering with the same boot id
    /// (or without one) for the whole wait: it did not reboot.
    StillUp {
        /// The reboot command's exit code.
        code: i32,
        /// The boot id read before and after.
        boot_id: Option<String>,
    },
}

/// Watch a host whose reboot command exited `code` (not 0): re-read its
/// boot id with short pauses for up to `wait`. A transport failure means it
/// went down; a new boot id means it rebooted; the same boot id until the
/// end means it did not.
fn watch_reboot(t: &Transport, before: &BootId, code: i32, wait: Duration) -> Reboot {
    let start = Instant::now();
    let pause = Duration::from_millis(500).min(wait / 4);
    loop {
        let left = wait.saturating_sub(start.elapsed()).max(Duration::from_secs(2));
        match read_boot_id(t, left.min(Duration::from_secs(5))) {
            BootId::Down(_) => return Reboot::Dropped { code },
            BootId::Id(now) if matches!(before, BootId::Id(b) if *b != now) => return Reboot::NewBoot { code },
            _ => {}
        }
        if start.elapsed() + pause >= wait {
            let boot_id = match before {
                BootId::Id(b) => Some(b.clone()),
                _ => None,
            };
            return Reboot::StillUp { code, boot_id };
        }
        std::thread::sleep(pause);
    }
}

/// Run the reboot step: read the boot id, run the command, and judge what happened.
/// `Err` holds a note when the boot id could not be read before (nothing was run).
fn reboot(t: &Transport, m: &MergedStep, r: &mut FixReport) -> Result<Reboot, String> {
    let before = read_boot_id(t, Duration::from_secs(15));
    if let BootId::Down(code) = before {
        return Err(format!(
            "the reboot was not attempted: reading the boot id before it failed (transport exit {code}); check that the target answers, then run fix again"
        ));
    }
    let out = t.run(&format!("{}\n", m.step.command)).map_err(|e| format!("the reboot command could not be run: {e}"))?;
    r.applied.push(Applied {
        command: m.step.command.clone(),
        exit_code: out.code,
        output: output_text(&out),
        findings: m.findings.clone(),
    });
    if out.code == 0 {
        return Ok(Reboot::Accepted);
    }
    Ok(watch_reboot(t, &before, out.code, reboot_wait()))
}

/// The note a reboot outcome adds, and whether the host rebooted.
fn reboot_note(outcome: &Reboot, cmd: &str, t: &Transport) -> (bool, String) {
    let verify = format!("re-collect skipped: verify after the node comes back with `netdoctor check --target {t}`");
    match outcome {
        Reboot::Accepted => (true, format!("reboot issued; {verify}")),
        Reboot::Dropped { code } => (
            true,
            format!("reboot issued: `{cmd}` exited {code} because the connection dropped as the host went down (the re-probe failed too); {verify}"),
        ),
        Reboot::NewBoot { code } => (
            true,
            format!("reboot issued: `{cmd}` exited {code}, and the host answered with a new boot id; {verify}"),
        ),
        Reboot::StillUp { code, boot_id } => (
            false,
            format!(
                "the reboot command `{cmd}` failed with exit {code} and the host is still up ({}): it did not reboot; the findings it was for remain",
                boot_id.as_deref().map_or("it kept answering".to_string(), |b| format!("same boot id {b}"))
            ),
        ),
    }
}

impl FixReport {
    fn new(t: &Transport, findings: &[Finding]) -> FixReport {
        FixReport {
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
            not_back: vec![],
            note: None,
            exit_code: 0,
        }
    }

    fn skip(&mut self, m: &MergedStep, needs: &str, reason: String, depends_on: Option<String>) {
        self.skipped.push(Skipped {
            command: m.step.command.clone(),
            needs: needs.into(),
            reason,
            findings: m.findings.clone(),
            depends_on,
        });
    }
}

/// Lists running containers with their restart policy and stop timeout.
pub const WATCH_COMMAND: &str =
    "docker ps -q | xargs -r docker inspect --format '{{.Name}} {{.HostConfig.RestartPolicy.Name}} {{.Config.StopTimeout}}'";
/// Names of the running containers.
pub const RUNNING_COMMAND: &str = "docker ps --format '{{.Names}}'";
/// Docker's default stop timeout: SIGTERM, then SIGKILL after this many seconds.
const DEFAULT_STOP_TIMEOUT: u64 = 10;

/// Whether a step stops running containers (they must come back before the
/// fix is judged).
fn stops_containers(cmd: &str) -> bool {
    cmd == "systemctl restart docker" || cmd.starts_with("docker restart ")
}

/// Containers to wait for after a restart, and what it stopped for.
#[derive(Debug, Default)]
struct Watch {
    /// Names expected to run again.
    names: Vec<String>,
    /// The longest stop timeout among them, seconds.
    stop_timeout: u64,
    /// Codes of the findings served by the steps that stopped them.
    codes: Vec<String>,
}

/// The running containers that start again by themselves after a docker
/// restart (restart policy `always` or `unless-stopped`), and their longest
/// stop timeout. Unreadable: none (the re-collect judges alone).
fn containers_to_watch(t: &Transport) -> Watch {
    let mut w = Watch { stop_timeout: DEFAULT_STOP_TIMEOUT, ..Default::default() };
    let Ok(out) = t.run_timeout(&format!("{WATCH_COMMAND}\n"), Duration::from_secs(15)) else { return w };
    if out.code != 0 {
        return w;
    }
    for line in out.stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, policy, rest @ ..] = f.as_slice() else { continue };
        if *policy == "always" || *policy == "unless-stopped" {
            w.names.push(name.trim_start_matches('/').to_string());
            let timeout = rest.first().and_then(|v| v.parse::<u64>().ok()).unwrap_or(DEFAULT_STOP_TIMEOUT);
            w.stop_timeout = w.stop_timeout.max(timeout);
        }
    }
    w
}

/// How long to wait for containers to run again: `NETDOCTOR_BACK_WAIT`
/// seconds, else their stop timeout + 30 s.
fn back_wait(stop_timeout: u64) -> Duration {
    let env = std::env::var("NETDOCTOR_BACK_WAIT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|v| *v >= 0.0);
    Duration::from_secs_f64(env.unwrap_or((stop_timeout + 30) as f64).min(900.0))
}

/// Wait until every one of `names` runs (per `docker ps`), for up to `limit`;
/// returns those that did not.
fn wait_back(t: &Transport, names: &[String], limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let pause = Duration::from_millis(1000).min(limit / 4);
    loop {
        let mut missing: Vec<String> = names.to_vec();
        if let Ok(out) = t.run_timeout(&format!("{RUNNING_COMMAND}\n"), Duration::from_secs(10))
            && out.code == 0
        {
            let running: Vec<&str> = out.stdout.lines().map(str::trim).collect();
            missing.retain(|n| !running.contains(&n.as_str()));
        }
        if missing.is_empty() || start.elapsed() + pause >= limit {
            return missing;
        }
        std::thread::sleep(pause);
    }
}

/// Run the plan for `findings` on `t`, re-collect, and compare.
pub fn apply(t: &Transport, findings: &[Finding], consent: Consent) -> Result<FixReport, Error> {
    let mut r = FixReport::new(t, findings);
    let mut notes = Vec::new();
    // Commands that did not run, each with the root cause (the first step skipped).
    let mut not_run: Vec<(String, String)> = Vec::new();
    let mut failed: Option<String> = None;
    // Codes whose reboot did not happen.
    let mut reboot_failed: Vec<String> = Vec::new();
    // Containers stopped by a step, to see running again before judging.
    let mut watch: Option<Watch> = None;
    for m in merged_steps(findings) {
        let cmd = m.step.command.clone();
        if let Some(f) = &failed {
            r.skip(&m, "earlier-failure", format!("an earlier step failed: `{f}`"), Some(f.clone()));
            continue;
        }
        if let Some((dep, root)) = m.depends_on.iter().find_map(|d| not_run.iter().find(|(c, _)| c == d)).cloned() {
            r.skip(
                &m,
                "earlier-skip",
                format!("it builds on `{dep}`, an earlier step of {}, which did not run ({root})", m.findings.join(", ")),
                Some(dep),
            );
            not_run.push((cmd, root));
            continue;
        }
        if let Some((needs, reason)) = missing_consent(&m, consent) {
            r.skip(&m, needs, reason, None);
            not_run.push((cmd.clone(), format!("`{cmd}` needs --{needs}")));
            continue;
        }
        if m.step.needs == Needs::AllowReboot {
            match reboot(t, &m, &mut r) {
                Ok(outcome) => {
                    let (rebooted, note) = reboot_note(&outcome, &cmd, t);
                    r.rebooted = rebooted;
                    notes.push(note);
                    if !rebooted {
                        reboot_failed = m.findings.clone();
                    }
                }
                Err(note) => {
                    notes.push(note);
                    reboot_failed = m.findings.clone();
                }
            }
            break; // a reboot is last
        }
        if stops_containers(&cmd) && watch.is_none() {
            watch = Some(containers_to_watch(t));
        }
        let out = t.run_timeout(&format!("{cmd}\n"), STEP_DEADLINE)?;
        if out.timed_out {
            notes.push(format!("step `{cmd}` did not finish within {} s and was killed", STEP_DEADLINE.as_secs()));
        }
        if let Some(w) = watch.as_mut().filter(|_| stops_containers(&cmd) && out.code == 0) {
            w.codes.extend(m.findings.iter().filter(|c| !w.codes.contains(c)).cloned().collect::<Vec<_>>());
            if let Some(name) = cmd.strip_prefix("docker restart ").map(str::trim)
                && !w.names.iter().any(|n| n == name)
            {
                w.names.push(name.to_string());
            }
        }
        if out.code != 0 {
            notes.push(format!("step `{cmd}` failed with exit {}; later steps were not run", out.code));
            failed = Some(cmd.clone());
        }
        r.applied.push(Applied { command: cmd, exit_code: out.code, output: output_text(&out), findings: m.findings.clone() });
    }
    if r.skipped.iter().any(|s| s.needs == "yes" || s.needs == "allow-reboot") {
        notes.push("some steps need consent: see skipped".into());
    }
    if r.rebooted {
        r.unverified = r.before.clone();
        r.exit_code = 0;
    } else {
        // Containers that were stopped must run again before anything is
        // called resolved: a finding can vanish because its container did.
        let mut unproven: Vec<String> = Vec::new();
        if let Some(w) = watch.filter(|w| !w.codes.is_empty() && !w.names.is_empty()) {
            let limit = back_wait(w.stop_timeout);
            r.not_back = wait_back(t, &w.names, limit);
            if !r.not_back.is_empty() {
                notes.push(format!(
                    "container(s) {} ran before the restart and did not run again within {:.0} s: {} not verified",
                    r.not_back.join(", "),
                    limit.as_secs_f64(),
                    w.codes.join(", ")
                ));
                unproven = w.codes;
            }
        }
        let after = crate::rules::analyse(&collect(t)?);
        r.after = codes_of(&after);
        let left = |c: &String| r.after.contains(c) || reboot_failed.contains(c);
        r.remaining = r.before.iter().filter(|c| left(c)).cloned().collect();
        r.unverified = r.before.iter().filter(|c| !left(c) && unproven.contains(c)).cloned().collect();
        r.resolved = r.before.iter().filter(|c| !left(c) && !unproven.contains(c)).cloned().collect();
        let incidents_left = after.iter().any(|f| f.severity == Severity::Incident);
        r.exit_code = if incidents_left || !reboot_failed.is_empty() || !r.not_back.is_empty() { 2 } else { 0 };
    }
    if !notes.is_empty() {
        r.note = Some(notes.join("; "));
    }
    Ok(r)
}
