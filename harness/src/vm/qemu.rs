//! Building the qemu command line and owning the qemu process.
//!
//! The harness is the bootloader: it passes `-kernel/-initrd` taken from
//! the guest's own `/boot`. `-no-reboot` turns a guest reboot into a qemu
//! exit, so the harness can pick the kernel for the next boot as GRUB
//! would. The process is SIGKILLed and reaped on drop, and recorded in a
//! pid file that `repro gc` sweeps if this process dies first.

use super::accel::Accel;
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Everything one qemu start needs.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// Node name (qemu `-name`, pid file name).
    pub name: String,
    /// The copy-on-write disk the guest writes to.
    pub overlay: PathBuf,
    /// The guest agent's unix socket (created by qemu).
    pub qga_socket: PathBuf,
    /// Serial console output, appended across boots (`append=on`).
    pub console_log: PathBuf,
    /// qemu's own stderr.
    pub qemu_log: PathBuf,
    /// The pid file `repro gc` reads.
    pub pid_file: PathBuf,
    /// KVM or TCG.
    pub accel: Accel,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// (host port on 127.0.0.1, guest port) TCP forwards.
    pub forwards: Vec<(u16, u16)>,
}

/// The kernel, initrd and command line of one boot.
#[derive(Debug, Clone)]
pub struct BootEntry {
    /// `uname -r` of the kernel.
    pub release: String,
    /// Kernel image on the host.
    pub vmlinuz: PathBuf,
    /// Initrd on the host.
    pub initrd: PathBuf,
    /// Full kernel command line.
    pub cmdline: String,
}

/// The qemu argument list for one boot.
pub fn args(cfg: &QemuConfig, boot: &BootEntry) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    push(&["-name", &cfg.name, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]);
    push(&["-machine", "q35"]);
    push(&cfg.accel.qemu_args());
    push(&["-smp", &cfg.cpus.to_string(), "-m", &cfg.memory_mib.to_string()]);
    push(&["-kernel", &boot.vmlinuz.display().to_string(), "-initrd", &boot.initrd.display().to_string()]);
    push(&["-append", &boot.cmdline]);
    // cache=unsafe: the overlay is thrown away; skipping flushes saves seconds.
    push(&["-drive", &format!("file={},format=qcow2,if=virtio,cache=unsafe", cfg.overlay.display())]);
    push(&["-chardev", &format!("file,id=con0,path={},append=on", cfg.console_log.display()), "-serial", "chardev:con0"]);
    push(&[
        "-chardev",
        &format!("socket,id=qga0,path={},server=on,wait=off", cfg.qga_socket.display()),
        "-device",
        "virtio-serial-pci",
        "-device",
        "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    ]);
    // restrict=on: no outbound network; published ports reach the guest
    // only through these forwards, bound to loopback.
    let mut netdev = "user,id=n0,restrict=on".to_string();
    for (host, guest) in &cfg.forwards {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
    }
    push(&["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0"]);
    // Entropy for the guest's early boot (no waiting on the CRNG).
    push(&["-device", "virtio-rng-pci"]);
    a
}

/// A running qemu; killed and reaped on drop.
pub struct QemuProcess {
    child: Child,
    pid_file: PathBuf,
    exited: Option<ExitStatus>,
}

impl QemuProcess {
    /// Starts qemu for `boot`.
    pub fn spawn(cfg: &QemuConfig, boot: &BootEntry) -> Result<QemuProcess> {
        let _ = std::fs::remove_file(&cfg.qga_socket);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.qemu_log)
            .with_context(|| format!("opening {}", cfg.qemu_log.display()))?;
        // Mark each boot in the console log (qemu appends after it).
        let mut console = std::fs::OpenOptions::new().create(true).append(true).open(&cfg.console_log)?;
        std::io::Write::write_all(
            &mut console,
            format!("\n=== repro: booting {} ({}) ===\n", boot.release, boot.cmdline).as_bytes(),
        )?;
        let argv = args(cfg, boot);
        tracing::debug!("qemu-system-x86_64 {}", argv.join(" "));
        let child = Command::new("qemu-system-x86_64")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                anyhow!("cannot run qemu-system-x86_64 ({e}): install qemu-system-x86 and qemu-utils with `sudo ci/bootstrap`")
            })?;
        if let Some(dir) = cfg.pid_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&cfg.pid_file, child.id().to_string())
            .with_context(|| format!("writing {}", cfg.pid_file.display()))?;
        register_live(child.id());
        Ok(QemuProcess { child, pid_file: cfg.pid_file.clone(), exited: None })
    }

    /// The qemu process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if qemu has exited (without blocking).
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits up to `timeout` for qemu to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_exited() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Leaves qemu running past this process (a kept node): `repro gc` kills it later.
    pub fn disown(self) {
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != self.child.id());
        std::mem::forget(self);
    }

    /// SIGKILLs qemu (if running) and reaps it.
    pub fn kill(&mut self) {
        if self.try_exited().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != self.child.id());
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// qemu processes this process started and has not reaped yet.
static LIVE: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// VM run directories (overlay, sockets, logs) this process owns.
static RUN_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn ensure_reaper() {
    static REAPER: std::sync::Once = std::sync::Once::new();
    // On Ctrl-C the program's handler runs the registered reapers before exiting.
    REAPER.call_once(|| crate::gc::register_reaper(kill_all_live));
}

fn register_live(pid: u32) {
    ensure_reaper();
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

/// Records `dir` as this process's, so Ctrl-C removes it (after its qemu is dead).
pub fn own_run_dir(dir: &Path) {
    ensure_reaper();
    RUN_DIRS.lock().unwrap_or_else(|e| e.into_inner()).push(dir.to_path_buf());
}

/// Forgets `dir` (removed by its node, or kept on purpose).
pub fn disown_run_dir(dir: &Path) {
    RUN_DIRS.lock().unwrap_or_else(|e| e.into_inner()).retain(|d| d != dir);
}

/// The Ctrl-C path (`Drop` does this normally): SIGKILLs every qemu this
/// process started and waits until each is gone (a big guest's memory takes
/// a moment to free; returning earlier let qemu outlive `repro`), then
/// removes the run directories and their pid files.
pub fn kill_all_live() {
    let pids: Vec<u32> = LIVE.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
    for &pid in &pids {
        // SAFETY: kill(2) on a child we spawned and have not reaped, so the pid is still ours.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let until = Instant::now() + Duration::from_secs(10);
    for &pid in &pids {
        while Instant::now() < until {
            // SAFETY: waitpid(2) on our own child; WNOHANG never blocks.
            let r = unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
            if r != 0 {
                break; // reaped (or not ours any more)
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for dir in RUN_DIRS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_dir_all(&dir);
        let mut pid_file = dir.into_os_string();
        pid_file.push(".pid");
        let _ = std::fs::remove_file(pid_file);
    }
}

/// Creates the qcow2 overlay `overlay` on top of the read-only `base` (raw).
pub fn create_overlay(base: &Path, overlay: &Path) -> Result<()> {
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(base)
        .arg(overlay)
        .output()
        .map_err(|e| anyhow!("cannot run qemu-img ({e}): install qemu-utils with `sudo ci/bootstrap`"))?;
    if !out.status.success() {
        anyhow::bail!("qemu-img create failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `n` distinct TCP ports on 127.0.0.1, free right now (the OS picks them).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    // All held at once: one released before the next is asked for can come
    // back again (seen in CI: two forwards on one port, qemu refused).
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1"))
        .collect::<Result<Vec<_>>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// The last `lines` lines of a text file (empty if it does not exist).
pub fn tail(path: &Path, lines: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
