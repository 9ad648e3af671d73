//! Probe text -> [`Facts`]. The probe prints `@@ND` delimited sections; each
//! section is parsed on its own, so odd output in one section becomes a
//! missing fact plus a note naming the section and line, not a failure.

use crate::facts::*;
use std::collections::BTreeMap;

/// The probe script run on every target.
pub const PROBE_SCRIPT: &str = include_str!("probe.sh");

/// Why probe output could not be turned into facts at all.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The probe never started (wrong shell, transport printed something else).
    #[error(
        "probe output line {line}: expected `@@ND probe version=1`, got {got:?}; the target did not run the probe script (is `sh` available there?)"
    )]
    NotAProbe {
        /// 1-based line number.
        line: usize,
        /// The line found instead.
        got: String,
    },
    /// The probe itself gave up.
    #[error("probe failed on the target: {0}")]
    Fatal(String),
    /// The output stops inside a section or before the end marker.
    #[error(
        "probe output truncated at line {line} (in section `{section}`): the transport was cut or the probe was killed; run again"
    )]
    Truncated {
        /// Last line number seen.
        line: usize,
        /// Section open when the output ended.
        section: String,
    },
    /// A marker line that does not parse.
    #[error("probe output line {line}: malformed marker {text:?}")]
    BadMarker {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// One section of probe output.
#[derive(Debug, Clone, Default)]
struct Section {
    out: Vec<String>,
    err: Vec<String>,
    rc: i32,
}

/// Parsed sections by name; missing tools by section name.
#[derive(Debug, Default)]
struct Sections {
    found: BTreeMap<String, Section>,
    missing: BTreeMap<String, String>,
}

fn split_sections(text: &str) -> Result<Sections, CollectError> {
    let mut s = Sections::default();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    // Transports may print noise before the probe starts (ssh banners, MOTD).
    let mut started = false;
    let mut first_line: Option<(usize, String)> = None;
    for (n, l) in lines.by_ref() {
        if l.starts_with("@@ND probe version=") {
            started = true;
            break;
        }
        if let Some(msg) = l.strip_prefix("@@ND fatal ") {
            return Err(CollectError::Fatal(msg.to_string()));
        }
        if first_line.is_none() {
            first_line = Some((n, l.to_string()));
        }
    }
    if !started {
        let (line, got) = first_line.unwrap_or((1, String::new()));
        return Err(CollectError::NotAProbe { line, got });
    }
    let mut current: Option<(String, Section, bool)> = None; // (name, section, in_stderr)
    let mut last = 0;
    for (n, l) in lines {
        last = n;
        if let Some(rest) = l.strip_prefix("@@ND ") {
            let mut words = rest.splitn(3, ' ');
            let kind = words.next().unwrap_or("");
            let name = words.next().unwrap_or("").to_string();
            let tail = words.next().unwrap_or("");
            match kind {
                "begin" => {
                    if let Some((open, _, _)) = &current {
                        return Err(CollectError::Truncated { line: n, section: open.clone() });
                    }
                    current = Some((name, Section::default(), false));
                }
                "stderr" => match current.as_mut() {
                    Some((open, _, in_err)) if *open == name => *in_err = true,
                    _ => return Err(CollectError::BadMarker { line: n, text: l.to_string() }),
                },
                "end" => {
                    let Some((open, mut sec, _)) = current.take() else {
                        return Err(CollectError::BadMarker { line: n, text: l.to_string() });
                    };
                    let rc = tail.strip_prefix("rc=").and_then(|v| v.trim().parse().ok());
                    match rc {
                        Some(rc) if open == name => sec.rc = rc,
                        _ => return Err(CollectError::BadMarker { line: n, text: l.to_string() }),
                    }
                    s.found.insert(name, sec);
                }
                "missing" => {
                    s.missing.insert(name, tail.to_string());
                }
                "done" => {
                    if let Some((open, _, _)) = current {
                        return Err(CollectError::Truncated { line: n, section: open });
                    }
                    return Ok(s);
                }
                _ => return Err(CollectError::BadMarker { line: n, text: l.to_string() }),
            }
            continue;
        }
        if let Some((_, sec, in_err)) = current.as_mut() {
            if *in_err { sec.err.push(l.to_string()) } else { sec.out.push(l.to_string()) }
        }
    }
    let section = current.map(|(n, _, _)| n).unwrap_or_else(|| "(between sections)".into());
    Err(CollectError::Truncated { line: last, section })
}

/// Turn probe output into facts for `target`.
pub fn parse_probe(text: &str, target: &str) -> Result<Facts, CollectError> {
    let s = split_sections(text)?;
    let mut p = Parser { s, notes: Vec::new(), blind: Vec::new() };
    let mut f = Facts { schema: SCHEMA, target: target.to_string(), ..Default::default() };
    p.identity();
    f.os = p.os();
    f.kernel = p.kernel();
    f.iptables = p.iptables();
    f.firewalld = p.firewalld(&f.iptables);
    f.docker = p.docker();
    f.sysctl = p.sysctl();
    f.listening_tcp_ports = p.listening("listen", "LISTEN");
    f.listening_udp_ports = p.listening("listen.udp", "UNCONN");
    f.ruleset_services = p.ruleset_services();
    f.could_not_look = p.blind;
    f.notes = p.notes;
    Ok(f)
}

/// Exit status of `timeout` when the probe's bound on one command expired.
const TIMED_OUT: i32 = 124;
/// The bound the probe puts on each command (`timeout 30` in probe.sh): generous,
/// because a starved TCG guest's `docker info` took over 10 s in CI.
const PROBE_TIMEOUT_SECS: u32 = 30;

struct Parser {
    s: Sections,
    notes: Vec<String>,
    /// What could not be looked at (Facts::could_not_look).
    blind: Vec<String>,
}

/// Whether a failed section hides facts a verdict needs: it timed out, or
/// was refused for lack of privilege.
fn unseen(sec: &Section) -> bool {
    sec.rc == TIMED_OUT || (sec.rc != 0 && refused(&sec.err))
}

/// Whether a command's stderr says it was refused for lack of privilege
/// (iptables' "Permission denied (you must be root)", nft's "Operation not
/// permitted", the docker socket's "permission denied while trying to connect").
fn refused(err: &[String]) -> bool {
    err.iter().any(|l| {
        let l = l.to_lowercase();
        l.contains("permission denied") || l.contains("must be root") || l.contains("operation not permitted")
    })
}

impl Parser {
    /// Stdout of a section that ran and succeeded; notes failures.
    fn ok(&mut self, name: &str) -> Option<Vec<String>> {
        let sec = self.s.found.get(name)?;
        if sec.rc == 0 {
            return Some(sec.out.clone());
        }
        let why = sec.err.first().cloned().unwrap_or_default();
        let note = if sec.rc == TIMED_OUT {
            format!("section {name}: timed out after {PROBE_TIMEOUT_SECS} s (could not look) {why}")
        } else {
            format!("section {name}: exit {}: {why}", sec.rc)
        };
        let blind = unseen(sec);
        self.say(note.trim_end().to_string(), blind);
        None
    }

    /// A note; also one of the facts that could not be looked at, if `blind`.
    fn say(&mut self, note: String, blind: bool) {
        if blind {
            self.blind.push(note.clone());
        }
        self.notes.push(note);
    }

    /// Stdout of a section whatever its exit status (for tools that use rc as data).
    fn any(&self, name: &str) -> Option<&Section> {
        self.s.found.get(name)
    }

    fn note(&mut self, name: &str, line: usize, what: &str) {
        self.notes.push(format!("section {name} line {line}: {what}"));
    }

    /// Not root: iptables, nft, the docker socket and dockerd's argv refuse
    /// or hide what they have, so every later "nothing found" is unknown.
    fn identity(&mut self) {
        let uid = self.ok_quiet("uid").and_then(|l| l.first().map(|u| u.trim().to_string()));
        if let Some(uid) = uid.filter(|u| u != "0") {
            self.blind.push(format!(
                "the probe ran as uid {uid}, not root: iptables, nft, the docker socket and dockerd's argv cannot all be read (run netdoctor as root, e.g. with sudo)"
            ));
        }
    }

    fn os(&mut self) -> Os {
        let mut os = Os::default();
        for l in self.ok("os").unwrap_or_default() {
            let Some((k, v)) = l.split_once('=') else {
                // /etc/redhat-release fallback: one line of prose.
                if os.pretty_name.is_none() && !l.trim().is_empty() {
                    os.pretty_name = Some(l.trim().to_string());
                }
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k {
                "ID" => os.id = Some(v),
                "VERSION_ID" => os.version_id = Some(v),
                "PRETTY_NAME" => os.pretty_name = Some(v),
                _ => {}
            }
        }
        os
    }

    fn kernel(&mut self) -> Kernel {
        let mut k = Kernel::default();
        for l in self.ok("kernel").unwrap_or_default() {
            match l.split_once('=') {
                Some(("release", v)) => k.release = v.to_string(),
                Some(("version", v)) => k.version = Some(v.to_string()),
                _ => {}
            }
        }
        if k.release.is_empty() {
            self.notes.push("section kernel: no release line; kernel facts unknown".into());
        }
        k.virtualization = self.virt();
        if let Some(sec) = self.ok("modtrees") {
            for (i, l) in sec.iter().enumerate() {
                let w: Vec<&str> = l.split_whitespace().collect();
                match w.as_slice() {
                    [rel, dep, kdir] => k.module_trees.push(ModuleTree {
                        release: rel.to_string(),
                        has_modules_dep: *dep == "yes",
                        has_kernel_dir: *kdir == "yes",
                    }),
                    _ => self.note("modtrees", i + 1, &format!("unexpected line {l:?} ignored")),
                }
            }
        }
        k.boot_images = self.ok("boot").unwrap_or_default();
        k.package_trace = self.ok_quiet("kernel.package").filter(|l| !l.is_empty()).map(|l| {
            l.into_iter()
                .filter(|x| x.split_once('=').is_some_and(|(_, v)| !v.trim().is_empty()))
                .map(|x| x.trim_end().to_string())
                .collect()
        });
        k.loaded_modules = self.ok_quiet("modules.loaded");
        k.builtin_modules = self.ok_quiet("modules.builtin");
        k.modprobe = self.modprobe();
        if let Some(sec) = self.ok("reboot-required") {
            for l in sec {
                if l.starts_with("file=") {
                    k.reboot_required = true;
                } else if let Some(p) = l.strip_prefix("pkg=") {
                    k.reboot_required_pkgs.push(p.to_string());
                }
            }
        }
        k
    }

    /// Like `ok`, but a failure is an expected missing fact, not worth a
    /// note; a timeout still is ("could not look").
    fn ok_quiet(&mut self, name: &str) -> Option<Vec<String>> {
        let sec = self.s.found.get(name)?;
        let out = (sec.rc == 0).then(|| sec.out.clone());
        if unseen(sec) {
            let note = if sec.rc == TIMED_OUT {
                format!("section {name}: timed out after {PROBE_TIMEOUT_SECS} s (could not look)")
            } else {
                format!("section {name}: refused: {}", sec.err.first().map(|l| l.trim()).unwrap_or_default())
            };
            self.say(note, true);
        }
        out
    }

    fn virt(&mut self) -> Virtualization {
        let lines = self.ok("virt").unwrap_or_default();
        let mut container = false;
        let mut vm = None;
        let mut said_none = false;
        for l in &lines {
            match l.split_once('=') {
                Some(("container", v)) if !v.is_empty() && v != "none" => container = true,
                Some(("container", "none")) => said_none = true,
                Some(("vm", v)) if !v.is_empty() && v != "none" => vm = Some(v.to_string()),
                Some(("marker", _)) | Some(("pid1_env_container", _)) => container = true,
                _ => {}
            }
        }
        if container {
            Virtualization::Container
        } else if vm.is_some() {
            Virtualization::Vm
        } else if said_none {
            Virtualization::None
        } else {
            Virtualization::Unknown
        }
    }

    fn modprobe(&mut self) -> Option<Vec<ModprobeCheck>> {
        let lines = self.ok("modprobe")?;
        if lines.iter().any(|l| l.starts_with("tree-missing") || l == "modprobe-missing") {
            return None;
        }
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let mut w = l.splitn(3, ' ');
            match (w.next(), w.next().and_then(|r| r.parse::<i32>().ok())) {
                (Some(m), Some(rc)) => out.push(ModprobeCheck {
                    module: m.to_string(),
                    ok: rc == 0,
                    message: w.next().unwrap_or("").to_string(),
                }),
                _ => self.note("modprobe", i + 1, &format!("unexpected line {l:?} ignored")),
            }
        }
        Some(out)
    }

    fn iptables(&mut self) -> Iptables {
        let mut ipt = Iptables::default();
        ipt.version = self.ok("iptables.version").and_then(|v| v.first().cloned());
        ipt.current_backend = ipt.version.as_deref().map(backend_of_version);
        ipt.alternative = self.ok("iptables.alternative").and_then(|l| parse_alternative(&l));
        if ipt.current_backend.is_none() {
            ipt.current_backend = ipt.alternative.as_ref().and_then(|a| a.backend);
        }
        ipt.legacy = self.ruleset("rules.legacy4", "iptables-legacy-save");
        ipt.nft = self.ruleset("rules.nft4", "iptables-nft-save");
        ipt.legacy6 = self.ruleset("rules.legacy6", "ip6tables-legacy-save");
        ipt.nft6 = self.ruleset("rules.nft6", "ip6tables-nft-save");
        // No split binaries (CentOS 7, iptables < 1.8): plain iptables-save
        // is whatever backend `iptables -V` names (1.4.x is always legacy).
        let plain_backend = ipt.current_backend.unwrap_or(Backend::Legacy);
        if let Some(r) = self.ruleset("rules.plain4", "iptables-save") {
            match plain_backend {
                Backend::Legacy => ipt.legacy = Some(r),
                Backend::Nft => ipt.nft = Some(r),
            }
        }
        if let Some(r) = self.ruleset("rules.plain6", "ip6tables-save") {
            match plain_backend {
                Backend::Legacy => ipt.legacy6 = Some(r),
                Backend::Nft => ipt.nft6 = Some(r),
            }
        }
        if let Some(l) = self.ok("iptables.proc-names") {
            for line in l {
                if let Some(v) = line.strip_prefix("/proc/net/ip_tables_names:") {
                    let v = v.trim();
                    if v != "unreadable" {
                        ipt.ip_tables_names = Some(v.split_whitespace().map(String::from).collect());
                    }
                }
            }
        }
        ipt.nft_tables = self.ok_quiet("nft.tables").map(|l| {
            l.iter().filter_map(|t| t.strip_prefix("table ").map(String::from)).collect()
        });
        ipt
    }

    fn ruleset(&mut self, name: &str, tool: &str) -> Option<RuleSet> {
        let sec = self.any(name)?.clone();
        if sec.rc != 0 {
            let why = sec.err.first().cloned().unwrap_or_default();
            self.say(format!("section {name}: {tool} exited {}: {why}", sec.rc), unseen(&sec));
            return None;
        }
        match parse_iptables_save(&sec.out, tool) {
            Ok(mut r) => {
                r.warnings.extend(sec.err.iter().filter(|l| !l.trim().is_empty()).cloned());
                Some(r)
            }
            Err((line, what)) => {
                self.note(name, line, &format!("{what}; rules of {tool} unknown"));
                None
            }
        }
    }

    fn unit(&mut self, name: &str) -> Option<Unit> {
        self.ok(name).map(|lines| parse_unit(&lines))
    }

    /// `systemctl show A B C -p Id …`: one block per unit, blank-line separated.
    fn ruleset_services(&mut self) -> Vec<NamedUnit> {
        let Some(lines) = self.ok_quiet("units.firewalls") else { return Vec::new() };
        lines
            .split(|l| l.trim().is_empty())
            .map(|block| NamedUnit {
                id: block.iter().find_map(|l| l.strip_prefix("Id=")).unwrap_or_default().to_string(),
                unit: parse_unit(block),
            })
            .filter(|n| !n.id.is_empty() && n.unit.is_installed())
            .collect()
    }

    fn firewalld(&mut self, ipt: &Iptables) -> Firewalld {
        let mut fw = Firewalld { unit: self.unit("unit.firewalld"), ..Default::default() };
        fw.version = self
            .ok_quiet("fw.dbus-version")
            .and_then(|l| dbus_strings(&l).into_iter().next())
            .or_else(|| self.ok_quiet("fw.cmd-version").and_then(|l| l.first().map(|s| s.trim().to_string())));
        fw.state = self
            .ok_quiet("fw.dbus-state")
            .and_then(|l| dbus_strings(&l).into_iter().next())
            .map(|s| s.to_lowercase())
            .or_else(|| {
                // firewall-cmd --state prints "running" or "not running" (rc 252).
                self.any("fw.cmd-state").and_then(|s| s.out.first().map(|l| l.trim().to_string()))
            });
        fw.default_zone = self
            .ok_quiet("fw.dbus-default-zone")
            .and_then(|l| dbus_strings(&l).into_iter().next())
            .or_else(|| self.ok_quiet("fw.cmd-default-zone").and_then(|l| l.first().cloned()));
        fw.active_zones = self
            .ok_quiet("fw.dbus-active-zones")
            .map(|l| dbus_active_zones(&l))
            .or_else(|| self.ok_quiet("fw.cmd-active-zones").map(|l| cmd_active_zones(&l)));
        let conf = self.ok_quiet("firewalld.conf").unwrap_or_default();
        let from_conf = conf.iter().find_map(|l| {
            l.trim().strip_prefix("FirewallBackend=").map(|v| v.trim().to_lowercase())
        });
        if let Some(b) = from_conf {
            fw.backend = Some(b);
            fw.backend_source = Some("/etc/firewalld/firewalld.conf".into());
        } else if fw.is_running() || fw.version.is_some() {
            // No FirewallBackend key: firewalld < 0.6 only knows iptables, and
            // without nft (CentOS 7) the nftables backend cannot exist.
            let old = fw.version.as_deref().is_some_and(|v| v.starts_with("0.") && !v.starts_with("0.6") && !v.starts_with("0.7") && !v.starts_with("0.8") && !v.starts_with("0.9"));
            if old || ipt.nft_tables.is_none() {
                fw.backend = Some("iptables".into());
                fw.backend_source = Some("default: no FirewallBackend key, and no nft or firewalld < 0.6".into());
            } else {
                fw.backend = Some("nftables".into());
                fw.backend_source = Some("default: no FirewallBackend key, firewalld >= 0.6".into());
            }
        }
        fw
    }

    fn docker(&mut self) -> Docker {
        let mut d = Docker { unit: self.unit("unit.docker"), manages_iptables: true, ..Default::default() };
        let info = self.ok_quiet("docker.info").and_then(|l| l.first().cloned());
        d.cli_installed = self.docker_cli_installed();
        match info {
            // The engine's API (`GET /info`), read through its socket.
            Some(json) if json.starts_with('{') => self.docker_api_info(&mut d, &json),
            Some(info) => {
                let mut w: Vec<&str> = info.split('|').collect();
                // ServerVersion|LiveRestoreEnabled|Containers|ContainersRunning|Driver
                if w.len() == 5 {
                    d.version = Some(w.remove(0).to_string()).filter(|v| !v.is_empty());
                } else {
                    self.notes.push(format!("section docker.info: unexpected line {info:?}"));
                }
                d.live_restore = w.first().and_then(|v| v.parse().ok());
                d.containers_running = w.get(2).and_then(|v| v.parse().ok());
                d.firewall_backend = self.docker_firewall_backend();
            }
            None => d.firewall_backend = self.docker_firewall_backend(),
        }
        d.daemon_json = self.ok_quiet("docker.daemon-json").map(|l| l.join("\n"));
        d.argv = self.ok_quiet("docker.argv").filter(|a| !a.is_empty());
        if let Some(a) = d.argv.as_deref() {
            d.userland_proxy = bool_flag(a, "--userland-proxy");
            d.log_level = value_flag(a, &["--log-level", "-l"]);
            if bool_flag(a, "--iptables") == Some(false) {
                d.manages_iptables = false;
                d.iptables_off_by = Some("dockerd's argv (--iptables=false)".into());
            }
        }
        if let Some(j) = &d.daemon_json {
            match serde_json::from_str::<serde_json::Value>(j) {
                Ok(v) => {
                    if v.get("iptables").and_then(|b| b.as_bool()) == Some(false) {
                        d.manages_iptables = false;
                        d.iptables_off_by.get_or_insert_with(|| "/etc/docker/daemon.json (\"iptables\": false)".into());
                    }
                    if d.userland_proxy.is_none() {
                        d.userland_proxy = v.get("userland-proxy").and_then(|b| b.as_bool());
                    }
                    if d.log_level.is_none() {
                        d.log_level = v.get("log-level").and_then(|l| l.as_str()).map(str::to_lowercase);
                    }
                    if d.live_restore.is_none() {
                        d.live_restore = v.get("live-restore").and_then(|b| b.as_bool());
                    }
                }
                Err(e) => self.notes.push(format!(
                    "section docker.daemon-json: /etc/docker/daemon.json is not valid JSON ({e}); dockerd refuses to start with it"
                )),
            }
        }
        d.journal = self.any("docker.journal").map(|s| s.out.clone()).unwrap_or_default();
        d.journal_markers = self.any("docker.journal-markers").filter(|s| s.rc == 0 || !s.out.is_empty()).map(|s| s.out.clone());
        if let Some(sec) = self.any("docker.containers").filter(|s| s.rc != 0) {
            self.could_not_list_containers(sec.rc, sec.err.first().cloned(), d.cli_installed, d.unit.as_ref());
        }
        // A failure was said just above, once.
        let listed = self.any("docker.containers").filter(|s| s.rc == 0).map(|s| s.out.clone());
        if let Some(json) = listed.as_ref().filter(|l| l.first().is_some_and(|l| l.starts_with('['))) {
            let inspected = self.any("docker.inspect-host-network").filter(|s| s.rc == 0).map(|s| s.out.clone()).unwrap_or_default();
            match api_containers(&json.join("\n"), &inspected) {
                Ok((cs, created)) => {
                    d.created = Some(created);
                    d.containers = Some(cs);
                }
                Err(e) => self.say(format!("section docker.containers: could not look at containers: not the engine's JSON ({e})"), true),
            }
        } else if let Some(lines) = listed {
            let mut cs = Vec::new();
            let mut created = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if let Some(name) = l.strip_prefix("created=") {
                    created.push(name.to_string());
                    continue;
                }
                match parse_container(l) {
                    Some(c) => cs.push(c),
                    None => self.note("docker.containers", i + 1, &format!("unexpected line {l:?} ignored")),
                }
            }
            d.created = Some(created);
            d.containers = Some(cs);
        }

        d
    }

    /// `GET /info` of the engine's API: the same facts as the CLI's two
    /// `docker info` questions (FirewallBackend: Docker >= 28.1).
    fn docker_api_info(&mut self, d: &mut Docker, json: &str) {
        let v: serde_json::Value = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(e) => return self.notes.push(format!("section docker.info: not the engine's JSON ({e}); ignored")),
        };
        d.version = v["ServerVersion"].as_str().filter(|s| !s.is_empty()).map(String::from);
        d.live_restore = v["LiveRestoreEnabled"].as_bool();
        d.containers_running = v["ContainersRunning"].as_u64().and_then(|n| u32::try_from(n).ok());
        d.firewall_backend = match v.get("FirewallBackend").filter(|b| !b.is_null()) {
            None => None,
            Some(b) => parse_firewall_backend(&b.to_string()).or_else(|| {
                self.notes.push(format!("section docker.info: unexpected FirewallBackend {b} ignored (expected {{\"Driver\":...}})"));
                None
            }),
        };
    }

    /// Whether the `docker` command exists: `Some(false)` when the probe
    /// reported it missing (dockerd may still run: on Debian 13 the CLI is
    /// the separate `docker-cli` package); `None` when the section is absent.
    fn docker_cli_installed(&mut self) -> Option<bool> {
        if self.s.missing.get("docker.info").is_some_and(|t| t == "docker") {
            return Some(false);
        }
        // Asked through the API: `docker.cli` says whether the command exists.
        if let Some(cli) = self.any("docker.cli") {
            return Some(cli.rc == 0);
        }
        self.any("docker.info").map(|_| true)
    }

    /// `docker info --format '{{json .FirewallBackend}}'` (Docker >= 28.1).
    /// `null`, empty output or an error (older engines, daemon down) is
    /// "cannot tell" (`None`), never "not subscribed".
    fn docker_firewall_backend(&mut self) -> Option<DockerFirewallBackend> {
        let sec = self.any("docker.firewall-backend").filter(|s| s.rc == 0)?;
        let text = sec.out.join("\n");
        let text = text.trim();
        if text.is_empty() || text == "null" || text == "<no value>" {
            return None;
        }
        match parse_firewall_backend(text) {
            Some(b) => Some(b),
            None => {
                self.notes.push(format!("section docker.firewall-backend line 1: unexpected output {text:?} ignored (expected {{\"Driver\":...}})"));
                None
            }
        }
    }

    /// A note saying why the containers could not be looked at (the list is
    /// then unknown, not empty).
    fn could_not_list_containers(&mut self, rc: i32, err: Option<String>, cli: Option<bool>, unit: Option<&Unit>) {
        let why = if cli == Some(false) {
            let dockerd = if unit.is_some_and(Unit::is_installed) { "dockerd is installed but " } else { "" };
            format!("{dockerd}the `docker` command is not (on Debian 13 and later it is the `docker-cli` package: apt-get install docker-cli)")
        } else if rc == TIMED_OUT {
            format!("`docker ps` timed out after {PROBE_TIMEOUT_SECS} s")
        } else if err.as_deref().is_some_and(|e| e.starts_with("curl:")) {
            format!("the engine's API (`curl --unix-socket`) exited {rc}: {}", err.unwrap_or_default())
        } else {
            format!("`docker ps` exited {rc}: {}", err.unwrap_or_default())
        };
        // A dockerd that is down has nothing to list (its failure is a
        // finding of its own); one that runs, or may, hides its containers.
        self.say(format!("section docker.containers: could not look at containers: {}", why.trim_end()), unit.is_none_or(Unit::is_active));
    }

    fn sysctl(&mut self) -> Sysctl {
        let mut s = Sysctl::default();
        for l in self.ok("sysctl").unwrap_or_default() {
            let Some((k, v)) = l.split_once('=') else { continue };
            let b = match v.trim() {
                "0" => Some(false),
                "1" => Some(true),
                _ => None,
            };
            match k {
                "net/ipv4/ip_forward" => s.ip_forward = b,
                "net/bridge/bridge-nf-call-iptables" => s.bridge_nf_call_iptables = b,
                _ => {}
            }
        }
        s
    }

    /// Local ports of `ss -tln` (state LISTEN) or `ss -uln` (UNCONN) lines.
    fn listening(&mut self, section: &str, state: &str) -> Option<Vec<u16>> {
        let lines = self.ok_quiet(section)?;
        let mut ports: Vec<u16> = lines
            .iter()
            .filter(|l| l.starts_with(state))
            .filter_map(|l| l.split_whitespace().nth(3))
            .filter_map(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        Some(ports)
    }
}

/// `iptables -V` -> backend: `(nf_tables)` is nft, `(legacy)` or no tag (< 1.8) legacy.
pub fn backend_of_version(v: &str) -> Backend {
    if v.contains("nf_tables") { Backend::Nft } else { Backend::Legacy }
}

fn backend_of_path(p: &str) -> Option<Backend> {
    if p.contains("legacy") {
        Some(Backend::Legacy)
    } else if p.contains("nft") {
        Some(Backend::Nft)
    } else {
        None
    }
}

fn parse_alternative(lines: &[String]) -> Option<Alternative> {
    let mut a = Alternative::default();
    let mut resolved = None;
    let mut style_none = false;
    for l in lines {
        if let Some(v) = l.strip_prefix("Status: ") {
            a.status = Some(v.trim().to_string());
        } else if let Some(v) = l.strip_prefix("Value: ") {
            a.value = Some(v.trim().to_string());
        } else if let Some(v) = l.strip_prefix("Resolved: ") {
            resolved = Some(v.trim().to_string());
        } else if l.trim() == "Style: none" {
            style_none = true;
        } else if let Some(rest) = l.split_once(" - status is ") {
            // Fedora: "iptables - status is auto."
            a.status = Some(rest.1.trim().trim_end_matches('.').to_string());
        } else if let Some(v) = l.trim().strip_prefix("link currently points to ") {
            a.value = Some(v.trim().to_string());
        }
    }
    if style_none {
        return None;
    }
    a.backend = a.value.as_deref().and_then(backend_of_path).or(resolved.as_deref().and_then(backend_of_path));
    if a.value.is_none() && a.status.is_none() {
        return None;
    }
    Some(a)
}

/// Parse an `iptables-save` dump (any version from 1.4.21 on).
/// Errors give the 1-based line and what was wrong.
pub fn parse_iptables_save(lines: &[String], tool: &str) -> Result<RuleSet, (usize, String)> {
    let mut r = RuleSet { tool: tool.to_string(), ..Default::default() };
    let mut table: Option<String> = None;
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        let l = l.trim_end();
        if l.is_empty() {
            continue;
        }
        if let Some(c) = l.strip_prefix('#') {
            let c = c.trim();
            if c.starts_with("Warning") || c.contains("legacy tables present") {
                r.warnings.push(l.to_string());
            }
        } else if let Some(t) = l.strip_prefix('*') {
            r.tables.entry(t.to_string()).or_default();
            table = Some(t.to_string());
        } else if let Some(c) = l.strip_prefix(':') {
            let t = table.as_ref().ok_or((n, format!("chain line {l:?} outside a table")))?;
            let mut w = c.split_whitespace();
            let name = w.next().unwrap_or("").to_string();
            let table = r.tables.get_mut(t).expect("table exists");
            // Built-in chains have a policy (`:INPUT ACCEPT [0:0]`); user chains `-`.
            if let Some(policy) = w.next().filter(|p| *p != "-") {
                table.policies.insert(name.clone(), policy.to_string());
            }
            table.chains.push(name);
        } else if l.starts_with("-A ") || l.starts_with("-I ") {
            let t = table.as_ref().ok_or((n, format!("rule line {l:?} outside a table")))?;
            r.tables.get_mut(t).expect("table exists").rules.push(l.to_string());
        } else if l == "COMMIT" {
            table = None;
        } else if l.starts_with("iptables") || l.starts_with("ip6tables") || l.starts_with("Warning") {
            // Tool messages that slipped into stdout.
            r.warnings.push(l.to_string());
        } else {
            return Err((n, format!("unexpected line {l:?} (not iptables-save format)")));
        }
    }
    Ok(r)
}

/// Strings from `dbus-send --print-reply` output (`string "x"` tokens), in order.
fn dbus_strings(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let i = l.find("string \"")?;
            let rest = &l[i + 8..];
            Some(rest.strip_suffix('"').unwrap_or(rest).to_string())
        })
        .collect()
}

/// getActiveZones reply -> `zone: key=v1,v2; key=...`.
/// A zone with its `key -> values` entries (interfaces, sources).
type Zone = (String, Vec<(String, Vec<String>)>);

fn dbus_active_zones(lines: &[String]) -> Vec<String> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut depth = 0usize;
    let mut expect_key = false;
    for l in lines {
        let t = l.trim();
        if t.starts_with("dict entry(") {
            depth += 1;
            expect_key = true;
            continue;
        }
        if t == ")" {
            depth = depth.saturating_sub(1);
            continue;
        }
        let Some(s) = dbus_strings(std::slice::from_ref(l)).into_iter().next() else { continue };
        match (depth, expect_key) {
            (1, true) => {
                zones.push((s, Vec::new()));
                expect_key = false;
            }
            (2, true) => {
                if let Some(z) = zones.last_mut() {
                    z.1.push((s, Vec::new()));
                }
                expect_key = false;
            }
            (2, false) => {
                if let Some(kv) = zones.last_mut().and_then(|z| z.1.last_mut()) {
                    kv.1.push(s);
                }
            }
            _ => {}
        }
    }
    zones
        .into_iter()
        .map(|(z, kvs)| {
            let parts: Vec<String> = kvs.iter().map(|(k, v)| format!("{k}={}", v.join(","))).collect();
            format!("{z}: {}", parts.join("; "))
        })
        .collect()
}

/// `firewall-cmd --get-active-zones` -> same shape as [`dbus_active_zones`].
fn cmd_active_zones(lines: &[String]) -> Vec<String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for l in lines {
        if l.trim().is_empty() {
            continue;
        }
        if !l.starts_with(' ') {
            out.push((l.trim().to_string(), Vec::new()));
        } else if let (Some(z), Some((k, v))) = (out.last_mut(), l.trim().split_once(':')) {
            let vals: Vec<&str> = v.split_whitespace().collect();
            z.1.push(format!("{k}={}", vals.join(",")));
        }
    }
    out.into_iter().map(|(z, kv)| format!("{z}: {}", kv.join("; "))).collect()
}

/// `{"Driver":"iptables+firewalld","Info":[["ReloadedAt","…"]]}` -> the
/// driver and its info pairs; `None` when it is not that shape.
fn parse_firewall_backend(text: &str) -> Option<DockerFirewallBackend> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let driver = v.get("Driver")?.as_str()?.to_string();
    let info = v
        .get("Info")
        .and_then(|i| i.as_array())
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((p.first()?.as_str()?.to_string(), p.get(1).and_then(|x| x.as_str()).unwrap_or("").to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(DockerFirewallBackend { driver, info })
}

/// One unit's `systemctl show -p …` lines.
fn parse_unit(lines: &[String]) -> Unit {
    let mut u = Unit::default();
    for l in lines {
        let Some((k, v)) = l.split_once('=') else { continue };
        let v = Some(v.to_string());
        match k {
            "LoadState" => u.load_state = v,
            "ActiveState" => u.active_state = v,
            "SubState" => u.sub_state = v,
            "Result" => u.result = v,
            "UnitFileState" => u.unit_file_state = v.filter(|s| !s.is_empty()),
            "ActiveEnterTimestampMonotonic" => u.active_enter_monotonic_us = v.and_then(|s| s.parse().ok()),
            "InactiveEnterTimestampMonotonic" => u.inactive_enter_monotonic_us = v.and_then(|s| s.parse().ok()),
            _ => {}
        }
    }
    u
}

/// A boolean flag of dockerd's argv: `--x`, `--x=true|false`, `--x true|false`.
fn bool_flag(argv: &[String], flag: &str) -> Option<bool> {
    argv.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            return Some(argv.get(i + 1).map(|v| v != "false").unwrap_or(true));
        }
        a.strip_prefix(flag)?.strip_prefix('=').map(|v| v != "false")
    })
}

/// The value of a flag (`--log-level warn`, `--log-level=warn`, `-l warn`).
fn value_flag(argv: &[String], names: &[&str]) -> Option<String> {
    argv.iter().enumerate().find_map(|(i, a)| {
        names.iter().find_map(|n| {
            if a == n {
                return argv.get(i + 1).cloned();
            }
            a.strip_prefix(n)?.strip_prefix('=').map(String::from)
        })
    })
    .map(|v| v.to_lowercase())
}

/// `GET /containers/json?all=1` of the engine's API: the running
/// containers as `docker inspect` describes them, and the names of those
/// created but never started. `inspected`: `GET /containers/ID/json` of
/// the host-network ones, whose bindings only their HostConfig keeps.
fn api_containers(json: &str, inspected: &[String]) -> Result<(Vec<Container>, Vec<String>), serde_json::Error> {
    let list: Vec<serde_json::Value> = serde_json::from_str(json)?;
    let mut bindings: BTreeMap<String, Vec<PublishedPort>> = BTreeMap::new();
    for l in inspected.iter().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l)?;
        let mut ports = Vec::new();
        for (spec, binds) in v["HostConfig"]["PortBindings"].as_object().into_iter().flatten() {
            let Some((cp, proto)) = spec.split_once('/') else { continue };
            for b in binds.as_array().into_iter().flatten() {
                if let (Ok(cp), Some(Ok(hp))) = (cp.parse::<u16>(), b["HostPort"].as_str().map(str::parse::<u16>))
                    && hp != 0
                {
                    ports.push(PublishedPort { proto: proto.to_string(), container_port: cp, host_ip: b["HostIp"].as_str().unwrap_or("").to_string(), host_port: hp });
                }
            }
        }
        bindings.insert(v["Id"].as_str().unwrap_or("").to_string(), ports);
    }
    let name = |c: &serde_json::Value| c["Names"][0].as_str().unwrap_or("").trim_start_matches('/').to_string();
    let mut running = Vec::new();
    let mut created = Vec::new();
    for c in &list {
        match c["State"].as_str() {
            Some("created") => created.push(name(c)),
            Some("running") => {
                let mut ports: Vec<PublishedPort> = c["Ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        // An exposed port that is not published has no PublicPort.
                        let host_port = u16::try_from(p["PublicPort"].as_u64()?).ok().filter(|hp| *hp != 0)?;
                        Some(PublishedPort {
                            proto: p["Type"].as_str().unwrap_or("tcp").to_string(),
                            container_port: u16::try_from(p["PrivatePort"].as_u64()?).ok()?,
                            host_ip: p["IP"].as_str().unwrap_or("").to_string(),
                            host_port,
                        })
                    })
                    .collect();
                let id = c["Id"].as_str().unwrap_or("").to_string();
                if ports.is_empty() {
                    ports = bindings.remove(&id).unwrap_or_default();
                }
                ports.sort();
                ports.dedup();
                let addresses = c["NetworkSettings"]["Networks"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(n, v)| format!("{n}={}", v["IPAddress"].as_str().unwrap_or("")))
                    .collect();
                running.push(Container {
                    id,
                    name: name(c),
                    ports,
                    addresses,
                    network_mode: c["HostConfig"]["NetworkMode"].as_str().map(String::from).filter(|m| !m.is_empty()),
                });
            }
            _ => {}
        }
    }
    Ok((running, created))
}

/// One `docker inspect` line: id|name|status|ports|bindings|networks[|network mode]
/// (the mode field is newer; older probe outputs have six).
fn parse_container(l: &str) -> Option<Container> {
    let w: Vec<&str> = l.split('|').collect();
    if w.len() != 6 && w.len() != 7 {
        return None;
    }
    let mut ports = parse_ports(w[3]);
    if ports.is_empty() {
        ports = parse_ports(w[4]);
    }
    Some(Container {
        id: w[0].to_string(),
        name: w[1].trim_start_matches('/').to_string(),
        ports,
        addresses: w[5].split_whitespace().map(String::from).collect(),
        network_mode: w.get(6).map(|m| m.trim().to_string()).filter(|m| !m.is_empty()),
    })
}

/// `80/tcp=0.0.0.0:8893 80/tcp=:::8893` -> ports (host port 0/empty skipped).
fn parse_ports(s: &str) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        let Some((cport, bind)) = tok.split_once('=') else { continue };
        let Some((cp, proto)) = cport.split_once('/') else { continue };
        let Some((ip, hp)) = bind.rsplit_once(':') else { continue };
        let (Ok(cp), Ok(hp)) = (cp.parse::<u16>(), hp.parse::<u16>()) else { continue };
        if hp == 0 {
            continue;
        }
        out.push(PublishedPort { proto: proto.to_string(), container_port: cp, host_ip: ip.to_string(), host_port: hp });
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_output_names_the_section() {
        let t = "@@ND probe version=1\n@@ND begin os\nID=debian\n";
        let e = parse_probe(t, "x").unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("`os`"), "{e}");
    }

    #[test]
    fn noise_instead_of_probe_is_an_error() {
        let e = parse_probe("sh: not found\n", "x").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("sh: not found"), "{e}");
    }

    #[test]
    fn bad_iptables_save_line_becomes_missing_fact_with_note() {
        let t = "@@ND probe version=1\n@@ND begin rules.nft4\n*nat\n:DOCKER - [0:0]\ngarbage here\nCOMMIT\n@@ND end rules.nft4 rc=0\n@@ND done\n";
        let f = parse_probe(t, "x").unwrap();
        assert!(f.iptables.nft.is_none());
        assert!(f.notes.iter().any(|n| n.contains("rules.nft4 line 3")), "{:?}", f.notes);
    }

    #[test]
    fn what_could_not_be_seen_is_said_never_healthy() {
        // A frozen dockerd (timeout's 124), a non-root probe, iptables refusing.
        let t = "@@ND probe version=1\n@@ND begin uid\n1000\n@@ND end uid rc=0\n\
                 @@ND begin docker.info\n@@ND end docker.info rc=124\n\
                 @@ND begin rules.nft4\n@@ND stderr rules.nft4\niptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n@@ND end rules.nft4 rc=1\n\
                 @@ND done\n";
        let f = parse_probe(t, "x").unwrap();
        let blind = f.could_not_look.join("\n");
        assert!(blind.contains("uid 1000, not root"), "{blind}");
        assert!(blind.contains("docker.info: timed out after 30 s"), "{blind}");
        assert!(blind.contains("rules.nft4") && blind.contains("you must be root"), "{blind}");
        assert_eq!(crate::finding::Summary::default().verdict_code(&f.could_not_look), 3);
        // As root with everything read: nothing unseen.
        let ok = parse_probe("@@ND probe version=1\n@@ND begin uid\n0\n@@ND end uid rc=0\n@@ND done\n", "x").unwrap();
        assert!(ok.could_not_look.is_empty(), "{:?}", ok.could_not_look);
    }

    #[test]
    fn ports_dedupe_v4_and_v6_bindings() {
        let p = parse_ports("80/tcp=0.0.0.0:8893 80/tcp=:::8893 ");
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.host_port == 8893 && p.container_port == 80));
    }

    #[test]
    fn dbus_zones_parse() {
        let l: Vec<String> = "   array [\n      dict entry(\n         string \"docker\"\n         array [\n            dict entry(\n               string \"interfaces\"\n               array [\n                  string \"docker0\"\n               ]\n            )\n         ]\n      )\n   ]"
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(dbus_active_zones(&l), vec!["docker: interfaces=docker0".to_string()]);
    }
}
