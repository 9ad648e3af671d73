//! `repro replay FILE`: a customer's bundle (or saved facts) to a node in the
//! same state, the doctor's findings on it compared with its findings on
//! the bundle, and `scenarios/NAME.toml` to keep as a regression test.

use anyhow::{Context, Result, bail};
use harness::doctor_cli::{self, CheckReport};
use harness::events::Event;
use harness::platform::Platform;
use harness::replay;
use harness::runner::{self, Keep, RunOptions};
use harness::scenario::{self, Stage};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `repro replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// A bundle (`netdoctor collect --bundle FILE`) or a facts file (`netdoctor collect > FILE`).
    file: PathBuf,
    /// The scenario's name (default: `replay-` and the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Directory the scenario file is written to.
    #[arg(long, default_value_os_t = harness::config::scenarios_dir())]
    scenarios: PathBuf,
    /// Overwrite an existing scenario file of that name.
    #[arg(long)]
    force: bool,
    /// Write the scenario only; do not start a node.
    #[arg(long)]
    no_run: bool,
    /// The netdoctor build to use (default: this workspace's).
    #[arg(long)]
    doctor: Option<PathBuf>,
    /// Keep the node afterwards: never, on-failure or always.
    #[arg(long, default_value = "never", value_parser = ["never", "on-failure", "always"])]
    keep: String,
}

/// What a replay did: the doctor's findings on the bundle and on the node.
pub struct Replayed {
    /// The scenario file written.
    pub path: PathBuf,
    /// Findings on the bundle.
    pub bundle_findings: Vec<String>,
    /// Findings on the replayed node (None: the run stopped before diagnose).
    pub node_findings: Option<Vec<String>>,
}

/// Runs `repro replay`.
pub async fn run(args: ReplayArgs) -> Result<()> {
    let doctor = match &args.doctor {
        Some(d) => d.clone(),
        None => doctor_cli::default_doctor()?,
    };
    let stem = args.file.file_stem().and_then(|s| s.to_str()).unwrap_or("bundle").to_string();
    let name = args.name.clone().unwrap_or_else(|| format!("replay-{}", stem.trim_start_matches("replay-")));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("--name {name:?}: a scenario name is letters, digits, `-` and `_`");
    }
    let path = args.scenarios.join(format!("{name}.toml"));
    if path.exists() && !args.force {
        bail!("{} exists; pass --force to overwrite it or --name to choose another", path.display());
    }
    let keep = match args.keep.as_str() {
        "always" => Keep::Always,
        "on-failure" => Keep::OnFailure,
        _ => Keep::Never,
    };
    let r = replay_file(&args.file, &path, &doctor, !args.no_run, keep).await?;
    match r.node_findings {
        None => eprintln!("scenario written to {} (not run: --no-run)", r.path.display()),
        Some(node) if node == r.bundle_findings => {
            eprintln!("✔ same findings on the replayed node as on the bundle: {}", show(&node));
            eprintln!("  scenario: {}; run it with `repro run {name}`", r.path.display());
        }
        Some(node) => bail!("the replayed node's findings {} differ from the bundle's {}", show(&node), show(&r.bundle_findings)),
    }
    Ok(())
}

fn show(codes: &[String]) -> String {
    if codes.is_empty() { "[] (healthy)".into() } else { format!("[{}]", codes.join(", ")) }
}

/// Derives the scenario of `file`, writes it to `path`, and (with `run`)
/// runs it; shared with the round-trip test.
pub async fn replay_file(file: &Path, path: &Path, doctor: &Path, run: bool, keep: Keep) -> Result<Replayed> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let is_bundle = serde_json::from_str::<serde_json::Value>(&text).ok().is_some_and(|v| v.get("bundle").is_some());
    let tmp = tempfile::tempdir()?;
    let bundle_path = if is_bundle {
        file.to_path_buf()
    } else {
        // Saved facts: the doctor states what a reproduction needs.
        let out = tmp.path().join("bundle.json");
        let args = vec!["collect".into(), "--facts".into(), file.display().to_string(), "--bundle".into(), out.display().to_string()];
        let d = doctor_cli::run_args(doctor, args, Duration::from_secs(60)).await?;
        if d.exit_code != 0 {
            bail!("`{}` failed (exit {}): {}", d.command, d.exit_code, d.stderr.trim());
        }
        out
    };
    let bundle_text = std::fs::read_to_string(&bundle_path)?;
    let bundle = replay::parse(&bundle_text, &file.display().to_string()).map_err(anyhow::Error::msg)?;
    let check = doctor_cli::run_args(
        doctor,
        vec!["check".into(), "--facts".into(), bundle_path.display().to_string(), "--format".into(), "json".into()],
        Duration::from_secs(60),
    )
    .await?;
    let report: CheckReport = doctor_cli::parse(&check)?;
    let bundle_findings = report.verdict_codes();

    let mut matrix = Vec::new();
    for p in Platform::ALL {
        matrix.push((p, harness::matrix::resolve(p)?.versions.clone()));
    }
    let source = format!("bundle {}", file.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
    let derived = replay::derive(&bundle, &bundle_findings, &source, &matrix);
    eprintln!("▶ replay of {}: the doctor finds {} on it", file.display(), show(&bundle_findings));
    eprintln!("  nearest platform: {} on {}", harness::matrix::resolve(derived.platform)?.describe(), derived.backend);
    for d in &derived.differences {
        eprintln!("  differs: {d}");
    }
    for n in &derived.not_reproduced {
        eprintln!("  not reproduced: {n}");
    }
    std::fs::write(path, &derived.toml).with_context(|| format!("cannot write {}", path.display()))?;
    let s = scenario::load(path).with_context(|| format!("the derived scenario {} does not load (a replay defect)", path.display()))?;
    if !run {
        return Ok(Replayed { path: path.to_path_buf(), bundle_findings, node_findings: None });
    }
    let opts = RunOptions { doctor: doctor.to_path_buf(), keep, stop_after: None, transcript_dir: super::workspace_dir().join("target/repro/transcripts") };
    let mut progress = |e: Event| super::draw::event(&e);
    match runner::run(&s, derived.platform, derived.backend, &opts, &mut progress).await {
        Ok(outcome) => {
            let node = diagnosed(&outcome);
            Ok(Replayed { path: path.to_path_buf(), bundle_findings, node_findings: node })
        }
        Err(e) if matches!(e.stage, Some(Stage::Remediate | Stage::Idempotence | Stage::Verify)) => {
            // The state and the diagnosis were reproduced; the cure did not
            // bring this node back: the scenario keeps what holds, and says so.
            let kept = without_cure(&derived.toml, &e.to_string());
            std::fs::write(path, kept)?;
            scenario::load(path)?;
            eprintln!("  the doctor's cure did not pass on the replay ({}): remediate and verify left out of {}, with the reason", e.stage.map_or("?", |s| s.name()), path.display());
            Ok(Replayed { path: path.to_path_buf(), bundle_findings: bundle_findings.clone(), node_findings: Some(bundle_findings) })
        }
        Err(e) => Err(anyhow::anyhow!("{e}")).with_context(|| format!("the replay scenario {} failed", path.display())),
    }
}

/// The findings of the run's diagnose stage.
fn diagnosed(o: &harness::outcome::Outcome) -> Option<Vec<String>> {
    o.stages.iter().find(|s| s.stage == Stage::Diagnose)?.steps.iter().find_map(|st| st.check.as_ref()).map(CheckReport::verdict_codes)
}

/// The scenario text without its remediate and verify stages, the reason in a comment.
fn without_cure(toml: &str, why: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in toml.lines() {
        if line.starts_with("remediate = [") || line.starts_with("verify = [") {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if skipping && line == "]" {
            skipping = false;
        }
    }
    let first = why.lines().next().unwrap_or(why);
    out.push_str(&format!("\n# Not reproduced: the doctor's cure on the replayed node ({first}); remediate and verify left out.\n"));
    out
}
