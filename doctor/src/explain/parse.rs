//! Parse a pasted text into facts: who wrote each line, which iptables
//! command it quotes, and which of the known failure templates it carries
//! (moby's, iptables' in its variants, firewalld's, modprobe's, systemd's).
//! Nothing here decides a cause; `reason` does.

use serde::Serialize;

/// Who wrote a line, from its syslog tag or its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Writer {
    /// `dockerd[pid]:` or logrus' `level=… msg=…`.
    Dockerd,
    /// `docker: Error response from daemon`.
    DockerCli,
    /// docker compose (`ERROR: for web`, `Cannot start service`).
    Compose,
    /// `firewalld[pid]:`, `COMMAND_FAILED`.
    Firewalld,
    /// iptables / ip6tables itself.
    Iptables,
    /// `modprobe:`.
    Modprobe,
    /// `kernel:`.
    Kernel,
    /// kubelet, kube-proxy.
    Kubernetes,
    /// systemd about docker.service.
    Systemd,
    /// No tag or template recognised.
    Unknown,
}

/// The iptables variant a line names (`iptables v1.8.9 (nf_tables)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// `(nf_tables)`: iptables-nft.
    Nft,
    /// `(legacy)`: iptables-legacy.
    Legacy,
    /// 1.4.x / 1.6.x (CentOS 7, older Debian): no variant, legacy x_tables.
    Old,
}

/// An iptables command quoted in a line (dockerd's or firewalld's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IptCmd {
    /// `-t` (default `filter`).
    pub table: String,
    /// `A` append, `I` insert, `N` new chain, `C` check, `D` delete, `F`
    /// flush, `X` delete chain, `L` list.
    pub op: char,
    /// The chain the command works on.
    pub chain: String,
    /// `-j` target.
    pub jump: Option<String>,
}

impl IptCmd {
    /// Checks and cleanups: dockerd runs them at every start against rules
    /// that may not exist, so their failures are routine.
    pub fn is_cleanup(&self) -> bool {
        matches!(self.op, 'C' | 'D' | 'F' | 'X' | 'L' | 'S')
    }
}

/// A failure template recognised in a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Failure {
    /// `No chain/target/match by that name` (iptables-legacy, 1.4.x).
    NoChainTargetMatch,
    /// `Chain 'X' does not exist` (iptables-nft).
    ChainDoesNotExist(String),
    /// `Couldn't load target `X'` / `Couldn't find target`.
    CouldNotLoadTarget(String),
    /// nft's `CHAIN_ADD`/`RULE_APPEND`/`RULE_INSERT failed (No such file or directory)`.
    NftOpFailed(String),
    /// `can't initialize iptables table `X': Table does not exist (do you need to insmod?)`.
    TableDoesNotExist(String),
    /// Docker 28's ipsets: `creating ipset …`, `kernel modules ip_set … are required`,
    /// or the bare `failed to register "bridge" driver: invalid argument` of 28.0.0.
    IpsetUnsupported,
    /// An `iptables-save` diff whose removed lines are Docker's chains or rules.
    DockerRulesRemoved,
    /// `Extension X revision 0 not supported, missing kernel module?`.
    RevisionNotSupported(String),
    /// `Failed to initialize nft: Protocol not supported`.
    NftProtocolNotSupported,
    /// `Could not fetch rule set generation id`.
    NftGenerationId,
    /// `modprobe: FATAL: Module X not found in directory /lib/modules/R`.
    ModuleNotFound(String),
    /// `could not open moddep file '/lib/modules/R/modules.dep.bin'`: the tree is gone.
    ModuleTreeMissing,
    /// `modprobe: can't change directory to '/lib/modules'`: not one
    /// release's tree but the whole directory is absent where modprobe ran
    /// (a container or pod without the host's modules mounted).
    ModulesDirAbsent,
    /// The bridge driver cannot create docker0 (`package not installed`, netlink `operation not supported`).
    BridgeUnsupported,
    /// `error initializing graphdriver` / `driver not supported` (overlay).
    GraphdriverUnsupported,
    /// `unknown option "--dport"`: iptables could not load a match extension.
    UnknownOption(String),
    /// `failed to add the host (veth…) <=> sandbox (veth…) pair interfaces: operation not supported`.
    VethUnsupported,
    /// `Bad rule (does a matching rule exist in that chain?)`.
    BadRule,
    /// `port is already allocated`.
    PortAllocated,
    /// `address already in use` on a bind/listen.
    AddressInUse,
    /// firewalld's `ZONE_CONFLICT`.
    ZoneConflict,
    /// `IPv4 forwarding is disabled`.
    ForwardingDisabled,
    /// `# Warning: iptables-legacy tables present`.
    LegacyTablesPresent,
    /// `chain 'X' in table 'Y' is incompatible, use 'nft' tool`.
    IncompatibleUseNft,
    /// daemon.json or flag problems (`unable to configure the Docker daemon`,
    /// `specified both as a flag and in the configuration file`).
    DaemonConfig,
    /// dockerd did not start (`failed to start daemon`, systemd's `Failed to start Docker`).
    DaemonFailed,
    /// A client could not connect (`Connection refused`, `curl: (7)`).
    ConnectionRefused,
    /// `System restart required`, `/var/run/reboot-required`.
    RestartRequired,
    /// A container cannot reach out (`unknown host`, `Temporary failure in
    /// name resolution`, `Network is unreachable`): MASQUERADE/FORWARD rules
    /// or forwarding missing, or DNS.
    EgressFailed,
}

/// Context that weighs candidates but is never a cause by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    /// firewalld wrote the line or relayed the command (`COMMAND_FAILED` on an append/insert).
    FirewalldRelayed,
    /// A firewalld start, restart or reload is named.
    FirewalldRestarted,
    /// dockerd says `Firewalld running: false`.
    FirewalldNotRunning,
    /// update-alternatives, or iptables-legacy / iptables-nft named.
    AlternativesNamed,
    /// Kubernetes' chains or components (`KUBE-`, kube-proxy, kubelet).
    Kubernetes,
    /// Another tool rewrote the ruleset: iptables-restore, netfilter-persistent, `flush ruleset`, ufw.
    ForeignFlush,
    /// A package upgrade of the kernel is named.
    KernelUpgrade,
    /// A kernel that is not a distribution's stock one (WSL, OpenVZ, a
    /// custom build): its modules are missing by build, not by an upgrade.
    NonStockKernel,
    /// A distribution's stock kernel is named (`-amd64`, `-generic`, `.el7`, `-v7+` …).
    StockKernel,
    /// The iptables that failed runs in a container or pod (a compose or
    /// kubectl log prefix): its backend may not be the host's.
    InContainer,
    /// The container runs in the host's network namespace (`--net=host`,
    /// `network_mode: host`): forwarding and Docker's NAT do not apply to it.
    HostNetwork,
    /// The module the text misses is not a module of its own in the kernel
    /// release the text names (br_netfilter: Linux 3.18, RHEL 7.3's
    /// 3.10.0-514; older kernels build it into `bridge`): missing by build.
    ModuleNotInKernel,
}

/// One line's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// 1-based line number in the pasted text.
    pub n: usize,
    /// Who wrote it.
    pub writer: Writer,
    /// The iptables variant it names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
    /// What Docker was doing (moby's error template), e.g. `program NAT chain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'static str>,
    /// The iptables command it quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<IptCmd>,
    /// Failure templates found.
    pub failures: Vec<Failure>,
    /// Context found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
    /// `level=info`/`debug` of dockerd, or firewalld's `WARNING`: routine unless a failure says otherwise.
    pub routine: bool,
    /// dockerd was starting (`failed to start daemon`, `Error initializing
    /// network controller`): the chains it names it had just created.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub starting: bool,
    /// The kernel release the line names (`/lib/modules/R`, `uname -a`, a bare `uname -r`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// Parse every non-empty line of `text`.
pub fn parse(text: &str) -> Vec<Line> {
    // `systemctl status docker`: its `Active: failed` line does not name the unit.
    let docker_status = text.contains("docker.service - ");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let mut line = parse_line(i + 1, l);
            if docker_status && l.trim_start().starts_with("Active: failed") && !line.failures.contains(&Failure::DaemonFailed) {
                line.writer = Writer::Systemd;
                line.failures.push(Failure::DaemonFailed);
            }
            line
        })
        .collect()
}

/// moby's operation templates, most specific first (lower-case).
const OPERATIONS: &[(&str, &str)] = &[
    ("failed to program nat chain", "program NAT chain"),
    ("failed to program filter chain", "program FILTER chain"),
    ("failed to inject", "inject a jump into a built-in chain"),
    ("skip dnat", "SKIP DNAT rule"),
    ("jump rules", "add jump rules"),
    ("failed to create nat chain", "create NAT chain"),
    ("failed to create filter chain", "create FILTER chain"),
    ("isolation", "network isolation rules"),
    ("unable to enable nat rule", "MASQUERADE rule"),
    ("unable to enable dnat rule", "DNAT rule for a published port"),
    ("driver failed programming external connectivity", "publish a port"),
    ("userland proxy", "publish a port (docker-proxy)"),
    ("bind host port", "publish a port (bind)"),
    ("ipset", "ipset"),
    ("-t raw", "raw table rule"),
    ("bridge docker0 via netlink", "create the docker0 bridge"),
    ("default \"bridge\" network", "create the default bridge network"),
    ("graphdriver", "initialise the storage driver"),
    ("error initializing network controller", "initialise the network controller"),
];

fn parse_line(n: usize, raw: &str) -> Line {
    let l = raw.to_lowercase();
    let writer = writer_of(&l);
    let variant = if l.contains("(nf_tables)") {
        Some(Variant::Nft)
    } else if l.contains("(legacy)") {
        Some(Variant::Legacy)
    } else if l.contains("iptables v1.4") || l.contains("iptables v1.6") {
        Some(Variant::Old)
    } else {
        None
    };
    let operation = OPERATIONS.iter().find(|(p, _)| l.contains(p)).map(|(_, o)| *o);
    // moby's templates and `iptables --wait` (only dockerd passes it) are
    // dockerd's words, relayed by whatever printed them.
    let writer = if writer == Writer::Unknown && (operation.is_some() || l.contains("iptables failed") || l.contains("iptables --wait")) {
        Writer::Dockerd
    } else {
        writer
    };
    let command = iptables_command(raw);
    let failures = failures_of(raw, &l);
    let kernel = kernel_release(&l).map(str::to_string);
    let hints = hints_of(&l, writer, command.as_ref(), kernel.as_deref());
    let routine = (l.contains("level=info") || l.contains("level=debug") || (writer == Writer::Firewalld && l.contains("warning:")))
        && failures.iter().all(|f| matches!(f, Failure::BadRule | Failure::NoChainTargetMatch | Failure::ChainDoesNotExist(_) | Failure::CouldNotLoadTarget(_)));
    let starting = l.contains("failed to start daemon") || l.contains("error starting daemon") || l.contains("error initializing network controller");
    Line { n, writer, variant, operation, command, failures, hints, routine, starting, kernel }
}

fn writer_of(l: &str) -> Writer {
    let tagged = |t: &str| l.contains(&format!("{t}[")) || l.contains(&format!("{t}:"));
    if tagged("firewalld") || l.contains("command_failed") && !l.contains("level=") || l.contains("zone_conflict") && !l.contains("level=") {
        Writer::Firewalld
    } else if tagged("dockerd") || l.contains("level=") && l.contains("msg=") || l.contains("failed to start daemon") || l.contains("error starting daemon") {
        Writer::Dockerd
    } else if l.contains("error: for ") || l.contains("cannot start service") || l.contains("container ") && l.contains(" error") {
        Writer::Compose
    } else if l.contains("docker: error response from daemon") || l.starts_with("error response from daemon") {
        Writer::DockerCli
    } else if tagged("kubelet") || tagged("kube-proxy") {
        Writer::Kubernetes
    } else if l.trim_start().starts_with("modprobe:") || tagged("modprobe") {
        Writer::Modprobe
    } else if tagged("kernel") {
        Writer::Kernel
    } else if tagged("systemd") || l.contains("docker.service:") {
        Writer::Systemd
    } else if l.trim_start().starts_with("iptables v") || l.trim_start().starts_with("ip6tables v") || l.trim_start().starts_with("iptables:") || l.contains("# warning: iptables-legacy") {
        Writer::Iptables
    } else {
        Writer::Unknown
    }
}

/// The iptables command a line quotes: `iptables --wait -t nat -A DOCKER …`
/// (dockerd) or `'/usr/sbin/iptables -w10 -t nat -A DOCKER …'` (firewalld).
fn iptables_command(raw: &str) -> Option<IptCmd> {
    let start = raw.find("iptables -").or_else(|| raw.find("iptables --"))?;
    let toks: Vec<&str> = raw[start..].split_whitespace().skip(1).take(40).collect();
    let mut table = "filter".to_string();
    let (mut op, mut chain, mut jump) = (None, String::new(), None);
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let next = toks.get(i + 1).map(|s| s.trim_matches(|c| c == '\'' || c == ':' || c == ',').to_string());
        match t {
            "-t" | "--table" => table = next.clone().unwrap_or_default(),
            "-A" | "--append" => op = Some('A'),
            "-I" | "--insert" => op = Some('I'),
            "-N" | "--new-chain" => op = Some('N'),
            "-C" | "--check" => op = Some('C'),
            "-D" | "--delete" => op = Some('D'),
            "-F" | "--flush" => op = Some('F'),
            "-X" | "--delete-chain" => op = Some('X'),
            "-L" | "--list" | "-nL" => op = Some('L'),
            "-S" | "--list-rules" => op = Some('S'),
            "-j" | "--jump" => jump = next.clone(),
            _ => {}
        }
        if matches!(t, "-A" | "--append" | "-I" | "--insert" | "-N" | "--new-chain" | "-C" | "--check" | "-D" | "--delete" | "-F" | "--flush" | "-X" | "--delete-chain" | "-L" | "--list" | "-S" | "--list-rules")
            && chain.is_empty()
        {
            chain = next.filter(|n| !n.starts_with('-')).unwrap_or_default();
        }
        if t.ends_with('\'') || t.ends_with(':') && i > 0 {
            break;
        }
        i += 1;
    }
    Some(IptCmd { table, op: op?, chain, jump })
}

/// `after` the first occurrence of `pat` (case-insensitive, in `l`), the next quoted or bare word of `raw`.
fn name_after(raw: &str, l: &str, pat: &str) -> String {
    let Some(i) = l.find(pat) else { return String::new() };
    raw[i + pat.len()..]
        .trim_start()
        .trim_start_matches(['\'', '`', '"', ' '])
        .split(|c: char| c == '\'' || c == '`' || c == '"' || c == ':' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_string()
}

fn failures_of(raw: &str, l: &str) -> Vec<Failure> {
    let mut f = Vec::new();
    let mut add = |x: Failure| {
        if !f.contains(&x) {
            f.push(x)
        }
    };
    if l.contains("no chain/target/match by that name") {
        add(Failure::NoChainTargetMatch);
    }
    if l.contains("does not exist") && l.contains("chain '") {
        add(Failure::ChainDoesNotExist(name_after(raw, l, "chain '")));
    }
    for pat in ["couldn't load target", "couldn't find target", "could not load target"] {
        if l.contains(pat) {
            add(Failure::CouldNotLoadTarget(name_after(raw, l, pat)));
        }
    }
    for op in ["chain_add", "rule_append", "rule_insert", "chain_user_add", "rule_replace"] {
        if l.contains(&format!("{op} failed")) {
            add(Failure::NftOpFailed(op.to_uppercase()));
        }
    }
    if l.contains("table does not exist") || l.contains("your kernel needs to be upgraded") {
        add(Failure::TableDoesNotExist(name_after(raw, l, "iptables table ")));
    }
    if l.contains("creating ipset") || l.contains("ip_set") && l.contains("are required") || l.contains("register \"bridge\" driver: invalid argument") {
        add(Failure::IpsetUnsupported);
    }
    if raw.starts_with('-') && !raw.starts_with("---") && (raw.contains(":DOCKER") || raw.contains("-A DOCKER") || raw.contains("-j DOCKER")) {
        add(Failure::DockerRulesRemoved);
    }
    if l.contains("revision 0 not supported") || l.contains("missing kernel module") {
        add(Failure::RevisionNotSupported(name_after(raw, l, "extension ")));
    }
    if l.contains("failed to initialize nft") || l.contains("protocol not supported") && l.contains("nft") {
        add(Failure::NftProtocolNotSupported);
    }
    if l.contains("could not fetch rule set generation id") {
        add(Failure::NftGenerationId);
    }
    if l.contains("not found in directory /lib/modules") || l.contains("modprobe: fatal: module") && l.contains("not found") {
        add(Failure::ModuleNotFound(name_after(raw, l, "module ")));
    }
    if l.contains("could not open moddep file") || l.contains("modules.dep.bin") && l.contains("no such file") {
        add(Failure::ModuleTreeMissing);
    }
    if l.contains("can't change directory to '/lib/modules'") {
        add(Failure::ModulesDirAbsent);
    }
    if l.contains("bridge") && l.contains("package not installed")
        || l.contains("bridge docker0 via netlink")
        || l.contains("\"bridge\" network: operation not supported")
    {
        add(Failure::BridgeUnsupported);
    }
    if l.contains("error initializing graphdriver") || l.contains("graphdriver") && l.contains("not supported") {
        add(Failure::GraphdriverUnsupported);
    }
    if l.contains("unknown option \"--") {
        add(Failure::UnknownOption(name_after(raw, l, "unknown option ")));
    }
    if l.contains("pair interfaces: operation not supported") {
        add(Failure::VethUnsupported);
    }
    if l.contains("bad rule (does a matching rule exist") {
        add(Failure::BadRule);
    }
    if l.contains("port is already allocated") {
        add(Failure::PortAllocated);
    }
    // IPAM's "failed to allocate gateway (…): Address already in use" is
    // the bridge's configured address (bip, address pools), not a port.
    if l.contains("failed to allocate gateway") || l.contains("invalid cidr address") {
        add(Failure::DaemonConfig);
    } else if l.contains("address already in use") {
        add(Failure::AddressInUse);
    }
    if l.contains("zone_conflict") {
        add(Failure::ZoneConflict);
    }
    if l.contains("ipv4 forwarding is disabled") || l.contains("ip_forward = 0") || l.contains("ip_forward=0") {
        add(Failure::ForwardingDisabled);
    }
    if l.contains("iptables-legacy tables present") {
        add(Failure::LegacyTablesPresent);
    }
    if l.contains("is incompatible, use 'nft' tool") {
        add(Failure::IncompatibleUseNft);
    }
    if l.contains("unable to configure the docker daemon")
        || l.contains("specified both as a flag and in the configuration file")
        || l.contains("daemon.json") && (l.contains("invalid") || l.contains("cannot unmarshal") || l.contains("unknown"))
    {
        add(Failure::DaemonConfig);
    }
    if l.contains("failed to start daemon")
        || l.contains("error starting daemon")
        || l.contains("failed to start docker application container engine")
        || l.contains("docker.service: failed with result")
        || l.contains("start request repeated too quickly")
    {
        add(Failure::DaemonFailed);
    }
    if l.contains("connection refused") || l.contains("curl: (7)") {
        add(Failure::ConnectionRefused);
    }
    if ["ping: unknown host", "temporary failure in name resolution", "network is unreachable", "bad address"].iter().any(|p| l.contains(p)) {
        add(Failure::EgressFailed);
    }
    if l.contains("system restart required") || l.contains("reboot-required") {
        add(Failure::RestartRequired);
    }
    f
}

fn hints_of(l: &str, writer: Writer, cmd: Option<&IptCmd>, kernel: Option<&str>) -> Vec<Hint> {
    let mut h = Vec::new();
    let relayed = l.contains("command_failed") && cmd.is_some_and(|c| !c.is_cleanup());
    if relayed || writer == Writer::Firewalld && cmd.is_some_and(|c| !c.is_cleanup()) {
        h.push(Hint::FirewalldRelayed);
    }
    if ["firewall-cmd --reload", "firewall-cmd --complete-reload", "restart firewalld", "start firewalld", "reload firewalld", "firewalld.service", "firewalld started", "firewalld reloaded"]
        .iter()
        .any(|p| l.contains(p))
    {
        h.push(Hint::FirewalldRestarted);
    }
    if l.contains("firewalld running: false") {
        h.push(Hint::FirewalldNotRunning);
    }
    if l.contains("update-alternatives") || l.contains("alternatives --set") || l.contains("iptables-legacy") || l.contains("iptables-nft") {
        h.push(Hint::AlternativesNamed);
    }
    if l.contains("kube-") || l.contains("kubelet") || l.contains("kube-proxy") {
        h.push(Hint::Kubernetes);
    }
    if ["iptables-restore", "netfilter-persistent", "iptables-persistent", "flush ruleset", "nftables.service", "ufw ", "iptables -f", "iptables -x", "restart iptables", "iptables.service", "ferm", "shorewall", "firehol"]
        .iter()
        .any(|p| l.contains(p))
    {
        h.push(Hint::ForeignFlush);
    }
    if ["apt upgrade", "apt-get upgrade", "apt full-upgrade", "dist-upgrade", "yum update", "dnf upgrade", "unattended-upgrade", "linux-image-", "kernel upgrade", "upgraded the kernel", "kernel update"]
        .iter()
        .any(|p| l.contains(p))
    {
        h.push(Hint::KernelUpgrade);
    }
    if ["microsoft-standard", "wsl2", "openvz", "virtuozzo", "-stab"].iter().any(|p| l.contains(p)) {
        h.push(Hint::NonStockKernel);
    }
    match kernel.map(is_stock_kernel) {
        Some(true) => h.push(Hint::StockKernel),
        Some(false) => h.push(Hint::NonStockKernel),
        None => {}
    }
    let host_net = ["--net=host", "--net='host'", "--net host", "--network=host", "--network host", "network_mode: host", "network_mode: \"host\""];
    if host_net.iter().any(|p| l.contains(p)) {
        h.push(Hint::HostNetwork);
    }
    let prefixed = l.split_once(" | ").is_some_and(|(p, _)| !p.trim().is_empty() && !p.trim().contains(' ')) || l.starts_with("| ");
    if prefixed || l.starts_with("+ iptables") {
        h.push(Hint::InContainer);
    }
    h
}

/// The kernel release a line names: `/lib/modules/R`, `uname -a`'s
/// `Linux HOST R #…`, or a line that is only `uname -r`'s answer.
fn kernel_release(l: &str) -> Option<&str> {
    if let Some(i) = l.find("/lib/modules/") {
        let r = l[i + 13..].split(|c: char| c == '/' || c == '\'' || c == '"' || c == '`' || c.is_whitespace()).next()?;
        return (!r.is_empty() && r.as_bytes()[0].is_ascii_digit()).then_some(r);
    }
    let bare = l.trim();
    if release_parts(bare).is_some_and(|p| p.len() >= 3) && bare.contains('-') && !bare.contains(char::is_whitespace) {
        return Some(bare);
    }
    let w: Vec<&str> = l.split_whitespace().collect();
    let i = w.iter().position(|t| *t == "linux")?;
    (w.get(i + 3).is_some_and(|t| t.starts_with('#')) && w[i + 2].as_bytes()[0].is_ascii_digit()).then(|| w[i + 2])
}

/// The leading numbers of a release: `3.10.0-327.el7.x86_64` gives
/// [3, 10, 0, 327]; None when it does not start as `N.N`.
pub fn release_parts(r: &str) -> Option<Vec<u32>> {
    let nums: Vec<u32> = r.split(['.', '-']).map_while(|p| p.parse().ok()).collect();
    (nums.len() >= 2).then_some(nums)
}

/// br_netfilter is a module of its own from Linux 3.18, and in RHEL 7 from
/// 7.3's 3.10.0-514; before that it is part of `bridge`, so `modprobe
/// br_netfilter` fails on a healthy kernel.
pub fn predates_br_netfilter(release: &str) -> bool {
    match release_parts(release).as_deref() {
        Some([3, 10, 0, build, ..]) if release.contains(".el7") => *build < 514,
        Some([major, minor, ..]) => (*major, *minor) < (3, 18),
        _ => false,
    }
}

/// Release suffixes of distribution kernels (Debian, Ubuntu, RHEL and
/// clones, Fedora, Arch, SUSE, Raspberry Pi OS, Proxmox, Amazon Linux):
/// these are upgraded by the package manager, so a missing module is stale.
fn is_stock_kernel(r: &str) -> bool {
    const ENDS: &[&str] = &[
        "-amd64", "-arm64", "-686", "-686-pae", "-armmp", "-armmp-lpae", "-cloud-amd64", "-rt-amd64", "-generic", "-lowlatency", "-aws",
        "-azure", "-gcp", "-kvm", "-oracle", "-raspi", "-default", "-lts", "-v7+", "-v7l+", "-v8+", "-pve", ".x86_64", ".aarch64",
    ];
    const HAS: &[&str] = &[".el", ".fc", "-arch", "+rpt-rpi", "-rpi-", ".amzn"];
    !r.contains("microsoft-standard") && (ENDS.iter().any(|e| r.ends_with(e)) || HAS.iter().any(|h| r.contains(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_dnat_error_through_firewalld() {
        let l = &parse("driver failed programming external connectivity on endpoint b2 (47a8): (COMMAND_FAILED: '/usr/sbin/iptables -w10 -t nat -A DOCKER -p tcp -d 0/0 --dport 8894 -j DNAT --to-destination 172.17.0.3:80 ! -i docker0' failed: iptables: No chain/target/match by that name.")[0];
        assert_eq!(l.operation, Some("publish a port"));
        let c = l.command.as_ref().unwrap();
        assert_eq!((c.table.as_str(), c.op, c.chain.as_str(), c.jump.as_deref()), ("nat", 'A', "DOCKER", Some("DNAT")));
        assert_eq!(l.failures, vec![Failure::NoChainTargetMatch]);
        assert_eq!(l.hints, vec![Hint::FirewalldRelayed]);
    }

    #[test]
    fn firewalld_cleanup_warning_is_routine() {
        let l = &parse("2020-09-09 10:22:24 WARNING: COMMAND_FAILED: '/usr/sbin/iptables -w10 -D FORWARD -i docker0 -o docker0 -j DROP' failed: iptables: Bad rule (does a matching rule exist in that chain?).")[0];
        assert_eq!(l.writer, Writer::Firewalld);
        assert_eq!(l.command.as_ref().map(|c| c.op), Some('D'));
        assert!(l.routine && l.hints.is_empty());
    }

    #[test]
    fn nft_chain_and_variant() {
        let l = &parse("iptables --wait -I FORWARD -o br-9f4dfff0d6a0 -j DOCKER: iptables v1.8.4 (nf_tables): Chain 'DOCKER' does not exist")[0];
        assert_eq!(l.variant, Some(Variant::Nft));
        assert_eq!(l.failures, vec![Failure::ChainDoesNotExist("DOCKER".into())]);
        assert_eq!(l.command.as_ref().map(|c| (c.op, c.chain.as_str())), Some(('I', "FORWARD")));
    }

    #[test]
    fn old_iptables_target() {
        let l = &parse("iptables v1.4.21: Couldn't load target `DOCKER':No such file or directory")[0];
        assert_eq!(l.variant, Some(Variant::Old));
        assert_eq!(l.failures, vec![Failure::CouldNotLoadTarget("DOCKER".into())]);
    }
}
