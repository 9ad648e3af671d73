//! Incident C by hand through VmNode (the scenario file automates it):
//! boot the older kernel, load the container runtime's modules, purge that
//! kernel while it runs, watch docker fail with the seed's words, reboot
//! into the newer kernel, watch it recover.
use harness::node::Node;
use harness::node::vm::{KernelChoice, VmNode, VmOptions};

async fn step(node: &VmNode, script: &str) -> anyhow::Result<harness::node::ExecOutput> {
    let o = node.exec(script).await?;
    println!("$ {script}\n{}[exit {} in {} ms]\n", o.combined(), o.exit_code, o.duration.as_millis());
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let opts = VmOptions { kernel: KernelChoice::Oldest, boot_services: vec![], ..VmOptions::default() };
    let node = VmNode::start(harness::platform::Platform::Debian12, opts).await?;
    let old = node.booted_release();
    step(&node, "uname -r; systemctl is-active docker; modprobe -a overlay bridge br_netfilter nf_tables && lsmod | awk '{print $1}' | sort | tr '\\n' ' '").await?;
    step(&node, &format!("dpkg --purge linux-image-{old} 2>&1 | tail -3; ls /lib/modules"))
        .await?;
    let start = step(&node, "systemctl start docker").await?;
    anyhow::ensure!(!start.success(), "docker started although its kernel modules are gone");
    let j = step(&node, "journalctl -u docker --no-pager -o cat | grep -E 'failed to start daemon|iptables v1'").await?;
    let seed = "failed to start daemon: Error initializing network controller: Error creating default \"bridge\" network: Failed to Setup IP tables: Unable to enable NAT rule:  (iptables failed: iptables --wait -t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE: Warning: Extension MASQUERADE revision 0 not supported, missing kernel module?";
    anyhow::ensure!(j.stdout.contains(seed), "journal lacks the seed text");
    step(&node, "iptables --wait -t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE").await?;
    step(&node, "update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null; iptables --wait -t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE; update-alternatives --set iptables /usr/sbin/iptables-nft >/dev/null").await?;
    let m = step(&node, "modprobe nf_nat").await?;
    anyhow::ensure!(m.stderr.contains(&format!("FATAL: Module nf_nat not found in directory /lib/modules/{old}")));
    let t = std::time::Instant::now();
    node.reboot().await?;
    println!("rebooted into {} in {} ms", node.booted_release(), t.elapsed().as_millis());
    let t = std::time::Instant::now();
    let ok = step(&node, "systemctl start docker && docker info --format '{{.ServerVersion}}' && iptables -t nat -S POSTROUTING").await?;
    println!("docker ready after reboot: {} ms", t.elapsed().as_millis());
    anyhow::ensure!(ok.success() && ok.stdout.contains("-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"));
    step(&node, "docker images --format '{{.Repository}}:{{.Tag}}'; docker run -d --name web -p 8893:80 probe:latest").await?;
    let ep = node.endpoint(8893).await?;
    let body = std::process::Command::new("curl").args(["-s", "--max-time", "10", &format!("http://{ep}/")]).output()?;
    println!("GET http://{ep}/ -> {:?}", String::from_utf8_lossy(&body.stdout));
    Box::new(node).destroy().await
}
