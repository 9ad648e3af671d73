//! Starting a node from your own crate, testcontainers-style:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use harness::node::NodeBuilder;
//! use harness::platform::Platform;
//! use std::time::Duration;
//!
//! let node = NodeBuilder::new(Platform::Debian12)
//!     .with_unit("hello.service", "[Service]\nExecStart=/bin/busybox httpd -f -p 8080 -h /srv\n[Install]\nWantedBy=multi-user.target\n")
//!     .with_env("GREETING", "hi")
//!     .start()
//!     .await?;
//! let addr = node.wait_for_port(8080, Duration::from_secs(30)).await?;
//! let out = node.exec("echo $GREETING", Duration::from_secs(10)).await?;
//! # let _ = (addr, out); Ok(()) }
//! // Dropping `node` removes it (container, volume, network; qemu and its run dir).
//! ```

use super::{ExecOutput, Node, NodeSettings};
use crate::platform::{NodeBackend, Platform};
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long an extra unit may take to become active.
const UNIT_START: Duration = Duration::from_secs(60);

/// Builds a node: a platform, then `with_*` knobs, then [`NodeBuilder::start`].
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    platform: Platform,
    backend: NodeBackend,
    settings: NodeSettings,
    env: Vec<(String, String)>,
    units: Vec<(String, String)>,
    keep: bool,
}

impl NodeBuilder {
    /// A container node of `platform` (see [`NodeBuilder::with_vm`]).
    pub fn new(platform: Platform) -> NodeBuilder {
        NodeBuilder { platform, backend: NodeBackend::Container, settings: NodeSettings::default(), env: Vec::new(), units: Vec::new(), keep: false }
    }

    /// A QEMU VM instead of a container (KVM when usable, else TCG).
    pub fn with_vm(mut self) -> NodeBuilder {
        self.backend = NodeBackend::Vm;
        self
    }

    /// Container or VM.
    pub fn with_backend(mut self, backend: NodeBackend) -> NodeBuilder {
        self.backend = backend;
        self
    }

    /// A guest port the host should reach. A VM forwards it to 127.0.0.1;
    /// a container is reached on its own address anyway (no-op).
    pub fn with_port(mut self, port: u16) -> NodeBuilder {
        if !self.settings.ports.contains(&port) {
            self.settings.ports.push(port);
        }
        self
    }

    /// VM only: the kernel to boot first (`oldest`, or a release in /boot).
    pub fn with_kernel(mut self, kernel: &str) -> NodeBuilder {
        self.settings.kernel = Some(kernel.to_string());
        self
    }

    /// A unit that does not start at boot (e.g. `firewalld`): for a story in
    /// which dockerd starts without it; a later `systemctl start` starts it.
    pub fn with_boot_without(mut self, unit: &str) -> NodeBuilder {
        self.settings.boot_without.push(unit.to_string());
        self
    }

    /// An environment variable for every [`StartedNode::exec`].
    pub fn with_env(mut self, key: &str, value: &str) -> NodeBuilder {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A systemd unit written to `/etc/systemd/system/NAME` and started
    /// (`enable --now`) once the node is ready; `start` fails if it does not
    /// become active.
    pub fn with_unit(mut self, name: &str, content: &str) -> NodeBuilder {
        self.units.push((name.to_string(), content.to_string()));
        self
    }

    /// Leave the node running when the [`StartedNode`] is dropped (`repro gc` removes it later).
    pub fn with_keep(mut self, keep: bool) -> NodeBuilder {
        self.keep = keep;
        self
    }

    /// Starts the node and waits until it is ready (systemd up, dockerd
    /// answering, the extra units active).
    pub async fn start(self) -> Result<StartedNode> {
        let settings = match self.backend {
            // A container publishes on its own address: no forwards to ask for.
            NodeBackend::Container => NodeSettings { ports: Vec::new(), ..self.settings.clone() },
            NodeBackend::Vm => self.settings.clone(),
        };
        // Refuse a bad name before paying for a node.
        if let Some((name, _)) = self.units.iter().find(|(n, _)| n.contains('/') || n.contains('\'')) {
            bail!("unit name {name:?} must be a plain file name");
        }
        let node = super::start(self.platform, self.backend, &settings).await?;
        let started = StartedNode { node: Some(node), env: self.env, keep: self.keep };
        for (name, content) in &self.units {
            started.node().copy_in(&format!("/etc/systemd/system/{name}"), content.as_bytes(), 0o644).await?;
            let o = started
                .node()
                .exec_timeout(&format!("systemctl daemon-reload && systemctl enable --now '{name}' && systemctl is-active '{name}'"), UNIT_START)
                .await?;
            if !o.success() {
                bail!("unit {name} did not start on node {}:\n{}", started.node().name(), o.combined());
            }
        }
        Ok(started)
    }
}

/// A running node; dropping it removes the node unless it was built `with_keep(true)`.
pub struct StartedNode {
    node: Option<Box<dyn Node>>,
    env: Vec<(String, String)>,
    keep: bool,
}

impl StartedNode {
    /// The node itself, for everything the [`Node`] trait offers.
    pub fn node(&self) -> &dyn Node {
        self.node.as_deref().expect("present until drop")
    }

    /// Runs `script` (`sh -c`, as root, with the builder's environment),
    /// bounded by `deadline`.
    pub async fn exec(&self, script: &str, deadline: Duration) -> Result<ExecOutput> {
        let mut s = String::new();
        for (k, v) in &self.env {
            s.push_str(&format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
        }
        s.push_str(script);
        self.node().exec_timeout(&s, deadline).await
    }

    /// Where the host reaches `port` once something accepts connections on
    /// it there, polling for up to `deadline`.
    pub async fn wait_for_port(&self, port: u16, deadline: Duration) -> Result<SocketAddr> {
        let addr = self.node().endpoint(port).await?;
        let until = Instant::now() + deadline;
        loop {
            let attempt = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
            match attempt {
                Ok(Ok(_)) => return Ok(addr),
                _ if Instant::now() >= until => {
                    return Err(anyhow::anyhow!("nothing accepted connections on {addr} (node port {port}) within {} s", deadline.as_secs()))
                        .context(format!("node {}", self.node().name()));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Removes the node now, reporting errors (dropping does the same, silently).
    pub async fn destroy(mut self) -> Result<()> {
        match self.node.take() {
            Some(n) => n.destroy().await,
            None => Ok(()),
        }
    }
}

impl Drop for StartedNode {
    fn drop(&mut self) {
        if let Some(n) = self.node.take()
            && self.keep
        {
            let how = n.detach();
            tracing::info!("node kept: {how}");
        }
    }
}
