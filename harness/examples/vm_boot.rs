//! Boots a VM node, runs commands, reboots (dev aid and measurement):
//! `vm_boot [oldest|newest|RELEASE] [bare|services] [CMD|REBOOT|SLEEP n]...`
use harness::node::Node;
use harness::node::vm::{KernelChoice, VmNode, VmOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or("info".into())).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = VmOptions {
        kernel: KernelChoice::parse(args.first().map(String::as_str).unwrap_or("oldest")),
        ..VmOptions::default()
    };
    if args.get(1).map(String::as_str) == Some("bare") {
        opts.boot_services.clear();
    }
    let t = std::time::Instant::now();
    let node = VmNode::start(harness::platform::Platform::Debian12, opts).await?;
    println!("started in {:?}: {:?}", t.elapsed(), node.boots());
    for cmd in args.iter().skip(2) {
        if cmd == "REBOOT" {
            let t = std::time::Instant::now();
            node.reboot().await?;
            println!("rebooted in {:?}: {:?}", t.elapsed(), node.boots().last());
            continue;
        }
        if let Some(secs) = cmd.strip_prefix("SLEEP ") {
            tokio::time::sleep(std::time::Duration::from_secs(secs.parse()?)).await;
            continue;
        }
        let o = node.exec(cmd).await?;
        println!("$ {cmd}\n{}[exit {} in {:?}]", o.combined(), o.exit_code, o.duration);
    }
    Box::new(node).destroy().await
}
