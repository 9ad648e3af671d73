//! `netdoctor explain`: read a pasted error the way an engineer does.
//! First parse (`parse`): who wrote each line, which iptables command it
//! quotes, which failure template it carries. Then reason (`reason`): each
//! failure is evidence for the causes it fits, weighed by the rest of the
//! text. `check` classifies a failed dockerd's journal with the same code.
//! Scored on a corpus of real reports (tests/explain-corpus/).

pub mod parse;
mod reason;

use crate::finding::codes;
use parse::{Failure, Hint, Line, Variant};
use serde::Serialize;

/// One likely cause of a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// Finding code (`unknown` when nothing matched).
    pub code: String,
    /// 0.0-1.0: this cause's share of the evidence times how surely the
    /// text shows an error at all.
    pub confidence: f64,
    /// The facts that point here (and the hints that weighed them).
    pub why: Vec<String>,
    /// Checks that tell this cause from the others on the host.
    pub confirm: Vec<String>,
}

/// Causes below this confidence are not listed.
const FLOOR: f64 = 0.05;

/// Causes of `text`, most likely first; `[unknown]` when no fact points anywhere.
pub fn classify(text: &str) -> Vec<Cause> {
    reason_about(&parse::parse(text))
}

/// A line carries a kernel symptom (the modules Docker's networking or
/// storage needs are missing): `check` quotes such lines under `stale-kernel`.
pub fn is_kernel_symptom(line: &str) -> bool {
    parse::parse(line).iter().any(|l| {
        l.failures.iter().any(|f| {
            reason::evidence(l, f).is_some_and(|e| e.split.iter().any(|(c, _)| *c == codes::STALE_KERNEL))
        })
    })
}

fn reason_about(lines: &[Line]) -> Vec<Cause> {
    let mut hints: Vec<Hint> = lines.iter().flat_map(|l| l.hints.iter().copied()).collect();
    let variants: Vec<Variant> = lines.iter().filter_map(|l| l.variant).collect();
    if variants.contains(&Variant::Nft) && variants.contains(&Variant::Legacy) {
        hints.push(Hint::AlternativesNamed);
    }
    let fails = |want: &dyn Fn(&Failure) -> bool| lines.iter().any(|l| l.failures.iter().any(want));
    if fails(&|f| matches!(f, Failure::ModuleNotFound(m) if m == "br_netfilter"))
        && lines.iter().filter_map(|l| l.kernel.as_deref()).any(parse::predates_br_netfilter)
    {
        hints.push(Hint::ModuleNotInKernel);
    }
    hints.sort_by_key(|h| *h as u8);
    hints.dedup();

    let mut seen: Vec<String> = Vec::new();
    let mut evidence = Vec::new();
    // Two iptables of different backends printed side by side (`iptables
    // -V` on the host and in a container) are the split itself.
    if variants.contains(&Variant::Nft) && variants.contains(&Variant::Legacy) {
        seen.push("two-backends".into());
        evidence.push(reason::Evidence {
            key: "two-backends".into(),
            said: "iptables of both backends (nf_tables and legacy) appear: rules written by one are invisible to the other".into(),
            strength: 0.6,
            split: vec![(codes::IPTABLES_BACKEND_MISMATCH, 1.0)],
        });
    }
    for l in lines {
        let found = l.failures.iter().filter_map(|f| reason::evidence(l, f));
        // A publish that failed without its reason (a truncated paste).
        let bare = (l.failures.is_empty() && l.operation.is_some_and(|o| o.starts_with("publish"))).then(|| reason::bare_publish(l));
        for e in found.chain(bare) {
            if !seen.contains(&e.key) {
                seen.push(e.key.clone());
                evidence.push(e);
            }
        }
    }
    // A failed daemon is a symptom: when anything else explains it, it
    // stays on the list, below.
    let explained = evidence.iter().any(|e| e.split.iter().any(|(c, _)| *c != codes::DOCKER_DAEMON_FAILED));
    let mut raw: Vec<(&'static str, f64, Vec<String>)> = Vec::new();
    // An iptables inside a container or pod that cannot find a table is
    // most often the other backend's binary (kubeadm's docs): the split
    // becomes a candidate for kernel-looking evidence.
    if hints.iter().any(|h| matches!(h, Hint::InContainer | Hint::Kubernetes)) {
        for e in evidence.iter_mut().filter(|e| e.split.iter().any(|(c, _)| *c == codes::STALE_KERNEL)) {
            if !e.split.iter().any(|(c, _)| *c == codes::IPTABLES_BACKEND_MISMATCH) {
                e.split.push((codes::IPTABLES_BACKEND_MISMATCH, 0.3));
            }
        }
    }
    for e in &evidence {
        let symptom = if explained && e.key == "daemon" { 0.3 } else { 1.0 };
        for (code, w) in &e.split {
            let weight = e.strength * w * symptom * hints.iter().map(|h| reason::hint_weight(*h, code)).product::<f64>();
            match raw.iter_mut().find(|(c, _, _)| c == code) {
                Some((_, s, why)) => {
                    *s += weight;
                    why.push(e.said.clone());
                }
                None => raw.push((code, weight, vec![e.said.clone()])),
            }
        }
    }
    let total: f64 = raw.iter().map(|(_, s, _)| s).sum();
    let certainty = 1.0 - evidence.iter().map(|e| 1.0 - e.strength).product::<f64>();
    let mut causes: Vec<Cause> = raw
        .into_iter()
        .map(|(code, s, mut why)| {
            for h in &hints {
                if reason::hint_weight(*h, code) != 1.0 {
                    why.push(format!("hint: {}", reason::hint_said(*h)));
                }
            }
            let confidence = if total > 0.0 { (s / total * certainty).min(0.95) } else { 0.0 };
            Cause { code: code.to_string(), confidence: (confidence * 100.0).round() / 100.0, why, confirm: confirm(code) }
        })
        .filter(|c| c.confidence >= FLOOR)
        .collect();
    causes.sort_by(|a, b| {
        b.confidence.partial_cmp(&a.confidence).unwrap_or(std::cmp::Ordering::Equal).then_with(|| rank(&a.code).cmp(&rank(&b.code)))
    });
    if causes.is_empty() {
        causes.push(Cause { code: codes::UNKNOWN.into(), confidence: 0.0, why: vec![], confirm: confirm(codes::UNKNOWN) });
    }
    causes
}

/// Causes of `text` and the parsed lines they were reasoned from (those
/// that carry a failure or a hint), for `explain --format json`: one parse.
pub fn classify_with_facts(text: &str) -> (Vec<Cause>, Vec<Line>) {
    let lines = parse::parse(text);
    let causes = reason_about(&lines);
    (causes, lines.into_iter().filter(|l| !l.failures.is_empty() || !l.hints.is_empty()).collect())
}

fn rank(code: &str) -> usize {
    codes::explain_codes().position(|c| c == code).unwrap_or(usize::MAX)
}

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
        codes::DOCKER_CHAINS_FLUSHED => &[
            "iptables -t nat -S DOCKER  # fails when the chain is gone",
            "systemctl status netfilter-persistent nftables ufw; grep -rl 'flush ruleset' /etc/nftables.conf /etc/nftables.d 2>/dev/null",
            "systemctl is-active firewalld  # inactive: not firewalld",
        ],
        codes::FIREWALLD_ZONE_CONFLICT => &[
            "firewall-cmd --get-zone-of-interface=docker0",
            "firewall-cmd --permanent --zone=docker --list-interfaces",
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
