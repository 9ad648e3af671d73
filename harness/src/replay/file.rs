//! A bundle (or saved facts) file to a written scenario and, when asked, its
//! run: the doctor states the bundle of saved facts, judges the bundle, and
//! the runner runs the derived scenario on a fresh node.

use crate::doctor_cli::{self, CheckReport};
use crate::events::Event;
use crate::platform::Platform;
use crate::runner::{self, Keep, RunOptions};
use crate::scenario::{self, Stage};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How far `replay_file` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTo {
    /// Write the scenario only.
    Nothing,
    /// Run it up to the doctor's diagnosis (the round trip's question).
    Diagnose,
    /// Run it whole: the cure, and the truth after it.
    End,
}

/// What a replay did (`platform` is where it ran; `nearest` the platform the bundle's versions pick): the doctor's findings on the bundle and on the node.
pub struct Replayed {
    /// The scenario file written.
    pub path: PathBuf,
    /// The platform it runs on.
    pub platform: Platform,
    /// The nearest platform to the bundle's versions.
    pub nearest: Platform,
    /// Its backend.
    pub backend: crate::platform::NodeBackend,
    /// Findings on the bundle.
    pub bundle_findings: Vec<String>,
    /// Findings on the replayed node (None: the run stopped before diagnose).
    pub node_findings: Option<Vec<String>>,
}

/// Derives the scenario of `file`, writes it to `path`, and (with `run`)
/// runs it; shared with the round-trip test.
pub async fn replay_file(
    file: &Path,
    path: &Path,
    doctor: &Path,
    run: RunTo,
    keep: Keep,
    on: Option<Platform>,
    transcript_dir: &Path,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Result<Replayed> {
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
    let bundle = super::parse(&bundle_text, &file.display().to_string()).map_err(anyhow::Error::msg)?;
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
        matrix.push((p, crate::matrix::resolve(p)?.versions.clone()));
    }
    let source = format!("bundle {}", file.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
    let derived = super::derive(&bundle, &bundle_findings, &source, &matrix, on);
    tracing::info!("▶ replay of {}: the doctor finds {} on it", file.display(), show(&bundle_findings));
    tracing::info!("  nearest platform: {} on {}", crate::matrix::resolve(derived.platform)?.describe(), derived.backend);
    for d in &derived.differences {
        tracing::info!("  differs: {d}");
    }
    for n in &derived.not_reproduced {
        tracing::info!("  not reproduced: {n}");
    }
    std::fs::write(path, &derived.toml).with_context(|| format!("cannot write {}", path.display()))?;
    let s = scenario::load(path).with_context(|| format!("the derived scenario {} does not load (a replay defect)", path.display()))?;
    let stop_after = match run {
        RunTo::Nothing => return Ok(Replayed { path: path.to_path_buf(), platform: derived.platform, nearest: derived.nearest, backend: derived.backend, bundle_findings, node_findings: None }),
        RunTo::Diagnose => Some(Stage::Diagnose),
        RunTo::End => None,
    };
    let opts = RunOptions { doctor: doctor.to_path_buf(), keep, stop_after, transcript_dir: transcript_dir.to_path_buf(), collect_facts: false };
    match runner::run(&s, derived.platform, derived.backend, &opts, on_event).await {
        Ok(outcome) => {
            let node = diagnosed(&outcome);
            Ok(Replayed { path: path.to_path_buf(), platform: derived.platform, nearest: derived.nearest, backend: derived.backend, bundle_findings, node_findings: node })
        }
        Err(e) if matches!(e.stage, Some(Stage::Remediate | Stage::Idempotence | Stage::Verify)) => {
            // The state and the diagnosis were reproduced; the cure did not
            // bring this node back: the scenario keeps what holds, and says so.
            let kept = without_cure(&derived.toml, &e.to_string());
            std::fs::write(path, kept)?;
            scenario::load(path)?;
            tracing::info!("  the doctor's cure did not pass on the replay ({}): remediate and verify left out of {}, with the reason", e.stage.map_or("?", |s| s.name()), path.display());
            Ok(Replayed { path: path.to_path_buf(), platform: derived.platform, nearest: derived.nearest, backend: derived.backend, bundle_findings: bundle_findings.clone(), node_findings: Some(bundle_findings) })
        }
        Err(e) => Err(anyhow::anyhow!("{e}")).with_context(|| format!("the replay scenario {} failed", path.display())),
    }
}

/// The findings of the run's diagnose stage.
fn diagnosed(o: &crate::outcome::Outcome) -> Option<Vec<String>> {
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

/// Finding codes for people: `[a, b]`, or `[] (healthy)`.
pub fn show(codes: &[String]) -> String {
    if codes.is_empty() { "[] (healthy)".into() } else { format!("[{}]", codes.join(", ")) }
}
