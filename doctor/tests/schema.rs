//! The JSON contract is checked: real outputs of `check`, `fix` and
//! `explain` on every fixture validate against `doctor/schema/*.schema.json`
//! (draft 2020-12). `fix --apply` outputs are validated in `fake_host.rs`.

mod common;
use common::{assert_valid, fixture, netdoctor, schema};

/// Names of the facts fixtures.
fn fixtures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(common::crate_dir().join("tests/fixtures"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".json").map(String::from))
        .collect();
    v.sort();
    assert!(v.len() > 10);
    v
}

#[test]
fn the_schemas_are_valid_draft_2020_12() {
    for name in ["check", "fix", "explain"] {
        let s = schema(name);
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        jsonschema::draft202012::meta::validate(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn check_json_of_every_fixture_fits_the_schema() {
    for name in fixtures() {
        let f = fixture(&name);
        let (code, out, err) = netdoctor(&["check", "--facts", f.to_str().unwrap(), "--format", "json"], &[]);
        assert!(code <= 2, "{name}: {err}");
        let v = assert_valid("check", &out);
        assert_eq!(v["schema"], doctor::facts::SCHEMA);
    }
}

#[test]
fn fix_dry_run_json_of_every_fixture_fits_the_schema() {
    for name in fixtures() {
        let f = fixture(&name);
        let (code, out, err) = netdoctor(&["fix", "--facts", f.to_str().unwrap(), "--format", "json"], &[]);
        assert!(code <= 2, "{name}: {err}");
        assert_eq!(assert_valid("fix", &out)["dry_run"], true);
    }
}

#[test]
fn explain_json_fits_the_schema() {
    for text in [
        "iptables: No chain/target/match by that name.",
        "modprobe: FATAL: Module nf_nat not found in directory /lib/modules/6.1.0-55-amd64",
        "Bind for 0.0.0.0:8080 failed: port is already allocated",
        "all good here",
    ] {
        let (code, out, _) = netdoctor(&["explain", text, "--format", "json"], &[]);
        assert_eq!(code, 0);
        let v = assert_valid("explain", &out);
        assert_eq!(v["schema"], doctor::facts::SCHEMA);
    }
}

#[test]
fn the_schemas_name_every_finding_code_and_agree_with_each_other() {
    let check = schema("check");
    let codes: Vec<&str> = check["$defs"]["code"]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes, doctor::finding::codes::ALL);
    let fix = schema("fix");
    for def in ["code", "step", "finding", "summary"] {
        assert_eq!(check["$defs"][def], fix["$defs"][def], "$defs/{def} differs between check and fix");
    }
}

#[test]
fn a_wrong_output_is_caught() {
    // The validator is not a rubber stamp: a renamed field fails.
    let f = fixture("debian12-firewalld-flushed-published");
    let (_, out, _) = netdoctor(&["check", "--facts", f.to_str().unwrap(), "--format", "json"], &[]);
    let bad = out.replacen("\"severity\"", "\"level\"", 1);
    let r = std::panic::catch_unwind(|| assert_valid("check", &bad));
    assert!(r.is_err(), "a renamed field passed the schema");
}
