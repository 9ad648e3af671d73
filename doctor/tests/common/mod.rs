//! Helpers shared by the integration tests: the JSON Schema documents of
//! `doctor/schema/` and running the built `netdoctor`.
#![allow(dead_code)] // each test binary uses its own part

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The crate directory.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A facts fixture by name.
pub fn fixture(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures").join(format!("{name}.json"))
}

/// `doctor/schema/NAME.schema.json` as a value.
pub fn schema(name: &str) -> serde_json::Value {
    let p = crate_dir().join("schema").join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Validate `json` (a command's stdout) against schema `name`; panics with
/// every violation and its place, and returns the parsed value.
pub fn assert_valid(name: &str, json: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    let s = schema(name);
    let validator = jsonschema::draft202012::new(&s).unwrap_or_else(|e| panic!("schema {name} does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "output breaks {name}.schema.json:\n{}\n\n{json}", errors.join("\n"));
    v
}

/// Run netdoctor with `env`; return (exit code, stdout, stderr).
pub fn netdoctor(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("netdoctor").unwrap();
    cmd.args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
