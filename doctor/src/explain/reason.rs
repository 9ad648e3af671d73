//! From parsed facts to causes. Each failure is one piece of evidence with a
//! strength (how surely it is an error at all) and a split over the causes
//! it fits; hints anywhere in the text re-weigh that split but never make a
//! cause on their own. A cause's confidence is its share of the evidence
//! times the chance that any of the evidence is real, so a text that fits
//! two causes gives both, lower.

use super::parse::{Failure, Hint, IptCmd, Line, Variant, Writer};
use crate::finding::codes;

/// One piece of evidence: what it says, how strong, which causes it fits.
pub(super) struct Evidence {
    /// Dedupe key: the same failure quoted ten times is one fact.
    pub key: String,
    pub said: String,
    pub strength: f64,
    pub split: Vec<(&'static str, f64)>,
}

/// Built-in chains, targets and matches: when one of them is "missing", a
/// kernel module is, not a rule.
const KERNEL_NAMES: &[&str] = &[
    "PREROUTING", "POSTROUTING", "INPUT", "OUTPUT", "FORWARD", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "ACCEPT", "DROP",
    "REJECT", "RETURN", "LOG", "MARK", "CONNMARK", "addrtype", "conntrack", "nat", "filter",
];

fn is_docker_chain(name: &str) -> bool {
    name.starts_with("DOCKER")
}

fn is_kernel_name(name: &str) -> bool {
    KERNEL_NAMES.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Docker's chain is gone: who removed it is not in the error itself. The
/// general cause (something removed Docker's chains) leads; firewalld, one
/// such tool, leads only when the text names it.
const CHAIN_GONE: &[(&str, f64)] = &[
    (codes::DOCKER_CHAINS_FLUSHED, 0.4),
    (codes::FIREWALLD_FLUSHED_CHAINS, 0.3),
    (codes::IPTABLES_BACKEND_MISMATCH, 0.25),
    (codes::KERNEL_MODULES_UNAVAILABLE, 0.05),
];
/// The raw table missing.
const RAW_TABLE: &[(&str, f64)] = &[(codes::KERNEL_MODULES_UNAVAILABLE, 0.6), (codes::STALE_KERNEL, 0.4)];
/// One of Docker's chains "missing" while dockerd starts: it created the
/// chain a moment before with the same binary, so nothing removed it and
/// no other backend is involved; the kernel refuses the rule (an
/// nf_tables binary on a host without nf_tables, as docker:dind on
/// Container-Optimized OS), less often a binary of the wrong backend.
const AT_START: &[(&str, f64)] = &[
    (codes::KERNEL_MODULES_UNAVAILABLE, 0.45),
    (codes::STALE_KERNEL, 0.3),
    (codes::IPTABLES_BACKEND_MISMATCH, 0.25),
];
/// A built-in target missing under iptables-nft: the nft compat layer, or
/// the backend (early 1.8 releases with Docker 18-19 needed legacy).
const NFT_TARGET: &[(&str, f64)] = &[
    (codes::IPTABLES_BACKEND_MISMATCH, 0.4),
    (codes::STALE_KERNEL, 0.35),
    (codes::KERNEL_MODULES_UNAVAILABLE, 0.25),
];
const KERNEL: &[(&str, f64)] = &[(codes::STALE_KERNEL, 0.6), (codes::KERNEL_MODULES_UNAVAILABLE, 0.4)];
const TREE_GONE: &[(&str, f64)] = &[(codes::STALE_KERNEL, 0.75), (codes::KERNEL_MODULES_UNAVAILABLE, 0.25)];

fn who(l: &Line) -> String {
    let w = serde_json::to_value(l.writer).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let v = match l.variant {
        Some(Variant::Nft) => "nf_tables",
        Some(Variant::Legacy) => "legacy",
        Some(Variant::Old) => "1.4/1.6",
        None => return w,
    };
    if l.writer == Writer::Iptables { format!("iptables ({v})") } else { format!("{w} (iptables {v})") }
}

fn cmd_text(c: &IptCmd) -> String {
    let j = c.jump.as_deref().map(|j| format!(" -j {j}")).unwrap_or_default();
    format!("`iptables -t {} -{} {}{j}`", c.table, c.op, c.chain)
}

/// A missing chain or target: Docker's own (a rule problem) or a built-in (a kernel problem).
fn missing(l: &Line, named: Option<&str>, what: &str) -> Option<Evidence> {
    let cmd = l.command.as_ref();
    if cmd.is_some_and(IptCmd::is_cleanup) {
        return None; // dockerd's checks and cleanups fail routinely
    }
    // The name the error gives decides; without one, the command's chains.
    let (docker, kernel) = match named.filter(|n| !n.is_empty()) {
        Some(n) => (is_docker_chain(n), is_kernel_name(n)),
        None => {
            let docker = cmd.is_some_and(|c| is_docker_chain(&c.chain) || c.jump.as_deref().is_some_and(is_docker_chain));
            (docker, !docker && cmd.is_some_and(|c| is_kernel_name(&c.chain) && c.jump.as_deref().is_some_and(is_kernel_name)))
        }
    };
    let at = cmd.map(|c| format!(" on {}", cmd_text(c))).unwrap_or_default();
    let name = named.map(|n| format!(" `{n}`")).unwrap_or_default();
    if kernel {
        Some(Evidence {
            key: format!("kernel-name{name}"),
            said: format!("{}: {what}{name}{at}: a built-in chain, target or match is missing, i.e. its kernel module", who(l)),
            strength: 0.7,
            split: if l.variant == Some(Variant::Nft) { NFT_TARGET.to_vec() } else { KERNEL.to_vec() },
        })
    } else if docker && l.starting {
        Some(Evidence {
            key: "chain-at-start".into(),
            said: format!("{}: {what}{name}{at} while dockerd starts: it had just created that chain", who(l)),
            strength: 0.6,
            split: AT_START.to_vec(),
        })
    } else {
        let gone = if docker { "one of Docker's chains is gone" } else { "a chain or target is gone" };
        Some(Evidence {
            key: "docker-chain".into(),
            said: format!("{}: {what}{name}{at}: {gone}", who(l)),
            strength: if docker { 0.7 } else { 0.6 },
            split: CHAIN_GONE.to_vec(),
        })
    }
}

fn one(key: &str, said: String, strength: f64, split: &[(&'static str, f64)]) -> Option<Evidence> {
    Some(Evidence { key: key.into(), said, strength, split: split.to_vec() })
}

/// The evidence one failure of a line gives.
pub(super) fn evidence(l: &Line, f: &Failure) -> Option<Evidence> {
    let w = who(l);
    let op = l.operation.map(|o| format!(" ({o})")).unwrap_or_default();
    match f {
        Failure::NoChainTargetMatch => missing(l, None, "No chain/target/match"),
        Failure::ChainDoesNotExist(n) => missing(l, Some(n), "chain does not exist:"),
        Failure::CouldNotLoadTarget(n) => missing(l, Some(n), "couldn't load target"),
        Failure::NftOpFailed(o) => {
            let builtin = l.command.as_ref().is_none_or(|c| is_kernel_name(&c.chain)) || o == "CHAIN_ADD";
            if builtin {
                one("nft-op", format!("{w}: nft {o} failed on a built-in chain: the nf_tables kernel side is missing"), 0.7, &[
                    (codes::STALE_KERNEL, 0.55),
                    (codes::KERNEL_MODULES_UNAVAILABLE, 0.35),
                    (codes::IPTABLES_BACKEND_MISMATCH, 0.1),
                ])
            } else {
                missing(l, None, &format!("nft {o} failed"))
            }
        }
        // Docker 28 added raw-table rules; the kernels without iptable_raw
        // in the reports are NAS, embedded and vendor builds.
        Failure::TableDoesNotExist(t) if t == "raw" => one("kernel", format!("{w}: table raw does not exist (iptable_raw){op}"), 0.75, RAW_TABLE),
        Failure::TableDoesNotExist(t) => one("kernel", format!("{w}: table {t} does not exist (insmod?){op}"), 0.75, KERNEL),
        Failure::IpsetUnsupported => one("ipset", format!("{w}: Docker 28's ipsets cannot be created (ip_set modules){op}"), 0.7, &[
            (codes::KERNEL_MODULES_UNAVAILABLE, 0.6),
            (codes::STALE_KERNEL, 0.4),
        ]),
        Failure::DockerRulesRemoved => one("docker-chain", format!("{w}: a ruleset diff shows Docker's chains or rules removed"), 0.6, CHAIN_GONE),
        Failure::RevisionNotSupported(e) => one("kernel", format!("{w}: extension {e} not supported, missing kernel module{op}"), 0.75, KERNEL),
        Failure::NftProtocolNotSupported => one("kernel", format!("{w}: nft: Protocol not supported (nf_tables unavailable)"), 0.7, KERNEL),
        Failure::NftGenerationId => one("kernel", format!("{w}: nft: could not fetch rule set generation id (nf_tables unavailable)"), 0.7, KERNEL),
        Failure::ModuleNotFound(m) => one("modprobe", format!("{w}: module {m} not found in /lib/modules"), 0.8, KERNEL),
        Failure::ModuleTreeMissing => one("tree", format!("{w}: the running kernel's module tree is missing (modules.dep.bin)"), 0.8, TREE_GONE),
        // The pod's iptables cannot load its table's module: mounting the
        // host's modules lets it (kube2iam#375), matching the host's backend
        // avoids needing it (k3s#783); the text cannot tell which.
        Failure::ModulesDirAbsent => one("modules-dir", format!("{w}: no /lib/modules at all where modprobe ran (a container without the host's modules)"), 0.7, &[
            (codes::KERNEL_MODULES_UNAVAILABLE, 0.5),
            (codes::IPTABLES_BACKEND_MISMATCH, 0.5),
        ]),
        Failure::BridgeUnsupported => one("kernel", format!("{w}: the bridge driver cannot create docker0"), 0.7, KERNEL),
        Failure::GraphdriverUnsupported => one("kernel", format!("{w}: the storage driver is not supported (overlay module)"), 0.6, KERNEL),
        Failure::UnknownOption(o) => one("kernel", format!("{w}: unknown option {o}: a match extension could not load{op}"), 0.6, KERNEL),
        Failure::VethUnsupported => one("kernel", format!("{w}: veth pairs not supported (veth module)"), 0.7, KERNEL),
        Failure::BadRule => None,
        Failure::PortAllocated => one("port", format!("{w}: port is already allocated{op}"), 0.9, &[(codes::PORT_ALREADY_ALLOCATED, 1.0)]),
        Failure::AddressInUse => {
            let publishing = l.operation.is_some_and(|o| o.starts_with("publish")) || l.writer == Writer::Dockerd;
            one("port", format!("{w}: address already in use{op}"), if publishing { 0.85 } else { 0.5 }, &[(codes::PORT_ALREADY_ALLOCATED, 1.0)])
        }
        Failure::ZoneConflict => one("zone", format!("{w}: ZONE_CONFLICT (an interface is bound to another firewalld zone)"), 0.9, &[(codes::FIREWALLD_ZONE_CONFLICT, 1.0)]),
        Failure::ForwardingDisabled => one("fwd", format!("{w}: IPv4 forwarding is disabled"), 0.9, &[(codes::IP_FORWARDING_DISABLED, 1.0)]),
        Failure::LegacyTablesPresent => one("legacy", format!("{w}: iptables-legacy tables present beside nf_tables"), 0.8, &[(codes::IPTABLES_BACKEND_MISMATCH, 1.0)]),
        Failure::IncompatibleUseNft => one("incompatible", format!("{w}: a chain is incompatible, use 'nft' tool (written by another backend or by nft)"), 0.75, &[
            (codes::IPTABLES_BACKEND_MISMATCH, 0.75),
            (codes::FIREWALLD_FLUSHED_CHAINS, 0.25),
        ]),
        Failure::DaemonConfig => one("config", format!("{w}: dockerd's configuration is refused"), 0.85, &[(codes::DOCKER_DAEMON_FAILED, 1.0)]),
        Failure::DaemonFailed => one("daemon", format!("{w}: dockerd did not start"), 0.4, &[(codes::DOCKER_DAEMON_FAILED, 1.0)]),
        Failure::ConnectionRefused => one("refused", format!("{w}: connection refused"), 0.3, &[(codes::PUBLISHED_PORT_WITHOUT_RULE, 1.0)]),
        Failure::EgressFailed => one("egress", format!("{w}: a container cannot reach out (name resolution or route)"), 0.35, &[
            (codes::FIREWALLD_FLUSHED_CHAINS, 0.3),
            (codes::DOCKER_CHAINS_FLUSHED, 0.3),
            (codes::IP_FORWARDING_DISABLED, 0.25),
            (codes::IPTABLES_BACKEND_MISMATCH, 0.15),
        ]),
        Failure::RestartRequired => one("restart", format!("{w}: a restart is required"), 0.7, &[(codes::REBOOT_PENDING, 1.0)]),
    }
}

/// A port publish failed and the text does not say why.
pub(super) fn bare_publish(l: &Line) -> Evidence {
    Evidence {
        key: "bare-publish".into(),
        said: format!("{}: publishing a port failed, the reason is cut off", who(l)),
        strength: 0.4,
        split: vec![
            (codes::FIREWALLD_FLUSHED_CHAINS, 0.4),
            (codes::PORT_ALREADY_ALLOCATED, 0.3),
            (codes::IPTABLES_BACKEND_MISMATCH, 0.15),
            (codes::DOCKER_CHAINS_FLUSHED, 0.15),
        ],
    }
}

/// How a hint re-weighs a cause, and what to say about it.
pub(super) fn hint_weight(h: Hint, code: &str) -> f64 {
    use codes::*;
    match (h, code) {
        (Hint::FirewalldRestarted, FIREWALLD_FLUSHED_CHAINS) => 2.0,
        // firewalld ran when dockerd started (it relays dockerd's commands),
        // so dockerd is subscribed and re-adds its chains after firewalld's
        // reloads (scenario firewalld-reload-docker-subscribed): a chain
        // still gone points away from firewalld.
        (Hint::FirewalldRelayed, FIREWALLD_FLUSHED_CHAINS) => 0.7,
        // A reload named is the flush itself; firewalld merely running is not.
        (Hint::FirewalldRestarted, DOCKER_CHAINS_FLUSHED) => 0.5,
        (Hint::FirewalldNotRunning, FIREWALLD_FLUSHED_CHAINS) => 0.05,
        (Hint::AlternativesNamed, IPTABLES_BACKEND_MISMATCH) => 3.0,
        (Hint::ForeignFlush, DOCKER_CHAINS_FLUSHED) => 4.0,
        (Hint::ForeignFlush, FIREWALLD_FLUSHED_CHAINS) => 0.5,
        (Hint::KernelUpgrade, STALE_KERNEL) => 2.5,
        (Hint::NonStockKernel, KERNEL_MODULES_UNAVAILABLE) => 4.0,
        (Hint::NonStockKernel, STALE_KERNEL) => 0.25,
        (Hint::StockKernel, STALE_KERNEL) => 1.5,
        (Hint::InContainer | Hint::Kubernetes, IPTABLES_BACKEND_MISMATCH) => 3.0,
        (Hint::InContainer, STALE_KERNEL) => 0.3,
        // moby#22820: the warning does not apply to host networking.
        (Hint::HostNetwork, IP_FORWARDING_DISABLED) => 0.0,
        (Hint::ModuleNotInKernel, KERNEL_MODULES_UNAVAILABLE) => 4.0,
        (Hint::ModuleNotInKernel, STALE_KERNEL) => 0.25,
        _ => 1.0,
    }
}

pub(super) fn hint_said(h: Hint) -> &'static str {
    match h {
        Hint::FirewalldRelayed => {
            "firewalld relayed Docker's iptables command (COMMAND_FAILED): it ran when dockerd started, so dockerd re-adds its chains after firewalld reloads"
        }
        Hint::FirewalldRestarted => "a firewalld start, restart or reload is named",
        Hint::FirewalldNotRunning => "dockerd says firewalld is not running",
        Hint::AlternativesNamed => "the iptables alternatives (legacy / nft) are named",
        Hint::Kubernetes => "Kubernetes' components or chains are named (they pick their own backend)",
        Hint::ForeignFlush => "another tool rewrote the ruleset (iptables-restore, flush ruleset, ufw, a manual flush)",
        Hint::KernelUpgrade => "a kernel package upgrade is named",
        Hint::NonStockKernel => "the kernel is not a distribution's stock kernel (WSL, OpenVZ, a custom build): modules missing by build",
        Hint::StockKernel => "the kernel is a distribution's stock kernel, which package upgrades replace",
        Hint::InContainer => "the iptables that failed runs in a container or pod, whose backend need not be the host's",
        Hint::HostNetwork => "the container uses the host's network (--net=host): forwarding and Docker's NAT do not apply to it",
        Hint::ModuleNotInKernel => "the kernel release named predates br_netfilter as a module of its own (3.18; RHEL 7.3's 3.10.0-514): built into bridge",
    }
}
