//! Classify a pasted error message or journal excerpt into finding codes,
//! by the phrases each incident is known to print (DESIGN.md, seeds).

use crate::finding::codes;
use serde::Serialize;

/// One likely cause of a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// Finding code (`unknown` when nothing matched).
    pub code: String,
    /// 0.0-1.0: how strongly the phrases point here.
    pub confidence: f64,
    /// The phrases that matched.
    pub why: Vec<String>,
    /// Checks that would confirm it on the host.
    pub confirm: Vec<String>,
}

/// (code, phrase, weight). Phrases match case-insensitively, whitespace-folded,
/// and are reported as written here.
/// The same text often fits several incidents; weights encode which one is
/// most likely (e.g. `CHAIN_ADD failed` is a kernel symptom first: seed 004).
const PHRASES: &[(&str, &str, f64)] = &[
    // C: stale kernel (DESIGN.md section 1-C and 2, seed 004)
    (codes::STALE_KERNEL, "not found in directory /lib/modules", 0.6),
    (codes::STALE_KERNEL, "Table does not exist (do you need to insmod?)", 0.45),
    (codes::STALE_KERNEL, "revision 0 not supported, missing kernel module", 0.45),
    (codes::STALE_KERNEL, "CHAIN_ADD failed (No such file or directory)", 0.4),
    (codes::STALE_KERNEL, "Failed to initialize nft: Protocol not supported", 0.4),
    (codes::STALE_KERNEL, "error initializing graphdriver", 0.3),
    // iptables 1.8.11 (Debian 13) without nf_tables, and Docker 26's bridge
    // creation without the bridge module (kernel scenarios' journals).
    (codes::STALE_KERNEL, "Could not fetch rule set generation id: Invalid argument", 0.4),
    (codes::STALE_KERNEL, "Failed to create bridge docker0 via netlink", 0.35),
    (codes::STALE_KERNEL, "package not installed", 0.35),
    (codes::STALE_KERNEL, "your kernel needs to be upgraded", 0.1),
    (codes::KERNEL_MODULES_UNAVAILABLE, "missing kernel module", 0.3),
    (codes::KERNEL_MODULES_UNAVAILABLE, "do you need to insmod", 0.3),
    (codes::KERNEL_MODULES_UNAVAILABLE, "not found in directory", 0.3),
    (codes::KERNEL_MODULES_UNAVAILABLE, "Protocol not supported", 0.25),
    (codes::KERNEL_MODULES_UNAVAILABLE, "CHAIN_ADD failed", 0.25),
    (codes::KERNEL_MODULES_UNAVAILABLE, "package not installed", 0.2),
    (codes::KERNEL_MODULES_UNAVAILABLE, "error initializing graphdriver", 0.15),
    (codes::KERNEL_MODULES_UNAVAILABLE, "Could not fetch rule set generation id", 0.25),
    (codes::KERNEL_MODULES_UNAVAILABLE, "via netlink\" error=\"operation not supported", 0.2),
    // A: firewalld flush (DESIGN.md 1-A, seed 000)
    (codes::FIREWALLD_FLUSHED_CHAINS, "No chain/target/match by that name", 0.45),
    (codes::FIREWALLD_FLUSHED_CHAINS, "driver failed programming external connectivity", 0.2),
    (codes::FIREWALLD_FLUSHED_CHAINS, "-t nat -A DOCKER", 0.15),
    (codes::FIREWALLD_FLUSHED_CHAINS, "firewall", 0.15),
    (codes::FIREWALLD_FLUSHED_CHAINS, "firewall-cmd --reload", 0.1),
    (codes::FIREWALLD_STARTED_AFTER_DOCKER, "firewall-cmd --reload", 0.25),
    (codes::FIREWALLD_STARTED_AFTER_DOCKER, "systemctl start firewalld", 0.25),
    (codes::FIREWALLD_STARTED_AFTER_DOCKER, "systemctl restart firewalld", 0.25),
    // B: backend swap (DESIGN.md 1-B, issue 5)
    (codes::IPTABLES_BACKEND_MISMATCH, "iptables-legacy tables present", 0.7),
    (codes::IPTABLES_BACKEND_MISMATCH, "update-alternatives", 0.3),
    (codes::IPTABLES_BACKEND_MISMATCH, "alternatives --config iptables", 0.1),
    (codes::IPTABLES_BACKEND_MISMATCH, "No chain/target/match by that name", 0.3),
    (codes::IPTABLES_BACKEND_MISMATCH, "CHAIN_ADD failed", 0.2),
    // Ports
    (codes::PORT_ALREADY_ALLOCATED, "port is already allocated", 0.8),
    (codes::PORT_ALREADY_ALLOCATED, "address already in use", 0.6),
    // Docker 28 binds published ports itself (no docker-proxy listen).
    (codes::PORT_ALREADY_ALLOCATED, "failed to bind host port", 0.2),
    (codes::PORT_ALREADY_ALLOCATED, "driver failed programming external connectivity", 0.1),
    (codes::PUBLISHED_PORT_WITHOUT_RULE, "Connection refused", 0.3),
    (codes::PUBLISHED_PORT_WITHOUT_RULE, "Connection timed out", 0.25),
    (codes::PUBLISHED_PORT_WITHOUT_RULE, "No route to host", 0.2),
    (codes::PUBLISHED_PORT_WITHOUT_RULE, "curl: (7)", 0.2),
    // Forwarding
    (codes::IP_FORWARDING_DISABLED, "IPv4 forwarding is disabled", 0.8),
    (codes::IP_FORWARDING_DISABLED, "ip_forward = 0", 0.5),
    (codes::IP_FORWARDING_DISABLED, "ip_forward=0", 0.5),
    // Reboot
    (codes::REBOOT_PENDING, "System restart required", 0.7),
    (codes::REBOOT_PENDING, "reboot-required", 0.6),
    // Daemon
    // The daemon failing is a symptom: a kernel or config cause found above outranks it.
    (codes::DOCKER_DAEMON_FAILED, "failed to start daemon", 0.25),
    (codes::DOCKER_DAEMON_FAILED, "Failed to start Docker Application Container Engine", 0.4),
    (codes::DOCKER_DAEMON_FAILED, "docker.service: Failed with result", 0.35),
    (codes::DOCKER_DAEMON_FAILED, "Start request repeated too quickly", 0.3),
    (codes::DOCKER_DAEMON_FAILED, "Error initializing network controller", 0.1),
];

/// Checks that would confirm a cause on the host.
fn confirm(code: &str) -> Vec<String> {
    let v: &[&str] = match code {
        codes::STALE_KERNEL => &[
            "ls -d /lib/modules/$(uname -r)  # missing = stale kernel",
            "ls /lib/modules  # the installed kernels",
            "netdoctor check",
        ],
        codes::KERNEL_MODULES_UNAVAILABLE => &[
            "modprobe -n -v nf_nat iptable_nat nft_chain_nat xt_MASQUERADE",
            "grep -E 'CONFIG_(NF_NAT|IP_NF_NAT|NFT_NAT)=' /boot/config-$(uname -r)",
        ],
        codes::FIREWALLD_FLUSHED_CHAINS => &[
            "iptables -t nat -S DOCKER  # fails when the chain is gone",
            "iptables-nft-save | grep -c DOCKER; iptables-legacy-save | grep -c DOCKER  # 0 in both",
            "systemctl show -p ActiveEnterTimestampMonotonic firewalld docker",
        ],
        codes::FIREWALLD_STARTED_AFTER_DOCKER => &[
            "systemctl show -p ActiveEnterTimestampMonotonic firewalld docker  # firewalld later = not subscribed",
            "grep FirewallBackend /etc/firewalld/firewalld.conf",
        ],
        codes::IPTABLES_BACKEND_MISMATCH => &[
            "update-alternatives --query iptables; iptables -V",
            "iptables-nft-save | grep DOCKER; iptables-legacy-save | grep DOCKER  # Docker's chains in the other backend",
        ],
        codes::PORT_ALREADY_ALLOCATED => &["docker ps --filter publish=PORT", "ss -tlnp 'sport = :PORT'"],
        codes::PUBLISHED_PORT_WITHOUT_RULE => &["iptables -t nat -S DOCKER | grep -- '--dport PORT'", "docker port CONTAINER"],
        codes::IP_FORWARDING_DISABLED => &["sysctl net.ipv4.ip_forward"],
        codes::REBOOT_PENDING => &["uname -r; ls /lib/modules; ls /run/reboot-required"],
        codes::DOCKER_DAEMON_FAILED => &["systemctl status docker", "journalctl -u docker -n 50 --no-pager"],
        _ => &["netdoctor check"],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// Lower-case, whitespace-collapsed form used for matching.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Causes of `text`, most likely first; `[unknown]` when nothing matches.
pub fn classify(text: &str) -> Vec<Cause> {
    let t = fold(text);
    let mut causes: Vec<Cause> = Vec::new();
    for (code, phrase, w) in PHRASES {
        if !t.contains(&fold(phrase)) {
            continue;
        }
        match causes.iter_mut().find(|c| c.code == *code) {
            Some(c) => {
                c.confidence += w;
                c.why.push(phrase.to_string());
            }
            None => causes.push(Cause { code: code.to_string(), confidence: *w, why: vec![phrase.to_string()], confirm: confirm(code) }),
        }
    }
    for c in &mut causes {
        c.confidence = (c.confidence.min(0.95) * 100.0).round() / 100.0;
    }
    // Stable order: confidence, then the order codes are documented in.
    causes.sort_by(|a, b| {
        b.confidence
            .partial_cmp(&a.confidence)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| rank(&a.code).cmp(&rank(&b.code)))
    });
    if causes.is_empty() {
        causes.push(Cause { code: codes::UNKNOWN.into(), confidence: 0.0, why: vec![], confirm: confirm(codes::UNKNOWN) });
    }
    causes
}

fn rank(code: &str) -> usize {
    codes::ALL.iter().position(|c| *c == code).unwrap_or(usize::MAX)
}
