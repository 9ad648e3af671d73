//! Every scenario in `scenarios/` × every platform and backend it declares,
//! run against real nodes and snapshot-tested stage by stage. Adding a
//! scenario file adds its tests; nothing here names a scenario.
//!
//! Snapshots live in `tests/snapshots/`, one per scenario × platform ×
//! backend × stage: the symptom (normalised error text), the diagnosis
//! (finding codes and evidence), the plan (and what `fix --apply` did) and
//! the verification. Review changes with `cargo insta review`; under
//! `CI=true` a new or changed snapshot fails.

use harness::outcome::Outcome;
use harness::replay;
use harness::runner::{self, Keep, RunOptions};
use harness::scenario::{self, Scenario, Stage};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// No scenario may hang CI: past this, the run fails and its node is dropped.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(20 * 60);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    // A first-use image build takes minutes: say so (boots are too chatty).
    harness::progress::listen(|p| match p {
        harness::progress::Progress::Build { image, what } => eprintln!("building {image}: {what}"),
        harness::progress::Progress::Built { image, secs } => eprintln!("built {image} in {secs} s"),
        harness::progress::Progress::Boot { .. } => {}
    });
    // Ctrl-C / SIGTERM remove this process's live nodes before exiting.
    if let Err(e) = harness::interrupt::watch(|i| {
        eprintln!("interrupted; cleanup: {:?}", i.cleanup);
        std::process::exit(i.code)
    }) {
        eprintln!("{e:#}");
    }
    let mut args = Arguments::from_args();
    let scenarios = match scenario::load_dir(&root().join("scenarios")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(101);
        }
    };
    let mut runs: Vec<_> = scenarios
        .into_iter()
        .flat_map(|s| s.runs().into_iter().map(move |(p, b)| (s.clone(), p, b)))
        .collect();
    // VM runs take minutes, container runs seconds: the VMs go first so the
    // last one to finish is not a VM started at the end.
    runs.sort_by_key(|(_, _, b)| *b != harness::platform::NodeBackend::Vm);
    let trials: Vec<Trial> = runs
        .into_iter()
        .map(|(s, platform, backend)| {
            let name = format!("{}::{platform}::{backend}", s.name);
            Trial::test(name.clone(), move || {
                let asked = std::time::Instant::now();
                let _slot = Lane::of(backend).enter();
                let mut timing = Timing { name, asked, started: std::time::Instant::now(), passed: false };
                let r = run_one(&s, platform, backend);
                timing.passed = r.is_ok();
                r
            })
            .with_kind(backend.name())
        })
        .collect();
    // Every trial gets a thread; the lanes decide how many really run (an
    // explicit --test-threads still wins, e.g. 1 to run one at a time).
    args.test_threads.get_or_insert(trials.len().max(1));
    libtest_mimic::run(&args, trials).exit();
}

/// One line per run when it ends (also when a snapshot assertion panics),
/// for the per-platform figures of a CI log.
struct Timing {
    name: String,
    asked: std::time::Instant,
    started: std::time::Instant,
    passed: bool,
}

impl Drop for Timing {
    fn drop(&mut self) {
        eprintln!(
            "timing: {} ran {:.1} s (queued {:.1} s) {}",
            self.name,
            self.started.elapsed().as_secs_f64(),
            (self.started - self.asked).as_secs_f64(),
            if self.passed { "passed" } else { "failed" }
        );
    }
}

/// How many runs of one backend go at once. Under TCG each VM keeps a core
/// busy, so VMs get their own small lane and containers (mostly waiting on
/// firewalld and dockerd) another; `REPRO_VM_PARALLEL` and
/// `REPRO_CONTAINER_PARALLEL` set them. Runs enter in the order they asked.
struct Lane {
    limit: usize,
    state: Mutex<LaneState>,
    turn: Condvar,
}

#[derive(Default)]
struct LaneState {
    running: usize,
    next_ticket: u64,
    serving: u64,
}

struct Slot(&'static Lane);

impl Lane {
    fn of(backend: harness::platform::NodeBackend) -> &'static Lane {
        static VM: OnceLock<Lane> = OnceLock::new();
        static CONTAINER: OnceLock<Lane> = OnceLock::new();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        match backend {
            harness::platform::NodeBackend::Vm => VM.get_or_init(|| Lane::new("REPRO_VM_PARALLEL", cores)),
            harness::platform::NodeBackend::Container => {
                CONTAINER.get_or_init(|| Lane::new("REPRO_CONTAINER_PARALLEL", cores))
            }
        }
    }

    fn new(var: &str, default: usize) -> Lane {
        let limit = match std::env::var(var) {
            Ok(v) => v.parse::<usize>().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                eprintln!("warning: {var}={v:?} is not a positive number; using {default}");
                default
            }),
            Err(_) => default,
        };
        Lane { limit, state: Mutex::new(LaneState::default()), turn: Condvar::new() }
    }

    fn enter(&'static self) -> Slot {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        while !(st.serving == ticket && st.running < self.limit) {
            st = self.turn.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.serving += 1;
        st.running += 1;
        self.turn.notify_all();
        Slot(self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.running -= 1;
        self.0.turn.notify_all();
    }
}

/// The workspace's netdoctor, built once (`cargo test` sets `$CARGO`), so
/// the scenarios test this tree's doctor; `REPRO_DOCTOR` tests another build.
fn doctor() -> Result<PathBuf, Failed> {
    static DOCTOR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DOCTOR
        .get_or_init(|| harness::doctor_cli::default_doctor().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(Failed::from)
}

fn run_one(s: &Scenario, platform: harness::platform::Platform, backend: harness::platform::NodeBackend) -> Result<(), Failed> {
    let opts = RunOptions {
        doctor: s.doctor.clone().map(Ok).unwrap_or_else(doctor)?,
        keep: Keep::Never,
        stop_after: None,
        transcript_dir: root().join("target/repro/transcripts"),
        collect_facts: round_trips(platform, backend),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let outcome = rt.block_on(async {
        let mut quiet = |_e| {};
        match tokio::time::timeout(SCENARIO_DEADLINE, runner::run(s, platform, backend, &opts, &mut quiet)).await {
            Ok(r) => r.map_err(|e| Failed::from(e.to_string())),
            Err(_) => Err(Failed::from(format!("{} did not finish within {} min", s.name, SCENARIO_DEADLINE.as_secs() / 60))),
        }
    })?;
    // Redacted where the snapshot is taken: the outcome keeps real values.
    snapshot(&outcome.redacted());
    if round_trips(platform, backend) {
        rt.block_on(round_trip(s, platform, &outcome, &opts))?;
    }
    Ok(())
}

/// Whether a run also replays its diagnose facts. By default the debian12
/// container runs: every scenario with a container run has one there, and
/// a replay up to diagnose roughly doubles a run in the suite's lanes (all
/// 73 container runs made a fresh-clone CI run 5.4 min longer: 49 min).
/// `REPRO_ROUND_TRIP=1`: every run, VMs included (a fresh VM and its fault
/// under TCG: minutes each); `REPRO_ROUND_TRIP=0`: none.
fn round_trips(platform: harness::platform::Platform, backend: harness::platform::NodeBackend) -> bool {
    match std::env::var("REPRO_ROUND_TRIP").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => platform == harness::platform::Platform::Debian12 && backend == harness::platform::NodeBackend::Container,
    }
}

/// The replay round trip (issue 15, see [`round_trips`]): the facts
/// collected beside the diagnose stage's check, replayed (`repro replay
/// --platform` its own) to a fresh node, up to diagnose, give the same
/// findings there.
async fn round_trip(s: &Scenario, platform: harness::platform::Platform, o: &Outcome, opts: &RunOptions) -> Result<(), Failed> {
    let facts = o
        .stage(Stage::Diagnose)
        .and_then(|st| st.steps.iter().find_map(|step| step.facts.clone()))
        .ok_or_else(|| format!("round trip: no facts were collected beside {}'s diagnose check", s.name))?;
    let dir = tempfile::tempdir().map_err(|e| format!("round trip: {e}"))?;
    let file = dir.path().join(format!("{}.json", s.name));
    std::fs::write(&file, facts).map_err(|e| format!("round trip: {e}"))?;
    let scenario = dir.path().join(format!("replay-{}.toml", s.name));
    let mut quiet = |_e| {};
    let r = tokio::time::timeout(
        SCENARIO_DEADLINE,
        replay::file::replay_file(&file, &scenario, &opts.doctor, replay::file::RunTo::Diagnose, Keep::Never, Some(platform), &opts.transcript_dir, &mut quiet),
    )
    .await
    .map_err(|_| format!("round trip: the replay of {} did not finish within {} min", s.name, SCENARIO_DEADLINE.as_secs() / 60))?
    .map_err(|e| format!("round trip: {e:#}\nthe derived scenario:\n{}", std::fs::read_to_string(&scenario).unwrap_or_default()))?;
    // An emulated platform's facts name the userland it runs on (CentOS 7's
    // emulation is Debian 12 inside), so only a real one must pick itself.
    // Facts without Docker's version (dockerd down or frozen) cannot tell
    // debian13 from debian13-docker28: said, not failed.
    let emulated = harness::matrix::resolve(platform).map(|p| p.emulated).unwrap_or(false);
    if r.nearest != platform && !emulated {
        eprintln!("round trip: facts from {platform} pick {} as the nearest platform; replayed on {platform}", r.nearest);
    }
    if r.node_findings.as_ref() != Some(&r.bundle_findings) {
        return Err(format!(
            "round trip: the replayed node's findings {:?} differ from the doctor's on the facts {:?}",
            r.node_findings, r.bundle_findings
        )
        .into());
    }
    Ok(())
}

/// One snapshot per stage a reader cares about, named
/// `SCENARIO@PLATFORM-BACKEND.STAGE`.
fn snapshot(o: &Outcome) {
    #[derive(Serialize)]
    struct Header<'a, T: Serialize> {
        scenario: &'a str,
        summary: &'a str,
        source: &'a str,
        node: String,
        platform: &'a str,
        #[serde(flatten)]
        body: T,
    }
    #[derive(Serialize)]
    struct Steps<'a> {
        steps: Vec<&'a harness::outcome::StepReport>,
    }
    let steps = |stages: &[Stage]| Steps {
        steps: stages.iter().filter_map(|st| o.stage(*st)).flat_map(|r| r.steps.iter()).collect(),
    };
    let node = format!("{} {}", o.platform, o.backend);
    let parts = [
        // A negative control has no fault: its truth is established while
        // preparing the node, and that is what the report shows first.
        ("truth", if o.stage(Stage::Fault).is_none() { steps(&[Stage::Prepare]) } else { Steps { steps: Vec::new() } }),
        ("symptom", steps(&[Stage::Fault, Stage::Symptom])),
        ("diagnosis", steps(&[Stage::Diagnose])),
        ("plan", steps(&[Stage::Remediate])),
        ("idempotence", steps(&[Stage::Idempotence])),
        ("verification", steps(&[Stage::Verify])),
    ];
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (part, body) in parts {
            if body.steps.is_empty() {
                continue;
            }
            let name = format!("{}@{}-{}.{part}", o.scenario, o.platform, o.backend);
            let header = Header {
                scenario: &o.scenario,
                summary: &o.summary,
                source: &o.source,
                node: node.clone(),
                platform: &o.platform_versions,
                body,
            };
            insta::assert_yaml_snapshot!(name, header);
        }
    });
}
