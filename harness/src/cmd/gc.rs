//! `repro gc`: sweep leftovers of killed runs.

use anyhow::Result;

/// Arguments of `repro gc`.
#[derive(clap::Args)]
pub struct GcArgs {
    /// Also remove resources of runs that are still going (default: only
    /// those whose creating process is gone).
    #[arg(long)]
    all: bool,
}

/// Runs the sweep and says what it removed.
pub async fn run(args: GcArgs) -> Result<()> {
    let docker = harness::docker::connect().await?;
    let r = harness::gc::sweep(&docker, args.all).await?;
    println!(
        "removed {} containers, {} volumes, {} networks, {} qemu processes, {} VM run directories",
        r.containers.len(),
        r.volumes.len(),
        r.networks.len(),
        r.vm_pids.len(),
        r.vm_dirs.len()
    );
    for c in &r.containers {
        println!("  container {c}");
    }
    for v in &r.volumes {
        println!("  volume {v}");
    }
    for n in &r.networks {
        println!("  network {n}");
    }
    for p in &r.vm_pids {
        println!("  qemu pid {p}");
    }
    for d in &r.vm_dirs {
        println!("  VM run directory {d}");
    }
    Ok(())
}
