//! `repro bench`: the figures DESIGN.md section 4 sets targets for.

use anyhow::Result;
use harness::bench::Figure;
use harness::images;
use harness::node::Node;
use harness::node::container::{ContainerNode, ContainerOptions};
use std::time::Instant;

/// Arguments of `repro bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// How many nodes to start, one after another.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// The platform, e.g. debian12.
    #[arg(long, default_value = "debian12")]
    platform: String,
    /// Also boot this many VM nodes (vm_agent_ms, vm_boot_ms = to dockerd ready, vm_reboot_ms).
    #[arg(long, default_value_t = 0)]
    vm_boots: usize,
    /// Also run this scenario end to end `--runs` times on `--platform`
    /// (scenario_ms, and scenario_failures: the flake count). `all`: every
    /// scenario on every platform and backend it declares, `--runs` times
    /// each, one after another, then a table (median, max, failures).
    #[arg(long)]
    scenario: Option<String>,
    /// How many times to run `--scenario`.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// With `--scenario all`: only the runs on this platform or
    /// platform/backend (e.g. `debian12/container`), so the table can be
    /// measured a slice at a time.
    #[arg(long)]
    only: Option<String>,
}

/// Measures and prints one line per figure.
pub async fn run(args: BenchArgs) -> Result<()> {
    let platform = super::parse_platform(&args.platform)?;
    let docker = harness::docker::connect().await?;
    let recipe = harness::matrix::resolve(platform)?.recipe.clone();

    let mut cold = Figure::new("image_build_cold_ms");
    let first = images::build(&docker, &recipe, false).await?;
    if !first.cached {
        cold.push(first.duration);
    }
    let mut warm = Figure::new("image_build_warm_ms");
    for _ in 0..5 {
        warm.push(images::build(&docker, &recipe, false).await?.duration);
    }

    let mut ready = Figure::new("node_ready_ms");
    let mut probe = Figure::new("probe_import_ms");
    let mut total = Figure::new("node_start_total_ms");
    let mut exec = Figure::new("exec_roundtrip_ms");
    let mut destroy = Figure::new("node_destroy_ms");
    let opts = ContainerOptions { image: Some(first.tag.clone()), ..Default::default() };
    for _ in 0..args.nodes {
        let t = Instant::now();
        let node = ContainerNode::start_with(platform, &opts).await?;
        total.push(t.elapsed());
        ready.push(node.timings().ready);
        probe.push(node.timings().probe);
        for _ in 0..3 {
            exec.push(node.exec("true").await?.duration);
        }
        let t = Instant::now();
        Box::new(node).destroy().await?;
        destroy.push(t.elapsed());
    }
    for f in [&cold, &warm, &ready, &probe, &total, &exec, &destroy] {
        if !f.samples_ms.is_empty() {
            println!("{}", f.line());
        }
    }
    match args.scenario.as_deref() {
        Some("all") => matrix_table(args.runs, args.only.as_deref()).await?,
        Some(name) => scenario_figures(name, platform, args.runs).await?,
        None => {}
    }
    if args.vm_boots > 0 {
        let (figures, accel) = harness::node::vm_bench::figures(platform, args.vm_boots).await?;
        println!("{accel}");
        for f in figures.iter().filter(|f| !f.samples_ms.is_empty()) {
            println!("{}", f.line());
        }
    }
    Ok(())
}

/// Every scenario × platform × backend, `runs` times each, one run at a
/// time (so one run's timing is not another's load); prints a Markdown
/// table: scenario, platform, backend, median and max seconds, failures.
async fn matrix_table(runs: usize, only: Option<&str>) -> Result<()> {
    use harness::runner::{self, Keep, RunOptions};
    let scenarios = harness::scenario::load_dir(&harness::config::scenarios_dir())?;
    let opts = RunOptions {
        doctor: harness::doctor_cli::default_doctor()?,
        keep: Keep::Never,
        stop_after: None,
        transcript_dir: super::workspace_dir().join("target/repro/transcripts"),
    };
    let mut rows = Vec::new();
    for s in &scenarios {
        for (platform, backend) in s.runs() {
            if only.is_some_and(|o| o != platform.to_string() && o != format!("{platform}/{backend}")) {
                continue;
            }
            let mut took = Figure::new("s");
            let mut failures = 0;
            for i in 0..runs {
                let t = Instant::now();
                let r = runner::run(s, platform, backend, &opts, &mut |_| {}).await;
                took.push(t.elapsed());
                if let Err(e) = r {
                    failures += 1;
                    eprintln!("{} {platform}/{backend} run {}: {e}", s.name, i + 1);
                }
            }
            let (median, max) = took.median_max_ms();
            eprintln!("{} {platform}/{backend}: median {:.1} s, max {:.1} s, {failures} of {runs} failed", s.name, median / 1e3, max / 1e3);
            rows.push(format!("| `{}` | {platform} | {backend} | {:.1} | {:.1} | {failures} of {runs} |", s.name, median / 1e3, max / 1e3));
        }
    }
    println!("| scenario | platform | backend | median s | max s | failures |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

/// Runs one scenario `runs` times on its first backend; prints its duration
/// and how many runs failed (each failure's stage and step on stderr).
async fn scenario_figures(name: &str, platform: harness::platform::Platform, runs: usize) -> Result<()> {
    use harness::runner::{self, Keep, RunOptions};
    let s = harness::scenario::load(&harness::config::scenarios_dir().join(format!("{name}.toml")))?;
    let backend = s.backends[0];
    let opts = RunOptions {
        doctor: harness::doctor_cli::default_doctor()?,
        keep: Keep::Never,
        stop_after: None,
        transcript_dir: super::workspace_dir().join("target/repro/transcripts"),
    };
    let mut took = Figure::new("scenario_ms");
    let mut failures = 0;
    for _ in 0..runs {
        let t = Instant::now();
        match runner::run(&s, platform, backend, &opts, &mut |_| {}).await {
            Ok(_) => took.push(t.elapsed()),
            Err(e) => {
                failures += 1;
                eprintln!("{e}");
            }
        }
    }
    if !took.samples_ms.is_empty() {
        println!("{}", took.line());
    }
    println!("scenario_failures: {failures} of {runs} ({name} on {platform}/{backend})");
    Ok(())
}
