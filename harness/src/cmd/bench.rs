//! `repro bench`: the figures DESIGN.md section 4 sets targets for.

use anyhow::Result;
use harness::bench::Figure;
use harness::images;
use harness::node::Node;
use harness::node::container::{ContainerNode, ContainerOptions};
use harness::platform::Platform;
use std::time::Instant;

/// Arguments of `repro bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// How many nodes of each kind (baseline, lean, full) to start per platform.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// The platform, e.g. debian12, or `all` (every platform of the matrix).
    #[arg(long, default_value = "all")]
    platform: String,
    /// How many live `netdoctor collect` runs (and bare execs) per platform.
    #[arg(long, default_value_t = 10)]
    collects: usize,
    /// Boot this many VM nodes (vm_agent_ms, vm_boot_ms = to dockerd ready,
    /// vm_reboot_ms) on `--platform` (debian12 with `all`); 0: none.
    #[arg(long, default_value_t = 1)]
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
    let platforms = match args.platform.as_str() {
        "all" => Platform::ALL.to_vec(),
        p => vec![super::parse_platform(p)?],
    };
    for &platform in &platforms {
        node_figures(platform, &args).await?;
    }
    let one = if platforms.len() == 1 { platforms[0] } else { Platform::Debian12 };
    match args.scenario.as_deref() {
        Some("all") => matrix_table(args.runs, args.only.as_deref()).await?,
        Some(name) => scenario_figures(name, one, args.runs).await?,
        None => {}
    }
    if args.vm_boots > 0 {
        let (figures, accel) = harness::node::vm_bench::figures(one, args.vm_boots).await?;
        println!("{accel}");
        for f in figures.iter().filter(|f| !f.samples_ms.is_empty()) {
            println!("{}", f.line());
        }
    }
    Ok(())
}

/// One platform's node figures, names suffixed `[platform]`: the image
/// build, then `nodes` rounds of three starts (so load hits all alike):
/// the baseline (a bare start of the same image and container settings,
/// full boot, ready when `docker exec NODE docker info` from the host
/// answers, polled every 100 ms), a node as scenarios without firewalld at
/// boot get it (`node_ready_ms`), and one with the full boot
/// (`node_ready_full_ms`); then live `netdoctor collect` beside a bare exec.
async fn node_figures(platform: Platform, args: &BenchArgs) -> Result<()> {
    let docker = harness::docker::connect().await?;
    let recipe = harness::matrix::resolve(platform)?.recipe.clone();
    let tag = |name: &str| format!("{name}[{platform}]");
    let mut cold = Figure::new(&tag("image_build_cold_ms"));
    let first = images::build(&docker, &recipe, false).await?;
    if !first.cached {
        cold.push(first.duration);
    }
    let mut warm = Figure::new(&tag("image_build_warm_ms"));
    for _ in 0..3 {
        warm.push(images::build(&docker, &recipe, false).await?.duration);
    }
    let image = Some(first.tag.clone());
    let bare_opts = ContainerOptions { image: image.clone(), probe_image: false, naive_ready: true, ..Default::default() };
    let lean_opts = ContainerOptions { image: image.clone(), boot_without: vec!["firewalld".into()], ..Default::default() };
    let full_opts = ContainerOptions { image: image.clone(), ..Default::default() };
    let mut bare = Figure::new(&tag("bare_docker_run_ms"));
    let mut lean = Figure::new(&tag("node_ready_ms"));
    let mut full = Figure::new(&tag("node_ready_full_ms"));
    let mut probe = Figure::new(&tag("probe_import_ms"));
    let mut destroy = Figure::new(&tag("node_destroy_ms"));
    let mut kept = None;
    for i in 0..args.nodes.max(1) {
        // Both from creating the container to ready (network and volume,
        // made alike for both, not counted).
        let node = ContainerNode::start_with(platform, &bare_opts).await?;
        bare.push(node.timings().ready);
        Box::new(node).destroy().await?;
        for (opts, fig) in [(&lean_opts, &mut lean), (&full_opts, &mut full)] {
            let node = ContainerNode::start_with(platform, opts).await?;
            fig.push(node.timings().ready);
            probe.push(node.timings().probe);
            if i == 0 && kept.is_none() {
                kept = Some(node); // the collect figures' node
                continue;
            }
            let t = Instant::now();
            Box::new(node).destroy().await?;
            destroy.push(t.elapsed());
        }
    }
    for f in [&cold, &warm, &bare, &lean, &full, &probe, &destroy] {
        if !f.samples_ms.is_empty() {
            println!("{}", f.line());
        }
    }
    let (b, _) = bare.median_max_ms();
    let ratio = |f: &Figure| f.median_max_ms().0 / b;
    println!("{}: node_ready {:.2}, node_ready_full {:.2} (median / bare_docker_run median)", tag("node_ready_ratio"), ratio(&lean), ratio(&full));
    if let Some(node) = kept {
        let r = collect_figures(&node, args.collects, &tag).await;
        Box::new(node).destroy().await?;
        r?;
    }
    Ok(())
}

/// `netdoctor collect` against a live node (the doctor's own bench, one
/// `docker exec` per collect) beside the floor: a bare `docker exec NODE true`.
async fn collect_figures(node: &ContainerNode, n: usize, tag: &dyn Fn(&str) -> String) -> Result<()> {
    let name = node.name().to_string();
    let mut exec = Figure::new(&tag("docker_exec_floor_ms"));
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let ok = std::process::Command::new("docker").args(["exec", &name, "true"]).status().is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "`docker exec {name} true` failed");
        exec.push(t.elapsed());
    }
    let doctor = harness::doctor_cli::default_doctor()?;
    let out = std::process::Command::new(&doctor)
        .args(["bench", "--target", &format!("docker:{name}"), "--n", &n.max(1).to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "{} bench failed: {}", doctor.display(), String::from_utf8_lossy(&out.stderr));
    for l in String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("doctor_collect_ms") || l.starts_with("doctor_check_ms")) {
        let (name, rest) = l.split_once(':').unwrap_or((l, ""));
        println!("{}:{rest}", tag(name));
    }
    println!("{}", exec.line());
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
        collect_facts: false,
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
        collect_facts: false,
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
