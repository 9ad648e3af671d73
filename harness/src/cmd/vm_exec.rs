//! `repro vm-exec --qga SOCKET`: reads a shell script from stdin, runs it in
//! the guest with `sh -c` through the guest agent, copies the guest's
//! stdout/stderr to ours and exits with the guest's exit code. This is the
//! transport `netdoctor --target cmd:...` uses to reach a VM node.
//!
//! As with ssh, exit status 255 means the transport failed (no agent, or it
//! went away mid-command: the guest is shutting down or rebooting), not the
//! script.

use harness::vm::qga::Qga;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Exit status for a transport failure (ssh's convention).
pub const TRANSPORT_FAILURE: i32 = 255;

/// `repro vm-exec`: runs [`run`] and turns its error into status 255 with
/// the reason on stderr.
pub fn main(socket: &Path, timeout_secs: u64) -> i32 {
    match run(socket, Duration::from_secs(timeout_secs)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("repro vm-exec: {e:#}");
            TRANSPORT_FAILURE
        }
    }
}

/// Runs stdin's script in the guest behind `socket`; returns the exit code.
/// `timeout` bounds the command (connection waits are bounded separately).
pub fn run(socket: &Path, timeout: Duration) -> Result<i32> {
    let mut script = String::new();
    std::io::stdin().read_to_string(&mut script).context("reading the script from stdin")?;
    let mut q = Qga::connect(socket, Duration::from_secs(60))
        .with_context(|| format!("reaching the VM's guest agent at {}", socket.display()))?;
    let out = q.exec(&["/bin/sh", "-c", &script], None, timeout)?;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    std::io::stdout().flush()?;
    Ok(i32::try_from(out.exit_code).unwrap_or(255).clamp(0, 255))
}
