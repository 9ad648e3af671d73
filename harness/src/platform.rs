//! Domain words shared by scenarios, images and nodes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The operating system a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Debian 12 (bookworm): docker.io 20.10, iptables 1.8.9 with nft/legacy, firewalld 1.3.
    Debian12,
    /// Debian 13 (trixie): docker.io 26.1 + docker-cli, iptables 1.8.11, firewalld 2.3.
    Debian13,
    /// Debian 13 with sid's docker.io 28.5 (Docker's new chain layout, `FirewallBackend` in `docker info`).
    #[serde(rename = "debian13-docker28")]
    Debian13Docker28,
    /// CentOS 7 (or its emulation where CentOS sources cannot be reached).
    Centos7,
}

/// How a node is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum NodeBackend {
    /// A container with systemd as PID 1 and its own dockerd inside; shares the host kernel.
    Container,
    /// A QEMU virtual machine with its own kernel, controlled over the guest agent.
    Vm,
}

impl Platform {
    /// Every platform, in display order.
    pub const ALL: [Platform; 4] = [Platform::Debian12, Platform::Debian13, Platform::Debian13Docker28, Platform::Centos7];

    /// The name used in scenario files and CLI arguments; also the recipe
    /// directory under `images/` (CentOS 7 nests two: real and emulated).
    pub fn name(self) -> &'static str {
        match self {
            Platform::Debian12 => "debian12",
            Platform::Debian13 => "debian13",
            Platform::Debian13Docker28 => "debian13-docker28",
            Platform::Centos7 => "centos7",
        }
    }

    /// Parses a name as written in scenario files and on the command line.
    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The platform whose VM kernel a `kernel = "foreign"` node of this one
    /// boots: another Debian release, so no package of this guest owns it.
    pub fn foreign_kernel_donor(self) -> Option<Platform> {
        match self {
            Platform::Debian12 => Some(Platform::Debian13),
            Platform::Debian13 | Platform::Debian13Docker28 => Some(Platform::Debian12),
            Platform::Centos7 => None,
        }
    }
}

impl NodeBackend {
    /// Every backend, in display order.
    pub const ALL: [NodeBackend; 2] = [NodeBackend::Container, NodeBackend::Vm];

    /// The name used in scenario files and CLI arguments.
    pub fn name(self) -> &'static str {
        match self {
            NodeBackend::Container => "container",
            NodeBackend::Vm => "vm",
        }
    }

    /// Parses a name as written in scenario files and on the command line.
    pub fn parse(s: &str) -> Option<NodeBackend> {
        NodeBackend::ALL.into_iter().find(|b| b.name() == s)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for NodeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
