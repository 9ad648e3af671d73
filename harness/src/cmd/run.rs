//! `repro run`: one scenario end to end, with stage-by-stage progress, an
//! incident report at the end, and the transcript written under target/.

use anyhow::{Context, Result, bail};
use harness::doctor_cli;
use harness::events::Event;
use harness::outcome::Outcome;
use harness::platform::NodeBackend;
use harness::runner::{self, Keep, RunOptions};
use harness::scenario::{self, Stage};
use std::path::PathBuf;

/// Arguments of `repro run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario name (see `repro list`) or path to a scenario file.
    scenario: String,
    /// Only this platform (default: every platform the scenario declares).
    #[arg(long)]
    platform: Option<String>,
    /// Only this backend: container or vm (default: every backend it declares).
    #[arg(long)]
    backend: Option<String>,
    /// Keep the node afterwards: never, on-failure or always.
    #[arg(long, default_value = "never", value_parser = ["never", "on-failure", "always"])]
    keep: String,
    /// Stop after this stage (prepare, fault, symptom, diagnose, remediate, verify).
    #[arg(long)]
    stop_after: Option<String>,
    /// The netdoctor build to test (default: this workspace's).
    #[arg(long)]
    doctor: Option<PathBuf>,
    /// Directory of scenario files.
    #[arg(long, default_value_os_t = harness::config::scenarios_dir())]
    scenarios: PathBuf,
}

/// Runs every selected platform × backend of the scenario in turn.
pub async fn run(args: RunArgs) -> Result<()> {
    let path = if args.scenario.ends_with(".toml") {
        PathBuf::from(&args.scenario)
    } else {
        args.scenarios.join(format!("{}.toml", args.scenario))
    };
    if !path.is_file() {
        bail!("no scenario {:?} (looked for {}); `repro list` shows them", args.scenario, path.display());
    }
    let s = scenario::load(&path)?;
    let platforms = match &args.platform {
        Some(p) => vec![super::parse_platform(p)?],
        None => s.platforms.clone(),
    };
    let backends = match &args.backend {
        Some(b) => vec![NodeBackend::parse(b).with_context(|| format!("unknown backend {b:?}; expected container or vm"))?],
        None => s.backends.clone(),
    };
    let stop_after = match &args.stop_after {
        Some(st) => Some(Stage::parse(st).with_context(|| format!("unknown stage {st:?}; expected one of: prepare, fault, symptom, diagnose, remediate, verify"))?),
        None => None,
    };
    let keep = match args.keep.as_str() {
        "always" => Keep::Always,
        "on-failure" => Keep::OnFailure,
        _ if stop_after.is_some() => Keep::Always, // stopping early is for looking around
        _ => Keep::Never,
    };
    let doctor = match args.doctor.or_else(|| s.doctor.clone()) {
        Some(d) => d,
        None => doctor_cli::default_doctor()?,
    };
    let opts = RunOptions { doctor, keep, stop_after, transcript_dir: super::workspace_dir().join("target/repro/transcripts"), collect_facts: false };

    let mut failed = 0;
    for &platform in &platforms {
        for &backend in &backends {
            if !s.runs().contains(&(platform, backend)) {
                if args.platform.is_none() || args.backend.is_none() {
                    continue; // excluded from the matrix by the scenario
                }
                bail!("{} does not declare {platform}/{backend}; it runs on {:?}", s.name, s.runs());
            }
            let resolved = harness::matrix::resolve(platform)?;
            eprintln!("▶ {} on {}/{backend}: {}", s.name, resolved.label, s.summary);
            eprintln!("  platform {}", resolved.describe());
            let mut progress = |e: Event| super::draw::event(&e);
            match runner::run(&s, platform, backend, &opts, &mut progress).await {
                Ok(outcome) => {
                    print!("{}", report(&outcome));
                    match stop_after {
                        Some(stage) => eprintln!("✔ {} on {}/{backend}: every step up to `{stage}` met its expectation", s.name, outcome.platform),
                        None => eprintln!("✔ {} on {}/{backend} passed", s.name, outcome.platform),
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("✘ {e}");
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} run(s) failed");
    }
    Ok(())
}

/// The outcome as an incident report a support engineer can read.
fn report(o: &Outcome) -> String {
    use std::fmt::Write as _;
    let mut r = String::new();
    let _ = writeln!(r, "\n# {} ({} {})\n{}\nsource: {}", o.scenario, o.platform, o.backend, o.summary, o.source);
    for st in &o.stages {
        let _ = writeln!(r, "\n## {}", st.stage);
        for step in &st.steps {
            let _ = writeln!(r, "- {} → {} (expected {:?})", step.step, step.result, step.expect);
            for line in &step.evidence {
                let _ = writeln!(r, "    | {line}");
            }
            if let Some(check) = &step.check {
                for b in &check.could_not_look {
                    let _ = writeln!(r, "    could not look: {b}");
                }
                if check.findings.is_empty() && check.could_not_look.is_empty() {
                    let _ = writeln!(r, "    no findings: healthy");
                }
                for f in &check.findings {
                    let _ = writeln!(r, "    {} [{}]: {}", f.code, f.severity, f.title);
                    for ev in &f.evidence {
                        let _ = writeln!(r, "      evidence: {ev}");
                    }
                    for p in &f.plan {
                        let _ = writeln!(r, "      plan: {}  ({}; disrupts: {})", p.command, p.why, p.disrupts);
                    }
                }
            }
            if let Some(fix) = &step.fix {
                for a in &fix.applied {
                    let _ = writeln!(r, "    applied: {} → exit {}", a.command, a.exit_code);
                }
                for sk in &fix.skipped {
                    let _ = writeln!(r, "    skipped: {} (needs {})", sk.command, sk.needs);
                }
                let _ = writeln!(r, "    resolved: {:?}; remaining: {:?}; unverified: {:?}; rebooted: {}", fix.resolved, fix.remaining, fix.unverified, fix.rebooted);
                if let Some(n) = &fix.note {
                    let _ = writeln!(r, "    note: {n}");
                }
            }
        }
    }
    r
}
