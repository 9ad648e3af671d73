//! `repro shell`: a node to reproduce an incident by hand.

use anyhow::{Context, Result, bail};
use harness::node::Node;
use harness::node::container::ContainerNode;
use std::io::IsTerminal;

/// Arguments of `repro shell`.
#[derive(clap::Args)]
pub struct ShellArgs {
    /// The platform, e.g. debian12.
    platform: String,
    /// Leave the node running after the shell exits.
    #[arg(long)]
    keep: bool,
}

/// Starts a node, runs `docker exec -it <id> bash`, removes it afterwards.
pub async fn run(args: ShellArgs) -> Result<()> {
    let platform = super::parse_platform(&args.platform)?;
    let node = ContainerNode::start(platform).await?;
    eprintln!(
        "node {} ({}) ready in {} ms at {}; probe image `probe:latest` imported inside. Exit the shell to {}.",
        node.name(),
        &node.id()[..12],
        node.timings().ready.as_millis(),
        node.ip(),
        if args.keep { "leave it running" } else { "remove it" }
    );
    let tty = if std::io::stdin().is_terminal() { "-it" } else { "-i" };
    super::signals::set_interactive(true);
    let status = tokio::task::spawn_blocking({
        let id = node.id().to_string();
        move || std::process::Command::new("docker").args(["exec", tty, &id, "bash", "-l"]).status()
    })
    .await?;
    super::signals::set_interactive(false);
    let status = status.context("running `docker exec` (is the docker CLI installed? `sudo ci/bootstrap`)");
    if args.keep {
        let name = node.keep();
        eprintln!("kept node {name}: attach with `docker exec -it {name} bash`; remove it with `repro gc` (it removes every leftover of finished runs)");
    } else {
        Box::new(node).destroy().await?;
    }
    let status = status?;
    if !status.success() && status.code() != Some(130) {
        bail!("the shell exited with {status}");
    }
    Ok(())
}
