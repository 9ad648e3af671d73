//! The `netdoctor` CLI contract: exit codes and reviewed snapshots of
//! `check`, `fix` (dry run) and `explain` on captured fixtures.

use assert_cmd::Command;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.json"))
}

/// Run netdoctor; return (exit code, stdout, stderr).
fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("netdoctor").unwrap();
    cmd.args(args).env("NO_COLOR", "1");
    if let Some(s) = stdin {
        cmd.write_stdin(s);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check(name: &str, format: &str) -> (i32, String) {
    let f = fixture(name);
    let (code, out, err) = run(&["check", "--facts", f.to_str().unwrap(), "--format", format], None);
    assert!(err.is_empty(), "{err}");
    (code, out)
}

#[test]
fn check_human_snapshots_and_exit_codes() {
    for (name, want) in [
        ("debian12-healthy-published", 0),
        ("debian12-firewalld-reload-subscribed", 0),
        ("debian12-firewalld-flushed-published", 2),
        ("debian12-backend-switched-legacy-stale-dnat", 2),
        ("debian12-port-already-allocated", 1),
        ("debian12-vm-stale-kernel", 2),
        ("debian12-vm-reboot-pending", 1),
        ("centos7-firewalld-flushed", 2),
    ] {
        let (code, out) = check(name, "human");
        assert_eq!(code, want, "{name}:\n{out}");
        insta::assert_snapshot!(format!("check_{name}"), out);
    }
}

#[test]
fn check_json_is_the_documented_contract() {
    let (code, out) = check("debian12-firewalld-flushed-published", "json");
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["summary"]["incidents"], 2);
    for f in v["findings"].as_array().unwrap() {
        for k in ["code", "severity", "title", "evidence", "plan"] {
            assert!(f.get(k).is_some(), "finding lacks {k}");
        }
        for s in f["plan"].as_array().unwrap() {
            for k in ["command", "why", "disrupts", "needs"] {
                assert!(s.get(k).is_some(), "step lacks {k}");
            }
        }
    }
    insta::assert_snapshot!("check_json_debian12-firewalld-flushed-published", out);
}

#[test]
fn fix_dry_run_snapshots() {
    for (name, want) in [
        ("debian12-firewalld-flushed-published", 2),
        ("debian12-backend-legacy-after-restart", 2),
        ("debian12-vm-stale-kernel", 2),
        ("debian12-healthy-published", 0),
    ] {
        let f = fixture(name);
        let (code, out, _) = run(&["fix", "--facts", f.to_str().unwrap()], None);
        assert_eq!(code, want, "{name}");
        insta::assert_snapshot!(format!("fix_dry_run_{name}"), out);
    }
    let f = fixture("debian12-vm-stale-kernel");
    let (_, out, _) = run(&["fix", "--facts", f.to_str().unwrap(), "--format", "json"], None);
    insta::assert_snapshot!("fix_dry_run_json_debian12-vm-stale-kernel", out);
}

#[test]
fn explain_snapshots() {
    let seed = "Dec 13 09:22:20 localhost dockerd[352906]: failed to start daemon: Error initializing network controller: Error creating default \"bridge\" network: Failed to Setup IP tables: Unable to enable NAT rule:  (iptables failed: iptables --wait -t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE: Warning: Extension MASQUERADE revision 0 not supported, missing kernel module?\nDec 13 09:22:20 localhost dockerd[352906]: iptables v1.8.9 (nf_tables):  CHAIN_ADD failed (No such file or directory): chain POSTROUTING\n";
    let (code, out, _) = run(&["explain", "-"], Some(seed));
    assert_eq!(code, 0);
    insta::assert_snapshot!("explain_seed004_journal", out);
    let a = "docker: Error response from daemon: driver failed programming external connectivity on endpoint web (1a2b): (iptables failed: iptables --wait -t nat -A DOCKER -p tcp -d 0/0 --dport 8893 -j DNAT --to-destination 172.17.0.3:80 ! -i docker0: iptables: No chain/target/match by that name.";
    let (_, out, _) = run(&["explain", a, "--format", "json"], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Nothing in the text names firewalld: the general cause first, firewalld
    // next, neither confident.
    assert_eq!((v["causes"][0]["code"].as_str(), v["causes"][1]["code"].as_str()), (Some("docker-chains-flushed"), Some("firewalld-flushed-chains")));
    assert!(v["causes"][0]["confidence"].as_f64().unwrap() < 0.5);
    insta::assert_snapshot!("explain_json_incident_a", out);
    let (_, out, _) = run(&["explain", "--format", "json"], Some("all good here"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["causes"][0]["code"], "unknown");
}

#[test]
fn the_doctor_failing_to_run_exits_3_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"schema\": 1,\n  \"target\": \"x\",\n  \"os\": {\"id\": 12").unwrap();
    let (code, out, err) = run(&["check", "--facts", bad.to_str().unwrap()], None);
    assert_eq!(code, 3, "{out}");
    assert!(err.contains("bad.json") && err.contains("line 4") && err.contains("os.id"), "{err}");

    let (code, _, err) = run(&["check", "--facts", "/nonexistent/facts.json"], None);
    assert_eq!(code, 3);
    assert!(err.contains("/nonexistent/facts.json") && err.contains("cannot read"), "{err}");

    let (code, _, err) = run(&["check", "--target", "vm1"], None);
    assert_eq!(code, 3);
    assert!(err.contains("docker:CONTAINER"), "{err}");

    let f = fixture("debian12-healthy-published");
    let (code, _, _) = run(&["fix", "--facts", f.to_str().unwrap(), "--apply"], None);
    assert_eq!(code, 3, "--apply needs a live target, not saved facts");

    // A transport that prints something other than the probe.
    let (code, _, err) = run(&["check", "--target", "cmd:echo hello; exit 1"], None);
    assert_eq!(code, 3);
    assert!(err.contains("hello") && err.contains("did not run the probe"), "{err}");
}

#[test]
fn collect_parses_saved_probe_output() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/probe/centos7-firewalld-flushed.txt");
    let (code, out, err) = run(&["collect", "--probe-output", p.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let committed = std::fs::read_to_string(fixture("centos7-firewalld-flushed")).unwrap();
    assert_eq!(out.trim(), committed.trim(), "fixture JSON is stale: regenerate it from the probe text");

    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.txt");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&cut, &text[..text.len() / 3]).unwrap();
    let (code, _, err) = run(&["collect", "--probe-output", cut.to_str().unwrap()], None);
    assert_eq!(code, 3);
    assert!(err.contains("truncated") && err.contains("section"), "{err}");
}

#[test]
fn local_collect_runs_the_real_probe() {
    // The probe runs on this host through `sh -s`: whatever is missing here
    // is a missing fact, never a failure.
    let (code, out, err) = run(&["collect"], None);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], 1);
    assert!(!v["kernel"]["release"].as_str().unwrap().is_empty());
}
