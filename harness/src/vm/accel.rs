//! Hardware acceleration: KVM when the host really offers it, TCG
//! (emulation, about five times slower to boot) otherwise. Timeouts scale
//! with the choice so a slow emulated boot is not mistaken for a hang.

use anyhow::{Result, bail};
use std::time::Duration;

/// How qemu runs the guest's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// Software emulation (multi-threaded TCG).
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`, as in `REPRO_ACCEL` and reports.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    /// Multiplier for every guest timeout written for KVM speed.
    pub fn timeout_factor(self) -> u32 {
        match self {
            Accel::Kvm => 1,
            Accel::Tcg => 5,
        }
    }

    /// `base` (a KVM-speed timeout) scaled for this accelerator.
    pub fn scale(self, base: Duration) -> Duration {
        base * self.timeout_factor()
    }

    /// The qemu arguments selecting it.
    pub fn qemu_args(self) -> [&'static str; 4] {
        match self {
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
            // `max` without svm=off: that variant aborts the initramfs'
            // static busybox (seen here with qemu 7.2).
            Accel::Tcg => ["-accel", "tcg,thread=multi", "-cpu", "max"],
        }
    }
}

/// Picks the accelerator: `REPRO_ACCEL=kvm|tcg` wins; otherwise KVM when
/// the CPU advertises vmx/svm AND /dev/kvm opens read-write, else TCG.
/// Returns the choice and a one-line reason for logs and bench output.
pub fn detect() -> Result<(Accel, String)> {
    match std::env::var("REPRO_ACCEL").ok().as_deref() {
        Some("kvm") => return Ok((Accel::Kvm, "REPRO_ACCEL=kvm".into())),
        Some("tcg") => return Ok((Accel::Tcg, "REPRO_ACCEL=tcg".into())),
        Some("") | None => {}
        Some(other) => bail!("REPRO_ACCEL={other:?} is not understood; use `kvm` or `tcg` (or unset it to detect)"),
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let virt = flags.split_whitespace().any(|f| f == "vmx" || f == "svm");
    if !virt {
        // A /dev/kvm without vmx/svm in the flags is a nested setup that
        // hangs stock kernels (seen on this machine kind).
        return Ok((Accel::Tcg, "no vmx/svm CPU flag: using TCG".into()));
    }
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Ok(_) => Ok((Accel::Kvm, "vmx/svm present and /dev/kvm read-write".into())),
        Err(e) => Ok((Accel::Tcg, format!("/dev/kvm not usable ({e}): using TCG"))),
    }
}
