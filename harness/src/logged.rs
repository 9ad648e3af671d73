//! Runs a long build command (mmdebstrap, docker build) while streaming its
//! output to the log and, optionally, a file; keeps the tail for the error
//! message if it fails.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use tokio::io::AsyncBufReadExt;

/// How many of the last output lines an error message quotes.
const TAIL_LINES: usize = 30;

/// What a logged command left.
pub struct Logged {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its last output lines, stdout and stderr interleaved as they came.
    pub tail: Vec<String>,
}

/// Runs `cmd` (stdin closed) to completion like `Command::output`, but
/// kills it once `deadline` has passed and says so.
pub fn output_with_deadline(cmd: &mut std::process::Command, label: &str, deadline: std::time::Duration) -> Result<std::process::Output> {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {label}: install it with `sudo ci/bootstrap`"))?;
    let (mut so, mut se) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let until = std::time::Instant::now() + deadline;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if std::time::Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{label} did not finish within {} min; killed it", deadline.as_secs() / 60);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    Ok(std::process::Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() })
}

/// Spawns `cmd` (stdin closed), logs each output line as `"{label}: {line}"`,
/// also writes it to `log_file` when given, and waits for it to exit.
/// `cmd` is killed if the returned future is dropped (e.g. by a timeout).
pub async fn run(mut cmd: tokio::process::Command, label: &str, log_file: Option<&Path>) -> Result<Logged> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {label}: install it with `sudo ci/bootstrap`"))?;
    let mut file = match log_file {
        Some(p) => Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => None,
    };
    let mut out = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
    let (mut out_done, mut err_done) = (false, false);
    let mut tail: Vec<String> = Vec::new();
    while !(out_done && err_done) {
        let line = tokio::select! {
            l = out.next_line(), if !out_done => l?.or_else(|| { out_done = true; None }),
            l = err.next_line(), if !err_done => l?.or_else(|| { err_done = true; None }),
        };
        if let Some(line) = line {
            tracing::info!(target: "harness::images", "{label}: {line}");
            if let Some(f) = file.as_mut() {
                use std::io::Write;
                let _ = writeln!(f, "{line}");
            }
            tail.push(line);
            if tail.len() > TAIL_LINES {
                tail.remove(0);
            }
        }
    }
    Ok(Logged { status: child.wait().await?, tail })
}
