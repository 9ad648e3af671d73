//! The library's layering, checked on its sources: modules import downward
//! only (no cycle, every `crate::` reference goes to the same or a lower
//! layer), and nothing below the CLI prints or exits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module of `harness/src` and its layer, bottom first. A new module
/// must be placed here.
const LAYERS: &[(&str, u8)] = &[
    // 0: domain types and small helpers that touch nothing.
    ("platform", 0),
    ("config", 0),
    ("recipe", 0),
    ("apt_sources", 0),
    ("filelock", 0),
    ("logged", 0),
    ("progress", 0),
    ("redact", 0),
    ("http_probe", 0),
    ("udp_probe", 0),
    ("admin_rules", 0),
    ("doctor_cli", 0),
    ("bench", 0),
    // 1: the engine and qemu.
    ("docker", 1),
    ("gc", 1),
    ("interrupt", 1),
    ("centos", 1),
    ("images", 1),
    ("vm", 1),
    // 2: one resolved value per platform.
    ("matrix", 2),
    // 3: nodes.
    ("node", 3),
    // 4: scenarios and runs.
    ("scenario", 4),
    ("events", 4),
    ("outcome", 4),
    ("runner", 4),
    // 5: from a bundle to a run.
    ("replay", 5),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Rust files under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`node/vm.rs` → `node`); `None` for the CLI.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
    (!matches!(first.as_str(), "main" | "cmd" | "lib")).then_some(first)
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Top-level modules named after `crate::` in `code`, `use crate::{a, b::c}` included.
fn references(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn modules_import_downward_only() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bad = Vec::new();
    for f in &all {
        let Some(m) = module_of(f) else { continue };
        let Some(&lm) = layer.get(m.as_str()) else {
            bad.push(format!("module `{m}` ({}) has no layer in tests/layers.rs", f.display()));
            continue;
        };
        for r in references(&code(f)) {
            if r == m {
                continue;
            }
            match layer.get(r.as_str()) {
                Some(&lr) if lr > lm => bad.push(format!("{}: `{m}` (layer {lm}) uses `crate::{r}` (layer {lr})", f.display())),
                _ => {}
            }
            graph.entry(m.clone()).or_default().insert(r);
        }
    }
    // No cycle within a layer either: depth-first search for a back edge.
    fn visit(n: &str, g: &BTreeMap<String, BTreeSet<String>>, state: &mut BTreeMap<String, u8>, path: &mut Vec<String>) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => return Some(path.iter().skip_while(|p| *p != n).cloned().chain([n.to_string()]).collect()),
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            bad.push(format!("import cycle: {}", cycle.join(" → ")));
            break;
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_library_never_prints_or_exits() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut bad = Vec::new();
    for f in all.iter().filter(|f| module_of(f).is_some()) {
        for (i, l) in code(f).lines().enumerate() {
            for banned in ["println!", "eprintln!", "print!(", "eprint!(", "process::exit", "dbg!("] {
                if l.contains(banned) {
                    bad.push(format!("{}:{}: {}", f.display(), i + 1, l.trim()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "the library must emit events or tracing, not print or exit:\n{}", bad.join("\n"));
}

#[test]
fn the_reference_scanner_sees_grouped_imports() {
    let r = references("use crate::{node::Node, scenario};\nlet x = crate::docker::connect();");
    assert_eq!(r.into_iter().collect::<Vec<_>>(), ["docker", "node", "scenario"]);
}
