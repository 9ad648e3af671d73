//! Where the harness finds what it needs: recipes, scenarios, the doctor
//! and `repro` binaries, the VM run directory. Each comes from an
//! environment variable, else from a default found at run time, never from
//! a path baked in at compile time or a nested `cargo build`:
//!
//! - the workspace: `$REPRO_WORKSPACE`, else the first directory holding
//!   `images/` and `scenarios/`, walking up from the current directory and
//!   then from the running executable (`target/<profile>/…` sits inside it);
//! - binaries: `$REPRO_DOCTOR` / `$REPRO_BIN`, else next to the running
//!   executable: cargo puts `netdoctor` and `repro` in `target/<profile>/`
//!   and test executables one level down in `deps/`. `cargo test` at the
//!   workspace root builds both (their packages have integration tests).
//!
//! No crate for finding built binaries is used: `escargot` and friends run
//! `cargo build`, which is exactly what this module must not do.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn is_workspace(d: &Path) -> bool {
    d.join("images").is_dir() && d.join("scenarios").is_dir()
}

/// The checkout holding `images/` and `scenarios/`, if one can be found.
pub fn workspace_dir() -> Option<PathBuf> {
    if let Some(p) = env_path("REPRO_WORKSPACE") {
        return Some(p);
    }
    let from_cwd = std::env::current_dir().ok().and_then(|c| c.ancestors().find(|d| is_workspace(d)).map(Path::to_path_buf));
    from_cwd.or_else(|| std::env::current_exe().ok().and_then(|e| e.ancestors().find(|d| is_workspace(d)).map(Path::to_path_buf)))
}

/// Where recipes live: `$REPRO_IMAGES_DIR`, else the workspace's `images/`
/// (else `images` relative to here, which the first read reports).
pub fn images_dir() -> PathBuf {
    env_path("REPRO_IMAGES_DIR").unwrap_or_else(|| workspace_dir().unwrap_or_default().join("images"))
}

/// Where scenario files live: `$REPRO_SCENARIOS`, else the workspace's `scenarios/`.
pub fn scenarios_dir() -> PathBuf {
    env_path("REPRO_SCENARIOS").unwrap_or_else(|| workspace_dir().unwrap_or_default().join("scenarios"))
}

/// Where VM nodes keep their run directories (overlay, sockets, logs, pid
/// file): `$REPRO_VM_RUN_DIR`, else `/tmp/repro-vms`.
pub fn vm_run_dir() -> PathBuf {
    env_path("REPRO_VM_RUN_DIR").unwrap_or_else(|| PathBuf::from("/tmp/repro-vms"))
}

/// A binary of this workspace next to the running executable.
fn sibling(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_name().is_some_and(|n| n == name) {
        return Some(exe);
    }
    exe.ancestors().skip(1).take(2).map(|d| d.join(name)).find(|c| c.is_file())
}

/// A binary: `$var` if set, else `name` next to the running executable.
fn binary(var: &str, name: &str, build: &str) -> Result<PathBuf> {
    if let Some(p) = env_path(var) {
        return Ok(p);
    }
    match sibling(name) {
        Some(p) => Ok(p),
        None => bail!(
            "no {name} next to {}: run `{build}` (`cargo test` at the workspace root builds it) or set {var}",
            std::env::current_exe().map(|e| e.display().to_string()).unwrap_or_default()
        ),
    }
}

/// The `netdoctor` to test: `$REPRO_DOCTOR`, else the one next to the
/// running executable.
pub fn doctor_binary() -> Result<PathBuf> {
    binary("REPRO_DOCTOR", "netdoctor", "cargo build -p doctor")
}

/// The `repro` that serves `vm-exec` (the doctor's transport into a VM):
/// `$REPRO_BIN`, else the running `repro` or the one next to the running
/// executable.
pub fn repro_binary() -> Result<PathBuf> {
    binary("REPRO_BIN", "repro", "cargo build -p harness --bin repro")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workspace_is_found_from_a_crate_directory() {
        // cargo runs unit tests in the crate's directory (harness/): the
        // workspace is one level up, found without CARGO_MANIFEST_DIR.
        let w = super::workspace_dir().expect("workspace");
        assert!(w.join("images").is_dir() && w.join("scenarios").is_dir());
    }
}
