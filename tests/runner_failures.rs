//! The runner on a real node, when a scenario goes wrong: a fault that does
//! not bite must fail the run loudly, in the symptom stage, naming the step,
//! with the transcript tail, and the node must still be removed.

use harness::doctor_cli::default_doctor;
use harness::platform::{NodeBackend, Platform};
use harness::runner::{self, Keep, RunOptions};
use harness::scenario::{self, Stage};
use std::path::Path;

const TOOTHLESS: &str = r#"
summary = "a fault that does nothing: the symptom stage must catch it"
source = "tests/runner_failures.rs"
truth = "the publish is meant to fail after the fault; here it does not"
platforms = ["debian12"]
backends = ["container"]
fault = [{ run = "true" }]
symptom = [{ publish = 8893, expect = "failure", contains = "driver failed programming external connectivity" }]
verify = [{ probe_port = 8893 }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_that_did_not_bite_fails_in_the_symptom_stage_and_leaves_nothing() {
    let s = scenario::parse(Path::new("toothless.toml"), TOOTHLESS).expect("the test scenario parses");
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        doctor: default_doctor().expect("netdoctor builds"),
        keep: Keep::Never,
        stop_after: None,
        transcript_dir: dir.path().to_path_buf(),
        collect_facts: false,
    };
    let mut node_name = String::new();
    let mut on_event = |e: harness::events::Event| {
        if let harness::events::Event::NodeReady { name, .. } = e {
            node_name = name;
        }
    };
    let err = runner::run(&s, Platform::Debian12, NodeBackend::Container, &opts, &mut on_event)
        .await
        .expect_err("the run must fail: the fault did not bite");

    assert_eq!(err.stage, Some(Stage::Symptom), "{err}");
    let step = err.step.as_deref().unwrap_or_default();
    assert!(step.starts_with("step 1 (line 8): docker run"), "{step}");
    assert!(err.message.contains("expected failure but got exit 0"), "{}", err.message);
    assert!(err.transcript_tail.contains("docker run -d"), "{}", err.transcript_tail);
    let transcript = std::fs::read_to_string(err.transcript_path.as_ref().expect("a transcript file")).unwrap();
    assert!(transcript.contains("[fault] node $ true"), "{transcript}");

    // Nothing of this node may remain, although the run failed.
    assert!(!node_name.is_empty(), "the node never became ready");
    let left = std::process::Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("name={node_name}"), "--format", "{{.Names}}"])
        .output()
        .expect("docker CLI (run `sudo ci/bootstrap`)");
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "", "node {node_name} was left behind");
}
