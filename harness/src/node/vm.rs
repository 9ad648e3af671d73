//! VM nodes: a QEMU guest booted from the platform's VM disk image (a
//! throwaway qcow2 overlay on the cached base), controlled through the
//! guest agent. The harness plays bootloader: it boots the newest kernel in
//! the guest's `/boot` (or the one the scenario asks for on first boot) and,
//! on reboot, re-reads `/boot` and boots the newest again, as GRUB would.

use super::{ExecOutput, Node};
use crate::matrix::ResolvedPlatform;
use crate::platform::{NodeBackend, Platform};
use crate::vm::accel::{self, Accel};
use crate::vm::disk::{self, VmImage, version_cmp};
use crate::vm::qemu::{self, BootEntry, QemuConfig, QemuProcess};
use crate::vm::qga::{GuestOutput, Qga};
use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which installed kernel the first boot uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KernelChoice {
    /// The newest, as GRUB's default entry would be.
    #[default]
    Newest,
    /// The oldest installed (the "running an outdated kernel" state).
    Oldest,
    /// An exact release, e.g. `6.1.0-55-amd64`.
    Release(String),
    /// The newest kernel of another Debian release's VM image, which no
    /// package of this guest owns: a kernel booted from outside the
    /// distribution, as a hypervisor's direct boot or WSL does. Its modules
    /// are not in the guest; built-in drivers (virtio console, disk) boot it.
    Foreign,
}

impl KernelChoice {
    /// Parses `newest`, `oldest` or a release as written in scenario files.
    pub fn parse(s: &str) -> KernelChoice {
        match s {
            "newest" => KernelChoice::Newest,
            "oldest" => KernelChoice::Oldest,
            "foreign" => KernelChoice::Foreign,
            r => KernelChoice::Release(r.to_string()),
        }
    }
}

/// How to start a VM node.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Kernel for the first boot (reboots always take the newest).
    pub kernel: KernelChoice,
    /// Guest TCP ports forwarded from free ports on 127.0.0.1.
    pub ports: Vec<u16>,
    /// Units started once the guest is up (the VM image enables none of
    /// them at boot, so that module-loading services stay out of a fault's way).
    pub boot_services: Vec<String>,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs; `None` picks by accelerator (see [`VmOptions::vcpus`]).
    pub cpus: Option<u32>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            kernel: KernelChoice::Newest,
            ports: vec![80, 8080, 8893],
            // A Docker host with dockerd running. firewalld is installed but not
            // started (under TCG it adds ~10 s to every boot); the firewalld
            // scenarios start or stop it themselves.
            boot_services: vec!["docker".into()],
            memory_mib: 2048,
            cpus: None,
        }
    }
}

impl VmOptions {
    /// The vCPU count: as set, else `REPRO_VM_CPUS`, else 2 under KVM and 1
    /// under TCG. Debian 13's 6.12 kernels panicked at boot under
    /// multi-threaded TCG with 2 vCPUs (`Oops: int3` in `sched_clock_cpu`
    /// while patching its own text, qemu 7.2); one vCPU also keeps a VM on
    /// one host core, so two VMs run side by side on a 2-core machine.
    pub fn vcpus(&self, accel: Accel) -> Result<u32> {
        if let Some(n) = self.cpus {
            return Ok(n);
        }
        match std::env::var("REPRO_VM_CPUS") {
            Ok(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("REPRO_VM_CPUS={v:?} is not a positive number of vCPUs (e.g. REPRO_VM_CPUS=2)")),
            Err(_) => Ok(if accel == Accel::Kvm { 2 } else { 1 }),
        }
    }

    /// Options from a scenario's `[node]` table. A scenario that picks the
    /// kernel is about the kernel: nothing is started after boot, so the
    /// modules docker and firewalld load stay out of the fault's way (the
    /// scenario starts them itself); otherwise dockerd is started.
    pub fn from_settings(settings: &super::NodeSettings) -> VmOptions {
        let mut o = VmOptions::default();
        if let Some(k) = &settings.kernel {
            o.kernel = KernelChoice::parse(k);
            o.boot_services.clear();
        }
        for p in &settings.ports {
            if !o.ports.contains(p) {
                o.ports.push(*p);
            }
        }
        o
    }
}

/// Times of one boot, for reports and `repro bench`.
#[derive(Debug, Clone)]
pub struct BootRecord {
    /// The kernel booted.
    pub release: String,
    /// qemu start to guest agent answering.
    pub to_agent: Duration,
    /// qemu start to `boot_services` active (equals `to_agent` when there are none).
    pub to_ready: Duration,
}

/// Timeouts written for KVM speed; scaled by [`Accel::scale`].
const BOOT_TIMEOUT: Duration = Duration::from_secs(40);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);
const AGENT_CALL_TIMEOUT: Duration = Duration::from_secs(12);

/// The mutable part: the qemu process and what it booted.
struct Running {
    qemu: Option<QemuProcess>,
    release: String,
    boots: Vec<BootRecord>,
}

/// A QEMU VM node.
pub struct VmNode {
    name: String,
    platform: &'static ResolvedPlatform,
    image: VmImage,
    /// The donor image of a `KernelChoice::Foreign` first boot.
    foreign: Option<VmImage>,
    cfg: QemuConfig,
    run_dir: PathBuf,
    opts: VmOptions,
    state: Arc<Mutex<Running>>,
    detached: bool,
    /// The `repro` whose `vm-exec` is the doctor's transport into the guest.
    repro: PathBuf,
}

impl VmNode {
    /// Builds or finds the platform's VM image, then boots a node on a fresh overlay.
    pub async fn start(platform: Platform, opts: VmOptions) -> Result<VmNode> {
        let recipe = crate::matrix::resolve(platform)?.recipe.clone();
        let image = tokio::task::spawn_blocking(move || disk::ensure(&recipe, false))
            .await?
            .with_context(|| format!("preparing the {platform} VM image"))?
            .image;
        Self::start_on(platform, image, opts).await
    }

    /// Boots a node from an already built image.
    pub async fn start_on(platform: Platform, image: VmImage, opts: VmOptions) -> Result<VmNode> {
        let repro = crate::config::repro_binary()?;
        let (accel, why) = accel::detect()?;
        tracing::info!("VM accelerator: {} ({why})", accel.name());
        let resolved = crate::matrix::resolve(platform)?;
        let foreign = match opts.kernel {
            KernelChoice::Foreign => {
                let donor = platform
                    .foreign_kernel_donor()
                    .ok_or_else(|| anyhow!("{platform} has no other VM platform to take a foreign kernel from"))?;
                let recipe = crate::matrix::resolve(donor)?.recipe.clone();
                let img = tokio::task::spawn_blocking(move || disk::ensure(&recipe, false))
                    .await?
                    .with_context(|| format!("preparing the {donor} VM image (the foreign kernel's donor)"))?
                    .image;
                Some(img)
            }
            _ => None,
        };
        let name = format!("{}-vm-{}", resolved.label, short_id());
        let run_root = crate::config::vm_run_dir();
        // Leftovers of killed processes; 10 minutes spares a concurrent start.
        crate::gc::remove_orphan_run_dirs(&run_root, Some(Duration::from_secs(600)));
        let run_dir = run_root.join(&name);
        let forwards: Vec<(u16, u16)> = qemu::free_ports(opts.ports.len())?.into_iter().zip(opts.ports.iter().copied()).collect();
        let cfg = QemuConfig {
            name: name.clone(),
            overlay: run_dir.join("overlay.qcow2"),
            qga_socket: run_dir.join("qga.sock"),
            console_log: run_dir.join("console.log"),
            qemu_log: run_dir.join("qemu.log"),
            pid_file: run_root.join(format!("{name}.pid")),
            accel,
            memory_mib: opts.memory_mib,
            cpus: opts.vcpus(accel)?,
            forwards,
        };
        let node = VmNode {
            name,
            platform: resolved,
            image,
            foreign,
            cfg,
            run_dir,
            opts,
            state: Arc::new(Mutex::new(Running { qemu: None, release: String::new(), boots: Vec::new() })),
            detached: false,
            repro,
        };
        // From here on, dropping `node` removes the run dir again.
        std::fs::create_dir_all(&node.run_dir).with_context(|| format!("creating {}", node.run_dir.display()))?;
        qemu::own_run_dir(&node.run_dir);
        qemu::create_overlay(&node.image.disk(), &node.cfg.overlay)?;
        // Tells the image cache's pruning that this base is in use.
        std::fs::write(node.run_dir.join("base"), node.image.dir.display().to_string())?;
        let release = node.first_kernel()?;
        let entry = node.entry_from_image(&release)?;
        node.boot(entry).await?;
        Ok(node)
    }

    /// The accelerator this node runs with.
    pub fn accel(&self) -> Accel {
        self.cfg.accel
    }

    /// The kernel release currently booted (as the harness chose it).
    pub fn booted_release(&self) -> String {
        self.lock().release.clone()
    }

    /// Every boot so far, with its times.
    pub fn boots(&self) -> Vec<BootRecord> {
        self.lock().boots.clone()
    }

    /// The image the node was booted from.
    pub fn image(&self) -> &VmImage {
        &self.image
    }

    /// The guest agent socket (for `repro vm-exec --qga`).
    pub fn qga_socket(&self) -> &Path {
        &self.cfg.qga_socket
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn first_kernel(&self) -> Result<String> {
        let ks = &self.image.meta.kernels;
        let newest = ks.last().ok_or_else(|| anyhow!("the VM image {} has no kernel", self.image.dir.display()))?;
        Ok(match &self.opts.kernel {
            KernelChoice::Newest => newest.release.clone(),
            KernelChoice::Oldest => ks[0].release.clone(),
            KernelChoice::Foreign => {
                let donor = self.foreign.as_ref().ok_or_else(|| anyhow!("no donor image for the foreign kernel"))?;
                donor.meta.kernels.last().ok_or_else(|| anyhow!("the VM image {} has no kernel", donor.dir.display()))?.release.clone()
            }
            KernelChoice::Release(r) => {
                if !ks.iter().any(|k| &k.release == r) {
                    bail!(
                        "kernel {r:?} is not installed in the VM image (it has {:?}); use `oldest`, `newest` or one of those",
                        ks.iter().map(|k| &k.release).collect::<Vec<_>>()
                    );
                }
                r.clone()
            }
        })
    }

    fn cmdline(&self) -> String {
        format!("root=/dev/vda {}", self.image.meta.cmdline)
    }

    fn entry_from_image(&self, release: &str) -> Result<BootEntry> {
        // A release the guest's image lacks is the foreign donor's.
        let image = match &self.foreign {
            Some(d) if !self.image.meta.kernels.iter().any(|k| k.release == release) => d,
            _ => &self.image,
        };
        let (vmlinuz, initrd) = (image.vmlinuz(release), image.initrd(release));
        if !vmlinuz.is_file() || !initrd.is_file() {
            bail!("the VM image {} lacks the kernel files of {release}; rebuild it", image.dir.display());
        }
        Ok(BootEntry { release: release.to_owned(), vmlinuz, initrd, cmdline: self.cmdline() })
    }

    /// Starts qemu on `entry` and waits for the guest agent, then starts
    /// the boot services.
    async fn boot(&self, entry: BootEntry) -> Result<()> {
        let start = Instant::now();
        let proc = QemuProcess::spawn(&self.cfg, &entry)?;
        tracing::info!("VM {}: booting {} (qemu pid {})", self.name, entry.release, proc.pid());
        crate::progress::report(crate::progress::Progress::Boot { node: self.name.clone(), what: format!("booting kernel {}", entry.release) });
        {
            let mut st = self.lock();
            st.qemu = Some(proc);
            st.release = entry.release.clone();
        }
        self.wait_agent(start).await?;
        let to_agent = start.elapsed();
        crate::progress::report(crate::progress::Progress::Boot { node: self.name.clone(), what: "guest agent up; waiting for dockerd".into() });
        if !self.opts.boot_services.is_empty() {
            let units = self.opts.boot_services.join(" ");
            let o = self.exec(&format!("systemctl start {units}")).await?;
            if !o.success() {
                bail!(
                    "VM {}: `systemctl start {units}` failed after boot (exit {}):\n{}\n{}",
                    self.name,
                    o.exit_code,
                    o.combined(),
                    self.exec("journalctl -n 40 --no-pager").await.map(|o| o.combined()).unwrap_or_default()
                );
            }
        }
        let rec = BootRecord { release: entry.release, to_agent, to_ready: start.elapsed() };
        tracing::info!(
            "VM {}: {} up, agent after {} ms, ready after {} ms ({})",
            self.name,
            rec.release,
            rec.to_agent.as_millis(),
            rec.to_ready.as_millis(),
            self.cfg.accel.name()
        );
        self.lock().boots.push(rec);
        Ok(())
    }

    /// Polls the guest agent until it answers, failing early (with the
    /// console tail) if qemu exits.
    async fn wait_agent(&self, start: Instant) -> Result<()> {
        let deadline = start + self.cfg.accel.scale(BOOT_TIMEOUT);
        loop {
            // Own statement: the guard must be gone before the error path locks again.
            let exited = self.lock().qemu.as_mut().and_then(|q| q.try_exited());
            if let Some(status) = exited {
                bail!(
                    "VM {}: qemu exited ({status}) while booting {}; qemu said:\n{}\nconsole tail:\n{}",
                    self.name,
                    self.booted_release(),
                    qemu::tail(&self.cfg.qemu_log, 20),
                    qemu::tail(&self.cfg.console_log, 40)
                );
            }
            let sock = self.cfg.qga_socket.clone();
            let attempt = tokio::task::spawn_blocking(move || Qga::connect(&sock, Duration::from_secs(3)).map(drop)).await?;
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => tracing::trace!("waiting for the guest agent: {e:#}"),
                Err(e) => {
                    bail!(
                        "VM {}: the guest agent never came up within {:?} ({} boot of {}): {e:#}\nconsole tail:\n{}",
                        self.name,
                        self.cfg.accel.scale(BOOT_TIMEOUT),
                        self.cfg.accel.name(),
                        self.booted_release(),
                        qemu::tail(&self.cfg.console_log, 40)
                    )
                }
            }
        }
    }

    /// Errors clearly when qemu is gone (e.g. the guest rebooted itself).
    fn ensure_running(&self) -> Result<()> {
        let mut st = self.lock();
        match st.qemu.as_mut().map(|q| q.try_exited()) {
            Some(None) => Ok(()),
            Some(Some(status)) => {
                let how = if rebooted(&self.cfg.console_log) { "the guest rebooted" } else { "qemu stopped" };
                bail!(
                    "VM {} is not running: {how} ({status}; qemu runs with -no-reboot so the harness picks the next \
                     kernel); use a `reboot` step (Node::reboot) to boot it again. Console tail:\n{}",
                    self.name,
                    qemu::tail(&self.cfg.console_log, 15)
                )
            }
            None => bail!("VM {} is not running", self.name),
        }
    }

    /// Runs `argv` through the guest agent.
    async fn agent_exec(&self, argv: Vec<String>, timeout: Duration) -> Result<GuestOutput> {
        self.ensure_running()?;
        let sock = self.cfg.qga_socket.clone();
        let name = self.name.clone();
        let call = self.cfg.accel.scale(AGENT_CALL_TIMEOUT);
        tokio::task::spawn_blocking(move || {
            let mut q = Qga::connect(&sock, call)?;
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            q.exec(&argv, None, timeout)
        })
        .await?
        .with_context(|| format!("running a command in VM {name} through its guest agent"))
    }

    /// Lists the kernels in the guest's `/boot` that have an initrd.
    async fn guest_kernels(&self) -> Result<Vec<(String, u64, u64)>> {
        const LIST: &str = r#"cd /boot && for k in vmlinuz-*; do r=${k#vmlinuz-}; [ -f "initrd.img-$r" ] && echo "$r $(stat -c %s "$k") $(stat -c %s "initrd.img-$r")"; done; true"#;
        let o = self.exec(LIST).await?;
        if !o.success() {
            bail!("listing /boot in VM {}: {}", self.name, o.combined());
        }
        parse_boot_listing(&o.stdout)
    }

    /// The boot entry for the newest kernel of `listing`: the cached files
    /// when the guest's are the same size, else copied out of the guest.
    async fn newest_entry(&self, listing: &[(String, u64, u64)]) -> Result<BootEntry> {
        let (release, vsize, isize) = listing
            .iter()
            .max_by(|a, b| version_cmp(&a.0, &b.0))
            .cloned()
            .ok_or_else(|| anyhow!("VM {}: /boot holds no kernel with an initrd; the guest cannot boot", self.name))?;
        let cached = self.image.meta.kernels.iter().find(|k| k.release == release);
        if cached.is_some_and(|k| k.vmlinuz_size == vsize && k.initrd_size == isize) {
            return self.entry_from_image(&release);
        }
        // A kernel (or initrd) the image did not have: fetch it as a bootloader would read it.
        let dir = self.run_dir.join("boot");
        std::fs::create_dir_all(&dir)?;
        let (vmlinuz, initrd) = (dir.join(format!("vmlinuz-{release}")), dir.join(format!("initrd.img-{release}")));
        let sock = self.cfg.qga_socket.clone();
        let call = self.cfg.accel.scale(AGENT_CALL_TIMEOUT);
        let (r, v, i) = (release.clone(), vmlinuz.clone(), initrd.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut q = Qga::connect(&sock, call)?;
            std::fs::write(&v, q.read_file(&format!("/boot/vmlinuz-{r}"))?)?;
            std::fs::write(&i, q.read_file(&format!("/boot/initrd.img-{r}"))?)?;
            Ok(())
        })
        .await??;
        Ok(BootEntry { release, vmlinuz, initrd, cmdline: self.cmdline() })
    }

    /// Finds the newest kernel on the stopped guest's disk (qemu already
    /// exited, so the agent is gone): reads `/boot` of the overlay with
    /// debugfs on a raw copy.
    async fn newest_entry_offline(&self) -> Result<BootEntry> {
        let overlay = self.cfg.overlay.clone();
        let dir = self.run_dir.join("boot");
        let image_kernels = self.image.meta.kernels.clone();
        let (release, copied) = tokio::task::spawn_blocking(move || offline_newest(&overlay, &dir, &image_kernels)).await??;
        match copied {
            None => self.entry_from_image(&release),
            Some((vmlinuz, initrd)) => Ok(BootEntry { release, vmlinuz, initrd, cmdline: self.cmdline() }),
        }
    }

    /// Picks the next boot entry from the live guest's /boot and asks the
    /// guest to reboot (`systemctl reboot`, not the agent's guest-shutdown:
    /// that goes through `shutdown +0`, which needs logind, masked here).
    async fn prepare_reboot(&self) -> Result<BootEntry> {
        let listing = self.guest_kernels().await?;
        let entry = self.newest_entry(&listing).await?;
        let sock = self.cfg.qga_socket.clone();
        let call = self.cfg.accel.scale(AGENT_CALL_TIMEOUT);
        tokio::task::spawn_blocking(move || Qga::connect(&sock, call)?.spawn(&["/bin/systemctl", "reboot"])).await??;
        Ok(entry)
    }

    fn kill_qemu(&self) {
        if let Some(mut q) = self.lock().qemu.take() {
            q.kill();
        }
    }

    fn cleanup(&mut self) {
        self.kill_qemu();
        let _ = std::fs::remove_dir_all(&self.run_dir);
        let _ = std::fs::remove_file(&self.cfg.pid_file);
        qemu::disown_run_dir(&self.run_dir);
    }
}

/// True when the console's last kernel words were a restart request.
fn rebooted(console: &Path) -> bool {
    qemu::tail(console, 30).contains("reboot: Restarting system")
}

fn parse_boot_listing(text: &str) -> Result<Vec<(String, u64, u64)>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [r, v, i] => out.push((r.to_string(), v.parse()?, i.parse()?)),
            _ => bail!("unexpected /boot listing line {line:?}"),
        }
    }
    Ok(out)
}

/// Offline `/boot` reader: `qemu-img convert` the overlay chain to a sparse
/// raw file, list `/boot` with debugfs, dump the newest kernel's files when
/// they differ from the image's. Returns the release and the dumped files.
fn offline_newest(
    overlay: &Path,
    dir: &Path,
    image_kernels: &[disk::KernelFiles],
) -> Result<(String, Option<(PathBuf, PathBuf)>)> {
    std::fs::create_dir_all(dir)?;
    let raw = dir.join("disk-snapshot.raw");
    let run = |cmd: &mut std::process::Command| -> Result<String> {
        let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
        if !out.status.success() {
            bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    run(std::process::Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(overlay).arg(&raw))?;
    let result = (|| {
        let ls = run(std::process::Command::new("debugfs").args(["-R", "ls -p /boot"]).arg(&raw))?;
        // `ls -p` prints /inode/mode/uid/gid/name/size/ per entry.
        let mut sizes = std::collections::HashMap::new();
        for l in ls.lines() {
            let f: Vec<&str> = l.split('/').collect();
            if f.len() >= 7 {
                sizes.insert(f[5].to_string(), f[6].parse::<u64>().unwrap_or(0));
            }
        }
        let mut listing: Vec<(String, u64, u64)> = Vec::new();
        for (name, v) in &sizes {
            if let Some(r) = name.strip_prefix("vmlinuz-")
                && let Some(i) = sizes.get(&format!("initrd.img-{r}"))
            {
                listing.push((r.to_string(), *v, *i));
            }
        }
        let (release, v, i) = listing
            .into_iter()
            .max_by(|a, b| version_cmp(&a.0, &b.0))
            .ok_or_else(|| anyhow!("the guest's /boot holds no kernel with an initrd; it cannot boot"))?;
        if image_kernels.iter().any(|k| k.release == release && k.vmlinuz_size == v && k.initrd_size == i) {
            return Ok((release, None));
        }
        let (vm, ir) = (dir.join(format!("vmlinuz-{release}")), dir.join(format!("initrd.img-{release}")));
        for (src, dst) in [(format!("/boot/vmlinuz-{release}"), &vm), (format!("/boot/initrd.img-{release}"), &ir)] {
            run(std::process::Command::new("debugfs").args(["-R", &format!("dump {src} {}", dst.display())]).arg(&raw))?;
        }
        Ok((release, Some((vm, ir))))
    })();
    let _ = std::fs::remove_file(&raw);
    result
}

fn short_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:06x}", (nanos as u64 ^ ((std::process::id() as u64) << 20)) & 0xff_ffff)
}

#[async_trait]
impl Node for VmNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn platform(&self) -> Platform {
        self.platform.platform
    }

    fn resolved(&self) -> &'static ResolvedPlatform {
        self.platform
    }

    fn backend(&self) -> NodeBackend {
        NodeBackend::Vm
    }

    fn timeout_factor(&self) -> u32 {
        self.cfg.accel.timeout_factor()
    }

    async fn exec(&self, script: &str) -> Result<ExecOutput> {
        self.exec_timeout(script, self.cfg.accel.scale(EXEC_TIMEOUT)).await
    }

    /// The guest agent itself enforces `deadline` (no cap: a step's own
    /// timeout of 300 s is honoured, not cut at [`EXEC_TIMEOUT`]).
    async fn exec_timeout(&self, script: &str, deadline: Duration) -> Result<ExecOutput> {
        let start = Instant::now();
        let argv = vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
        let o = self.agent_exec(argv, deadline).await?;
        Ok(ExecOutput {
            exit_code: o.exit_code,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            duration: start.elapsed(),
        })
    }

    async fn copy_in(&self, path: &str, content: &[u8], mode: u32) -> Result<()> {
        if !path.starts_with('/') || path.contains('\'') {
            bail!("copy_in: path {path:?} must be absolute and contain no single quote");
        }
        self.ensure_running()?;
        let dir = Path::new(path).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
        let o = self.exec(&format!("mkdir -p '{dir}'")).await?;
        if !o.success() {
            bail!("copy_in {path} on VM {}: {}", self.name, o.combined());
        }
        let sock = self.cfg.qga_socket.clone();
        let call = self.cfg.accel.scale(AGENT_CALL_TIMEOUT);
        let (p, c) = (path.to_string(), content.to_vec());
        tokio::task::spawn_blocking(move || Qga::connect(&sock, call)?.write_file(&p, &c)).await??;
        let o = self.exec(&format!("chmod {mode:o} '{path}'")).await?;
        if !o.success() {
            bail!("copy_in {path} on VM {}: {}", self.name, o.combined());
        }
        Ok(())
    }

    async fn endpoint(&self, port: u16) -> Result<SocketAddr> {
        self.cfg
            .forwards
            .iter()
            .find(|(_, g)| *g == port)
            .map(|(h, _)| SocketAddr::from(([127, 0, 0, 1], *h)))
            .ok_or_else(|| {
                anyhow!(
                    "VM {} does not forward guest port {port} (it forwards {:?}); add it to the scenario's node.ports",
                    self.name,
                    self.cfg.forwards.iter().map(|(_, g)| g).collect::<Vec<_>>()
                )
            })
    }

    async fn reboot(&self) -> Result<()> {
        let start = Instant::now();
        let alive = self.lock().qemu.as_mut().is_some_and(|q| q.try_exited().is_none());
        let mut entry = None;
        if alive {
            // Read /boot as the bootloader will see it, then reboot the guest.
            // If the agent is already gone, the guest is rebooting by itself
            // (e.g. `netdoctor fix` ran `systemd-run --on-active=3 systemctl reboot`).
            match self.prepare_reboot().await {
                Ok(e) => entry = Some(e),
                Err(e) => tracing::info!("VM {}: guest agent unavailable before reboot ({e:#}); the guest is going down by itself", self.name),
            }
            let state = self.state.clone();
            let wait = self.cfg.accel.scale(SHUTDOWN_TIMEOUT);
            let exited = tokio::task::spawn_blocking(move || {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.qemu.as_mut().and_then(|q| q.wait_exit(wait))
            })
            .await?;
            if exited.is_none() {
                tracing::warn!("VM {}: the guest did not finish its reboot within {wait:?}; resetting it", self.name);
            }
        }
        self.kill_qemu();
        let entry = match entry {
            Some(e) => e,
            // qemu exited (the guest rebooted itself): read /boot from the disk.
            None => self.newest_entry_offline().await?,
        };
        tracing::info!("VM {}: rebooting into {} (newest in /boot)", self.name, entry.release);
        self.boot(entry).await?;
        tracing::info!("VM {}: reboot took {} ms", self.name, start.elapsed().as_millis());
        Ok(())
    }

    async fn await_own_reboot(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let state = self.state.clone();
        let exited = tokio::task::spawn_blocking(move || {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            st.qemu.as_mut().and_then(|q| q.wait_exit(timeout))
        })
        .await?;
        let Some(status) = exited else {
            bail!(
                "VM {}: the guest did not go down within {} s of the doctor's reboot (qemu runs with -no-reboot, so a \
                 guest reboot ends it); the reboot did not happen. Console tail:\n{}",
                self.name,
                timeout.as_secs(),
                qemu::tail(&self.cfg.console_log, 15)
            );
        };
        if !rebooted(&self.cfg.console_log) {
            bail!(
                "VM {}: qemu exited ({status}) without the kernel's `reboot: Restarting system`: the guest crashed or \
                 powered off, it did not reboot. Console tail:\n{}",
                self.name,
                qemu::tail(&self.cfg.console_log, 15)
            );
        }
        tracing::info!("VM {}: the guest went down by itself in {} ms ({status})", self.name, start.elapsed().as_millis());
        self.kill_qemu();
        let entry = self.newest_entry_offline().await?;
        tracing::info!("VM {}: booting {} (newest in /boot), as the bootloader would", self.name, entry.release);
        self.boot(entry).await
    }

    fn doctor_target(&self) -> String {
        format!("cmd:{} vm-exec --qga {}", self.repro.display(), self.cfg.qga_socket.display())
    }

    async fn logs(&self) -> Result<String> {
        let console = qemu::tail(&self.cfg.console_log, 60);
        let journal = match self.exec("journalctl -n 100 --no-pager 2>&1").await {
            Ok(o) => o.combined(),
            Err(e) => format!("(journal unavailable: {e:#})"),
        };
        Ok(format!("--- journal (guest) ---\n{journal}\n--- serial console ({}) ---\n{console}\n", self.cfg.console_log.display()))
    }

    async fn destroy(mut self: Box<Self>) -> Result<()> {
        self.cleanup();
        Ok(())
    }

    fn detach(mut self: Box<Self>) -> String {
        self.detached = true;
        let pid = self.lock().qemu.as_mut().map(|q| q.pid()).unwrap_or(0);
        // Keep the process and its run dir (its pid file stays for `repro gc`).
        if let Some(q) = self.lock().qemu.take() {
            q.disown();
        }
        qemu::disown_run_dir(&self.run_dir);
        format!(
            "VM {} left running (qemu pid {pid}): `{} ` reads a script from stdin and runs it in the guest; `repro gc` kills it",
            self.name,
            self.doctor_target().trim_start_matches("cmd:")
        )
    }
}

impl Drop for VmNode {
    fn drop(&mut self) {
        if !self.detached {
            self.cleanup();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_listing_parses_and_rejects_garbage() {
        let l = parse_boot_listing("6.1.0-55-amd64 8247232 7440932\n6.1.0-56-amd64 8247232 7441071\n").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].0, "6.1.0-56-amd64");
        assert!(parse_boot_listing("what\n").is_err());
    }
}
