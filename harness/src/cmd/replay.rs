//! `repro replay FILE`: a customer's bundle (or saved facts) to a node in the
//! same state, the doctor's findings on it compared with its findings on
//! the bundle, and `scenarios/NAME.toml` to keep as a regression test.

use anyhow::{Result, bail};
use harness::doctor_cli;
use harness::events::Event;
use harness::replay;
use harness::replay::file::show;
use harness::runner::Keep;
use std::path::PathBuf;

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
    /// Replay on this platform instead of the nearest one.
    #[arg(long)]
    platform: Option<String>,
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
    let on = args.platform.as_deref().map(super::parse_platform).transpose()?;
    let mut progress = |e: Event| super::draw::event(&e);
    let transcripts = super::workspace_dir().join("target/repro/transcripts");
    let r = replay::file::replay_file(&args.file, &path, &doctor, if args.no_run { replay::file::RunTo::Nothing } else { replay::file::RunTo::End }, keep, on, &transcripts, &mut progress).await?;
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


