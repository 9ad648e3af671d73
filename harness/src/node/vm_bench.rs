//! The VM figures of `repro bench`: image build (warm), boot to guest
//! agent, boot to dockerd ready (`vm_boot_ms`, the target), and a
//! reboot into the newest kernel.

use crate::bench::Figure;
use crate::node::Node;
use crate::node::vm::{VmNode, VmOptions};
use crate::platform::Platform;
use anyhow::Result;
use std::time::Instant;

/// Boots `boots` VM nodes one after another and returns the figures, plus
/// a line naming the accelerator (TCG vs KVM changes every figure ~5x).
pub async fn figures(platform: Platform, boots: usize) -> Result<(Vec<Figure>, String)> {
    let (accel, why) = crate::vm::accel::detect()?;
    let recipe = crate::matrix::resolve(platform)?.recipe.clone();
    let mut build = Figure::new("vm_image_build_ms");
    let report = tokio::task::spawn_blocking(move || crate::vm::disk::ensure(&recipe, false)).await??;
    build.push(report.duration);
    let image = report.image;
    let mut agent = Figure::new("vm_agent_ms");
    let mut ready = Figure::new("vm_boot_ms");
    let mut reboot = Figure::new("vm_reboot_ms");
    for i in 0..boots {
        // Default options: boot the newest kernel, then start dockerd.
        let node = VmNode::start_on(platform, image.clone(), VmOptions::default()).await?;
        let b = node.boots()[0].clone();
        agent.push(b.to_agent);
        ready.push(b.to_ready);
        if i == 0 {
            let t = Instant::now();
            node.reboot().await?;
            reboot.push(t.elapsed());
        }
        Box::new(node).destroy().await?;
    }
    Ok((vec![build, agent, ready, reboot], format!("vm_accel: {} ({why})", accel.name())))
}
