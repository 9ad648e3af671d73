//! The `repro` binary's behaviour when preconditions fail: clear messages
//! naming the fix, never a hang or a silent success.

use std::process::Command;

fn repro(args: &[&str], docker_host: Option<&str>) -> (bool, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_repro"));
    c.args(args);
    if let Some(h) = docker_host {
        c.env("DOCKER_HOST", h);
    }
    let o = c.output().expect("running repro");
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn no_engine_names_the_bootstrap_script() {
    let (ok, _, err) = repro(&["gc"], Some("unix:///nonexistent/repro-test.sock"));
    assert!(!ok, "repro gc succeeded without an engine");
    assert!(err.contains("no Docker engine answers at unix:///nonexistent/repro-test.sock"), "{err}");
    assert!(err.contains("sudo ci/bootstrap"), "{err}");
}

#[test]
fn unknown_platform_lists_the_known_ones() {
    let (ok, _, err) = repro(&["images", "build", "windows95"], None);
    assert!(!ok);
    assert!(err.contains("unknown platform \"windows95\"") && err.contains("debian12"), "{err}");
}

#[test]
fn image_tag_is_the_recipe_hash_and_needs_no_engine() {
    let (ok, out, err) = repro(&["images", "tag", "debian12"], Some("unix:///nonexistent/repro-test.sock"));
    assert!(ok, "{err}");
    let tag = out.trim();
    let hash = tag.strip_prefix("repro/debian12:").unwrap_or_else(|| panic!("unexpected tag {tag:?}"));
    assert_eq!(hash.len(), 12);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
}
