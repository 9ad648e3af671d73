//! The container node backend against the real engine: systemd and dockerd
//! inside, a published port answering from the host through the node's
//! DNAT rule, and nothing left behind afterwards.
//!
//! Needs a Docker engine (`sudo ci/bootstrap`); without one these tests
//! fail with that instruction, they never skip.

use harness::gc::{self, Owned};
use harness::node::Node;
use harness::node::container::ContainerNode;
use harness::platform::Platform;
use std::time::Duration;

async fn start() -> ContainerNode {
    match ContainerNode::start(Platform::Debian12).await {
        Ok(n) => n,
        Err(e) => panic!("cannot start a debian12 container node: {e:#}"),
    }
}

/// The node's container, volume and network, by name.
fn resources_of(name: &str) -> Vec<Owned> {
    vec![Owned::container(name), Owned::volume(name), Owned::network(name)]
}

async fn assert_gone(name: &str) {
    let docker = harness::docker::connect().await.unwrap();
    for r in resources_of(name) {
        assert!(!gc::exists(&docker, &r).await.unwrap(), "{r:?} of node {name} still exists");
    }
}

/// Packets counted by the inner DNAT rule for `port` (iptables -v counters).
async fn dnat_packets(node: &ContainerNode, port: u16) -> u64 {
    let o = node.exec("iptables -t nat -L DOCKER -n -v -x").await.unwrap();
    assert!(o.success(), "{}", o.combined());
    o.stdout
        .lines()
        .find(|l| l.contains("DNAT") && l.contains(&format!("dpt:{port}")))
        .unwrap_or_else(|| panic!("no DNAT rule for port {port} in:\n{}", o.stdout))
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian12_node_runs_systemd_and_docker_and_serves_a_published_port() {
    let node = start().await;
    let name = node.name().to_string();

    let o = node.exec("systemctl is-system-running").await.unwrap();
    let state = o.stdout.trim();
    assert!(state == "running" || state == "degraded", "systemd is {state:?}:\n{}", node.logs().await.unwrap());
    let o = node.exec("systemctl is-active docker").await.unwrap();
    assert_eq!(o.stdout.trim(), "active", "{}", o.combined());

    let o = node.exec("docker run -d -p 8080:80 probe:latest").await.unwrap();
    assert!(o.success(), "docker run -p failed: {}", o.combined());
    let before = dnat_packets(&node, 8080).await;

    let addr = node.endpoint(8080).await.unwrap();
    assert_eq!(addr.ip(), node.ip());
    let r = harness::http_probe::wait_ok(addr, "/", 40, Duration::from_millis(250)).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("probe ok"), "unexpected body {:?}", r.body);
    // The answer came through the node's DNAT rule, not only docker-proxy.
    assert!(dnat_packets(&node, 8080).await > before, "the DNAT rule saw no packets");

    drop(node);
    assert_gone(&name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_separates_streams_and_copy_in_reaches_tmpfs_and_disk() {
    let node = start().await;
    let o = node.exec("echo out; echo err >&2; exit 3").await.unwrap();
    assert_eq!((o.exit_code, o.stdout.as_str(), o.stderr.as_str()), (3, "out\n", "err\n"));

    // /tmp is a tmpfs inside: the engine's archive API would miss it.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    node.copy_in("/tmp/sub/dir/blob", &big, 0o640).await.unwrap();
    let o = node.exec("stat -c '%a %s' /tmp/sub/dir/blob && md5sum < /tmp/sub/dir/blob").await.unwrap();
    let want = format!("640 {}\n", big.len());
    assert!(o.stdout.starts_with(&want), "{}", o.combined());
    node.copy_in("/etc/repro-test.conf", b"a=1\n", 0o600).await.unwrap();
    assert_eq!(node.exec("cat /etc/repro-test.conf").await.unwrap().stdout, "a=1\n");

    assert!(node.doctor_target().starts_with("docker:"));
    let e = node.reboot().await.unwrap_err().to_string();
    assert!(e.contains("vm"), "{e}");
    Box::new(node).destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_test_still_removes_its_node() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let node = start().await;
        tx.send(node.name().to_string()).unwrap();
        panic!("deliberate panic while node {} is alive", node.name());
    });
    assert!(task.await.unwrap_err().is_panic());
    let name = rx.await.unwrap();
    assert_gone(&name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_left_out_of_the_boot_stays_down_until_started_then_starts_normally() {
    use harness::node::container::ContainerOptions;
    let opts = ContainerOptions { boot_without: vec!["firewalld".into()], probe_image: false, ..Default::default() };
    let node = ContainerNode::start_with(Platform::Debian12, &opts).await.unwrap_or_else(|e| panic!("cannot start a node: {e:#}"));
    // Skipped at boot: inactive (not failed), and dockerd started without it.
    let o = node.exec("systemctl is-active firewalld; systemctl is-enabled firewalld; systemctl is-system-running").await.unwrap();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(&lines[..2], &["inactive", "enabled"], "{}", o.combined());
    assert!(lines[2] == "running" || lines[2] == "degraded", "{}", o.combined());
    let o = node.exec("journalctl -u docker -b --no-pager | grep -c 'Firewalld: ' || true").await.unwrap();
    assert_eq!(o.stdout.trim(), "0", "dockerd talked to firewalld: {}", o.combined());
    // Nothing of the trick is left: a later start is an ordinary start.
    let o = node.exec("ls /run/repro/boot-without 2>&1; systemctl start firewalld && firewall-cmd --state").await.unwrap();
    assert!(o.success() && o.stdout.contains("running"), "{}", o.combined());
    assert!(o.stdout.contains("No such file"), "the boot flags were not removed: {}", o.combined());
    let name = node.name().to_string();
    drop(node);
    assert_gone(&name).await;
}
