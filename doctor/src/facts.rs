//! Typed facts about one Docker host: what `netdoctor collect` prints and
//! what every rule reads. A missing tool or unreadable file is `None` (a
//! missing fact), never an error.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the facts JSON layout; bumped on incompatible changes.
pub const SCHEMA: u32 = 1;

/// Everything the doctor knows about a target after one probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Layout version of this document (see [`SCHEMA`]).
    pub schema: u32,
    /// The target the facts came from (`local`, `docker:NAME`, ...).
    pub target: String,
    /// Operating system identity from /etc/os-release.
    pub os: Os,
    /// Running kernel, installed kernels and module availability.
    pub kernel: Kernel,
    /// iptables alternative, version and rules per backend.
    pub iptables: Iptables,
    /// firewalld state and configuration.
    pub firewalld: Firewalld,
    /// dockerd state, configuration, journal and containers.
    pub docker: Docker,
    /// Network sysctls.
    pub sysctl: Sysctl,
    /// TCP ports something listens on (from `ss -Htln`); `None` when ss is missing.
    #[serde(default)]
    pub listening_tcp_ports: Option<Vec<u16>>,
    /// UDP ports something is bound to (from `ss -uln`); `None` when ss is
    /// missing or the facts are older.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening_udp_ports: Option<Vec<u16>>,
    /// Other services that load a whole ruleset (nftables, netfilter-persistent,
    /// iptables, ufw), as installed on the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ruleset_services: Vec<NamedUnit>,
    /// Notes about probe sections that could not be read, for the report.
    #[serde(default)]
    pub notes: Vec<String>,
    /// What the probe could not look at that a verdict depends on: a
    /// command that timed out, a permission refused, not root, containers
    /// that could not be listed. Non-empty: `check` exits 3 unless it found
    /// an incident ("could not look", never "healthy").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub could_not_look: Vec<String>,
}

impl Facts {
    /// Whether something on the host listens on (TCP) or is bound to (UDP)
    /// this port; `false` when it could not be looked at.
    pub fn port_in_use(&self, proto: &str, port: u16) -> bool {
        let list = if proto == "udp" { &self.listening_udp_ports } else { &self.listening_tcp_ports };
        list.as_deref().is_some_and(|l| l.contains(&port))
    }
}

/// Operating system identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Os {
    /// `ID` from os-release (`debian`, `centos`).
    pub id: Option<String>,
    /// `VERSION_ID` from os-release (`12`, `7`).
    pub version_id: Option<String>,
    /// `PRETTY_NAME` from os-release.
    pub pretty_name: Option<String>,
}

/// Where the probe ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Virtualization {
    /// Inside a container: the kernel belongs to someone else.
    Container,
    /// A virtual machine with its own kernel.
    Vm,
    /// Bare metal.
    None,
    /// Could not tell.
    #[default]
    Unknown,
}

/// One directory under /lib/modules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModuleTree {
    /// Kernel release the tree belongs to (directory name).
    pub release: String,
    /// Whether `modules.dep` exists and is not empty (modprobe needs it).
    pub has_modules_dep: bool,
    /// Whether the `kernel/` subdirectory with the .ko files exists.
    pub has_kernel_dir: bool,
}

/// Result of `modprobe -n MODULE` (dry run) for one module.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModprobeCheck {
    /// Module name.
    pub module: String,
    /// Whether modprobe could resolve it (built in or loadable).
    pub ok: bool,
    /// First line modprobe printed (the reason when not ok).
    pub message: String,
}

/// The kernel side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    /// `uname -r`.
    pub release: String,
    /// `uname -v`.
    pub version: Option<String>,
    /// Container, VM or bare metal.
    pub virtualization: Virtualization,
    /// Module trees under /lib/modules (empty when the directory is absent).
    pub module_trees: Vec<ModuleTree>,
    /// Kernel images found in /boot (`vmlinuz-...`).
    pub boot_images: Vec<String>,
    /// Loaded modules from /proc/modules; `None` when unreadable.
    pub loaded_modules: Option<Vec<String>>,
    /// Netfilter-related built-in modules of the running kernel; `None` when unknown.
    pub builtin_modules: Option<Vec<String>>,
    /// modprobe dry runs; `None` when modprobe is missing or the tree is absent.
    pub modprobe: Option<Vec<ModprobeCheck>>,
    /// What the package manager knows of the running kernel: its package
    /// state (`dpkg-status=ii `, `rpm-status=installed`) and log lines
    /// (`log=… purge linux-image-…`); empty values dropped. `Some(vec![])`:
    /// dpkg or rpm was asked and knows nothing of it, a kernel booted from
    /// outside the distribution. `None`: no package manager, or older facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_trace: Option<Vec<String>>,
    /// Whether /run/reboot-required exists.
    pub reboot_required: bool,
    /// Packages listed in /run/reboot-required.pkgs.
    #[serde(default)]
    pub reboot_required_pkgs: Vec<String>,
}

/// An iptables backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// x_tables in the kernel (`iptables-legacy`, and all of iptables < 1.8).
    Legacy,
    /// nf_tables through the iptables-nft compatibility layer.
    Nft,
}

impl Backend {
    /// The other backend.
    pub fn other(self) -> Backend {
        match self {
            Backend::Legacy => Backend::Nft,
            Backend::Nft => Backend::Legacy,
        }
    }
    /// Lower-case name used in commands (`legacy`, `nft`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Legacy => "legacy",
            Backend::Nft => "nft",
        }
    }
}

/// One table of an iptables-save dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Chains declared in the table (`:NAME POLICY [..]` lines), in order.
    pub chains: Vec<String>,
    /// Rule lines exactly as saved (`-A CHAIN ...`).
    pub rules: Vec<String>,
    /// Built-in chains' policies (`INPUT` -> `ACCEPT`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, String>,
}

/// One backend's rules, parsed from its iptables-save.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    /// The command that produced it (`iptables-nft-save`, `iptables-save`).
    pub tool: String,
    /// Tables by name (`filter`, `nat`, `mangle`, `raw`).
    pub tables: BTreeMap<String, Table>,
    /// Comment and stderr lines worth keeping (`# Warning: iptables-legacy tables present`).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The `iptables` alternative (Debian update-alternatives, Fedora alternatives).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// `auto` or `manual`.
    pub status: Option<String>,
    /// The path `iptables` points at (`/usr/sbin/iptables-nft`).
    pub value: Option<String>,
    /// Backend of that path.
    pub backend: Option<Backend>,
}

/// Everything iptables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Iptables {
    /// The alternative; `None` when the system has none (CentOS 7).
    pub alternative: Option<Alternative>,
    /// `iptables -V` output (`iptables v1.8.9 (nf_tables)`).
    pub version: Option<String>,
    /// Backend plain `iptables` uses right now (from `-V`).
    pub current_backend: Option<Backend>,
    /// IPv4 legacy rules; `None` when not readable.
    pub legacy: Option<RuleSet>,
    /// IPv4 iptables-nft rules; `None` when not readable.
    pub nft: Option<RuleSet>,
    /// IPv6 legacy rules.
    pub legacy6: Option<RuleSet>,
    /// IPv6 iptables-nft rules.
    pub nft6: Option<RuleSet>,
    /// /proc/net/ip_tables_names (legacy tables the kernel has).
    pub ip_tables_names: Option<Vec<String>>,
    /// `nft list tables` (`ip nat`, `inet firewalld`).
    pub nft_tables: Option<Vec<String>>,
}

/// A unit and its state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedUnit {
    /// e.g. `nftables.service`.
    pub id: String,
    /// Its state.
    pub unit: Unit,
}

/// A systemd unit's state from `systemctl show`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// `loaded`, `not-found`.
    pub load_state: Option<String>,
    /// `active`, `inactive`, `failed`, `activating`.
    pub active_state: Option<String>,
    /// `running`, `dead`, `failed`, `auto-restart`.
    pub sub_state: Option<String>,
    /// `success`, `exit-code`, `start-limit-hit`.
    pub result: Option<String>,
    /// When the unit last became active, µs of CLOCK_MONOTONIC (0 = never).
    pub active_enter_monotonic_us: Option<u64>,
    /// When the unit last became inactive (stopped), µs of CLOCK_MONOTONIC (0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_enter_monotonic_us: Option<u64>,
    /// Unit file state (`enabled`, `disabled`).
    pub unit_file_state: Option<String>,
}

impl Unit {
    /// Whether the unit is active (running).
    pub fn is_active(&self) -> bool {
        self.active_state.as_deref() == Some("active")
    }
    /// Whether the unit exists on the host.
    pub fn is_installed(&self) -> bool {
        matches!(self.load_state.as_deref(), Some(s) if s != "not-found")
    }
}

/// firewalld.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Firewalld {
    /// systemd unit state; `None` when systemctl is missing.
    pub unit: Option<Unit>,
    /// Daemon state as firewalld reports it (`running`).
    pub state: Option<String>,
    /// Version (`1.3.3`, `0.6.3`).
    pub version: Option<String>,
    /// `FirewallBackend=` from firewalld.conf, or the default it implies.
    pub backend: Option<String>,
    /// Where `backend` came from (`firewalld.conf`, `default for 0.x`, ...).
    pub backend_source: Option<String>,
    /// Default zone.
    pub default_zone: Option<String>,
    /// Active zones with their interfaces/sources (`docker: docker0`).
    pub active_zones: Option<Vec<String>>,
}

/// A port published by a running container.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublishedPort {
    /// `tcp` or `udp`.
    pub proto: String,
    /// Port inside the container.
    pub container_port: u16,
    /// Host address it binds (`0.0.0.0`, `::`, empty = all).
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
}

/// A running container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// Full id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// Bound ports (NetworkSettings.Ports, else HostConfig.PortBindings).
    pub ports: Vec<PublishedPort>,
    /// Addresses per network (`bridge=172.17.0.2`).
    pub addresses: Vec<String>,
    /// `HostConfig.NetworkMode`: `default`/`bridge` or a network name
    /// (publishes need DNAT rules), `host`, `none`, `container:ID` (they do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
}

impl Container {
    /// Whether its publishes are Docker's DNAT rules' business: not for
    /// `host` (it uses the node's ports), `none` or `container:…` networking.
    pub fn publishes_through_nat(&self) -> bool {
        !matches!(self.network_mode.as_deref(), Some(m) if m == "host" || m == "none" || m.starts_with("container:"))
    }
}

/// dockerd.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Docker {
    /// systemd unit state; `None` when systemctl is missing.
    pub unit: Option<Unit>,
    /// Server version; `None` when the daemon does not answer.
    pub version: Option<String>,
    /// Whether live-restore is enabled (containers survive a daemon restart).
    pub live_restore: Option<bool>,
    /// Number of running containers per `docker info`.
    pub containers_running: Option<u32>,
    /// /etc/docker/daemon.json as text.
    pub daemon_json: Option<String>,
    /// Whether Docker manages iptables (`"iptables": false` in daemon.json
    /// or `--iptables=false` in dockerd's argv turns it off).
    pub manages_iptables: bool,
    /// Where `iptables: false` came from, when it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_off_by: Option<String>,
    /// `userland-proxy` from daemon.json or dockerd's argv; `None` = the
    /// default (on): docker-proxy serves published ports from the host side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userland_proxy: Option<bool>,
    /// dockerd's log level from its argv (`--log-level`, `-l`) or
    /// daemon.json (`log-level`); `None` = the default, `info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// The running dockerd's argv (flags from the unit, drop-ins, DOCKER_OPTS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Whether the `docker` command exists (on Debian 13 it is the separate
    /// `docker-cli` package: dockerd can run without it, and then containers
    /// cannot be listed). `None` when not known (older facts).
    #[serde(default)]
    pub cli_installed: Option<bool>,
    /// `docker info`'s `FirewallBackend` (Docker >= 28.1): whether dockerd
    /// is subscribed to firewalld. `None` on older engines, or when it could
    /// not be read: "cannot tell", never "not subscribed".
    #[serde(default)]
    pub firewall_backend: Option<DockerFirewallBackend>,
    /// Last lines of the docker unit's journal.
    pub journal: Vec<String>,
    /// Start and `Firewalld:` lines of dockerd over the boot; `None` without journalctl.
    #[serde(default)]
    pub journal_markers: Option<Vec<String>>,
    /// Running containers; `None` when the daemon did not answer.
    pub containers: Option<Vec<Container>>,
    /// Names of containers created but never started (a failed `docker run`).
    #[serde(default)]
    pub created: Option<Vec<String>>,
}

/// `docker info --format '{{json .FirewallBackend}}'`, e.g.
/// `{"Driver":"iptables+firewalld","Info":[["ReloadedAt","…"]]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerFirewallBackend {
    /// `iptables`, `iptables+firewalld`, `nftables`, `nftables+firewalld`.
    pub driver: String,
    /// `Info` pairs as Docker prints them (`ReloadedAt`, ...).
    #[serde(default)]
    pub info: Vec<(String, String)>,
}

impl DockerFirewallBackend {
    /// Whether dockerd is subscribed to firewalld (a `+firewalld` driver).
    pub fn subscribed_to_firewalld(&self) -> bool {
        self.driver.ends_with("+firewalld")
    }
    /// Evidence line quoting the driver.
    pub fn evidence(&self) -> String {
        let what = if self.subscribed_to_firewalld() {
            "dockerd is subscribed to firewalld and re-applies its rules after each reload"
        } else {
            "dockerd is not subscribed to firewalld"
        };
        let reloaded = self
            .info
            .iter()
            .find(|(k, _)| k == "ReloadedAt")
            .map(|(_, v)| format!("; ReloadedAt {v}"))
            .unwrap_or_default();
        format!("docker info FirewallBackend: Driver {:?} ({what}{reloaded})", self.driver)
    }
}

/// Network sysctls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sysctl {
    /// net.ipv4.ip_forward.
    pub ip_forward: Option<bool>,
    /// net.bridge.bridge-nf-call-iptables (absent until br_netfilter loads).
    pub bridge_nf_call_iptables: Option<bool>,
}

/// Chain names this host's dockerd creates (`DOCKER`, `DOCKER-…`).
/// `DOCKER_OUTPUT` / `DOCKER_POSTROUTING` (underscore) are not: they are the
/// embedded-DNS chains an engine writes into a *container's* network
/// namespace, present when this host itself runs in a container (DinD, CI
/// runners, the harness's nodes); they belong to the outer engine, and
/// deleting them breaks the host's name resolution.
pub fn is_docker_chain(name: &str) -> bool {
    name.starts_with("DOCKER") && !name.starts_with("DOCKER_")
}

impl RuleSet {
    /// Whether `table` declares `chain`.
    pub fn has_chain(&self, table: &str, chain: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|t| t.chains.iter().any(|c| c == chain))
    }
    /// Docker's chains as `table/CHAIN`.
    pub fn docker_chains(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, t) in &self.tables {
            for c in &t.chains {
                if is_docker_chain(c) {
                    out.push(format!("{name}/{c}"));
                }
            }
        }
        out
    }
    /// Whether Docker's core chains (nat DOCKER or filter DOCKER) exist here.
    pub fn has_docker_chains(&self) -> bool {
        self.has_chain("nat", "DOCKER") || self.has_chain("filter", "DOCKER")
    }
    /// DNAT rules in the nat DOCKER chain.
    pub fn docker_dnat_rules(&self) -> Vec<&str> {
        self.tables
            .get("nat")
            .map(|t| {
                t.rules
                    .iter()
                    .filter(|r| r.starts_with("-A DOCKER ") && r.contains("-j DNAT"))
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Number of rule lines (`-A ...`), as iptables-wrappers counts them.
    pub fn rule_count(&self) -> usize {
        self.tables.values().map(|t| t.rules.len()).sum()
    }
    /// Whether Kubernetes' hint chains exist (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY).
    pub fn has_kubelet_hint(&self) -> bool {
        self.tables.values().any(|t| {
            t.chains
                .iter()
                .any(|c| c == "KUBE-IPTABLES-HINT" || c == "KUBE-KUBELET-CANARY")
        })
    }
}

impl Iptables {
    /// IPv4 rules of one backend.
    pub fn rules(&self, b: Backend) -> Option<&RuleSet> {
        match b {
            Backend::Legacy => self.legacy.as_ref(),
            Backend::Nft => self.nft.as_ref(),
        }
    }
    /// IPv6 rules of one backend.
    pub fn rules6(&self, b: Backend) -> Option<&RuleSet> {
        match b {
            Backend::Legacy => self.legacy6.as_ref(),
            Backend::Nft => self.nft6.as_ref(),
        }
    }
    /// Backends (IPv4) where Docker's core chains exist.
    pub fn backends_with_docker_chains(&self) -> Vec<Backend> {
        [Backend::Nft, Backend::Legacy]
            .into_iter()
            .filter(|b| self.rules(*b).is_some_and(RuleSet::has_docker_chains))
            .collect()
    }
}

impl Kernel {
    /// The module tree of the running kernel, if present.
    pub fn running_tree(&self) -> Option<&ModuleTree> {
        self.module_trees.iter().find(|t| t.release == self.release)
    }
    /// Whether the running kernel's modules are usable (tree with modules.dep).
    pub fn running_modules_usable(&self) -> bool {
        self.running_tree().is_some_and(|t| t.has_modules_dep)
    }
    /// Whether the running kernel came from outside the distribution: no
    /// module tree of its own, and the package manager knows nothing of it.
    pub fn booted_from_outside(&self) -> bool {
        self.running_tree().is_none() && self.package_trace.as_ref().is_some_and(|t| t.is_empty())
    }
    /// Module trees of other kernels that look complete.
    pub fn other_trees(&self) -> Vec<&ModuleTree> {
        self.module_trees
            .iter()
            .filter(|t| t.release != self.release && t.has_modules_dep)
            .collect()
    }
}

impl Docker {
    /// Whether dockerd's unit is active (or, without systemd, it answers).
    pub fn is_running(&self) -> bool {
        match &self.unit {
            Some(u) if u.is_installed() => u.is_active(),
            _ => self.version.is_some(),
        }
    }
    /// Running containers (empty when unknown).
    pub fn running(&self) -> &[Container] {
        self.containers.as_deref().unwrap_or(&[])
    }
}

impl Firewalld {
    /// Whether firewalld is running.
    pub fn is_running(&self) -> bool {
        self.unit.as_ref().is_some_and(Unit::is_active)
            || self.state.as_deref() == Some("running")
    }
    /// Whether firewalld drives iptables (and so can flush Docker's chains).
    pub fn uses_iptables_backend(&self) -> bool {
        self.backend.as_deref() == Some("iptables")
    }
}
