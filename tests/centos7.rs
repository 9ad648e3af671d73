//! The emulated CentOS 7 node has the CentOS 7 shape its recipe claims
//! (images/centos7/README.md), and says everywhere that it is emulated.
//!
//! Needs a Docker engine (`sudo ci/bootstrap`); builds the emulated image on
//! first use. Never skips.

use harness::centos::Flavor;
use harness::images::{self, Recipe};
use harness::node::Node;
use harness::node::container::{ContainerNode, ContainerOptions};
use harness::platform::Platform;

async fn emulated_node() -> ContainerNode {
    let docker = harness::docker::connect().await.unwrap_or_else(|e| panic!("{e:#}"));
    // The emulated recipe explicitly, whatever REPRO_CENTOS7 says.
    let recipe = Recipe::load_dir(&Flavor::Emulated.recipe_dir()).unwrap();
    let tag = images::build(&docker, &recipe, false).await.unwrap_or_else(|e| panic!("{e:#}")).tag;
    let opts = ContainerOptions { image: Some(tag), probe_image: false, ..Default::default() };
    ContainerNode::start_with(Platform::Centos7, &opts)
        .await
        .unwrap_or_else(|e| panic!("cannot start a centos7-emulated node: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_centos7_node_has_the_centos7_shape_and_says_it_is_emulated() {
    let node = emulated_node().await;

    // Named as emulated: the report label and the node (container, hostname).
    assert_eq!(node.resolved().label, "centos7-emulated-docker20");
    assert!(node.name().contains("centos7-emulated"), "{}", node.name());
    let o = node.exec("head -n 1 /etc/repro-emulated; hostname").await.unwrap();
    assert!(o.stdout.starts_with("centos7 emulated on Debian 12 userland\n"), "{}", o.combined());
    assert!(o.stdout.contains("centos7-emulated"), "{}", o.combined());

    // iptables: legacy only, no alternatives, no nft binaries (as 1.4.21 was).
    let o = node.exec("update-alternatives --display iptables").await.unwrap();
    assert!(!o.success() && o.combined().contains("no alternatives for iptables"), "{}", o.combined());
    let o = node.exec("iptables -V").await.unwrap();
    assert!(o.success() && o.stdout.contains("(legacy)"), "{}", o.combined());
    let o = node
        .exec("for b in iptables-nft iptables-legacy iptables-nft-save ip6tables-nft xtables-nft-multi nft; do command -v $b; done; true")
        .await
        .unwrap();
    assert_eq!(o.stdout.trim(), "", "these should not exist on a CentOS 7-like node");

    // firewalld: iptables backend, running, and started before dockerd.
    let o = node.exec("grep -x 'FirewallBackend=iptables' /etc/firewalld/firewalld.conf && firewall-cmd --state").await.unwrap();
    assert!(o.success() && o.stdout.contains("running"), "{}", o.combined());
    let o = node
        .exec("systemctl show -p ActiveEnterTimestampMonotonic --value firewalld docker")
        .await
        .unwrap();
    let t: Vec<u64> = o.stdout.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    assert!(t.len() == 2 && t[0] > 0 && t[0] <= t[1], "firewalld must be active before docker at boot: {:?}", o.stdout);

    // The flush that incident A is about: with dockerd started while
    // firewalld was down, firewalld's start removes Docker's chains.
    // (Stopping firewalld flushes too, hence the docker restart in between.)
    let o = node.exec("systemctl stop firewalld && systemctl restart docker && iptables -t nat -S DOCKER").await.unwrap();
    assert!(o.success() && o.stdout.contains("-N DOCKER"), "dockerd did not recreate its chain: {}", o.combined());
    let o = node.exec("systemctl start firewalld && firewall-cmd --state >/dev/null; iptables -t nat -S DOCKER").await.unwrap();
    assert!(!o.success() && o.combined().contains("No chain/target/match by that name"), "{}", o.combined());

    Box::new(node).destroy().await.unwrap();
}
