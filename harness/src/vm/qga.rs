//! A client for the QEMU guest agent on a virtio-serial unix socket.
//!
//! The agent is the VM's control channel: it survives every network fault a
//! scenario injects. QEMU's socket chardev serves one client at a time and
//! a client that disconnected mid-answer leaves bytes behind, so every
//! session takes an exclusive `flock` on `<socket>.lock` (callers in other
//! processes, e.g. `repro vm-exec` run by netdoctor, queue behind it) and
//! resynchronises with `guest-sync-delimited` before its first command.
//!
//! Not the `qapi` crate: its typed QGA commands (generated from one qemu
//! schema) are the easy part; the lock across processes, the resync and a
//! deadline on every call, which this module is about, are not in it.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a command run by the guest agent produced.
#[derive(Debug, Clone)]
pub struct GuestOutput {
    /// Exit code (a signal number is reported as 128 + signal, as a shell would).
    pub exit_code: i64,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
}

/// One locked, synchronised session with a guest agent.
pub struct Qga {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    socket: PathBuf,
    // Held for the session's lifetime; dropping it releases the flock.
    _lock: File,
}

/// The environment commands run with: the agent passes none of its own.
const GUEST_ENV: [&str; 4] = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "DEBIAN_FRONTEND=noninteractive",
];

impl Qga {
    /// Connects to the agent behind `socket` and synchronises with it,
    /// retrying until `timeout` (the agent starts late in the guest's boot).
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Qga> {
        let deadline = Instant::now() + timeout;
        let lock = lock_file(socket, deadline)?;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    tracing::trace!("qga connect {}: {e}", socket.display());
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to the guest agent socket {}", socket.display())
                    });
                }
            }
        };
        let writer = stream.try_clone()?;
        let mut qga = Qga { reader: BufReader::new(stream), writer, socket: socket.to_owned(), _lock: lock };
        qga.sync(deadline)?;
        Ok(qga)
    }

    /// Sends `guest-sync-delimited` until the agent echoes our id, skipping
    /// whatever an earlier client left in the channel.
    fn sync(&mut self, deadline: Instant) -> Result<()> {
        // A fresh id per session, so a stale echo of an old sync cannot match.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut id: u64 = (nanos.as_nanos() % 1_000_000_000_000) as u64;
        loop {
            id += 1;
            // 0xFF makes the agent drop any partial request it was parsing.
            let req = json!({"execute": "guest-sync-delimited", "arguments": {"id": id}});
            let mut buf = vec![0xFFu8];
            buf.extend_from_slice(req.to_string().as_bytes());
            buf.push(b'\n');
            if let Err(e) = self.writer.write_all(&buf) {
                bail!("writing to the guest agent socket {}: {e}", self.socket.display());
            }
            // Under TCG the agent may take a while to answer the first time.
            let attempt_end = (Instant::now() + Duration::from_secs(2)).min(deadline);
            match self.read_sync_reply(id, attempt_end) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                bail!(
                    "the guest agent behind {} never answered guest-sync (the guest did not finish booting, \
                     or qemu-guest-agent is not running in it)",
                    self.socket.display()
                );
            }
        }
    }

    /// Reads until the reply to sync `id` arrives (true) or `until` passes (false).
    fn read_sync_reply(&mut self, id: u64, until: Instant) -> Result<bool> {
        // Skip up to and including the agent's 0xFF delimiter.
        let mut seen_delim = false;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            if !seen_delim {
                let mut b = [0u8; 1];
                match self.reader.read(&mut b) {
                    Ok(0) => bail!("the guest agent socket {} closed (qemu exited?)", self.socket.display()),
                    Ok(_) => seen_delim = b[0] == 0xFF,
                    Err(e) if is_timeout(&e) => return Ok(false),
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            let mut line = Vec::new();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => bail!("the guest agent socket {} closed (qemu exited?)", self.socket.display()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_matches(|c: char| c == '\u{FFFD}' || c.is_whitespace());
            if text.is_empty() {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(text)
                && v.get("return").and_then(Value::as_u64) == Some(id)
            {
                return Ok(true);
            }
            // A stale reply to an older request: keep reading.
        }
    }

    /// Runs one agent command and returns its `return` value.
    pub fn call(&mut self, execute: &str, arguments: Value, timeout: Duration) -> Result<Value> {
        let req = if arguments.is_null() {
            json!({"execute": execute})
        } else {
            json!({"execute": execute, "arguments": arguments})
        };
        let mut line = req.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .with_context(|| format!("sending {execute} to the guest agent {}", self.socket.display()))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the guest agent {} did not answer {execute} within {:?}", self.socket.display(), timeout);
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            let mut buf = Vec::new();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => bail!("the guest agent socket {} closed during {execute}", self.socket.display()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => continue,
                Err(e) => return Err(e).context(format!("reading the answer to {execute}")),
            }
            let text = String::from_utf8_lossy(&buf);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(text)
                .with_context(|| format!("the guest agent answered {execute} with non-JSON: {text:?}"))?;
            if let Some(err) = v.get("error") {
                bail!("guest agent {execute} failed: {}", err);
            }
            if let Some(ret) = v.get("return") {
                return Ok(ret.clone());
            }
            // Events or other noise: keep reading.
        }
    }

    /// Runs `argv` in the guest with captured output and waits up to `timeout`.
    pub fn exec(&mut self, argv: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<GuestOutput> {
        let (path, args) = argv.split_first().ok_or_else(|| anyhow!("empty command"))?;
        let mut arguments = json!({
            "path": path,
            "arg": args,
            "env": GUEST_ENV,
            "capture-output": true,
        });
        if let Some(input) = stdin {
            arguments["input-data"] = Value::String(B64.encode(input));
        }
        let started = self.call("guest-exec", arguments, Duration::from_secs(30))?;
        let pid = started
            .get("pid")
            .and_then(Value::as_i64)
            .ok_or_else(|| anyhow!("guest-exec answered without a pid: {started}"))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let st = self.call("guest-exec-status", json!({"pid": pid}), Duration::from_secs(30))?;
            if st.get("exited").and_then(Value::as_bool) == Some(true) {
                let exit_code = match (st.get("exitcode").and_then(Value::as_i64), st.get("signal").and_then(Value::as_i64)) {
                    (Some(c), _) => c,
                    (None, Some(sig)) => 128 + sig,
                    (None, None) => -1,
                };
                return Ok(GuestOutput {
                    exit_code,
                    stdout: decode_field(&st, "out-data")?,
                    stderr: decode_field(&st, "err-data")?,
                });
            }
            if Instant::now() >= deadline {
                // Do not leave it running: it would hold locks (dpkg, xtables) for the next step.
                let _ = self.exec_kill(pid);
                bail!("command {argv:?} did not finish in the guest within {timeout:?} (killed it)");
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    fn exec_kill(&mut self, pid: i64) -> Result<()> {
        let pid = pid.to_string();
        let args = json!({"path": "/bin/kill", "arg": ["-9", pid], "env": GUEST_ENV});
        self.call("guest-exec", args, Duration::from_secs(10)).map(|_| ())
    }

    /// Writes `content` to `path` in the guest (created or truncated).
    pub fn write_file(&mut self, path: &str, content: &[u8]) -> Result<()> {
        let handle = self.call("guest-file-open", json!({"path": path, "mode": "w"}), Duration::from_secs(30))?;
        let handle = handle.as_i64().ok_or_else(|| anyhow!("guest-file-open answered {handle}"))?;
        let result = (|| -> Result<()> {
            // The agent limits one message; 1 MiB chunks stay well under it.
            for chunk in content.chunks(1 << 20) {
                self.call(
                    "guest-file-write",
                    json!({"handle": handle, "buf-b64": B64.encode(chunk)}),
                    Duration::from_secs(60),
                )?;
            }
            Ok(())
        })();
        let closed = self.call("guest-file-close", json!({"handle": handle}), Duration::from_secs(30));
        result.with_context(|| format!("writing {path} in the guest"))?;
        closed.map(|_| ())
    }

    /// Reads the whole file at `path` in the guest.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let handle = self.call("guest-file-open", json!({"path": path, "mode": "r"}), Duration::from_secs(30))?;
        let handle = handle.as_i64().ok_or_else(|| anyhow!("guest-file-open answered {handle}"))?;
        let mut out = Vec::new();
        let result = (|| -> Result<()> {
            loop {
                let r = self.call(
                    "guest-file-read",
                    json!({"handle": handle, "count": 4 << 20}),
                    Duration::from_secs(120),
                )?;
                out.extend(decode_field(&r, "buf-b64")?);
                if r.get("eof").and_then(Value::as_bool) == Some(true) {
                    return Ok(());
                }
            }
        })();
        let closed = self.call("guest-file-close", json!({"handle": handle}), Duration::from_secs(30));
        result.with_context(|| format!("reading {path} from the guest"))?;
        closed?;
        Ok(out)
    }

    /// Starts `argv` in the guest without waiting for it (e.g. `systemctl
    /// reboot`, which takes the agent down with it).
    pub fn spawn(&mut self, argv: &[&str]) -> Result<()> {
        let (path, args) = argv.split_first().ok_or_else(|| anyhow!("empty command"))?;
        self.call("guest-exec", json!({"path": path, "arg": args, "env": GUEST_ENV}), Duration::from_secs(30))?;
        Ok(())
    }
}

fn decode_field(v: &Value, field: &str) -> Result<Vec<u8>> {
    match v.get(field).and_then(Value::as_str) {
        None => Ok(Vec::new()),
        Some(s) => B64.decode(s).with_context(|| format!("guest agent field {field} is not base64")),
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Takes the exclusive per-socket lock, polling so the wait has a deadline.
fn lock_file(socket: &Path, deadline: Instant) -> Result<File> {
    let mut name = socket.as_os_str().to_owned();
    name.push(".lock");
    let wait = deadline.saturating_duration_since(Instant::now());
    crate::filelock::lock(&PathBuf::from(name), wait, "a second `repro vm-exec` or test on the same VM?")
}
