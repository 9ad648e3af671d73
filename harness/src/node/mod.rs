//! A node is one machine under test: a container or a VM running systemd
//! and dockerd. Scenario steps talk to it only through the [`Node`] trait,
//! so every scenario runs on every backend that can host it.

pub mod container;
pub mod vm;
pub mod vm_bench;
pub mod builder;

pub use builder::{NodeBuilder, StartedNode};

use crate::matrix::ResolvedPlatform;
use crate::platform::{NodeBackend, Platform};
use anyhow::Result;
use async_trait::async_trait;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// How a node starts, as a scenario's `[node]` table says it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// VM only: `oldest` boots the oldest installed kernel first (default: newest, as GRUB).
    #[serde(default)]
    pub kernel: Option<String>,
    /// VM only: guest ports forwarded to the host.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Units that do not start at boot (e.g. `["firewalld"]`), for a story
    /// in which dockerd starts without them; a later `start` step starts
    /// them normally. Saves their start and, for firewalld, dockerd's slow
    /// first start through firewalld's D-Bus passthrough.
    #[serde(default)]
    pub boot_without: Vec<String>,
}

/// `firewalld` → `firewalld.service`; None for a name that is not a plain unit name.
pub fn unit_name(name: &str) -> Option<String> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "@._-".contains(c));
    ok.then(|| if name.contains('.') { name.to_string() } else { format!("{name}.service") })
}

/// Starts a ready node of `platform` on `backend` (building its image on
/// first use), with the scenario's node settings.
pub async fn start(platform: Platform, backend: NodeBackend, settings: &NodeSettings) -> Result<Box<dyn Node>> {
    match backend {
        NodeBackend::Container => {
            if settings.kernel.is_some() || !settings.ports.is_empty() {
                anyhow::bail!("node.kernel and node.ports are VM settings; a container shares the host kernel and publishes on its own address");
            }
            let opts = container::ContainerOptions { boot_without: settings.boot_without.clone(), ..Default::default() };
            Ok(Box::new(container::ContainerNode::start_with(platform, &opts).await?))
        }
        NodeBackend::Vm => {
            let node = vm::VmNode::start(platform, vm::VmOptions::from_settings(settings)).await?;
            // A VM's disk starts only what the harness starts after boot
            // (dockerd and containerd): check, rather than assume, that
            // none of `boot_without` is running.
            for unit in &settings.boot_without {
                let o = node.exec(&format!("systemctl is-active '{unit}'")).await?;
                if o.stdout.trim() == "active" {
                    anyhow::bail!("VM {}: {unit} is active after boot although node.boot_without lists it: disable it in the VM disk's recipe", node.name());
                }
            }
            Ok(Box::new(node))
        }
    }
}

pub use crate::docker::MANAGED_LABEL;

/// What one command run inside a node produced.
#[derive(Debug, Clone, Serialize)]
pub struct ExecOutput {
    /// Exit code of the command (-1 when it could not be determined).
    pub exit_code: i64,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// Wall-clock time the command took.
    #[serde(skip)]
    pub duration: Duration,
}

impl ExecOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// stdout and stderr together, as a person would read them on a terminal.
    pub fn combined(&self) -> String {
        let mut s = self.stdout.clone();
        if !self.stderr.is_empty() {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&self.stderr);
        }
        s
    }
}

/// One machine under test.
///
/// Dropping a node removes it and everything it created (container,
/// volumes, network, qemu process); [`Node::destroy`] does the same and
/// reports errors.
#[async_trait]
pub trait Node: Send + Sync {
    /// A short human name, e.g. `debian12-container-3f2a`.
    fn name(&self) -> &str;

    /// The operating system the node runs.
    fn platform(&self) -> Platform;

    /// Container or VM.
    fn backend(&self) -> NodeBackend;

    /// The platform as resolved for this run (recipe, versions, label).
    /// Its `label` is what reports call it: it carries the Docker version
    /// and, for an emulation, says so (`centos7-emulated-docker20`).
    fn resolved(&self) -> &'static ResolvedPlatform;

    /// How many times slower than a container the node runs commands: the
    /// factor a step's default timeout is scaled by (a VM under TCG: 5).
    fn timeout_factor(&self) -> u32 {
        1
    }

    /// Runs a shell script (`sh -c`) inside the node as root and waits for it.
    /// A non-zero exit is not an error; failing to run it at all is.
    async fn exec(&self, script: &str) -> Result<ExecOutput>;

    /// [`Node::exec`] bounded by `deadline`: past it the call returns an
    /// error naming the deadline (the command may still be running inside).
    async fn exec_timeout(&self, script: &str, deadline: Duration) -> Result<ExecOutput> {
        match tokio::time::timeout(deadline, self.exec(script)).await {
            Ok(r) => r,
            Err(_) => anyhow::bail!("`{}` did not finish within {} s on node {}", script.trim(), deadline.as_secs(), self.name()),
        }
    }

    /// Writes `content` to `path` inside the node with the given mode.
    async fn copy_in(&self, path: &str, content: &[u8], mode: u32) -> Result<()>;

    /// Where the host reaches `port` published on the node (the node's own
    /// address for containers, a forwarded 127.0.0.1 port for VMs).
    async fn endpoint(&self, port: u16) -> Result<SocketAddr>;

    /// Reboots the node and waits until it is ready again. Containers cannot
    /// reboot (they share the host kernel) and return an error saying so.
    async fn reboot(&self) -> Result<()>;

    /// Waits for a reboot the node issued itself (the doctor's cure) to
    /// really happen: the node must go down within `timeout`, and is then
    /// brought back the way its firmware would (a VM boots the newest
    /// kernel in its /boot). The harness never reboots on the doctor's
    /// behalf: a node that stays up is an error. Containers cannot reboot.
    async fn await_own_reboot(&self, timeout: Duration) -> Result<()> {
        let _ = timeout;
        anyhow::bail!("node {} is a container: it shares the host's kernel and cannot reboot; a doctor that reboots it is wrong", self.name())
    }

    /// The `--target` argument that lets `netdoctor` on the host reach this
    /// node, e.g. `docker:<container id>` or `cmd:<command running sh>`.
    fn doctor_target(&self) -> String;

    /// The tail of the node's system journal (or console), for error reports.
    async fn logs(&self) -> Result<String>;

    /// Removes the node and all it created.
    async fn destroy(self: Box<Self>) -> Result<()>;

    /// Leaves the node running past this process (for `--keep`): disarms the
    /// cleanup on drop and returns how a person reaches and later removes it
    /// (e.g. `repro shell --attach <id>` / `repro gc`).
    fn detach(self: Box<Self>) -> String;
}
