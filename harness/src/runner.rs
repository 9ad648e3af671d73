//! The runner: one scenario on one platform and backend. It creates the
//! node, runs the stages in order (prepare → fault → symptom → diagnose →
//! remediate → verify), records every command in a transcript, and returns
//! an [`Outcome`]. A step that misses its expectation stops the run with the
//! stage, the step and the transcript tail.

use crate::doctor_cli::{self, CheckReport, FixReport};
use crate::events::Event;
use crate::admin_rules;
use crate::{http_probe, udp_probe};
use crate::node::{self, Node};
use crate::outcome::{Outcome, StageReport, StepReport, Transcript, TranscriptEntry};
use crate::platform::{NodeBackend, Platform};
use crate::scenario::{Action, DoctorCall, Expect, Proto, Scenario, Stage, Step, UnitVerb};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Whether to keep the node after the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Always remove it.
    Never,
    /// Keep it when the run failed, for a look around.
    OnFailure,
    /// Always keep it.
    Always,
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The netdoctor binary under test.
    pub doctor: PathBuf,
    /// Keep the node afterwards?
    pub keep: Keep,
    /// Stop after this stage (and keep the node if `keep` says so).
    pub stop_after: Option<Stage>,
    /// Where the transcript file goes.
    pub transcript_dir: PathBuf,
    /// Also collect the facts beside the diagnose stage's check (for the
    /// replay round trip; a collect on a frozen dockerd takes its timeouts).
    pub collect_facts: bool,
}

/// Why a run failed, with enough context to act on.
#[derive(Debug)]
pub struct RunError {
    /// `scenario on platform/backend`.
    pub run: String,
    /// The stage that failed (`None`: creating or removing the node).
    pub stage: Option<Stage>,
    /// `step N (line L): description`, when a step failed.
    pub step: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The last commands with their output.
    pub transcript_tail: String,
    /// The full transcript file.
    pub transcript_path: Option<PathBuf>,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.run)?;
        match self.stage {
            Some(s) => write!(f, " in stage `{s}`")?,
            None => write!(f, " outside the stages (creating or removing the node)")?,
        }
        if let Some(step) = &self.step {
            write!(f, ", {step}")?;
        }
        write!(f, ":\n  {}\n", self.message.replace('\n', "\n  "))?;
        if !self.transcript_tail.is_empty() {
            write!(f, "transcript tail:\n{}", self.transcript_tail)?;
        }
        if let Some(p) = &self.transcript_path {
            write!(f, "full transcript: {}", p.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for RunError {}

/// The probe server every `publish` step starts inside the node's dockerd
/// (`probe:latest`, imported into every node when it becomes ready, serves
/// busybox httpd on port 80). `unless-stopped`, as production containers
/// are: a docker restart brings it back, so "cured" includes the old port.
/// UDP: busybox has no UDP server, so the same image runs the node's own
/// python3 (its /usr mounted read-only) as an echo server on the same port,
/// tagging replies with the container's name.
fn publish_command(port: u16, name: &str, proto: Proto) -> String {
    match proto {
        Proto::Tcp => format!("docker run -d --restart unless-stopped --name {name} -p {port}:80 probe:latest"),
        Proto::Udp => format!(
            "docker run -d --restart unless-stopped --name {name} -p {port}:{port}/udp -v /usr:/usr:ro -v /usr/lib:/lib:ro -v /usr/lib64:/lib64:ro probe:latest {}",
            udp_probe::echo_server_script(port, name)
        ),
    }
}

/// What "firewalld has started" means for a fault: `systemctl start`
/// returns when the unit is active, which firewalld 1.3 (Debian 12) reports
/// about 200 ms *before* it flushes the tables and about 350 ms before its
/// own rules are in; firewalld 2.3 (Debian 13) stays `activating` until
/// they are. `firewall-cmd --state` says `running` only once the rules are
/// applied, on both (the measured timelines are in the README). So
/// a start or restart of firewalld returns once it says so (bounded).
const FIREWALLD_SETTLED: &str = "for i in $(seq 300); do [ \"$(firewall-cmd --state 2>/dev/null)\" = running ] && exit 0; sleep 0.1; done; firewall-cmd --state; exit 1";

/// Whether an action starts firewalld (and so must wait for it to settle).
fn starts_firewalld(action: &Action) -> bool {
    matches!(action, Action::Unit(UnitVerb::Start | UnitVerb::Restart, u) if u == "firewalld" || u == "firewalld.service")
}

/// The shell command a node-side action runs.
fn node_command(action: &Action) -> Option<String> {
    Some(match action {
        Action::Run(s) => s.clone(),
        Action::Unit(verb, unit) => {
            let v = match verb {
                UnitVerb::Start => "start",
                UnitVerb::Stop => "stop",
                UnitVerb::Restart => "restart",
            };
            format!("systemctl {v} {unit}")
        }
        Action::ReloadFirewalld => "firewall-cmd --reload".into(),
        Action::FirewalldBackend(b) => format!(
            "sed -i -E 's/^#?FirewallBackend=.*/FirewallBackend={b}/' /etc/firewalld/firewalld.conf \
             && grep -qx 'FirewallBackend={b}' /etc/firewalld/firewalld.conf"
        ),
        Action::IptablesAlternative(b) => format!(
            "update-alternatives --set iptables /usr/sbin/iptables-{b} && update-alternatives --set ip6tables /usr/sbin/ip6tables-{b}"
        ),
        Action::Modprobe(mods) => format!("modprobe -a {}", mods.join(" ")),
        Action::Publish { port, name, proto } => publish_command(*port, name, *proto),
        Action::RemoveContainer(name) => format!("docker rm -f {name}"),
        Action::ProbePort { .. } | Action::Doctor(_) | Action::Reboot => return None,
    })
}

/// What a step is, in the words of the report.
fn describe(action: &Action) -> String {
    match action {
        Action::ProbePort { port: p, proto: Proto::Tcp } => format!("GET http://[node]:{p}/ from the host"),
        Action::ProbePort { port: p, proto: Proto::Udp } => format!("UDP datagram to [node]:{p} from the host, echo expected"),
        Action::Doctor(DoctorCall::Check { .. }) => "netdoctor check".into(),
        Action::Doctor(call @ DoctorCall::Fix { .. }) => format!("netdoctor {}", fix_args(call).join(" ")),
        Action::Reboot => "reboot the node".into(),
        other => node_command(other).unwrap_or_default().trim().to_string(),
    }
}

/// Runs `scenario` on `platform`/`backend`, reporting progress through `on_event`.
pub async fn run(
    scenario: &Scenario,
    platform: Platform,
    backend: NodeBackend,
    opts: &RunOptions,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Result<Outcome, RunError> {
    // Say "centos7-emulated" from the first line on, not only once the node exists.
    let resolved = crate::matrix::resolve(platform).map_err(|e| RunError {
        run: format!("{} on {platform}/{backend}", scenario.name),
        stage: None,
        step: None,
        message: format!("{e:#}"),
        transcript_tail: String::new(),
        transcript_path: None,
    })?;
    let label = resolved.label.clone();
    let run_name = format!("{} on {label}/{backend}", scenario.name);
    let fail = |stage, step, message: String, transcript: &Transcript, path| RunError {
        run: run_name.clone(),
        stage,
        step,
        message,
        transcript_tail: transcript.tail(4),
        transcript_path: path,
    };

    on_event(Event::NodeStarting { what: format!("{label} {backend}") });
    let started = Instant::now();
    let node = node::start(platform, backend, &scenario.node)
        .await
        .map_err(|e| fail(None, None, format!("{e:#}"), &Transcript::default(), None))?;
    on_event(Event::NodeReady { name: node.name().to_string(), elapsed: started.elapsed() });

    // Values the node itself defines, redacted where snapshots are taken.
    let drifting = {
        // The doctor's target first: it holds the node's name and, for a
        // VM, this checkout's path and a run directory.
        let mut k = vec![(node.doctor_target(), "[target]"), (node.name().to_string(), "[node]")];
        // A VM's endpoint is loopback: stable, nothing to redact.
        if let Ok(a) = node.endpoint(1).await
            && !a.ip().is_loopback()
        {
            k.push((a.ip().to_string(), "[node-ip]"));
        }
        // A VM's kernels come from the archive at image build time (the
        // two newest ABIs): name them by rank, not by number.
        if backend == NodeBackend::Vm
            && let Ok(out) = node.exec("ls /lib/modules | sort -V").await
        {
            k.extend(kernel_placeholders(&out.stdout));
            // A kernel booted from outside the guest (`kernel = "foreign"`)
            // has no tree there; it is the donor image's, just as drifting.
            if let Ok(u) = node.exec("uname -r").await {
                let running = u.stdout.trim().to_string();
                if !running.is_empty() && !out.stdout.lines().any(|l| l.trim() == running) {
                    k.push((running, "[kernel-foreign]"));
                }
            }
        }
        k
    };
    let mut ctx = Ctx { node: node.as_ref(), doctor: &opts.doctor, collect_facts: opts.collect_facts, transcript: Transcript::default() };
    let mut outcome = Outcome {
        scenario: scenario.name.clone(),
        summary: scenario.summary.clone(),
        source: scenario.source.clone(),
        platform: node.resolved().label.clone(),
        platform_versions: node.resolved().describe(),
        backend,
        stages: Vec::new(),
        transcript: Transcript::default(),
        drifting,
    };

    let mut failure: Option<(Stage, String, String)> = None;
    'stages: for (stage, steps) in &scenario.stages {
        on_event(Event::StageStarted(*stage));
        let stage_start = Instant::now();
        let mut report = StageReport { stage: *stage, steps: Vec::new() };
        // The rules before the cure: what "nothing of the admin's is lost" compares against.
        let rules_before = if *stage == Stage::Remediate {
            match ctx.dump_rules(*stage).await {
                Ok(d) => Some(d),
                Err(e) => {
                    failure = Some((*stage, "dumping the rules before the fix".into(), format!("{e:#}")));
                    break 'stages;
                }
            }
        } else {
            None
        };
        for (i, step) in steps.iter().enumerate().filter(|(_, s)| s.runs_on(platform)) {
            let step_start = Instant::now();
            let label = format!("step {} (line {}): {}", i + 1, step.line, describe(&step.action));
            on_event(Event::StepStarted { stage: *stage, index: i + 1, step: describe(&step.action) });
            let result = ctx.run_step(*stage, step).await;
            let (step_report, why_failed) = match result {
                Ok(r) => r,
                Err(e) => {
                    failure = Some((*stage, label, format!("{e:#}")));
                    break 'stages;
                }
            };
            on_event(Event::StepFinished {
                stage: *stage,
                index: i + 1,
                step: step_report.step.clone(),
                result: step_report.result.clone(),
                passed: why_failed.is_none(),
                elapsed: step_start.elapsed(),
            });
            report.steps.push(step_report);
            if let Some(why) = why_failed {
                outcome.stages.push(report);
                failure = Some((*stage, label, why));
                break 'stages;
            }
        }
        let last_fix = steps.iter().rev().find_map(|s| match &s.action {
            Action::Doctor(call @ DoctorCall::Fix { .. }) if s.runs_on(platform) => Some(call.clone()),
            _ => None,
        });
        outcome.stages.push(report);
        on_event(Event::StageFinished { stage: *stage, elapsed: stage_start.elapsed() });
        if opts.stop_after == Some(*stage) {
            break;
        }
        if let (Some(before), Some(fix_call)) = (rules_before, last_fix) {
            on_event(Event::StageStarted(Stage::Idempotence));
            let t = Instant::now();
            let (report, why) = match ctx.idempotence(&before, &fix_call).await {
                Ok(r) => r,
                Err(e) => {
                    failure = Some((Stage::Idempotence, "the second fix".into(), format!("{e:#}")));
                    break 'stages;
                }
            };
            outcome.stages.push(report);
            if let Some(why) = why {
                failure = Some((Stage::Idempotence, "the second fix".into(), why));
                break 'stages;
            }
            on_event(Event::StageFinished { stage: Stage::Idempotence, elapsed: t.elapsed() });
            if opts.stop_after == Some(Stage::Idempotence) {
                break;
            }
        }
    }

    let transcript = std::mem::take(&mut ctx.transcript);
    let path = write_transcript(&opts.transcript_dir, &scenario.name, &outcome.platform, backend, &transcript);
    let keep = match opts.keep {
        Keep::Always => true,
        Keep::OnFailure => failure.is_some(),
        Keep::Never => false,
    };
    let mut leak = None;
    if keep {
        on_event(Event::NodeKept { how: node.detach() });
    } else if let Err(e) = node.destroy().await {
        leak = Some(format!("removing the node failed: {e:#}; run `repro gc`"));
    }
    // A failed removal is a leak: report it even if the scenario passed,
    // and beside the scenario's own failure if it did not.
    match (failure, leak) {
        (Some((stage, step, message)), leak) => {
            let message = match leak {
                Some(l) => format!("{message}\nalso: {l}"),
                None => message,
            };
            return Err(fail(Some(stage), Some(step), message, &transcript, path));
        }
        (None, Some(l)) => return Err(fail(None, None, l, &transcript, path)),
        (None, None) => {}
    }
    outcome.transcript = transcript;
    Ok(outcome)
}

/// Writes the transcript under `dir`, returning its path (best effort: a
/// transcript that cannot be written must not hide the run's own result).
fn write_transcript(dir: &std::path::Path, scenario: &str, platform: &str, backend: NodeBackend, t: &Transcript) -> Option<PathBuf> {
    let path = dir.join(format!("{scenario}-{platform}-{backend}.log"));
    std::fs::create_dir_all(dir).ok()?;
    std::fs::write(&path, t.render()).ok()?;
    Some(path)
}

/// What a running scenario carries from step to step.
struct Ctx<'a> {
    node: &'a dyn Node,
    doctor: &'a std::path::Path,
    collect_facts: bool,
    transcript: Transcript,
}

impl Ctx<'_> {
    /// The step's timeout on this node (a default one scaled for a slow VM).
    fn deadline(&self, step: &Step) -> Duration {
        step.deadline(self.node.timeout_factor())
    }

    /// Runs one step: the report, and `Some(why)` when it missed its expectation.
    async fn run_step(&mut self, stage: Stage, step: &Step) -> anyhow::Result<(StepReport, Option<String>)> {
        let mut report = StepReport {
            step: describe(&step.action),
            expect: step.expect,
            result: String::new(),
            evidence: Vec::new(),
            check: None,
            fix: None,
            facts: None,
        };
        let (succeeded, output) = match &step.action {
            Action::ProbePort { port, proto } => self.probe(stage, step, *port, *proto, &mut report).await?,
            Action::Doctor(call) => self.doctor(stage, step, call, &mut report).await?,
            Action::Reboot => {
                let t = Instant::now();
                let r = tokio::time::timeout(self.deadline(step), self.node.reboot()).await;
                let (code, err) = match r {
                    Ok(Ok(())) => (0, String::new()),
                    Ok(Err(e)) => (1, format!("{e:#}")),
                    Err(_) => (1, format!("not ready again within {} s", self.deadline(step).as_secs())),
                };
                self.record(stage, "node", "reboot".into(), code, String::new(), err.clone(), t.elapsed());
                report.result = if code == 0 { "ready again".into() } else { format!("failed: {err}") };
                (code == 0, err)
            }
            action => {
                let cmd = node_command(action).expect("node actions have a command");
                let t = Instant::now();
                let out = self.node.exec_timeout(&cmd, self.deadline(step)).await?;
                self.record(stage, "node", cmd, out.exit_code, out.stdout.clone(), out.stderr.clone(), t.elapsed());
                report.result = format!("exit {}", out.exit_code);
                if out.success() && starts_firewalld(action) {
                    // Settled, not merely started (see FIREWALLD_SETTLED).
                    let t = Instant::now();
                    let s = self.node.exec_timeout(FIREWALLD_SETTLED, self.deadline(step)).await?;
                    self.record(stage, "node", FIREWALLD_SETTLED.into(), s.exit_code, s.stdout.clone(), s.stderr.clone(), t.elapsed());
                    if !s.success() {
                        report.result = format!("started, but `firewall-cmd --state` never said running (exit {})", s.exit_code);
                        return Ok((report, Some(format!("firewalld was started but never settled; output:\n{}", tail_lines(&s.combined(), 15)))));
                    }
                }
                (out.success(), out.combined())
            }
        };
        let mut why = None;
        let wanted = step.expect == Expect::Success;
        if succeeded != wanted {
            why = Some(format!(
                "expected {} but got {}; output:\n{}",
                if wanted { "success" } else { "failure" },
                report.result,
                tail_lines(&output, 15)
            ));
        }
        for text in &step.contains {
            let lines: Vec<String> = output.lines().filter(|l| l.contains(text.as_str())).map(|l| l.trim().to_string()).collect();
            if lines.is_empty() && why.is_none() {
                why = Some(format!("the output does not contain `{text}`; output:\n{}", tail_lines(&output, 15)));
            }
            for l in lines {
                if !report.evidence.contains(&l) {
                    report.evidence.push(l);
                }
            }
        }
        Ok((report, why))
    }

    /// From the host to the node: TCP, an HTTP GET that must answer 200;
    /// UDP, a datagram that must come back echoed. Success waits (bounded)
    /// for an answer; an expected failure must see none in every attempt.
    async fn probe(&mut self, stage: Stage, step: &Step, port: u16, proto: Proto, report: &mut StepReport) -> anyhow::Result<(bool, String)> {
        let addr = self.node.endpoint(port).await?;
        let t = Instant::now();
        let attempts = match step.expect {
            Expect::Success => 20,
            Expect::Failure => 3,
        };
        let mut last = String::new();
        let mut ok = false;
        for i in 0..attempts {
            let answer = match proto {
                Proto::Tcp => match http_probe::get(addr, Duration::from_secs(2)).await {
                    Ok(200) => Ok("HTTP 200".to_string()),
                    Ok(code) => Err(format!("HTTP {code}")),
                    Err(e) => Err(format!("no answer ({})", short_io_error(&e))),
                },
                Proto::Udp => match udp_probe::echo(addr, Duration::from_secs(1)).await {
                    Ok(reply) => Ok(format!("echo {reply:?}")),
                    Err(e) => Err(format!("no echo ({})", short_io_error(&e))),
                },
            };
            match answer {
                Ok(a) => {
                    ok = true;
                    last = a;
                    break;
                }
                Err(a) => last = a,
            }
            if step.expect == Expect::Failure || i + 1 < attempts {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let what = match proto {
            Proto::Tcp => format!("GET http://{addr}/"),
            Proto::Udp => format!("UDP {} to {addr}", udp_probe::PAYLOAD),
        };
        self.record(stage, "host", what, if ok { 0 } else { 1 }, last.clone(), String::new(), t.elapsed());
        report.result = last.clone();
        Ok((ok, last))
    }

    async fn doctor(&mut self, stage: Stage, step: &Step, call: &DoctorCall, report: &mut StepReport) -> anyhow::Result<(bool, String)> {
        let target = match call {
            // A container node's shell as that user (the loader allows it on containers only).
            DoctorCall::Check { user: Some(u), .. } => match self.node.doctor_target().strip_prefix("docker:") {
                Some(id) => format!("cmd:docker exec -i -u {u} {id} sh"),
                None => anyhow::bail!("a doctor step with `user` needs a container node"),
            },
            _ => self.node.doctor_target(),
        };
        let args: Vec<&str> = match call {
            DoctorCall::Check { .. } => vec!["check"],
            fix @ DoctorCall::Fix { .. } => fix_args(fix),
        };
        let run = doctor_cli::run(self.doctor, &args, &target, self.deadline(step)).await?;
        self.record(stage, "host", run.command.clone(), run.exit_code, run.stdout.clone(), run.stderr.clone(), run.duration);
        report.result = format!("exit {}", run.exit_code);
        let output = format!("{}\n{}", run.stdout, run.stderr);
        match call {
            DoctorCall::Check { expect_findings, could_not_look, .. } => {
                let check: CheckReport = doctor_cli::parse(&run)?;
                let codes = check.verdict_codes();
                if self.collect_facts && stage == Stage::Diagnose && report.facts.is_none() {
                    // The state the verdict came from, for a replay round
                    // trip; as root (a `user` check is about the doctor's sight).
                    let args = vec!["collect".to_string(), "--target".into(), self.node.doctor_target()];
                    if let Ok(c) = doctor_cli::run_args(self.doctor, args, self.deadline(step)).await
                        && c.exit_code == 0
                    {
                        report.facts = Some(c.stdout);
                    }
                }
                let blind = check.could_not_look.clone();
                report.check = Some(check);
                if run.exit_code < 0 {
                    return Ok((false, output));
                }
                // Exit 3 means the doctor could not look: a pass only where
                // the scenario made it blind on purpose and it said so.
                let missed: Vec<&String> = could_not_look.iter().filter(|w| !blind.iter().any(|b| b.contains(w.as_str()))).collect();
                let has_incident = run.exit_code == 2;
                if could_not_look.is_empty() {
                    if run.exit_code == 3 || !blind.is_empty() {
                        return Ok((false, format!("{output}\nthe doctor could not look at {blind:?}; the scenario expects it to see everything")));
                    }
                } else if !missed.is_empty() || (run.exit_code != 3 && !has_incident) {
                    return Ok((false, format!(
                        "{output}\nthe scenario expects the doctor to say it could not look at {could_not_look:?} (exit 3); it exited {} and could not look at {blind:?}",
                        run.exit_code
                    )));
                }
                if let Some(expected) = expect_findings {
                    let mut expected = expected.clone();
                    expected.sort();
                    if codes != expected {
                        // Last, so the failure message's output tail ends with it.
                        return Ok((false, format!("{output}\nthe doctor found {codes:?}, the scenario expects {expected:?}")));
                    }
                }
                Ok((true, output))
            }
            DoctorCall::Fix { .. } => {
                let fix: FixReport = doctor_cli::parse(&run)?;
                let rebooted = fix.rebooted;
                report.fix = Some(fix);
                if run.exit_code != 0 {
                    return Ok((false, output));
                }
                if rebooted {
                    // The doctor says it rebooted the node: it must really go
                    // down by itself; the harness then only plays bootloader.
                    let t = Instant::now();
                    let r = self.node.await_own_reboot(self.deadline(step)).await;
                    let err = r.as_ref().err().map(|e| format!("{e:#}")).unwrap_or_default();
                    self.record(stage, "node", "wait for the node's own reboot, boot its newest kernel".into(), if r.is_ok() { 0 } else { 1 }, String::new(), err.clone(), t.elapsed());
                    report.result = match &r {
                        Ok(()) => "exit 0; the node rebooted by itself and is back".into(),
                        Err(_) => "exit 0 but the node did not reboot".into(),
                    };
                    if r.is_err() {
                        return Ok((false, err));
                    }
                }
                Ok((true, output))
            }
        }
    }

    /// Every backend's rules (see [`admin_rules::DUMP_SCRIPT`]), recorded in the transcript.
    async fn dump_rules(&mut self, stage: Stage) -> anyhow::Result<String> {
        let t = Instant::now();
        let out = self.node.exec(admin_rules::DUMP_SCRIPT).await?;
        self.record(stage, "node", "dump the rules of every iptables backend".into(), out.exit_code, out.stdout.clone(), out.stderr.clone(), t.elapsed());
        Ok(out.stdout)
    }

    /// The idempotence stage: `fix --apply` again must plan nothing and
    /// change no rule of any backend, and no rule that is not Docker's may
    /// have been lost by the cure (carried to another backend is kept).
    async fn idempotence(&mut self, before_fix: &str, fix_call: &DoctorCall) -> anyhow::Result<(StageReport, Option<String>)> {
        let stage = Stage::Idempotence;
        let mut steps = Vec::new();
        let mut why = None;
        let after_first = self.dump_rules(stage).await?;
        let step = Step {
            action: Action::Doctor(fix_call.clone()),
            // Without consent the fix leaves its incident, and exits 2 both times.
            expect: if matches!(fix_call, DoctorCall::Fix { yes: false, .. }) { Expect::Failure } else { Expect::Success },
            contains: Vec::new(),
            timeout: Duration::from_secs(300),
            timeout_given: false,
            line: 0,
            on: Vec::new(),
        };
        let (mut second, failed) = self.run_step(stage, &step).await?;
        second.step = format!("{} (again, on the cured node)", second.step);
        let consented = matches!(fix_call, DoctorCall::Fix { yes: true, .. });
        if let Some(f) = &second.fix {
            // Without consent the same steps are skipped again: only what it applies counts.
            let skipped = f.skipped.iter().map(|s| s.command.as_str()).filter(|_| consented);
            let planned: Vec<&str> = f.applied.iter().map(|a| a.command.as_str()).chain(skipped).collect();
            if !planned.is_empty() || f.rebooted {
                why = Some(format!("the second fix was not a no-op: it planned {planned:?} (rebooted: {})", f.rebooted));
            }
        }
        why = why.or(failed);
        steps.push(second);
        let after_second = self.dump_rules(stage).await?;
        let (a, b) = (admin_rules::normalised(&after_first), admin_rules::normalised(&after_second));
        let changed: Vec<String> = diff_lines(&a, &b);
        steps.push(StepReport {
            step: "the rules of every iptables backend, before and after the second fix".into(),
            expect: Expect::Success,
            result: if changed.is_empty() { "identical".into() } else { format!("{} lines differ", changed.len()) },
            evidence: changed.clone(),
            check: None,
            fix: None,
            facts: None,
        });
        if !changed.is_empty() && why.is_none() {
            why = Some(format!("the second fix changed the rules:\n{}", changed.join("\n")));
        }
        if !consented {
            // Consent withheld: the fix may not have changed any rule at all.
            let changed = diff_lines(&admin_rules::normalised(before_fix), &admin_rules::normalised(&after_first));
            steps.push(StepReport {
                step: "every rule, before and after the fix without consent".into(),
                expect: Expect::Success,
                result: if changed.is_empty() { "identical".into() } else { format!("{} lines differ", changed.len()) },
                evidence: changed.clone(),
                check: None,
                fix: None,
                facts: None,
            });
            if !changed.is_empty() && why.is_none() {
                why = Some(format!("the fix without --yes changed rules:\n{}", changed.join("\n")));
            }
        }
        let d = admin_rules::diff(&admin_rules::parse_dump(before_fix), &admin_rules::parse_dump(&after_second));
        steps.push(StepReport {
            step: "the rules that are not Docker's, before the fix and now, in any backend".into(),
            expect: Expect::Success,
            result: if d.lost.is_empty() { format!("{} before, none lost", d.before) } else { format!("{} before, {} lost", d.before, d.lost.len()) },
            evidence: d.lost.clone(),
            check: None,
            fix: None,
            facts: None,
        });
        if !d.lost.is_empty() && why.is_none() {
            why = Some(format!("the cure lost rules that are not Docker's:\n{}", d.lost.join("\n")));
        }
        Ok((StageReport { stage, steps }, why))
    }

    #[allow(clippy::too_many_arguments)]
    fn record(&mut self, stage: Stage, place: &'static str, command: String, exit_code: i64, stdout: String, stderr: String, duration: Duration) {
        self.transcript.entries.push(TranscriptEntry { stage: Some(stage), place, command, exit_code, stdout, stderr, duration });
    }
}

/// `[kernel-old]` for the oldest installed kernel release, `[kernel-new]`
/// for the newest, `[kernel-N]` for any between (input: `sort -V` order).
fn kernel_placeholders(sorted_releases: &str) -> Vec<(String, &'static str)> {
    const MIDDLE: [&str; 4] = ["[kernel-2]", "[kernel-3]", "[kernel-4]", "[kernel-5]"];
    let releases: Vec<&str> = sorted_releases.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let last = releases.len().saturating_sub(1);
    releases
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let name = match i {
                0 => "[kernel-old]",
                i if i == last => "[kernel-new]",
                i => *MIDDLE.get(i - 1)?,
            };
            Some((r.to_string(), name))
        })
        .collect()
}

/// `fix --apply [--yes] [--allow-reboot]` for a fix step.
fn fix_args(call: &DoctorCall) -> Vec<&'static str> {
    let mut args = vec!["fix", "--apply"];
    if let DoctorCall::Fix { allow_reboot, yes } = call {
        if *yes {
            args.push("--yes");
        }
        if *allow_reboot {
            args.push("--allow-reboot");
        }
    }
    args
}

/// Lines only in `a` (`- …`) or only in `b` (`+ …`), in order.
fn diff_lines(a: &str, b: &str) -> Vec<String> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let gone = la.iter().filter(|l| !lb.contains(l)).map(|l| format!("- {l}"));
    let new = lb.iter().filter(|l| !la.contains(l)).map(|l| format!("+ {l}"));
    gone.chain(new).collect()
}

fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn short_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_named_by_rank() {
        let k = kernel_placeholders("6.1.0-55-amd64\n6.1.0-56-amd64\n");
        assert_eq!(k, vec![("6.1.0-55-amd64".to_string(), "[kernel-old]"), ("6.1.0-56-amd64".to_string(), "[kernel-new]")]);
        assert!(kernel_placeholders("").is_empty());
    }
}
