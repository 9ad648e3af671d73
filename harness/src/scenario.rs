//! Scenario files: the declarative description of one incident, read from
//! `scenarios/NAME.toml`. Parsing turns loose TOML into typed [`Step`]s and
//! rejects anything unknown with the file, line and field at fault.

use crate::platform::{NodeBackend, Platform};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The stages of a scenario, in the order they run (create and destroy are implicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Bring the node into the state the incident starts from.
    Prepare,
    /// Cause the incident.
    Fault,
    /// Assert the breakage really happened.
    Symptom,
    /// Run the doctor and check what it finds.
    Diagnose,
    /// Apply the cure.
    Remediate,
    /// Not written in files: after a remediate stage that ran the doctor's
    /// fix, the runner runs it again; it must plan and change nothing.
    Idempotence,
    /// Assert the node works again.
    Verify,
}

impl Stage {
    /// Every stage, in run order.
    pub const ALL: [Stage; 7] = [
        Stage::Prepare,
        Stage::Fault,
        Stage::Symptom,
        Stage::Diagnose,
        Stage::Remediate,
        Stage::Idempotence,
        Stage::Verify,
    ];

    /// The key used in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Fault => "fault",
            Stage::Symptom => "symptom",
            Stage::Diagnose => "diagnose",
            Stage::Remediate => "remediate",
            Stage::Idempotence => "idempotence",
            Stage::Verify => "verify",
        }
    }

    /// Parses a stage name as written on the command line.
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.name() == s)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A systemctl verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitVerb {
    /// `systemctl start`
    Start,
    /// `systemctl stop`
    Stop,
    /// `systemctl restart`
    Restart,
}

/// Which netdoctor subcommand a doctor step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoctorCall {
    /// `netdoctor check --format json`, optionally with the exact finding codes expected.
    Check {
        /// The exact set of incident and warning codes expected (`Some(vec![])` = healthy).
        expect_findings: Option<Vec<String>>,
        /// Texts the doctor's `could_not_look` must contain, each in some
        /// entry: the doctor must say it could not look (exit 3 without an
        /// incident). Empty: it must have seen everything.
        could_not_look: Vec<String>,
        /// Run the doctor's probe as this user instead of root (container
        /// nodes only): a probe without privileges must say so.
        user: Option<String>,
    },
    /// `netdoctor fix --apply --yes --format json`.
    Fix {
        /// Also pass `--allow-reboot`.
        allow_reboot: bool,
        /// Pass `--yes` (default): steps that stop running containers may run.
        /// `yes = false` tests that consent holds.
        yes: bool,
    },
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A shell script run with `sh -c` inside the node.
    Run(String),
    /// `systemctl VERB UNIT`.
    Unit(UnitVerb, String),
    /// `firewall-cmd --reload`.
    ReloadFirewalld,
    /// Set `FirewallBackend=` in firewalld.conf.
    FirewalldBackend(String),
    /// Point the iptables/ip6tables alternatives at `nft` or `legacy`.
    IptablesAlternative(String),
    /// Load kernel modules.
    Modprobe(Vec<String>),
    /// Run a probe server in the node's dockerd: TCP, the web server on its
    /// port 80; UDP, an echo server on the same port.
    Publish {
        /// Host-side (node-side) port.
        port: u16,
        /// Container name.
        name: String,
        /// `tcp` or `udp`.
        proto: Proto,
    },
    /// `docker rm -f NAME` inside the node.
    RemoveContainer(String),
    /// From the host to the node's endpoint for this port: TCP, an HTTP GET
    /// (success is 200); UDP, a datagram that must come back echoed.
    ProbePort {
        /// Node-side port.
        port: u16,
        /// `tcp` or `udp`.
        proto: Proto,
    },
    /// Run the doctor from the host against the node.
    Doctor(DoctorCall),
    /// Reboot the node (VMs only) and wait until it is ready.
    Reboot,
}

/// The transport of a published port or a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP (the default).
    Tcp,
    /// UDP: container nodes only (a VM's user network forwards TCP only).
    Udp,
}

/// Whether a step must succeed or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Exit 0 / HTTP 200.
    Success,
    /// Non-zero exit / no HTTP 200.
    Failure,
}

/// One typed step of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// Whether it must succeed or fail.
    pub expect: Expect,
    /// Texts its output must contain, verbatim.
    pub contains: Vec<String>,
    /// How long it may take.
    pub timeout: Duration,
    /// True when the file gave `timeout`: taken as is. The default is for a
    /// container's (or KVM's) speed and is scaled by the node (see
    /// [`Step::deadline`]).
    pub timeout_given: bool,
    /// Line in the scenario file, for error messages.
    pub line: usize,
    /// The platforms this step runs on (`on = [...]`); empty = all of the
    /// scenario's. Where the truth differs by version, a scenario states
    /// each platform's truth in its own step.
    pub on: Vec<Platform>,
}

impl Step {
    /// How long the step may take on a node `factor` times slower than a
    /// container (TCG: [`crate::vm::Accel::timeout_factor`]). A timeout the
    /// file gives was written for the backends it names: it is kept.
    pub fn deadline(&self, factor: u32) -> Duration {
        if self.timeout_given { self.timeout } else { self.timeout * factor.max(1) }
    }

    /// True when the step runs on `platform`.
    pub fn runs_on(&self, platform: Platform) -> bool {
        self.on.is_empty() || self.on.contains(&platform)
    }
}

impl Step {
    /// True when the step establishes the truth on the node without the
    /// doctor: a port answering or refused from outside, a publish working
    /// or failing, a command's outcome or output asserted.
    pub fn is_oracle(&self) -> bool {
        !matches!(self.action, Action::Doctor(_))
            && (matches!(self.action, Action::ProbePort { .. } | Action::Publish { .. }) || self.expect == Expect::Failure || !self.contains.is_empty())
    }
}

/// Node settings a scenario may ask for (its `[node]` table).
pub use crate::node::NodeSettings;

/// A parsed scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file stem, e.g. `firewalld-started-after-docker`.
    pub name: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// One line saying what happens.
    pub summary: String,
    /// What its oracles (not the doctor) assert on the node, in one line.
    pub truth: String,
    /// Where the incident comes from (seed, ticket, upstream issue).
    pub source: String,
    /// Platforms it runs on.
    pub platforms: Vec<Platform>,
    /// Node backends it runs on.
    pub backends: Vec<NodeBackend>,
    /// `platform/backend` pairs of the cross product that do not run
    /// (`exclude = ["centos7/vm"]`, as a CI job matrix excludes).
    pub exclude: Vec<(Platform, NodeBackend)>,
    /// Another netdoctor build to test, if the scenario names one.
    pub doctor: Option<PathBuf>,
    /// Node settings.
    pub node: NodeSettings,
    /// The stages with their steps, in run order (stages without steps are absent).
    pub stages: Vec<(Stage, Vec<Step>)>,
}

/// A scenario file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field at fault, e.g. `fault[2].restrat`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: `{}`: {}", self.file.display(), l, self.field, self.message),
            None => write!(f, "{}: `{}`: {}", self.file.display(), self.field, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The file as TOML gives it, before steps are typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    summary: String,
    /// What the oracles assert, for the README's table.
    truth: String,
    source: String,
    platforms: Vec<Spanned<String>>,
    backends: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    doctor: Option<String>,
    #[serde(default)]
    node: NodeSettings,
    #[serde(default)]
    prepare: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    fault: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    symptom: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    diagnose: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    remediate: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    verify: Vec<Spanned<toml::Table>>,
}

const ACTIONS: &[&str] = &[
    "run",
    "start",
    "stop",
    "restart",
    "reload_firewalld",
    "firewalld_backend",
    "iptables_alternative",
    "modprobe",
    "publish",
    "remove_container",
    "probe_port",
    "doctor",
    "reboot",
];

/// Modifiers any step may carry, plus the extra keys some actions take.
const MODIFIERS: &[&str] = &["expect", "contains", "timeout", "on"];

/// Extra keys allowed only beside a given action.
fn action_keys(action: &str) -> &'static [&'static str] {
    match action {
        "publish" => &["name", "proto"],
        "probe_port" => &["proto"],
        "doctor" => &["expect_findings", "could_not_look", "user", "allow_reboot", "yes"],
        _ => &[],
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Scenario {
    /// Every platform × backend this scenario runs on, in file order.
    pub fn runs(&self) -> Vec<(Platform, NodeBackend)> {
        let mut out = Vec::new();
        for &p in &self.platforms {
            for &b in &self.backends {
                if !self.exclude.contains(&(p, b)) {
                    out.push((p, b));
                }
            }
        }
        out
    }
}

/// Reads every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError {
        file: dir.to_path_buf(),
        line: None,
        field: "-".into(),
        message: format!("cannot read the scenario directory: {e}"),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

/// Reads and validates one scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: None,
        field: "-".into(),
        message: format!("cannot read the file: {e}"),
    })?;
    parse(path, &text)
}

/// Parses scenario text; `path` names the file in errors and gives the scenario its name.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let err = |line: Option<usize>, field: &str, message: String| ScenarioError {
        file: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        // toml's message already says which key; keep its first line only,
        // the file and line are ours.
        let msg = e.message().lines().next().unwrap_or("invalid TOML").to_string();
        let field = backticked(&msg).unwrap_or_else(|| "-".into());
        err(line, &field, format!("{msg}; the format is in README.md, section *Scenario file format*"))
    })?;

    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| err(None, "-", "the file name is not valid UTF-8".into()))?
        .to_string();

    let mut platforms = Vec::new();
    for p in &raw.platforms {
        let parsed = Platform::parse(p.get_ref()).ok_or_else(|| {
            err(
                Some(line_of(text, p.span().start)),
                "platforms",
                format!(
                    "unknown platform `{}`; expected one of: {}",
                    p.get_ref(),
                    Platform::ALL.map(|p| p.name()).join(", ")
                ),
            )
        })?;
        platforms.push(parsed);
    }
    let mut backends = Vec::new();
    for b in &raw.backends {
        let parsed = NodeBackend::parse(b.get_ref()).ok_or_else(|| {
            err(
                Some(line_of(text, b.span().start)),
                "backends",
                format!(
                    "unknown backend `{}`; expected one of: {}",
                    b.get_ref(),
                    NodeBackend::ALL.map(|b| b.name()).join(", ")
                ),
            )
        })?;
        backends.push(parsed);
    }
    let mut exclude = Vec::new();
    for x in &raw.exclude {
        let pair = x.get_ref().split_once('/').and_then(|(p, b)| Some((Platform::parse(p)?, NodeBackend::parse(b)?)));
        match pair {
            Some((p, b)) if platforms.contains(&p) && backends.contains(&b) => exclude.push((p, b)),
            _ => {
                return Err(err(
                    Some(line_of(text, x.span().start)),
                    "exclude",
                    format!("`{}` is not PLATFORM/BACKEND of this scenario's platforms and backends, e.g. \"centos7/vm\"", x.get_ref()),
                ));
            }
        }
    }
    if platforms.is_empty() {
        return Err(err(None, "platforms", "list at least one platform, e.g. platforms = [\"debian12\"]".into()));
    }
    if backends.is_empty() {
        return Err(err(None, "backends", "list at least one backend, e.g. backends = [\"container\"]".into()));
    }
    if let Some(k) = &raw.node.kernel
        && !["oldest", "newest", "foreign"].contains(&k.as_str())
    {
        return Err(err(None, "node.kernel", format!("`{k}` is not `oldest`, `newest` or `foreign`")));
    }
    if let Some(u) = raw.node.boot_without.iter().find(|u| crate::node::unit_name(u).is_none()) {
        return Err(err(None, "node.boot_without", format!("`{u}` is not a unit name (letters, digits, @._-), e.g. boot_without = [\"firewalld\"]")));
    }

    let raw_stages = [
        (Stage::Prepare, &raw.prepare),
        (Stage::Fault, &raw.fault),
        (Stage::Symptom, &raw.symptom),
        (Stage::Diagnose, &raw.diagnose),
        (Stage::Remediate, &raw.remediate),
        (Stage::Verify, &raw.verify),
    ];
    let mut stages = Vec::new();
    for (stage, tables) in raw_stages {
        if tables.is_empty() {
            continue;
        }
        let mut steps = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let line = line_of(text, t.span().start);
            let step = parse_step(t.get_ref(), line).map_err(|(field, message)| {
                err(Some(line), &format!("{stage}[{}]{}", i + 1, field), message)
            })?;
            if let Some(p) = step.on.iter().find(|p| !platforms.contains(p)) {
                return Err(err(
                    Some(line),
                    &format!("{stage}[{}].on", i + 1),
                    format!("`{p}` is not one of this scenario's platforms ({})", platforms.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")),
                ));
            }
            steps.push(step);
        }
        stages.push((stage, steps));
    }

    // A VM's user network forwards TCP ports to the host, not UDP.
    // A probe as another user goes through `docker exec -u`: containers too.
    let needs_container = |a: &Action| {
        matches!(
            a,
            Action::Publish { proto: Proto::Udp, .. }
                | Action::ProbePort { proto: Proto::Udp, .. }
                | Action::Doctor(DoctorCall::Check { user: Some(_), .. })
        )
    };
    if backends.contains(&NodeBackend::Vm)
        && let Some(st) = stages.iter().flat_map(|(_, s)| s).find(|st| needs_container(&st.action))
    {
        return Err(err(
            Some(st.line),
            "backends",
            "`proto = \"udp\"` and a doctor `user` need the container backend (a VM's user network forwards TCP only; its agent runs as root): drop \"vm\" from backends".into(),
        ));
    }

    // The cure under test is the doctor's: a reboot it asks for must be its
    // own, so the harness never reboots in the remediate stage.
    if let Some((_, steps)) = stages.iter().find(|(s, _)| *s == Stage::Remediate)
        && let Some(st) = steps.iter().find(|st| st.action == Action::Reboot)
    {
        return Err(err(
            Some(st.line),
            "remediate",
            "a `reboot` step in remediate would reboot on the doctor's behalf; the runner waits for the doctor's own \
             reboot after `doctor = \"fix\"` (allow_reboot = true) instead: remove the step"
                .into(),
        ));
    }

    // Truth first: what really happens on the node is asserted by oracles
    // that are not the doctor, before its verdict (the symptom stage, or
    // prepare for a scenario without a fault) and again after its cure (the
    // verify stage), on every platform. A scenario that would pass with a
    // lying doctor is a defect.
    let has_fault = stages.iter().any(|(s, _)| *s == Stage::Fault);
    let has_cure = stages.iter().any(|(s, _)| *s == Stage::Remediate);
    let oracle_in = |stage: Stage, p: Platform| {
        stages.iter().any(|(s, steps)| *s == stage && steps.iter().any(|st| st.runs_on(p) && st.is_oracle()))
    };
    let before = if has_fault { Stage::Symptom } else { Stage::Prepare };
    let missing = |stage: Stage| platforms.iter().copied().find(|p| !oracle_in(stage, *p));
    if let Some(p) = missing(before) {
        return Err(err(
            None,
            before.name(),
            format!(
                "on {p} the {before} stage has no truth oracle: add a step that is not the doctor and asserts what happens \
                 (`probe_port`, `publish`, or a `run` with `expect = \"failure\"` or `contains = ...`)"
            ),
        ));
    }
    if has_cure && let Some(p) = missing(Stage::Verify) {
        return Err(err(
            None,
            "verify",
            format!("on {p} nothing but the doctor judges the cure: add a `probe_port`, `publish` or asserted `run` to verify"),
        ));
    }
    if raw.truth.trim().is_empty() {
        return Err(err(None, "truth", "say in one line what the scenario's oracles assert on the node (`truth = \"...\"`)".into()));
    }

    Ok(Scenario {
        name,
        path: path.to_path_buf(),
        summary: raw.summary,
        truth: raw.truth,
        source: raw.source,
        platforms,
        backends,
        exclude,
        doctor: raw.doctor.map(PathBuf::from),
        node: raw.node,
        stages,
    })
}

/// Types one step table. Errors are `(".field", message)`.
fn parse_step(t: &toml::Table, line: usize) -> Result<Step, (String, String)> {
    let actions: Vec<&str> = t.keys().map(String::as_str).filter(|k| ACTIONS.contains(k)).collect();
    let action_name = match actions.as_slice() {
        [one] => *one,
        [] => {
            return Err((
                String::new(),
                format!("a step needs one action; expected one of: {}", ACTIONS.join(", ")),
            ));
        }
        many => {
            return Err((
                String::new(),
                format!("a step has exactly one action, this one has {}: {}", many.len(), many.join(", ")),
            ));
        }
    };
    for k in t.keys() {
        if k != action_name && !MODIFIERS.contains(&k.as_str()) && !action_keys(action_name).contains(&k.as_str()) {
            let mut allowed: Vec<&str> = MODIFIERS.to_vec();
            allowed.extend(action_keys(action_name));
            return Err((
                format!(".{k}"),
                format!("unknown field beside `{action_name}`; allowed: {}", allowed.join(", ")),
            ));
        }
    }
    let v = &t[action_name];
    let field = |k: &str| format!(".{k}");
    let string = |k: &str, v: &toml::Value| -> Result<String, (String, String)> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| (field(k), format!("expected a string, found {}", v.type_str())))
    };
    let port = |k: &str, v: &toml::Value| -> Result<u16, (String, String)> {
        v.as_integer()
            .and_then(|i| u16::try_from(i).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| (field(k), format!("expected a port number 1-65535, found {v}")))
    };
    let yes = |k: &str, v: &toml::Value| -> Result<(), (String, String)> {
        match v.as_bool() {
            Some(true) => Ok(()),
            _ => Err((field(k), "write `true` (the only value this action takes)".into())),
        }
    };
    let one_of = |k: &str, v: &toml::Value, allowed: &[&str]| -> Result<String, (String, String)> {
        let s = string(k, v)?;
        if allowed.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err((field(k), format!("`{s}` is not one of: {}", allowed.join(", "))))
        }
    };
    let proto_of = |t: &toml::Table| -> Result<Proto, (String, String)> {
        match t.get("proto") {
            None => Ok(Proto::Tcp),
            Some(p) => Ok(if one_of("proto", p, &["tcp", "udp"])? == "udp" { Proto::Udp } else { Proto::Tcp }),
        }
    };
    let strings = |k: &str, v: &toml::Value| -> Result<Vec<String>, (String, String)> {
        match v {
            toml::Value::String(s) => Ok(vec![s.clone()]),
            toml::Value::Array(a) => a.iter().map(|x| string(k, x)).collect(),
            other => Err((field(k), format!("expected a string or a list of strings, found {}", other.type_str()))),
        }
    };

    let action = match action_name {
        "run" => Action::Run(string("run", v)?),
        "start" => Action::Unit(UnitVerb::Start, string("start", v)?),
        "stop" => Action::Unit(UnitVerb::Stop, string("stop", v)?),
        "restart" => Action::Unit(UnitVerb::Restart, string("restart", v)?),
        "reload_firewalld" => {
            yes("reload_firewalld", v)?;
            Action::ReloadFirewalld
        }
        "firewalld_backend" => Action::FirewalldBackend(one_of("firewalld_backend", v, &["iptables", "nftables"])?),
        "iptables_alternative" => Action::IptablesAlternative(one_of("iptables_alternative", v, &["nft", "legacy"])?),
        "modprobe" => Action::Modprobe(strings("modprobe", v)?),
        "publish" => {
            let p = port("publish", v)?;
            let proto = proto_of(t)?;
            let name = match t.get("name") {
                Some(n) => string("name", n)?,
                None if proto == Proto::Udp => format!("udp{p}"),
                None => format!("web{p}"),
            };
            Action::Publish { port: p, name, proto }
        }
        "remove_container" => Action::RemoveContainer(string("remove_container", v)?),
        "probe_port" => Action::ProbePort { port: port("probe_port", v)?, proto: proto_of(t)? },
        "doctor" => match one_of("doctor", v, &["check", "fix"])?.as_str() {
            "check" => {
                if let Some(k) = ["allow_reboot", "yes"].into_iter().find(|k| t.contains_key(*k)) {
                    return Err((field(k), format!("only `doctor = \"fix\"` takes {k}")));
                }
                let expect_findings = t.get("expect_findings").map(|f| strings("expect_findings", f)).transpose()?;
                let could_not_look = t.get("could_not_look").map(|f| strings("could_not_look", f)).transpose()?.unwrap_or_default();
                let user = t.get("user").map(|u| string("user", u)).transpose()?;
                if let Some(u) = user.as_deref().filter(|u| u.is_empty() || !u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
                    return Err((field("user"), format!("`{u}` is not a user name (letters, digits, `_`, `-`)")));
                }
                Action::Doctor(DoctorCall::Check { expect_findings, could_not_look, user })
            }
            _ => {
                if let Some(k) = ["expect_findings", "could_not_look", "user"].into_iter().find(|k| t.contains_key(*k)) {
                    return Err((
                        field(k),
                        format!("only `doctor = \"check\"` takes {k}; check after the fix in `verify`"),
                    ));
                }
                let flag = |k: &str, default: bool| match t.get(k) {
                    Some(b) => b.as_bool().ok_or_else(|| (field(k), "expected true or false".to_string())),
                    None => Ok(default),
                };
                Action::Doctor(DoctorCall::Fix { allow_reboot: flag("allow_reboot", false)?, yes: flag("yes", true)? })
            }
        },
        "reboot" => {
            yes("reboot", v)?;
            Action::Reboot
        }
        _ => unreachable!("action names come from ACTIONS"),
    };

    let expect = match t.get("expect") {
        None => Expect::Success,
        Some(e) => match one_of("expect", e, &["success", "failure"])?.as_str() {
            "failure" => Expect::Failure,
            _ => Expect::Success,
        },
    };
    let contains = match t.get("contains") {
        None => Vec::new(),
        Some(c) => strings("contains", c)?,
    };
    let timeout_given = t.contains_key("timeout");
    let timeout = match t.get("timeout") {
        None => DEFAULT_TIMEOUT,
        Some(x) => Duration::from_secs(
            x.as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .filter(|s| *s > 0)
                .ok_or_else(|| (field("timeout"), format!("expected whole seconds > 0, found {x}")))?,
        ),
    };
    let on = match t.get("on") {
        None => Vec::new(),
        Some(o) => strings("on", o)?
            .iter()
            .map(|n| {
                Platform::parse(n).ok_or_else(|| {
                    (field("on"), format!("unknown platform `{n}`; expected one of: {}", Platform::ALL.map(|p| p.name()).join(", ")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Step { action, expect, contains, timeout, timeout_given, line, on })
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The first `name` in backticks of a message, e.g. toml's "unknown field `foo`".
fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Scenario, ScenarioError> {
        parse(Path::new("scenarios/example.toml"), text)
    }

    const HEAD: &str = "summary = \"s\"\nsource = \"seed\"\ntruth = \"t\"\nplatforms = [\"debian12\"]\nbackends = [\"container\"]\n";

    #[test]
    fn parses_typed_steps_in_stage_order() {
        let s = parse_str(&format!(
            "{HEAD}verify = [{{ probe_port = 8893 }}]\nfault = [\n  {{ stop = \"firewalld\" }},\n  {{ publish = 8893 }},\n]\n\
             symptom = [{{ run = \"iptables -t nat -S DOCKER\", expect = \"failure\", contains = \"No chain\" }}]\n"
        ))
        .unwrap();
        assert_eq!(s.name, "example");
        let order: Vec<Stage> = s.stages.iter().map(|(st, _)| *st).collect();
        assert_eq!(order, vec![Stage::Fault, Stage::Symptom, Stage::Verify]);
        let fault = &s.stages[0].1;
        assert_eq!(fault[0].action, Action::Unit(UnitVerb::Stop, "firewalld".into()));
        assert_eq!(fault[0].line, 8);
        assert_eq!(fault[1].action, Action::Publish { port: 8893, name: "web8893".into(), proto: Proto::Tcp });
        let symptom = &s.stages[1].1[0];
        assert_eq!(symptom.expect, Expect::Failure);
        assert_eq!(symptom.contains, vec!["No chain".to_string()]);
    }

    #[test]
    fn a_default_timeout_scales_with_the_node_a_given_one_does_not() {
        let s = parse_str(&format!("{HEAD}prepare = [{{ run = \"true\", contains = \"x\" }}, {{ run = \"true\", timeout = 300 }}]\n")).unwrap();
        let (default, given) = (&s.stages[0].1[0], &s.stages[0].1[1]);
        assert_eq!(default.deadline(1), Duration::from_secs(120));
        assert_eq!(default.deadline(5), Duration::from_secs(600));
        assert_eq!(given.deadline(5), Duration::from_secs(300));
    }

    #[test]
    fn udp_publishes_and_probes_need_containers() {
        let body = "prepare = [{ publish = 5353, proto = \"udp\" }, { probe_port = 5353, proto = \"udp\" }]\n";
        let s = parse_str(&format!("{HEAD}{body}")).unwrap();
        assert_eq!(s.stages[0].1[0].action, Action::Publish { port: 5353, name: "udp5353".into(), proto: Proto::Udp });
        assert_eq!(s.stages[0].1[1].action, Action::ProbePort { port: 5353, proto: Proto::Udp });
        let vm = HEAD.replace("[\"container\"]", "[\"container\", \"vm\"]");
        let e = parse_str(&format!("{vm}{body}")).unwrap_err();
        assert!(e.to_string().contains("need the container backend"), "{e}");
        let e = parse_str(&format!("{HEAD}prepare = [{{ probe_port = 53, proto = \"sctp\" }}]\n")).unwrap_err();
        assert!(e.to_string().contains("`sctp` is not one of: tcp, udp"), "{e}");
    }

    #[test]
    fn unknown_action_names_file_line_and_field() {
        let e = parse_str(&format!("{HEAD}prepare = [\n  {{ start = \"docker\" }},\n  {{ restrat = \"docker\" }},\n]\n")).unwrap_err();
        assert_eq!(e.line, Some(8));
        assert_eq!(e.field, "prepare[2]");
        assert!(e.to_string().starts_with("scenarios/example.toml:8: `prepare[2]`: a step needs one action"), "{e}");
    }

    #[test]
    fn unknown_modifier_is_rejected() {
        let e = parse_str(&format!("{HEAD}prepare = [{{ start = \"docker\", expcet = \"failure\" }}]\n")).unwrap_err();
        assert_eq!(e.field, "prepare[1].expcet");
        assert_eq!(e.line, Some(6));
    }

    #[test]
    fn bad_values_are_rejected_with_the_field() {
        let e = parse_str(&format!("{HEAD}prepare = [{{ iptables_alternative = \"legacyy\" }}]\n")).unwrap_err();
        assert_eq!(e.field, "prepare[1].iptables_alternative");
        assert!(e.message.contains("nft, legacy"), "{e}");
        let e = parse_str(&format!("{HEAD}prepare = [{{ publish = 70000 }}]\n")).unwrap_err();
        assert_eq!(e.field, "prepare[1].publish");
        let e = parse_str(&format!("{HEAD}prepare = [{{ doctor = \"check\", allow_reboot = true }}]\n")).unwrap_err();
        assert_eq!(e.field, "prepare[1].allow_reboot");
    }

    #[test]
    fn unknown_top_level_field_and_platform() {
        let e = parse_str(&format!("{HEAD}colour = 1\n")).unwrap_err();
        assert_eq!(e.field, "colour");
        assert_eq!(e.line, Some(6));
        let e = parse_str("summary = \"s\"\nsource = \"x\"\ntruth = \"t\"\nplatforms = [\"debian14\"]\nbackends = [\"container\"]\n").unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("platforms", Some(4)));
    }

    #[test]
    fn steps_can_be_limited_to_platforms_of_the_scenario() {
        let head = "summary = \"s\"\nsource = \"x\"\ntruth = \"t\"\nplatforms = [\"debian12\", \"debian13\"]\nbackends = [\"container\"]\nprepare = [{ probe_port = 80 }]\n";
        let s = parse_str(&format!("{head}verify = [{{ probe_port = 80, on = \"debian13\" }}]\n")).unwrap();
        let step = &s.stages[1].1[0];
        assert!(step.runs_on(Platform::Debian13) && !step.runs_on(Platform::Debian12));
        let e = parse_str(&format!("{head}verify = [{{ probe_port = 80, on = [\"centos7\"] }}]\n")).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("verify[1].on", Some(7)));
        // Every platform needs its own asserting symptom.
        let e = parse_str(&format!(
            "{head}fault = [{{ stop = \"docker\" }}]\nsymptom = [{{ run = \"x\", expect = \"failure\", on = \"debian12\" }}]\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "symptom");
    }

    #[test]
    fn excluded_pairs_do_not_run() {
        let head = "summary = \"s\"\nsource = \"x\"\ntruth = \"t\"\nplatforms = [\"debian12\", \"centos7\"]\nbackends = [\"container\", \"vm\"]\nprepare = [{ probe_port = 80 }]\n";
        let s = parse_str(&format!("{head}exclude = [\"centos7/vm\"]\n")).unwrap();
        assert_eq!(s.runs().len(), 3);
        assert!(!s.runs().contains(&(Platform::Centos7, NodeBackend::Vm)));
        let e = parse_str(&format!("{head}exclude = [\"debian13/vm\"]\n")).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("exclude", Some(7)));
    }

    #[test]
    fn a_fault_without_an_asserting_symptom_is_rejected() {
        let e = parse_str(&format!("{HEAD}fault = [{{ stop = \"docker\" }}]\nsymptom = [{{ run = \"true\" }}]\n")).unwrap_err();
        assert_eq!(e.field, "symptom");
    }

    #[test]
    fn truth_comes_from_oracles_that_are_not_the_doctor() {
        // A symptom judged by the doctor alone is no truth.
        let e = parse_str(&format!(
            "{HEAD}fault = [{{ stop = \"docker\" }}]\nsymptom = [{{ doctor = \"check\", expect_findings = [\"stale-kernel\"] }}]\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "symptom");
        assert!(e.message.contains("no truth oracle"), "{e}");
        // A cure judged by the doctor alone either.
        let e = parse_str(&format!(
            "{HEAD}fault = [{{ stop = \"docker\" }}]\nsymptom = [{{ probe_port = 80, expect = \"failure\" }}]\nremediate = [{{ doctor = \"fix\" }}]\nverify = [{{ doctor = \"check\", expect_findings = [] }}]\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "verify");
        // A negative control states its truth while preparing.
        let e = parse_str(&format!("{HEAD}diagnose = [{{ doctor = \"check\", expect_findings = [] }}]\n")).unwrap_err();
        assert_eq!(e.field, "prepare");
        let ok = parse_str(&format!("{HEAD}prepare = [{{ publish = 8893 }}, {{ probe_port = 8893 }}]\ndiagnose = [{{ doctor = \"check\", expect_findings = [] }}]\n"));
        assert!(ok.is_ok(), "{ok:?}");
        // And says what it asserts.
        let e = parse_str(&format!("{}prepare = [{{ probe_port = 80 }}]\n", HEAD.replace("truth = \"t\"", "truth = \" \""))).unwrap_err();
        assert_eq!(e.field, "truth");
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let all = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(!all.is_empty(), "no scenario in {}", dir.display());
    }
}
