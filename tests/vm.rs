//! The VM backend on a real QEMU guest: boot the OLDER installed kernel on
//! request, run commands through the guest agent (exit codes, stdout and
//! stderr kept apart, files copied in), reach it the way netdoctor does
//! (`repro vm-exec`), then reboot and check the harness, playing the
//! bootloader, picked the NEWEST kernel, as GRUB would. Leaves no qemu and
//! no overlay behind.
//!
//! Needs qemu-system-x86_64, qemu-img and the VM disk (built on first use,
//! as root). Without qemu this test FAILS, naming the fix: a VM test that
//! silently passes would hide a broken CI host.

use harness::node::Node;
use harness::node::vm::{KernelChoice, VmNode, VmOptions};
use harness::platform::Platform;
use std::io::Write;
use std::process::{Command, Stdio};

fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    assert!(found, "{tool} is not installed: VM tests need QEMU; run `sudo ci/bootstrap` (installs qemu-system-x86 and qemu-utils)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_boots_older_kernel_runs_commands_and_reboots_into_newest() {
    require("qemu-system-x86_64");
    require("qemu-img");
    let opts = VmOptions { kernel: KernelChoice::Oldest, boot_services: vec![], ..VmOptions::default() };
    let node = VmNode::start(Platform::Debian12, opts).await.expect("VM node starts");
    let kernels: Vec<String> = node.image().meta.kernels.iter().map(|k| k.release.clone()).collect();
    assert!(kernels.len() >= 2, "the VM image must hold two kernels, has {kernels:?}");
    let (oldest, newest) = (kernels[0].clone(), kernels[kernels.len() - 1].clone());
    let run_dir = node.qga_socket().parent().unwrap().to_path_buf();

    // The kernel the scenario asked for, not the newest.
    let o = node.exec("uname -r").await.unwrap();
    assert_eq!(o.stdout.trim(), oldest, "first boot must use the oldest kernel");
    assert_eq!(node.booted_release(), oldest);

    // Exit codes and the two streams survive the guest agent.
    let o = node.exec("echo out; echo err >&2; exit 3").await.unwrap();
    assert_eq!((o.exit_code, o.stdout.as_str(), o.stderr.as_str()), (3, "out\n", "err\n"));

    // Docker is NOT started at boot here (it would load netfilter modules).
    let o = node.exec("systemctl is-active docker; lsmod | grep -c '^nf_tables' || true").await.unwrap();
    assert!(o.stdout.starts_with("inactive"), "docker must not run after a bare boot: {}", o.combined());

    // copy_in writes bytes and mode exactly.
    node.copy_in("/root/dir/hello.sh", b"#!/bin/sh\necho copied\n", 0o750).await.unwrap();
    let o = node.exec("stat -c %a /root/dir/hello.sh && /root/dir/hello.sh").await.unwrap();
    assert_eq!(o.stdout, "750\ncopied\n", "{}", o.combined());

    // Ports are forwarded to loopback only.
    let ep = node.endpoint(8893).await.unwrap();
    assert!(ep.ip().is_loopback(), "{ep}");
    assert!(node.endpoint(9).await.is_err(), "an unforwarded port must be an error");

    // The doctor's transport: `repro vm-exec` reads a script on stdin.
    let target = node.doctor_target();
    let cmd = target.strip_prefix("cmd:").expect("cmd: target");
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"uname -r\necho to-stderr >&2\nexit 7\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "vm-exec exit code; stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), oldest);
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));

    // Reboot: the harness re-reads /boot and boots the newest kernel.
    node.reboot().await.expect("reboot");
    let o = node.exec("uname -r").await.unwrap();
    assert_eq!(o.stdout.trim(), newest, "reboot must pick the newest installed kernel");
    assert_eq!(node.boots().len(), 2);
    // The overlay survived the reboot (same disk, new kernel).
    let o = node.exec("cat /root/dir/hello.sh").await.unwrap();
    assert!(o.stdout.contains("copied"), "files written before the reboot must still be there");

    let logs = node.logs().await.unwrap();
    assert!(logs.contains("serial console"), "logs must include the console tail");

    let pid_file = harness::config::vm_run_dir().join(format!("{}.pid", node.name()));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    Box::new(node).destroy().await.unwrap();
    assert!(!run_dir.exists(), "the run dir (overlay, sockets) must be removed: {}", run_dir.display());
    assert!(!pid_file.exists(), "the pid file must be removed");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "qemu (pid {pid}) must be reaped");
}
