//! The harness used from a crate of one's own (examples/node-port, a
//! workspace member outside the default members): `cargo test` builds it
//! and runs its test, which starts a real node and asserts a port.

use std::process::Command;

#[test]
fn the_example_crate_builds_and_its_test_passes() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--quiet", "-p", "repro-example-node-port"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the example crate's test failed:\n{text}");
    assert!(text.contains("test result: ok. 1 passed"), "the example's test did not run:\n{text}");
}
