//! The doctor's probe asks dockerd through the engine's API (curl on its
//! socket) where it can, and through the docker CLI otherwise. Both ways
//! must give the same facts, on every platform's real engine: running
//! containers with their ports (TCP, UDP, IPv4 and IPv6 bindings), a
//! user-defined network, a host-network container whose `-p` dockerd
//! discarded (only its HostConfig keeps the bindings), and a container
//! created but never started.
//!
//! Needs a Docker engine (`sudo ci/bootstrap`); without one it fails with
//! that instruction, it never skips.

use doctor::collect::{PROBE_SCRIPT, parse_probe};
use harness::node::Node;
use harness::node::container::ContainerNode;
use harness::platform::Platform;
use std::time::Instant;

const SETUP: &str = "set -e
docker run -d --name web -p 8080:80 -p 8443:80 probe:latest
docker run -d --name echo -p 5353:5353/udp probe:latest
docker network create backend >/dev/null
docker run -d --name api --network backend -p 9090:80 probe:latest
docker run -d --name hostnet --network host -p 8899:80 probe:latest 2>/dev/null
docker create --name made -p 9000:80 probe:latest
for i in $(seq 50); do [ \"$(docker ps -q | wc -l)\" -ge 4 ] && exit 0; sleep 0.1; done; exit 1";

/// The probe's raw output and how long it took, through the CLI or not.
async fn probe(node: &ContainerNode, via_cli: bool) -> (String, u128) {
    let script = if via_cli { format!("ND_VIA=cli\n{PROBE_SCRIPT}") } else { PROBE_SCRIPT.to_string() };
    let t = Instant::now();
    let o = node.exec(&script).await.unwrap();
    assert!(o.success(), "the probe failed: {}", o.combined());
    (o.stdout, t.elapsed().as_millis())
}

async fn same_facts_both_ways(platform: Platform) {
    let node = match ContainerNode::start(platform).await {
        Ok(n) => n,
        Err(e) => panic!("cannot start a {} container node: {e:#}", platform.name()),
    };
    let o = node.exec(SETUP).await.unwrap();
    assert!(o.success(), "setting up the containers failed: {}", o.combined());

    let (api, api_ms) = probe(&node, false).await;
    let (cli, cli_ms) = probe(&node, true).await;
    eprintln!("{}: probe through the API {api_ms} ms, through the CLI {cli_ms} ms", platform.name());
    // Each way was really taken (`docker.cli` is written by the API path
    // only). A curl without --unix-socket (before 7.40: real CentOS 7's
    // 7.29) or no curl at all means the CLI both times.
    let curl = node.exec("curl --version 2>/dev/null | head -n 1").await.unwrap().stdout;
    let old_curl = curl.split_whitespace().nth(1).and_then(|v| v.strip_prefix("7.")).and_then(|m| m.split('.').next()?.parse::<u32>().ok()).is_some_and(|m| m < 40);
    if curl.trim().is_empty() || old_curl {
        eprintln!("{}: curl {:?} cannot reach a unix socket: the CLI both ways", platform.name(), curl.trim());
        assert!(!api.contains("@@ND begin docker.cli"), "{api}");
    } else {
        assert!(api.contains("@@ND begin docker.cli") && api.contains("\"ServerVersion\""), "the API path was not taken:\n{api}");
    }
    assert!(!cli.contains("@@ND begin docker.cli") && !cli.contains("\"ServerVersion\""), "the CLI path was not taken:\n{cli}");

    let (a, c) = (parse_probe(&api, "api").unwrap(), parse_probe(&cli, "cli").unwrap());
    let (a, c) = (&a.docker, &c.docker);
    let running = |d: &doctor::facts::Docker| d.containers.as_ref().map(|cs| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
    assert_eq!(running(a), Some(vec!["hostnet".into(), "api".into(), "echo".into(), "web".into()]), "{a:#?}");
    assert_eq!(a.containers, c.containers);
    assert_eq!(a.created, Some(vec!["made".to_string()]));
    assert_eq!(a.created, c.created);
    let hostnet = a.containers.iter().flatten().find(|c| c.name == "hostnet").unwrap();
    assert_eq!(hostnet.ports.iter().map(|p| p.host_port).collect::<Vec<_>>(), vec![8899], "{hostnet:#?}");
    assert!(a.version.is_some(), "{a:#?}");
    for (what, x, y) in [
        ("version", format!("{:?}", a.version), format!("{:?}", c.version)),
        ("live_restore", format!("{:?}", a.live_restore), format!("{:?}", c.live_restore)),
        ("containers_running", format!("{:?}", a.containers_running), format!("{:?}", c.containers_running)),
        ("firewall_backend", format!("{:?}", a.firewall_backend), format!("{:?}", c.firewall_backend)),
        ("cli_installed", format!("{:?}", a.cli_installed), format!("{:?}", c.cli_installed)),
    ] {
        assert_eq!(x, y, "{what} differs between the API and the CLI");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_cli_give_the_same_facts_on_debian12() {
    same_facts_both_ways(Platform::Debian12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_cli_give_the_same_facts_on_debian13() {
    same_facts_both_ways(Platform::Debian13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_cli_give_the_same_facts_on_debian13_docker28() {
    same_facts_both_ways(Platform::Debian13Docker28).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_cli_give_the_same_facts_on_centos7() {
    same_facts_both_ways(Platform::Centos7).await;
}
