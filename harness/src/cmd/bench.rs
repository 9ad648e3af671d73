//! `repro bench`: the figures DESIGN.md section 4 sets targets for.

use anyhow::Result;
use harness::bench::Figure;
use harness::images::{self, Recipe};
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
}

/// Measures and prints one line per figure.
pub async fn run(args: BenchArgs) -> Result<()> {
    let platform = super::parse_platform(&args.platform)?;
    let docker = harness::docker::connect().await?;
    let recipe = Recipe::load(platform)?;

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
    if args.vm_boots > 0 {
        let (figures, accel) = harness::vm::bench::figures(platform, args.vm_boots).await?;
        println!("{accel}");
        for f in figures.iter().filter(|f| !f.samples_ms.is_empty()) {
            println!("{}", f.line());
        }
    }
    Ok(())
}
