//! `netdoctor`: the command line of the doctor. Exit codes: 0 healthy,
//! 1 warnings only, 2 incident found (or left after a fix), 3 could not run.

use clap::{Parser, Subcommand, ValueEnum};
use doctor::facts::Facts;
use doctor::finding::Summary;
use doctor::transport::Transport;
use doctor::{explain, fix, report, rules, Error};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "netdoctor", version, about = "Detects, explains and remediates Docker-host networking incidents")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Collect facts and print findings (exit 0 healthy, 1 warnings, 2 incident, 3 error).
    Check {
        /// local | docker:CONTAINER | ssh:USER@HOST | cmd:COMMAND
        #[arg(long, default_value = "local")]
        target: Transport,
        /// Analyse saved facts (from `netdoctor collect`) instead of a live target.
        #[arg(long)]
        facts: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the target's facts as JSON (what to send to support).
    Collect {
        /// local | docker:CONTAINER | ssh:USER@HOST | cmd:COMMAND
        #[arg(long, default_value = "local")]
        target: Transport,
        /// Parse saved probe output (from `netdoctor probe-script | sh`) instead of running the probe.
        #[arg(long, conflicts_with = "target")]
        probe_output: Option<PathBuf>,
        /// Re-read saved facts (to bundle them) instead of a live target.
        #[arg(long, conflicts_with_all = ["target", "probe_output"])]
        facts: Option<PathBuf>,
        /// Write a bundle (facts plus what a reproduction needs; see the
        /// README's "Bundles") to FILE instead of printing the facts.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// With --bundle: replace addresses, container names and ids and the
        /// host name consistently, so the file can leave the network.
        #[arg(long, requires = "bundle")]
        redact: bool,
    },
    /// Print the probe script, to run by hand where netdoctor cannot reach.
    ProbeScript,
    /// Print the remediation plan; with --apply run it, re-collect and report.
    Fix {
        /// local | docker:CONTAINER | ssh:USER@HOST | cmd:COMMAND
        #[arg(long, default_value = "local")]
        target: Transport,
        /// Plan from saved facts (dry run only).
        #[arg(long, conflicts_with = "apply")]
        facts: Option<PathBuf>,
        /// Run the plan (default: dry run).
        #[arg(long)]
        apply: bool,
        /// Allow steps that stop running containers.
        #[arg(long)]
        yes: bool,
        /// Allow a reboot step (issued detached; re-collect is skipped).
        #[arg(long)]
        allow_reboot: bool,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Classify an error message or journal excerpt (TEXT, or stdin with `-` or nothing).
    Explain {
        text: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Measure analysis on saved facts and, with --target, collection on a live node.
    Bench {
        /// Directory of facts JSON files (default: the crate's test fixtures).
        #[arg(long)]
        facts: Option<PathBuf>,
        /// Live target to time `collect` against.
        #[arg(long)]
        target: Option<Transport>,
        /// Samples per measurement.
        #[arg(long, default_value_t = 20)]
        n: usize,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("netdoctor: error: {e}");
            ExitCode::from(3)
        }
    }
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("report types serialize")
}

fn facts_for(target: &Transport, facts: &Option<PathBuf>) -> Result<Facts, Error> {
    match facts {
        Some(p) => doctor::load_facts(p),
        None => doctor::collect(target),
    }
}

fn run(cli: Cli) -> Result<i32, Error> {
    match cli.cmd {
        Cmd::Check { target, facts, format } => {
            let f = facts_for(&target, &facts)?;
            let findings = rules::analyse(&f);
            match format {
                Format::Json => println!("{}", json(&report::CheckReport::new(&f.target, &findings, &f.could_not_look))),
                Format::Human => print!("{}", report::check_human(&f.target, &findings, &f.notes, &f.could_not_look, color())),
            }
            Ok(Summary::of(&findings).verdict_code(&f.could_not_look))
        }
        Cmd::Collect { target, probe_output, facts, bundle, redact } => {
            let f = match probe_output {
                _ if facts.is_some() => facts_for(&target, &facts)?,
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .map_err(|e| Error::Other(format!("probe output {}: cannot read: {e}", p.display())))?;
                    doctor::collect::parse_probe(&text, &format!("file:{}", p.file_name().unwrap_or_default().to_string_lossy()))
                        .map_err(|e| Error::Other(format!("probe output {}: {e}", p.display())))?
                }
                None => doctor::collect(&target)?,
            };
            match bundle {
                Some(path) => {
                    let b = doctor::bundle::bundle(f, redact);
                    std::fs::write(&path, json(&b) + "\n").map_err(|e| Error::Other(format!("bundle {}: cannot write: {e}", path.display())))?;
                    eprintln!("bundle written to {}{}", path.display(), if redact { " (redacted)" } else { "" });
                }
                None => println!("{}", json(&f)),
            }
            Ok(0)
        }
        Cmd::ProbeScript => {
            print!("{}", doctor::collect::PROBE_SCRIPT);
            Ok(0)
        }
        Cmd::Fix { target, facts, apply, yes, allow_reboot, format } => {
            let f = facts_for(&target, &facts)?;
            let findings = rules::analyse(&f);
            if !apply {
                match format {
                    Format::Json => println!("{}", json(&report::PlanReport::new(&f.target, &findings))),
                    Format::Human => print!("{}", report::plan_human(&f.target, &findings, color())),
                }
                return Ok(Summary::of(&findings).exit_code());
            }
            let r = fix::apply(&target, &findings, fix::Consent { yes, allow_reboot })?;
            match format {
                Format::Json => println!("{}", json(&r)),
                Format::Human => print!("{}", report::fix_human(&r, color())),
            }
            for s in r.skipped.iter().filter(|s| s.needs == "yes" || s.needs == "allow-reboot") {
                eprintln!("netdoctor: not run: `{}`: {}", s.command, s.reason);
            }
            Ok(r.exit_code)
        }
        Cmd::Explain { text, format } => {
            let text = match text.as_deref() {
                None | Some("-") => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| Error::Other(format!("cannot read stdin: {e}")))?;
                    s
                }
                Some(t) => t.to_string(),
            };
            let (causes, facts) = explain::classify_with_facts(&text);
            match format {
                Format::Json => println!("{}", json(&report::ExplainReport::new(&causes, &facts))),
                Format::Human => print!("{}", report::explain_human(&causes, color())),
            }
            Ok(0)
        }
        Cmd::Bench { facts, target, n } => bench(facts, target, n.max(1)),
    }
}

/// `name: median=… min=… max=… n=…`.
fn stats(name: &str, mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let med = v[v.len() / 2];
    format!("{name}: median={med:.0} min={:.0} max={:.0} n={}", v[0], v[v.len() - 1], v.len())
}

fn bench(dir: Option<PathBuf>, target: Option<Transport>, n: usize) -> Result<i32, Error> {
    let dir = dir.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    let mut texts = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::Other(format!("bench: cannot read facts directory {}: {e}", dir.display())))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let t = std::fs::read_to_string(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
            texts.push((p, t));
        }
    }
    texts.sort();
    if texts.is_empty() {
        return Err(Error::Other(format!("bench: no *.json facts in {}", dir.display())));
    }
    // Saved facts -> findings: parse the JSON and run every rule.
    let mut samples = Vec::new();
    for _ in 0..n {
        for (p, t) in &texts {
            let start = Instant::now();
            let f = doctor::parse_facts(t, p)?;
            let findings = rules::analyse(&f);
            std::hint::black_box(findings);
            samples.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    println!("{}", stats("doctor_analyse_us", samples));
    if let Some(t) = target {
        let mut collect = Vec::new();
        let mut check = Vec::new();
        for _ in 0..n {
            let start = Instant::now();
            let f = doctor::collect(&t)?;
            collect.push(start.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(rules::analyse(&f));
            check.push(start.elapsed().as_secs_f64() * 1e3);
        }
        println!("{}", stats("doctor_collect_ms", collect));
        println!("{}", stats("doctor_check_ms", check));
    }
    Ok(0)
}
