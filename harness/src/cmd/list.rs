//! `repro list`: the platform matrix, then the scenarios with the platforms
//! (labelled with their Docker version) and backends each runs on.

use anyhow::Result;
use harness::platform::Platform;

/// Arguments of `repro list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Directory of scenario files.
    #[arg(long, default_value_os_t = harness::config::scenarios_dir())]
    scenarios: std::path::PathBuf,
}

/// Prints the platforms (versions, image tag), then one line per scenario:
/// name, platform labels, backends, summary, and the run count.
pub async fn run(args: ListArgs) -> Result<()> {
    println!("platforms:");
    for p in Platform::ALL {
        match harness::matrix::resolve(p) {
            Ok(r) => println!("  {:18} {}  [{}]", p.name(), r.describe(), r.tag),
            Err(e) => println!("  {:18} cannot be resolved: {e:#}", p.name()),
        }
    }
    let all = harness::scenario::load_dir(&args.scenarios)?;
    let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut runs = 0;
    println!("\nscenarios:");
    for s in &all {
        let runs_of: Vec<String> = s
            .runs()
            .iter()
            .map(|(p, b)| {
                let label = harness::matrix::resolve(*p).map(|r| r.label.clone()).unwrap_or_else(|_| p.name().to_string());
                format!("{label}/{b}")
            })
            .collect();
        runs += runs_of.len();
        println!("  {:width$}  {}", s.name, s.summary);
        println!("  {:width$}    runs on: {}", "", runs_of.join(", "));
    }
    println!("\n{} scenarios, {runs} runs (scenario x platform x backend)", all.len());
    Ok(())
}
