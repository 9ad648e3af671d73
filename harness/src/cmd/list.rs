//! `repro list`: the scenarios, with the platforms and backends each runs on.

use anyhow::Result;

/// Arguments of `repro list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Directory of scenario files.
    #[arg(long, default_value_os_t = super::scenarios_dir())]
    scenarios: std::path::PathBuf,
}

/// Prints one line per scenario: name, platforms, backends, summary.
pub async fn run(args: ListArgs) -> Result<()> {
    let all = harness::scenario::load_dir(&args.scenarios)?;
    let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &all {
        let platforms: Vec<&str> = s.platforms.iter().map(|p| p.name()).collect();
        let backends: Vec<&str> = s.backends.iter().map(|b| b.name()).collect();
        println!(
            "{:width$}  {:18}  {:14}  {}",
            s.name,
            platforms.join(","),
            backends.join(","),
            s.summary
        );
    }
    Ok(())
}
