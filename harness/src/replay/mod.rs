//! From a customer's bundle (`netdoctor collect --bundle`, format 1: the
//! doctor's README, "Bundles") to a scenario that puts a fresh node of the
//! nearest platform into the same state: the platform and backend to use,
//! what differs from the customer's host, the steps, and what could not be
//! reproduced, said in the scenario file as comments. `repro replay` runs
//! the result; this module only derives it (no node, no doctor).
//!
//! The state is rebuilt in the order a host gets there: the iptables
//! alternative and dockerd's settings, firewalld's backend and whether it
//! started before dockerd, the published containers; then the fault:
//! firewalld started (or stopped) after dockerd, the alternative switched,
//! Docker's chains flushed by something else, forwarding off, a zone
//! binding; the admin's rules last (a flush would have taken them).

pub mod file;

use crate::platform::{NodeBackend, Platform};
use crate::recipe::Versions;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A process of the node's own holding `proto` port `port` (a UDP one
/// echoes, tagged `node-process`), started detached; returns once `ss` lists it.
fn holder(proto: &str, port: u16) -> String {
    let (kind, serve) = if proto == "udp" {
        ("SOCK_DGRAM", r#"[s.sendto(b"node-process "+d,a) for d,a in iter(lambda:s.recvfrom(2048),None)]"#)
    } else {
        ("SOCK_STREAM", "s.listen(8);[c.close() for c,a in iter(s.accept,None)]")
    };
    let letter = if proto == "udp" { 'u' } else { 't' };
    format!(
        r#"setsid python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.{kind});s.bind(("",{port}));{serve}' </dev/null >/dev/null 2>&1 & for i in $(seq 50); do ss -H{letter}ln 'sport = :{port}' | grep -q . && exit 0; sleep 0.1; done; exit 1"#
    )
}

/// The bundle fields a replay reads (unknown fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Bundle {
    /// The format version; this reads 1.
    pub bundle: u32,
    /// Whether `--redact` ran.
    #[serde(default)]
    pub redacted: bool,
    /// The netdoctor that wrote it.
    #[serde(default)]
    pub written_by: String,
    /// The host's state, stated.
    pub reproduction: Reproduction,
    /// The few raw facts the replay needs beyond `reproduction`.
    pub facts: FactsView,
}

/// `reproduction` of a bundle.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct Reproduction {
    pub os: String,
    pub docker_version: Option<String>,
    pub firewalld_version: Option<String>,
    pub iptables_version: Option<String>,
    pub firewalld_state: String,
    pub firewalld_backend: Option<String>,
    pub start_order: String,
    pub iptables_backend: Option<String>,
    pub docker_rules_in: Vec<String>,
    pub kernel_module_tree: bool,
    pub dockerd_flags: Vec<String>,
    pub daemon_json: Option<String>,
    pub ip_forward: Option<bool>,
    pub containers: Vec<Container>,
    pub admin_rules: BTreeMap<String, Vec<String>>,
    pub admin_chains: BTreeMap<String, Vec<String>>,
    pub docker_chains: BTreeMap<String, BTreeMap<String, BTreeMap<String, usize>>>,
    pub docker_manages_iptables: bool,
    pub created: Vec<String>,
    pub firewalld_stopped_after_dockerd: bool,
    pub firewalld_zones: Vec<String>,
    pub virtualization: String,
    pub loaded_modules: Option<Vec<String>>,
    /// `8081/tcp`: published ports whose DNAT rule is gone (newer bundles).
    #[serde(default)]
    pub ports_without_rule: Vec<String>,
    /// `docker run -p` conflicts still going on (newer bundles).
    #[serde(default)]
    pub port_conflicts: Vec<PortConflict>,
}

/// A container that could not start because its host port is taken.
#[derive(Debug, Clone, Deserialize)]
pub struct PortConflict {
    /// The host port.
    pub port: u16,
    /// `tcp`, `udp`, or none where Docker's error does not say.
    pub proto: Option<String>,
    /// The container that could not start.
    pub container: Option<String>,
    /// `container NAME` or `host`.
    pub held_by: Vec<String>,
}

/// A published container of the bundle.
#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    /// Its name (`container-N` when redacted).
    pub name: String,
    /// `default`, `bridge`, `host`, a network's name.
    pub network_mode: Option<String>,
    /// `proto host_ip:host_port->container_port`.
    pub ports: Vec<String>,
}

/// Raw facts the replay reads.
#[derive(Debug, Clone, Deserialize)]
pub struct FactsView {
    /// `/etc/os-release`.
    pub os: OsView,
    /// dockerd's unit.
    pub docker: DockerView,
    /// What the probe could not look at.
    #[serde(default)]
    pub could_not_look: Vec<String>,
}

/// `facts.os`.
#[derive(Debug, Clone, Deserialize)]
pub struct OsView {
    /// `debian`, `centos`, …
    pub id: Option<String>,
    /// `12`, `7`, …
    pub version_id: Option<String>,
}

/// `facts.docker`.
#[derive(Debug, Clone, Deserialize)]
pub struct DockerView {
    /// docker.service.
    pub unit: Option<UnitView>,
}

/// A unit's state.
#[derive(Debug, Clone, Deserialize)]
pub struct UnitView {
    /// `active`, `failed`, `inactive`.
    pub active_state: Option<String>,
}

/// Parses a bundle, naming the line, column and field at fault.
pub fn parse(text: &str, file: &str) -> Result<Bundle, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{file}: not JSON: {e}"))?;
    if v.get("bundle").is_none() {
        return Err(format!(
            "{file}: no `bundle` field: this is not a bundle (a facts file? make one with `netdoctor collect --facts {file} --bundle OUT`)"
        ));
    }
    let b: Bundle = serde_json::from_str(text).map_err(|e| {
        format!("{file}: line {}, column {}: {e}; re-create it with `netdoctor collect --bundle FILE` (bundle format 1)", e.line(), e.column())
    })?;
    if b.bundle != 1 {
        return Err(format!("{file}: field `bundle`: format {} not supported (this repro reads 1)", b.bundle));
    }
    Ok(b)
}

/// What a replay derived.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The platform it runs on (the nearest, unless another was asked).
    pub platform: Platform,
    /// The nearest platform of the matrix.
    pub nearest: Platform,
    /// Container, or VM where the kernel is the story.
    pub backend: NodeBackend,
    /// How the platform differs from the customer's host.
    pub differences: Vec<String>,
    /// What the scenario does not reproduce, and why.
    pub not_reproduced: Vec<String>,
    /// The scenario file's text.
    pub toml: String,
}

/// A derived step: its TOML inline table, and a comment saying why.
#[derive(Clone)]
struct S {
    toml: String,
    why: &'static str,
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The nearest platform: same OS release first, then the closest Docker
/// major version (firewalld's and iptables' majors break ties).
pub fn nearest_platform(b: &Bundle, matrix: &[(Platform, Versions)]) -> (Platform, Vec<String>) {
    let r = &b.reproduction;
    let id = b.facts.os.id.clone().unwrap_or_default();
    let ver = b.facts.os.version_id.clone().unwrap_or_default();
    let major = |v: &str| v.trim_start_matches(|c: char| !c.is_ascii_digit()).split(['.', '+', '-', ' ', '~']).next().and_then(|m| m.parse::<i64>().ok());
    let bundle_docker = r.docker_version.as_deref().and_then(major);
    let os_of = |p: Platform| match p {
        Platform::Debian12 => ("debian", "12"),
        Platform::Debian13 | Platform::Debian13Docker28 => ("debian", "13"),
        Platform::Centos7 => ("centos", "7"),
    };
    let score = |(p, v): &(Platform, Versions)| {
        let (pid, pver) = os_of(*p);
        let os_miss = if pid == id && ver.split('.').next() == Some(pver) { 0 } else if pid == id { 50 } else { 100 };
        let docker = match (bundle_docker, major(&v.docker)) {
            (Some(a), Some(b)) => (a - b).abs(),
            _ => 10,
        };
        let fw = match (r.firewalld_version.as_deref().and_then(major), major(&v.firewalld)) {
            (Some(a), Some(b)) if a != b => 1,
            _ => 0,
        };
        os_miss * 100 + docker * 2 + fw
    };
    let Some((platform, versions)) = matrix.iter().min_by_key(|pv| score(pv)) else {
        return (Platform::Debian12, vec!["the matrix is empty".into()]);
    };
    let mut diff = Vec::new();
    let same = |a: &str, b: &str| a.contains(b) || b.contains(a);
    if score(&(*platform, versions.clone())) >= 100 * 50 {
        diff.push(format!("OS: the host runs {}, the platform {}", r.os, versions.os));
    }
    let pairs = [
        ("Docker", r.docker_version.as_deref(), versions.docker.as_str()),
        ("firewalld", r.firewalld_version.as_deref(), versions.firewalld.as_str()),
        ("iptables", r.iptables_version.as_deref(), versions.iptables.as_str()),
    ];
    for (what, host, platform_v) in pairs {
        match host {
            Some(h) if !same(h.trim_start_matches("iptables v").split(' ').next().unwrap_or(h), platform_v) => {
                diff.push(format!("{what}: the host has {h}, the platform {platform_v}"))
            }
            None if what != "firewalld" || r.firewalld_state == "running" => {
                diff.push(format!("{what}: the bundle does not say the host's version (the platform has {platform_v})"))
            }
            _ => {}
        }
    }
    (*platform, diff)
}

/// `iptables-nft` / `iptables-legacy`, or plain `iptables` where the
/// platform has one backend only (CentOS 7: legacy).
fn tool(platform: Platform, backend: &str) -> String {
    if platform == Platform::Centos7 { "iptables".into() } else { format!("iptables-{backend}") }
}

/// `(proto, host_ip, host_port, container_port)` of `tcp 0.0.0.0:8080->80`.
fn port_of(p: &str) -> Option<(String, String, u16, u16)> {
    let (proto, rest) = p.split_once(' ')?;
    let (host, cport) = rest.split_once("->")?;
    let (ip, hport) = host.rsplit_once(':')?;
    Some((proto.to_string(), ip.to_string(), hport.parse().ok()?, cport.parse().ok()?))
}

/// Derives the scenario for `b`, whose findings (by the doctor, on
/// the bundle) are `findings`.
/// `on` replays on that platform instead of the nearest (said in the differences).
pub fn derive(b: &Bundle, findings: &[String], source: &str, matrix: &[(Platform, Versions)], on: Option<Platform>) -> Replay {
    let r = &b.reproduction;
    let (nearest, mut differences) = nearest_platform(b, matrix);
    let platform = on.unwrap_or(nearest);
    if platform != nearest {
        differences.insert(0, format!("replayed on {platform} as asked; the nearest platform is {nearest}"));
    }
    let mut not_reproduced: Vec<String> = Vec::new();
    // No module tree for the running kernel, outside a container: a VM. A
    // kernel some package brought is stale (the doctor says so); one no
    // package knows was booted from outside the distribution.
    let no_tree_vm = !r.kernel_module_tree && r.virtualization != "container";
    let foreign_kernel = no_tree_vm && !findings.iter().any(|f| f == "stale-kernel" || f == "reboot-pending");
    let stale_kernel = no_tree_vm && !foreign_kernel;
    let backend = if no_tree_vm { NodeBackend::Vm } else { NodeBackend::Container };
    let docker_state = b.facts.docker.unit.as_ref().and_then(|u| u.active_state.clone()).unwrap_or_default();
    let docker_up = docker_state == "active";
    let firewalld_running = r.firewalld_state == "running";
    let firewalld_iptables = r.firewalld_backend.as_deref() != Some("nftables");
    let current = r.iptables_backend.clone().unwrap_or_else(|| "nft".into());

    let mut prepare: Vec<S> = Vec::new();
    let mut fault: Vec<S> = Vec::new();
    let mut oracles: Vec<S> = Vec::new();
    let mut ports: BTreeSet<u16> = BTreeSet::new();

    // The kernel: a stale one is a VM booted into its oldest kernel, whose
    // package is purged after the modules dockerd needs are loaded.
    if stale_kernel {
        let wanted = ["overlay", "bridge", "br_netfilter", "nf_tables", "nf_nat", "ip_tables", "iptable_nat", "veth"];
        let loaded: Vec<String> = r.loaded_modules.iter().flatten().filter(|m| wanted.contains(&m.as_str())).cloned().collect();
        if !loaded.is_empty() {
            let list: Vec<String> = loaded.iter().map(|m| q(m)).collect();
            prepare.push(S { toml: format!("{{ modprobe = [{}] }}", list.join(", ")), why: "the modules the host had loaded before its tree went" });
        }
        fault.push(S { toml: format!("{{ run = {}, timeout = 300 }}", q("dpkg --purge \"linux-image-$(uname -r)\"")), why: "an upgrade purged the running kernel's package: its module tree is gone" });
        oracles.push(S { toml: format!("{{ run = {} }}", q("test ! -e \"/lib/modules/$(uname -r)\" && ls /lib/modules")), why: "the running kernel has no module tree, another one is installed" });
        if platform == Platform::Centos7 {
            not_reproduced.push("a stale kernel on CentOS 7: the VM reproducer boots Debian kernels only; the replay runs on Debian".into());
        }
    } else if foreign_kernel {
        oracles.push(S {
            toml: format!("{{ run = {}, contains = \"no tree for the running kernel\" }}", q("test ! -e \"/lib/modules/$(uname -r)\" && echo \"no tree for the running kernel\"")),
            why: "the running kernel (another Debian release's, booted from outside) has no module tree",
        });
        if platform.foreign_kernel_donor().is_none() {
            not_reproduced.push(format!("a kernel booted from outside the distribution on {platform}: no donor kernel for its VM"));
        }
    }

    // The iptables alternative dockerd started with, and dockerd's settings.
    let docker_in = r.docker_rules_in.clone();
    let other = if current == "nft" { "legacy".to_string() } else { "nft".to_string() };
    // firewalld (iptables) that started or stopped after dockerd flushed the
    // backend `iptables` uses: dockerd's live rules were there, and copies
    // in the other backend are an older dockerd's leftovers.
    let firewalld_moved_after = firewalld_running && r.start_order == "firewalld-after-dockerd" || !firewalld_running && r.firewalld_stopped_after_dockerd;
    let flushed_by_firewalld = firewalld_moved_after && firewalld_iptables && !docker_in.contains(&current);
    let started_in = if flushed_by_firewalld {
        current.clone()
    } else {
        match docker_in.as_slice() {
            [one] => one.clone(),
            [_, _] => other.clone(),
            _ => current.clone(),
        }
    };
    let mut restart_docker = false;
    let start_on = |prepare: &mut Vec<S>, backend: &str, clean_nft: bool| {
        prepare.push(S { toml: "{ run = \"systemctl stop docker.socket docker\" }".into(), why: "dockerd starts on the host's backend" });
        prepare.push(S { toml: format!("{{ iptables_alternative = {} }}", q(backend)), why: "the backend dockerd wrote its rules through" });
        if clean_nft {
            prepare.push(S {
                toml: "{ run = \"nft delete table ip nat; nft delete table ip filter; true\" }".into(),
                why: "dockerd never wrote to nft on the host: the boot's copies go",
            });
        }
        prepare.push(S { toml: "{ start = \"docker\" }".into(), why: "dockerd starts there" });
    };
    if platform != Platform::Centos7 {
        if flushed_by_firewalld && docker_in.contains(&other) {
            start_on(&mut prepare, &other, false);
            start_on(&mut prepare, &current, false);
        } else if started_in == "legacy" {
            start_on(&mut prepare, "legacy", !r.docker_chains.contains_key("nft"));
        }
    }
    if platform == Platform::Centos7 && current == "nft" {
        not_reproduced.push("iptables-nft on CentOS 7: its iptables 1.4 has the legacy backend only".into());
    }
    if let Some(dj) = r.daemon_json.as_deref().filter(|d| !d.trim().is_empty() && d.trim() != "{}") {
        let script = format!("mkdir -p /etc/docker && printf '%s\\n' {} > /etc/docker/daemon.json", shell_quote(dj.trim()));
        prepare.push(S { toml: format!("{{ run = {} }}", q(&script)), why: "daemon.json as the host has it" });
        restart_docker = true;
    }
    let extra_flags: Vec<&String> = {
        let mut skip_next = false;
        r.dockerd_flags
            .iter()
            .filter(|f| {
                if std::mem::take(&mut skip_next) {
                    return false;
                }
                if *f == "-H" || *f == "--containerd" {
                    skip_next = true;
                    return false;
                }
                !(f.starts_with("-H=") || f.starts_with("--host=fd://") || f.starts_with("--containerd="))
            })
            .collect()
    };
    if !extra_flags.is_empty() {
        let flags: Vec<String> = r.dockerd_flags.iter().map(|f| shell_quote(f)).collect();
        let script = format!(
            "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nExecStart=\\nExecStart=%s %s\\n' \"$(command -v dockerd)\" {} > /etc/systemd/system/docker.service.d/replay-flags.conf && systemctl daemon-reload",
            shell_quote(&flags.join(" "))
        );
        prepare.push(S { toml: format!("{{ run = {} }}", q(&script)), why: "dockerd's flags as the host ran it" });
        restart_docker = true;
    }

    // firewalld: its backend, and whether dockerd started after it.
    // firewalld (iptables) "after" dockerd whose start left Docker's chains
    // in place applied its rules before dockerd wrote them (units become
    // active late at boot): it came first, in effect.
    let survived = firewalld_iptables && docker_in.contains(&current) && !findings.iter().any(|f| f == "firewalld-started-after-docker");
    let firewalld_before = firewalld_running && (r.start_order == "firewalld-before-dockerd" || (r.start_order == "firewalld-after-dockerd" && survived));
    let firewalld_after = firewalld_running && r.start_order == "firewalld-after-dockerd" && !firewalld_before;
    let ran_and_stopped = !firewalld_running && r.firewalld_stopped_after_dockerd;
    if let Some(fb) = r.firewalld_backend.as_deref().filter(|fb| ["iptables", "nftables"].contains(fb)) {
        if firewalld_running || ran_and_stopped {
            if platform == Platform::Centos7 && fb == "nftables" {
                not_reproduced.push("firewalld's nftables backend on CentOS 7 (firewalld 0.6 there has iptables only)".into());
            } else {
                prepare.push(S { toml: format!("{{ firewalld_backend = {} }}", q(fb)), why: "firewalld's FirewallBackend" });
            }
        }
    }
    if firewalld_running && r.start_order == "unknown" {
        not_reproduced.push("the start order of firewalld and dockerd (the bundle does not say): firewalld starts first".into());
    }
    if firewalld_before || ran_and_stopped || (firewalld_running && r.start_order == "unknown") {
        prepare.push(S { toml: "{ start = \"firewalld\" }".into(), why: "firewalld ran before dockerd started" });
        prepare.push(S { toml: "{ run = \"firewall-cmd --state\", contains = \"running\" }".into(), why: "returns once firewalld has applied its rules" });
        restart_docker = true;
    }
    if r.firewalld_state == "not-installed" {
        not_reproduced.push("firewalld is not installed on the host; on the node it is installed, and stays stopped".into());
    }
    if stale_kernel {
        if docker_up {
            prepare.push(S { toml: "{ start = \"docker\", timeout = 300 }".into(), why: "dockerd ran on the old kernel" });
        }
    } else if restart_docker && docker_up {
        prepare.push(S { toml: "{ restart = \"docker\" }".into(), why: "dockerd starts with these settings, after what came before it" });
    }

    // The containers, as the host runs them (with the probe image).
    let mut containers_named = Vec::new();
    for c in &r.containers {
        let mode = c.network_mode.clone().unwrap_or_else(|| "default".into());
        let mut seen = BTreeSet::new();
        let parsed: Vec<_> = c.ports.iter().filter_map(|p| port_of(p)).filter(|(proto, _, hp, _)| seen.insert((proto.clone(), *hp))).collect();
        for (proto, ip, hp, cp) in &parsed {
            if !["0.0.0.0", "", "::", "[::]"].contains(&ip.as_str()) {
                not_reproduced.push(format!("{}: published on {ip}:{hp}; the replay publishes on every address", c.name));
            }
            if proto == "tcp" && *cp != 80 {
                not_reproduced.push(format!("{}: container port {cp} (the probe image serves on 80; host port {hp} kept)", c.name));
            }
            if proto == "udp" && cp != hp {
                not_reproduced.push(format!("{}: udp container port {cp} (the probe's echo server listens on the host port {hp})", c.name));
            }
        }
        let run = |net: &str| -> String {
            let mut cmd = format!("docker run -d --restart unless-stopped --name {}", c.name);
            if !net.is_empty() {
                cmd.push_str(&format!(" --network {net}"));
            }
            for (proto, _, hp, _) in &parsed {
                cmd.push_str(&if proto == "udp" { format!(" -p {hp}:{hp}/udp") } else { format!(" -p {hp}:80") });
            }
            cmd + " probe:latest"
        };
        match mode.as_str() {
            "default" | "bridge" if parsed.len() == 1 => {
                let (proto, _, hp, _) = &parsed[0];
                let udp = if proto == "udp" { ", proto = \"udp\"" } else { "" };
                prepare.push(S { toml: format!("{{ publish = {hp}, name = {}{udp} }}", q(&c.name)), why: "a published container of the host" });
                if proto == "tcp" {
                    ports.insert(*hp);
                }
            }
            "default" | "bridge" => {
                if parsed.iter().any(|(proto, ..)| proto == "udp") && parsed.len() > 1 {
                    not_reproduced.push(format!("{}: UDP ports beside others in one container (the probe serves one UDP port)", c.name));
                }
                prepare.push(S { toml: format!("{{ run = {} }}", q(&run(""))), why: "a container of the host" });
                ports.extend(parsed.iter().filter(|p| p.0 == "tcp").map(|p| p.2));
            }
            "host" => {
                prepare.push(S { toml: format!("{{ run = {} }}", q(&format!("{} 2>&1", run("host")))), why: "a host-network container (dockerd discards its -p)" });
            }
            "none" => prepare.push(S { toml: format!("{{ run = {} }}", q(&run("none"))), why: "a container without network" }),
            m if m.starts_with("container:") => {
                not_reproduced.push(format!("{}: network mode {m} (another container's namespace)", c.name));
            }
            net => {
                prepare.push(S {
                    toml: format!("{{ run = {} }}", q(&format!("docker network inspect {net} >/dev/null 2>&1 || docker network create {net}; {}", run(net)))),
                    why: "a container on a user-defined network",
                });
                ports.extend(parsed.iter().filter(|p| p.0 == "tcp").map(|p| p.2));
            }
        }
        containers_named.push(c.name.clone());
    }

    // The fault: what happened after dockerd started. The alternative
    // switches first: firewalld then writes (and flushes) through it.
    if platform != Platform::Centos7 && started_in != current {
        fault.push(S { toml: format!("{{ iptables_alternative = {} }}", q(&current)), why: "the iptables alternative switched under a running dockerd" });
        oracles.push(S { toml: format!("{{ run = \"iptables -V\", contains = {} }}", q(if current == "nft" { "(nf_tables)" } else { "(legacy)" })), why: "`iptables` resolves to the host's backend" });
        if docker_in.len() == 2 {
            fault.push(S { toml: "{ restart = \"docker\" }".into(), why: "dockerd restarted on the new backend: its old copies stay in the other one" });
        }
    }
    if firewalld_after {
        fault.push(S { toml: "{ start = \"firewalld\" }".into(), why: "firewalld started after dockerd" });
        fault.push(S { toml: "{ run = \"firewall-cmd --state\", contains = \"running\" }".into(), why: "returns once firewalld has applied its rules" });
    }
    if ran_and_stopped {
        fault.push(S { toml: "{ stop = \"firewalld\" }".into(), why: "firewalld stopped after dockerd started" });
    }
    if firewalld_running {
        for z in &r.firewalld_zones {
            if let Some((zone, ifs)) = z.split_once(": interfaces=") {
                // `trusted: interfaces=docker0; sources=` (the D-Bus answer's form).
                let ifs = ifs.split(';').next().unwrap_or_default();
                if zone != "docker" && ifs.split_whitespace().any(|i| i == "docker0") {
                    // Permanent, then a reload: a runtime-only binding is one firewalld
                    // 2.x lets dockerd's next start move back (no ZONE_CONFLICT).
                    let script = format!("firewall-cmd --permanent --zone={zone} --change-interface=docker0 && firewall-cmd --reload");
                    fault.push(S { toml: format!("{{ run = {} }}", q(&script)), why: "docker0 bound to another zone than firewalld's `docker`" });
                    oracles.push(S { toml: format!("{{ run = \"firewall-cmd --get-zone-of-interface=docker0\", contains = {} }}", q(zone)), why: "docker0's zone" });
                }
            }
        }
    }
    let dockers = tool(platform, docker_in.first().map_or(current.as_str(), |s| s.as_str()));
    let flushed = r.docker_manages_iptables && docker_in.is_empty() && docker_up;
    let firewalld_flushes = (firewalld_after || ran_and_stopped) && firewalld_iptables;
    if flushed && !firewalld_flushes {
        let restore = if platform == Platform::Centos7 { "iptables-restore".to_string() } else { format!("iptables-{current}-restore") };
        let script = format!(
            "printf '*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\nCOMMIT\\n*nat\\n:PREROUTING ACCEPT [0:0]\\n:INPUT ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\n:POSTROUTING ACCEPT [0:0]\\nCOMMIT\\n' | {restore}"
        );
        fault.push(S { toml: format!("{{ run = {} }}", q(&script)), why: "Docker's chains are in no backend: something other than firewalld flushed them (a restore of a saved ruleset)" });
    }
    if flushed {
        oracles.push(S { toml: format!("{{ run = {}, expect = \"failure\" }}", q(&format!("{} -t nat -S DOCKER", tool(platform, &current)))), why: "nat DOCKER is gone" });
    }
    // Docker's chains kept, but nat DOCKER emptied while containers publish.
    let backend_chains = docker_in.first().and_then(|b| r.docker_chains.get(b));
    let nat_docker_empty = backend_chains.and_then(|t| t.get("nat")).and_then(|c| c.get("DOCKER")) == Some(&0);
    if nat_docker_empty && !ports.is_empty() {
        fault.push(S { toml: format!("{{ run = {} }}", q(&format!("{dockers} -t nat -F DOCKER && {dockers} -t nat -S DOCKER"))), why: "nat DOCKER is declared but holds no rule" });
        oracles.push(S {
            toml: format!("{{ run = {}, contains = \"DNAT rules in nat DOCKER: 0\" }}", q(&format!("echo \"DNAT rules in nat DOCKER: $({dockers} -t nat -S DOCKER | grep -c -- '-j DNAT')\""))),
            why: "no DNAT rule is left",
        });
    }
    // (Without a module tree and dockerd down, the saved chains cannot be read on the node.)
    if !docker_in.is_empty() && !flushed && !(no_tree_vm || docker_state == "failed") {
        for b in &docker_in {
            let save = if platform == Platform::Centos7 { "iptables-save".to_string() } else { format!("iptables-{b}-save") };
            oracles.push(S { toml: format!("{{ run = {}, contains = \":DOCKER \" }}", q(&format!("{save} -t nat"))), why: "Docker's chains are where the host has them" });
        }
    }
    if r.ip_forward == Some(false) {
        fault.push(S { toml: "{ run = \"sysctl -w net.ipv4.ip_forward=0\" }".into(), why: "forwarding is off" });
        oracles.push(S { toml: "{ run = \"sysctl -n net.ipv4.ip_forward\", contains = \"0\" }".into(), why: "forwarding is off" });
    }
    // One DNAT rule gone while the chain stays (deleted by hand, a partial restore).
    // Only where Docker's rules live in one backend, the one `iptables` uses,
    // and nothing flushed them: stale copies elsewhere, a switched
    // alternative or a flush already explain a port without its rule.
    let one_live_backend = docker_in.len() == 1 && docker_in[0] == current && !firewalld_flushes;
    if !flushed && !nat_docker_empty && one_live_backend {
        for pp in &r.ports_without_rule {
            let Some((port, proto)) = pp.split_once('/') else { continue };
            // The port's rules in nat DOCKER: deleted in the fault, counted by the oracle.
            let port_rules = format!("{dockers} -t nat -S DOCKER | grep -e '-p {proto} ' | grep");
            let rule = format!("$({port_rules} -e '--dport {port} ' | sed 's/^-A //')");
            fault.push(S {
                toml: format!("{{ run = {} }}", q(&format!("r=\"{rule}\"; test -n \"$r\" && eval \"{dockers} -t nat -D $r\""))),
                why: "one published port's DNAT rule is gone, the chain kept",
            });
            oracles.push(S {
                toml: format!(
                    "{{ run = {}, contains = {} }}",
                    q(&format!("echo \"DNAT rules for {pp}: $({port_rules} -c -e '--dport {port} ')\"")),
                    q(&format!("DNAT rules for {pp}: 0"))
                ),
                why: "the port has no DNAT rule",
            });
        }
    }
    // Containers created but never started: the failed `docker run -p` again
    // where the bundle names the port it wanted, against the same holder.
    for c in &r.created {
        match r.port_conflicts.iter().find(|k| k.container.as_deref() == Some(c.as_str())) {
            Some(k) if k.held_by.iter().any(|h| h == "host") => {
                let proto = k.proto.as_deref().unwrap_or("tcp");
                let p = k.port;
                prepare.push(S { toml: format!("{{ run = {} }}", q(&holder(proto, p))), why: "a process of the host holds the port" });
                let listening = format!("{p}/{proto} is listened on");
                let ss = format!("ss -H{}ln 'sport = :{p}' | grep -q . && echo {listening}", if proto == "udp" { 'u' } else { 't' });
                oracles.push(S { toml: format!("{{ run = {}, contains = {} }}", q(&ss), q(&listening)), why: "the host process listens" });
                let spec = if proto == "udp" { format!("{p}:{p}/udp") } else { format!("{p}:80") };
                fault.push(S {
                    toml: format!("{{ run = {}, expect = \"failure\", contains = \"address already in use\" }}", q(&format!("docker run -d --name {c} -p {spec} probe:latest"))),
                    why: "a container asks for a port a host process holds",
                });
            }
            Some(k) => fault.push(S {
                toml: format!("{{ run = {}, expect = \"failure\", contains = \"already allocated\" }}", q(&format!("docker run -d --name {c} -p {}:80 probe:latest", k.port))),
                why: "a second container asks for a port another one holds",
            }),
            None => {
                fault.push(S { toml: format!("{{ run = {} }}", q(&format!("docker create --name {c} probe:latest"))), why: "a container created but never started (a failed `docker run -p`)" });
                not_reproduced.push(format!("{c}: created, never started; its failed publish's ports are not in the bundle (created without)"));
            }
        }
    }
    if docker_state == "failed" && !no_tree_vm {
        fault.push(S { toml: "{ restart = \"docker\", expect = \"failure\" }".into(), why: "dockerd failed on the host: its next start fails the same way" });
        oracles.push(S { toml: "{ run = \"systemctl is-active docker\", expect = \"failure\" }".into(), why: "dockerd is down" });
    }
    // The admin's chains and rules, last: a flush would have taken them.
    for (backend, chains) in &r.admin_chains {
        for tc in chains {
            if let Some((table, chain)) = tc.split_once(": ") {
                let t = tool(platform, backend);
                fault_or_prepare(&mut fault, &mut prepare, S { toml: format!("{{ run = {} }}", q(&format!("{t} -t {table} -N {chain} 2>/dev/null || {t} -t {table} -S {chain} >/dev/null"))), why: "a chain that is neither Docker's nor firewalld's" });
            }
        }
    }
    for (backend, rules) in &r.admin_rules {
        let t = tool(platform, backend);
        let mut by_table: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for tr in rules {
            if let Some((table, rule)) = tr.split_once(": ") {
                by_table.entry(table).or_default().push(rule);
            }
        }
        for (table, rules) in by_table {
            let script = rules.iter().map(|rl| format!("{t} -t {table} {rl}")).collect::<Vec<_>>().join(" && ");
            fault_or_prepare(&mut fault, &mut prepare, S { toml: format!("{{ run = {} }}", q(&script)), why: "the admin's rules" });
            let list: Vec<String> = rules.iter().map(|rl| q(rl)).collect();
            oracles.push(S { toml: format!("{{ run = {}, contains = [{}] }}", q(&format!("{t} -t {table} -S")), list.join(", ")), why: "the admin's rules are there" });
        }
    }
    if !containers_named.is_empty() && docker_up {
        let list: Vec<String> = containers_named.iter().map(|n| q(n)).collect();
        oracles.push(S { toml: format!("{{ run = \"docker ps --format '{{{{.Names}}}}'\", contains = [{}] }}", list.join(", ")), why: "the host's containers run" });
    }
    if firewalld_running {
        oracles.push(S { toml: "{ run = \"systemctl is-active firewalld\", contains = \"active\" }".into(), why: "firewalld runs" });
    } else {
        oracles.push(S { toml: "{ run = \"systemctl is-active firewalld\", expect = \"failure\" }".into(), why: "firewalld does not run" });
    }
    if !docker_up && !no_tree_vm && docker_state != "failed" {
        not_reproduced.push(format!("dockerd's state `{docker_state}`: the replay keeps it running"));
    }
    if no_tree_vm && !docker_up {
        oracles.push(S { toml: "{ start = \"docker\", expect = \"failure\", timeout = 300 }".into(), why: "dockerd cannot start on a kernel without its modules" });
    }
    // dockerd not answering is reproduced by freezing it (SIGSTOP), the
    // way a dockerd stuck on a lock looks to its clients; the doctor must
    // then say it could not look, as it did on the host.
    let hung = b.facts.could_not_look.iter().any(|c| c.contains("docker.info: timed out"));
    let mut blind_keys: Vec<String> = Vec::new();
    for c in &b.facts.could_not_look {
        match blind_key(c).filter(|_| hung) {
            Some(k) => blind_keys.push(k),
            None => not_reproduced.push(format!("the doctor could not look: {c} (a replay gives it a node it can read)")),
        }
    }
    if hung {
        let freeze = "p=$(pidof dockerd); kill -STOP $p && for i in $(seq 100); do grep -q \"State:.*(stopped)\" /proc/$p/status && break; sleep 0.02; done; grep State /proc/$p/status";
        fault.push(S { toml: format!("{{ run = {}, contains = \"(stopped)\" }}", q(freeze)), why: "dockerd does not answer (frozen)" });
        oracles.retain(|o| !o.toml.contains("docker ps"));
        oracles.push(S {
            toml: format!("{{ run = {}, contains = \"docker info exit 124\" }}", q("timeout 5 docker info --format '{{.ServerVersion}}'; echo \"docker info exit $?\"")),
            why: "`docker info` does not answer",
        });
    }

    // The cure and the truth after it.
    let verdicts = !findings.is_empty() && !hung;
    let reboot = findings.iter().any(|f| f == "stale-kernel" || f == "reboot-pending");
    let mut verify: Vec<S> = Vec::new();
    if verdicts && docker_up || verdicts && stale_kernel {
        if stale_kernel {
            verify.push(S { toml: "{ start = \"docker\", timeout = 300 }".into(), why: "dockerd starts on the booted kernel" });
        }
        for p in &ports {
            verify.push(S { toml: format!("{{ probe_port = {p} }}"), why: "the host's published port answers from outside" });
        }
        let fresh = (8893..).find(|p| !ports.contains(p)).unwrap_or(8893);
        verify.push(S { toml: format!("{{ publish = {fresh}, name = \"replay-after-fix\", timeout = 300 }}"), why: "a new publish works" });
        verify.push(S { toml: format!("{{ probe_port = {fresh} }}"), why: "and answers" });
        ports.insert(fresh);
        verify.push(S { toml: "{ doctor = \"check\", expect_findings = [] }".into(), why: "the doctor sees a healthy node" });
    }
    if fault.is_empty() && oracles.iter().all(|o| o.why == "firewalld does not run" || o.why == "firewalld runs") {
        for p in &ports {
            oracles.push(S { toml: format!("{{ probe_port = {p} }}"), why: "the published port answers" });
        }
    }

    // The text.
    let mut t = String::new();
    let found = if findings.is_empty() { "none (healthy)".to_string() } else { findings.join(", ") };
    let _ = writeln!(t, "# Written by `repro replay` from {source}; edit freely, it is a scenario like any other.");
    let _ = writeln!(t, "summary = {}", q(&format!("replay of a bundle: the doctor found {found} on the host ({})", r.os)));
    let _ = writeln!(t, "source = {}", q(&format!("{source} ({}, {})", b.written_by, if b.redacted { "redacted" } else { "not redacted" })));
    let truths: Vec<&str> = oracles.iter().map(|o| o.why).collect();
    let _ = writeln!(t, "truth = {}", q(&format!("the node holds the host's state: {}", truths.join("; "))));
    let _ = writeln!(t, "platforms = [{}]", q(platform.name()));
    let _ = writeln!(t, "backends = [{}]", q(backend.name()));
    let _ = writeln!(t, "\n# Nearest platform: {nearest}.");
    if differences.is_empty() {
        let _ = writeln!(t, "# It has the host's versions.");
    }
    for d in &differences {
        let _ = writeln!(t, "# Differs: {d}");
    }
    if not_reproduced.is_empty() {
        let _ = writeln!(t, "# Everything the bundle states is reproduced.");
    }
    for n in &not_reproduced {
        let _ = writeln!(t, "# Not reproduced: {n}");
    }
    let port_list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    if no_tree_vm {
        let kernel = if foreign_kernel { "foreign" } else { "oldest" };
        let _ = writeln!(t, "node = {{ kernel = \"{kernel}\", ports = [{}], boot_without = [\"firewalld\"] }}", port_list.join(", "));
    } else {
        let _ = writeln!(t, "# firewalld never starts at boot: the steps start it where the host's order says.");
        let _ = writeln!(t, "node = {{ boot_without = [\"firewalld\"] }}");
    }
    let stage = |t: &mut String, name: &str, steps: &[S]| {
        if steps.is_empty() {
            return;
        }
        let _ = writeln!(t, "\n{name} = [");
        for s in steps {
            let _ = writeln!(t, "  {},  # {}", s.toml, s.why);
        }
        let _ = writeln!(t, "]");
    };
    stage(&mut t, "prepare", &if fault.is_empty() { [prepare, oracles.clone()].concat() } else { prepare });
    if !fault.is_empty() {
        stage(&mut t, "fault", &fault);
        stage(&mut t, "symptom", &oracles);
    }
    let expect: Vec<String> = findings.iter().map(|f| q(f)).collect();
    let blind = if blind_keys.is_empty() {
        String::new()
    } else {
        format!(", could_not_look = [{}], timeout = 180", blind_keys.iter().map(|k| q(k)).collect::<Vec<_>>().join(", "))
    };
    stage(&mut t, "diagnose", &[S { toml: format!("{{ doctor = \"check\", expect_findings = [{}]{blind} }}", expect.join(", ")), why: "the doctor's findings on the bundle" }]);
    if !verify.is_empty() {
        let fix = if reboot { "{ doctor = \"fix\", allow_reboot = true, timeout = 300 }" } else { "{ doctor = \"fix\" }" };
        stage(&mut t, "remediate", &[S { toml: fix.into(), why: "the doctor's cure" }]);
        stage(&mut t, "verify", &verify);
    }
    Replay { platform, nearest, backend, differences, not_reproduced, toml: t }
}

/// Appends to fault when there is one (the admin's rules come after it), else to prepare.
fn fault_or_prepare(fault: &mut Vec<S>, prepare: &mut Vec<S>, s: S) {
    if fault.is_empty() { prepare.push(s) } else { fault.push(s) }
}

/// The stable part of a `could_not_look` entry, as a diagnose step expects
/// it: `section docker.info: timed out after 30 s (…)` → `docker.info: timed out`.
fn blind_key(entry: &str) -> Option<String> {
    let e = entry.strip_prefix("section ").unwrap_or(entry);
    let (section, rest) = e.split_once(": ")?;
    let what = rest.split([':', '(']).next()?.trim();
    let what = what.split(" after ").next()?.trim();
    (!what.is_empty()).then(|| format!("{section}: {what}"))
}

/// `s` as one single-quoted shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Vec<(Platform, Versions)> {
        let v = |os: &str, docker: &str, fw: &str| Versions {
            os: os.into(),
            docker: docker.into(),
            firewalld: fw.into(),
            iptables: "1.8.9".into(),
            docker_package: "docker.io".into(),
        };
        vec![
            (Platform::Debian12, v("Debian 12 (bookworm)", "20.10.24", "1.3.3")),
            (Platform::Debian13, v("Debian 13 (trixie)", "26.1.5", "2.3.1")),
            (Platform::Debian13Docker28, v("Debian 13 (trixie)", "28.5.2", "2.3.1")),
            (Platform::Centos7, v("CentOS Linux 7 (Core)", "20.10.24", "0.6.3")),
        ]
    }

    /// A debian12 bundle with firewalld down, Docker's chains in nft and one published port; `edit` changes it.
    fn bundle(edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
        let mut v = serde_json::json!({
            "bundle": 1, "redacted": true, "written_by": "netdoctor test",
            "facts": { "os": { "id": "debian", "version_id": "12" }, "docker": { "unit": { "active_state": "active" } } },
            "reproduction": {
                "os": "Debian GNU/Linux 12 (bookworm)", "docker_version": "20.10.24+dfsg1", "firewalld_version": null,
                "iptables_version": "iptables v1.8.9 (nf_tables)", "firewalld_state": "inactive", "firewalld_backend": "nftables",
                "start_order": "firewalld-not-running", "iptables_backend": "nft", "docker_rules_in": ["nft"],
                "kernel_module_tree": false, "dockerd_flags": ["-H", "fd://"], "daemon_json": null, "ip_forward": true,
                "containers": [{ "name": "container-1", "network_mode": "default", "ports": ["tcp 0.0.0.0:8080->80"] }],
                "admin_rules": { "nft": ["filter: -A INPUT -s 198.18.0.1/32 -j DROP"] }, "admin_chains": {},
                "docker_chains": { "nft": { "nat": { "DOCKER": 2 } } }, "docker_manages_iptables": true, "created": [],
                "firewalld_stopped_after_dockerd": false, "firewalld_zones": [], "virtualization": "container", "loaded_modules": null
            }
        });
        edit(&mut v);
        parse(&v.to_string(), "test.json").expect("a test bundle parses")
    }

    /// The derived text loads as a scenario (lint included) and is returned.
    fn loads(r: &Replay) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("replay-test.toml");
        std::fs::write(&p, &r.toml).unwrap();
        if let Err(e) = crate::scenario::load(&p) {
            panic!("{e}\n{}", r.toml);
        }
        r.toml.clone()
    }

    #[test]
    fn firewalld_after_dockerd_is_started_in_the_fault_and_the_state_is_asserted_without_the_doctor() {
        let b = bundle(|v| {
            let r = &mut v["reproduction"];
            r["firewalld_state"] = "running".into();
            r["firewalld_backend"] = "iptables".into();
            r["start_order"] = "firewalld-after-dockerd".into();
            r["docker_rules_in"] = serde_json::json!([]);
            r["docker_chains"] = serde_json::json!({});
        });
        let r = derive(&b, &["firewalld-flushed-chains".into()], "test", &matrix(), None);
        let t = loads(&r);
        assert_eq!((r.platform, r.backend), (Platform::Debian12, NodeBackend::Container));
        let fault = &t[t.find("fault = [").unwrap()..t.find("symptom = [").unwrap()];
        assert!(fault.contains("{ start = \"firewalld\" }"), "{t}");
        assert!(!fault.contains("iptables-nft-restore"), "firewalld's flush is not also done by hand: {t}");
        assert!(t.contains("{ run = \"iptables-nft -t nat -S DOCKER\", expect = \"failure\" }"), "{t}");
        // The admin's rule comes back after firewalld's flush, and is asserted.
        assert!(fault.contains("iptables-nft -t filter -A INPUT -s 198.18.0.1/32 -j DROP"), "{t}");
        assert!(t.contains("expect_findings = [\"firewalld-flushed-chains\"]"), "{t}");
        assert!(t.contains("{ probe_port = 8080 }"), "the cure is judged by the port answering: {t}");
    }

    #[test]
    fn chains_gone_without_firewalld_are_flushed_by_hand_and_a_switched_alternative_is_switched_under_dockerd() {
        let flushed = bundle(|v| {
            v["reproduction"]["docker_rules_in"] = serde_json::json!([]);
            v["reproduction"]["docker_chains"] = serde_json::json!({});
        });
        let t = loads(&derive(&flushed, &["docker-chains-flushed".into()], "test", &matrix(), None));
        assert!(t.contains("| iptables-nft-restore"), "{t}");
        assert!(!t.contains("start = \"firewalld\""), "{t}");

        let switched = bundle(|v| v["reproduction"]["iptables_backend"] = "legacy".into());
        let t = loads(&derive(&switched, &["iptables-backend-mismatch".into()], "test", &matrix(), None));
        let fault = &t[t.find("fault = [").unwrap()..t.find("symptom = [").unwrap()];
        assert!(fault.contains("iptables_alternative = \"legacy\""), "{t}");
        assert!(t.contains("contains = \"(legacy)\""), "{t}");
    }

    #[test]
    fn a_lost_dnat_rule_and_a_port_held_by_a_host_process_are_reproduced_as_they_happened() {
        let b = bundle(|v| {
            let r = &mut v["reproduction"];
            r["containers"] = serde_json::json!([
                { "name": "container-1", "network_mode": "default", "ports": ["tcp 0.0.0.0:8080->80"] },
                { "name": "container-2", "network_mode": "default", "ports": ["tcp 0.0.0.0:8081->80"] }
            ]);
            r["ports_without_rule"] = serde_json::json!(["8081/tcp"]);
            r["created"] = serde_json::json!(["created-3"]);
            r["port_conflicts"] = serde_json::json!([{ "port": 5353, "proto": "udp", "container": "created-3", "held_by": ["host"] }]);
        });
        let t = loads(&derive(&b, &["published-port-without-rule".into(), "port-already-allocated".into()], "test", &matrix(), None));
        let prepare = &t[t.find("prepare = [").unwrap()..t.find("fault = [").unwrap()];
        let fault = &t[t.find("fault = [").unwrap()..t.find("symptom = [").unwrap()];
        let symptom = &t[t.find("symptom = [").unwrap()..t.find("diagnose = [").unwrap()];
        // Only 8081's rule goes, and its absence is asserted without the doctor.
        assert!(fault.contains("grep -e '--dport 8081 '") && fault.contains("iptables-nft -t nat -D $r"), "{t}");
        assert!(!fault.contains("--dport 8080"), "{t}");
        assert!(symptom.contains("DNAT rules for 8081/tcp: 0"), "{t}");
        // The holder is the host's own process, on UDP; the container asks for the port after it.
        assert!(prepare.contains("socket.SOCK_DGRAM") && prepare.contains(r#"s.bind(("",5353))"#), "{t}");
        assert!(fault.contains("docker run -d --name created-3 -p 5353:5353/udp probe:latest") && fault.contains("address already in use"), "{t}");
        assert!(symptom.contains("5353/udp is listened on"), "{t}");
        assert!(!t.contains("created-3: created, never started"), "{t}");
    }

    #[test]
    fn docker0_bound_to_another_zone_is_bound_permanently_before_dockerd_fails_again() {
        let b = bundle(|v| {
            let r = &mut v["reproduction"];
            r["firewalld_state"] = "running".into();
            r["start_order"] = "firewalld-before-dockerd".into();
            r["firewalld_zones"] = serde_json::json!(["trusted: interfaces=docker0; sources=", "public: interfaces=; sources="]);
            r["containers"] = serde_json::json!([]);
            v["facts"]["docker"]["unit"]["active_state"] = "failed".into();
        });
        let t = loads(&derive(&b, &["firewalld-zone-conflict".into()], "test", &matrix(), None));
        let fault = &t[t.find("fault = [").unwrap()..t.find("symptom = [").unwrap()];
        let (bind, fail) = (fault.find("--zone=trusted --change-interface=docker0 && firewall-cmd --reload"), fault.find("{ restart = \"docker\", expect = \"failure\" }"));
        assert!(bind.is_some() && fail.is_some() && bind < fail, "{t}");
        assert!(t.contains("firewall-cmd --get-zone-of-interface=docker0\", contains = \"trusted\""), "{t}");
    }

    #[test]
    fn the_nearest_platform_follows_os_then_docker_and_says_what_differs() {
        let d28 = bundle(|v| {
            v["facts"]["os"]["version_id"] = "13".into();
            v["reproduction"]["docker_version"] = "28.3.1".into();
        });
        let (p, diff) = nearest_platform(&d28, &matrix());
        assert_eq!(p, Platform::Debian13Docker28);
        assert!(diff.iter().any(|d| d.contains("Docker: the host has 28.3.1, the platform 28.5.2")), "{diff:?}");
        let ubuntu = bundle(|v| {
            v["facts"]["os"]["id"] = "ubuntu".into();
            v["facts"]["os"]["version_id"] = "22.04".into();
            v["reproduction"]["os"] = "Ubuntu 22.04.4 LTS".into();
            v["reproduction"]["docker_version"] = "26.0.0".into();
        });
        let (p, diff) = nearest_platform(&ubuntu, &matrix());
        assert_eq!(p, Platform::Debian13);
        assert!(diff.iter().any(|d| d.starts_with("OS: the host runs Ubuntu 22.04.4 LTS")), "{diff:?}");
    }

    #[test]
    fn what_cannot_be_reproduced_is_written_into_the_scenario() {
        let b = bundle(|v| {
            v["reproduction"]["containers"] = serde_json::json!([{ "name": "api", "network_mode": "default", "ports": ["tcp 198.18.0.7:8443->443"] }]);
            v["facts"]["could_not_look"] = serde_json::json!(["`docker ps` timed out"]);
        });
        let r = derive(&b, &[], "test", &matrix(), None);
        let t = loads(&r);
        for n in ["api: published on 198.18.0.7:8443", "api: container port 443", "the doctor could not look: `docker ps` timed out"] {
            assert!(r.not_reproduced.iter().any(|x| x.contains(n)), "{n} not said: {:?}", r.not_reproduced);
            assert!(t.contains(&format!("# Not reproduced: {n}")), "{t}");
        }
    }

    #[test]
    fn a_dockerd_that_did_not_answer_is_frozen_and_the_doctor_must_say_it_could_not_look() {
        let b = bundle(|v| {
            v["facts"]["could_not_look"] = serde_json::json!([
                "section docker.info: timed out after 30 s (could not look) docker info",
                "section docker.containers: could not look at containers: `docker ps` timed out after 30 s"
            ]);
        });
        let r = derive(&b, &[], "test", &matrix(), None);
        let t = loads(&r);
        assert!(t.contains("kill -STOP"), "{t}");
        assert!(t.contains("could_not_look = [\"docker.info: timed out\", \"docker.containers: could not look at containers\"]"), "{t}");
        assert!(r.not_reproduced.iter().all(|n| !n.contains("could not look")), "{:?}", r.not_reproduced);
    }

    #[test]
    fn a_stale_kernel_replays_on_a_vm_with_the_reboot_allowed() {
        let b = bundle(|v| {
            let r = &mut v["reproduction"];
            r["virtualization"] = "vm".into();
            r["loaded_modules"] = serde_json::json!(["overlay", "bridge", "nf_tables", "ext4"]);
            v["facts"]["docker"]["unit"]["active_state"] = "failed".into();
        });
        let r = derive(&b, &["stale-kernel".into()], "test", &matrix(), None);
        let t = loads(&r);
        assert_eq!(r.backend, NodeBackend::Vm);
        assert!(t.contains("kernel = \"oldest\""), "{t}");
        assert!(t.contains("{ modprobe = [\"overlay\", \"bridge\", \"nf_tables\"] }"), "{t}");
        assert!(t.contains("dpkg --purge"), "{t}");
        assert!(t.contains("allow_reboot = true"), "{t}");
    }
}
