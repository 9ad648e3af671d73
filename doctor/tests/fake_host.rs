//! `fix --apply` against a fake host (tests/fake-host/fake-host.py, reached
//! through the `cmd:` transport): consent, failures, reboots and idempotence,
//! with the host's own log of what ran. Every output fits fix.schema.json.

mod common;
use common::{assert_valid, crate_dir, netdoctor};
use serde_json::Value;
use tempfile::TempDir;

/// One fake host: its state directory and the `--target` that reaches it.
struct Host {
    dir: TempDir,
    env: Vec<(String, String)>,
}

impl Host {
    fn new(scenario: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            ("FAKE_HOST_DIR".to_string(), dir.path().to_str().unwrap().to_string()),
            ("FAKE_HOST_SCENARIO".to_string(), scenario.to_string()),
            ("NETDOCTOR_REBOOT_WAIT".to_string(), "1".to_string()),
            ("NETDOCTOR_BACK_WAIT".to_string(), "3".to_string()),
        ];
        Host { dir, env }
    }

    fn with(mut self, k: &str, v: &str) -> Host {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    fn target(&self) -> String {
        format!("cmd:python3 {}", crate_dir().join("tests/fake-host/fake-host.py").display())
    }

    /// `netdoctor fix --apply --format json EXTRA...`: (exit code, report, stderr).
    fn fix(&self, extra: &[&str]) -> (i32, Value, String) {
        let t = self.target();
        let mut args = vec!["fix", "--apply", "--format", "json", "--target", t.as_str()];
        args.extend(extra);
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, out, err) = netdoctor(&args, &env);
        assert!(code != 3, "netdoctor could not run: {err}\n{out}");
        (code, assert_valid("fix", &out), err)
    }

    /// The commands the host saw (probes as `PROBE`, boot id reads as `BOOT-ID`).
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default().lines().map(String::from).collect()
    }

    /// The logged commands that change something.
    fn changes(&self) -> Vec<String> {
        self.log().into_iter().filter(|l| l != "PROBE" && l != "BOOT-ID" && !l.starts_with("docker ")).collect()
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

fn commands(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x["command"].as_str().unwrap().to_string()).collect()
}

const BOTH: [&str; 2] = ["firewalld-flushed-chains", "published-port-without-rule"];

#[test]
fn without_yes_the_restart_and_every_step_built_on_it_are_skipped() {
    let h = Host::new("flushed-stale");
    let (code, r, err) = h.fix(&[]);
    assert_eq!(code, 2, "{r:#}");
    assert!(r["applied"].as_array().unwrap().is_empty(), "{r:#}");
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{r:#}");
    assert_eq!((skipped[0]["command"].as_str(), skipped[0]["needs"].as_str()), (Some("systemctl restart docker"), Some("yes")));
    for s in &skipped[1..] {
        assert_eq!(s["needs"], "earlier-skip", "{s:#}");
        assert_eq!(s["depends_on"], "systemctl restart docker", "{s:#}");
        assert!(s["reason"].as_str().unwrap().contains("`systemctl restart docker`"), "{s:#}");
    }
    assert_eq!(strs(&r["remaining"]), BOTH);
    assert!(err.contains("--yes"), "{err}");
    // Nothing ran on the host: it was only probed.
    assert!(h.changes().is_empty(), "{:?}", h.log());
}

#[test]
fn a_failing_step_skips_the_rest() {
    let h = Host::new("flushed-stale").with("FAKE_HOST_FAIL", "-I DOCKER-USER 1");
    let (code, r, _) = h.fix(&["--yes"]);
    assert_eq!(code, 2, "{r:#}");
    let applied = r["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 2, "{r:#}");
    assert_eq!((applied[0]["exit_code"].as_i64(), applied[1]["exit_code"].as_i64()), (Some(0), Some(1)));
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{r:#}");
    for s in skipped {
        assert_eq!(s["needs"], "earlier-failure");
        assert_eq!(s["depends_on"], applied[1]["command"]);
    }
    assert!(r["note"].as_str().unwrap().contains("failed with exit 1"), "{r:#}");
    // The stale legacy rules were not touched after the failure.
    let changes = h.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(!changes.iter().any(|c| c.starts_with("iptables-legacy")), "{changes:?}");
    // The host is left split between backends, and says so.
    assert!(strs(&r["after"]).contains(&"iptables-backend-mismatch".to_string()), "{r:#}");
}

#[test]
fn a_full_fix_heals_the_host_and_a_second_one_plans_and_runs_nothing() {
    let h = Host::new("flushed-stale");
    let (code, r, _) = h.fix(&["--yes"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(strs(&r["resolved"]), BOTH);
    assert!(strs(&r["after"]).is_empty() && strs(&r["remaining"]).is_empty(), "{r:#}");
    let ran = commands(&r["applied"]);
    assert_eq!(ran[0], "systemctl restart docker");
    assert!(ran[1].contains("iptables-nft -w -I DOCKER-USER 1 -s 10.9.9.9/32 -j DROP"), "{ran:#?}");
    assert!(ran[2].starts_with("iptables-legacy -w -t filter") && ran[3].starts_with("iptables-legacy -w -t nat"), "{ran:#?}");
    // The admin's chain in legacy is never flushed or removed.
    for c in &ran {
        assert!(!c.contains("-F DOCKER-USER") && !c.contains("-X DOCKER-USER"), "{c}");
    }
    assert_eq!(h.changes(), ran);

    let (code, again, _) = h.fix(&["--yes"]);
    assert_eq!(code, 0, "{again:#}");
    assert!(strs(&again["before"]).is_empty(), "{again:#}");
    assert!(again["applied"].as_array().unwrap().is_empty() && again["skipped"].as_array().unwrap().is_empty());
    assert_eq!(h.changes(), ran, "the second fix changed something");
}

#[test]
fn a_reboot_that_was_accepted_counts() {
    let h = Host::new("stale-kernel").with("FAKE_HOST_REBOOT", "ok");
    let (code, r, _) = h.fix(&["--allow-reboot"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["rebooted"], true);
    assert_eq!(strs(&r["unverified"]), ["stale-kernel"]);
    assert!(r["note"].as_str().unwrap().starts_with("reboot issued"), "{r:#}");
    // The boot id is read before; nothing is re-collected after.
    assert_eq!(h.log(), ["PROBE", "BOOT-ID", "systemd-run --on-active=3 systemctl reboot"]);
}

#[test]
fn a_failed_reboot_on_a_host_that_stays_up_is_not_a_reboot() {
    let h = Host::new("stale-kernel").with("FAKE_HOST_REBOOT", "fail-up");
    let (code, r, _) = h.fix(&["--allow-reboot"]);
    assert_eq!(code, 2, "{r:#}");
    assert_eq!(r["rebooted"], false);
    assert!(strs(&r["unverified"]).is_empty());
    assert_eq!(strs(&r["remaining"]), ["stale-kernel"]);
    let note = r["note"].as_str().unwrap();
    assert!(note.contains("failed with exit 255") && note.contains("still up") && note.contains("same boot id"), "{note}");
    assert_eq!(r["applied"][0]["exit_code"], 255);
}

#[test]
fn a_reboot_whose_connection_drops_as_the_host_goes_down_counts() {
    let h = Host::new("stale-kernel").with("FAKE_HOST_REBOOT", "fail-down");
    let (code, r, _) = h.fix(&["--allow-reboot"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["rebooted"], true);
    assert_eq!(strs(&r["unverified"]), ["stale-kernel"]);
    assert!(r["note"].as_str().unwrap().contains("connection dropped as the host went down"), "{r:#}");
    assert!(h.log().iter().any(|l| l.starts_with("REFUSED")), "it re-probed: {:?}", h.log());
}

#[test]
fn a_reboot_is_never_implied() {
    let h = Host::new("stale-kernel");
    let (code, r, err) = h.fix(&["--yes"]);
    assert_eq!(code, 2);
    assert_eq!(r["skipped"][0]["needs"], "allow-reboot");
    assert_eq!(r["rebooted"], false);
    assert!(err.contains("--allow-reboot"), "{err}");
    assert!(h.changes().is_empty(), "{:?}", h.log());
}

#[test]
fn a_container_that_does_not_come_back_leaves_its_findings_unverified() {
    // web has a restart policy; after the docker restart it stays down, so
    // its port finding vanishes from the re-collect: that is not a cure.
    let h = Host::new("flushed-stale").with("FAKE_HOST_NOT_BACK", "web");
    let (code, r, _) = h.fix(&["--yes"]);
    assert_eq!(code, 2, "{r:#}");
    assert_eq!(strs(&r["not_back"]), ["web"]);
    assert!(strs(&r["after"]).is_empty(), "{r:#}");
    assert_eq!(strs(&r["unverified"]), BOTH);
    assert!(strs(&r["resolved"]).is_empty(), "{r:#}");
    assert!(r["note"].as_str().unwrap().contains("web ran before the restart and did not run again"), "{r:#}");
    // It asked which containers to wait for before the restart, and waited after it.
    let log = h.log();
    let watch = log.iter().position(|l| l.starts_with("docker ps -q")).unwrap();
    let restart = log.iter().position(|l| l == "systemctl restart docker").unwrap();
    assert!(watch < restart && log.iter().filter(|l| l.starts_with("docker ps --format")).count() >= 2, "{log:?}");
}

#[test]
fn a_container_that_comes_back_late_is_waited_for() {
    let h = Host::new("flushed-stale").with("FAKE_HOST_SLOW_BACK", "1");
    let (code, r, _) = h.fix(&["--yes"]);
    assert_eq!(code, 0, "{r:#}");
    assert!(strs(&r["not_back"]).is_empty() && strs(&r["unverified"]).is_empty(), "{r:#}");
    assert_eq!(strs(&r["resolved"]), BOTH);
    assert_eq!(h.log().iter().filter(|l| l.starts_with("docker ps --format")).count(), 2, "{:?}", h.log());
}
