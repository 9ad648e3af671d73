//! Start a Debian 12 node with a unit serving HTTP on port 8080, reach the
//! port from the host, and read the answer: what a user's own integration
//! test does with the harness. Dropping the node removes it.

use harness::node::NodeBuilder;
use harness::platform::Platform;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The node runs firewalld (as the incidents need), so the unit opens its
/// port there first; the `-` lets it run on a node without firewalld too.
const UNIT: &str = "[Unit]\nDescription=example page\nAfter=firewalld.service\n[Service]\nExecStartPre=-/usr/bin/firewall-cmd --add-port=8080/tcp\nExecStartPre=/bin/sh -c 'mkdir -p /srv && echo hello from the node > /srv/index.html'\nExecStart=/bin/busybox httpd -f -p 8080 -h /srv\n[Install]\nWantedBy=multi-user.target\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_node_serves_a_port_the_host_reaches() -> anyhow::Result<()> {
    let node = NodeBuilder::new(Platform::Debian12)
        .with_unit("example-page.service", UNIT)
        .with_env("GREETING", "hi there")
        .start()
        .await?;
    let addr = node.wait_for_port(8080, Duration::from_secs(30)).await?;

    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await??;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await?;
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut reply)).await??;
    assert!(reply.starts_with("HTTP/1.") && reply.contains(" 200 "), "{reply}");
    assert!(reply.ends_with("hello from the node\n"), "{reply}");

    let out = node.exec("echo \"$GREETING\"", Duration::from_secs(10)).await?;
    assert_eq!(out.stdout, "hi there\n");
    node.destroy().await
}
