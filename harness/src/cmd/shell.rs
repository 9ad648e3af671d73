//! `repro shell`: a node to reproduce an incident by hand.

use anyhow::{Context, Result, bail};
use harness::node::Node;
use harness::node::container::ContainerNode;
use std::io::IsTerminal;

/// Arguments of `repro shell`.
#[derive(clap::Args)]
pub struct ShellArgs {
    /// A platform (e.g. debian12) to start a fresh node, or the name of a
    /// node kept by `repro run --keep …` / `--stop-after` to attach to it.
    platform: String,
    /// Leave the node running after the shell exits.
    #[arg(long)]
    keep: bool,
}

/// Starts a node, runs `docker exec -it <id> bash`, removes it afterwards;
/// or attaches to a kept node, which stays.
pub async fn run(args: ShellArgs) -> Result<()> {
    if harness::platform::Platform::parse(&args.platform).is_none() && is_kept_node(&args.platform).await {
        eprintln!("attaching to kept node {}; it stays after the shell exits (`repro gc --all` removes it)", args.platform);
        let status = interactive_shell(args.platform.clone()).await?;
        return check_status(status);
    }
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
    let status = interactive_shell(node.id().to_string()).await;
    if args.keep {
        let name = node.keep();
        eprintln!("kept node {name}: attach with `repro shell {name}`; remove it with `repro gc` (it removes every leftover of finished runs)");
    } else {
        Box::new(node).destroy().await?;
    }
    check_status(status?)
}

/// `docker exec -it CONTAINER bash -l`, with Ctrl-C going to the shell.
async fn interactive_shell(container: String) -> Result<std::process::ExitStatus> {
    let tty = if std::io::stdin().is_terminal() { "-it" } else { "-i" };
    super::signals::set_interactive(true);
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker").args(["exec", tty, &container, "bash", "-l"]).status()
    })
    .await?;
    super::signals::set_interactive(false);
    status.context("running `docker exec` (is the docker CLI installed? `sudo ci/bootstrap`)")
}

fn check_status(status: std::process::ExitStatus) -> Result<()> {
    if !status.success() && status.code() != Some(130) {
        bail!("the shell exited with {status}");
    }
    Ok(())
}

/// True when `name` is a running container the harness created.
async fn is_kept_node(name: &str) -> bool {
    let Ok(docker) = harness::docker::connect().await else { return false };
    match docker.inspect_container(name, None).await {
        Ok(c) => {
            let labels = c.config.and_then(|c| c.labels).unwrap_or_default();
            let (k, v) = harness::node::MANAGED_LABEL;
            labels.get(k).map(String::as_str) == Some(v)
        }
        Err(_) => false,
    }
}
