//! Container nodes: systemd as PID 1 and a dockerd of their own inside,
//! on a private bridge network with a volume for `/var/lib/docker`.
//!
//! Security: `--privileged` first; when the engine refuses it (`unable to
//! apply caps`, seen in sandboxes whose bounding set lacks
//! CAP_SYS_RESOURCE) we fall back to the capability set proven in
//! DESIGN.md section 2, and remember that for the rest of the process.

use super::{ExecOutput, Node};
use crate::gc::{self, Owned};
use crate::matrix::ResolvedPlatform;
use crate::platform::{NodeBackend, Platform};
use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::CreateContainerOptions;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Knobs for starting a container node; `Default` is right for scenarios.
#[derive(Debug, Clone)]
pub struct ContainerOptions {
    /// How long to wait for systemd and dockerd inside (default 60 s).
    pub ready_timeout: Duration,
    /// Import the busybox `probe:latest` image inside once ready (default true).
    pub probe_image: bool,
    /// Use this image instead of building/looking up the platform's recipe.
    pub image: Option<String>,
    /// Units that do not start at boot (see [`super::NodeSettings::boot_without`]).
    pub boot_without: Vec<String>,
    /// `repro bench`'s baseline: readiness the naive way, `docker exec NODE
    /// docker info` from the host every 100 ms (a process and an engine
    /// round trip per poll), instead of one exec that polls inside.
    pub naive_ready: bool,
}

impl Default for ContainerOptions {
    fn default() -> Self {
        ContainerOptions { ready_timeout: Duration::from_secs(60), probe_image: true, image: None, boot_without: Vec::new(), naive_ready: false }
    }
}

/// Where a skipped unit's flag lives: `ConditionPathExists=!` on it keeps
/// the unit from starting at boot; the readiness check removes the flags,
/// so a later `systemctl start` works as on any host.
const BOOT_FLAGS: &str = "/run/repro/boot-without";

/// PID 1's command: systemd, after a shell has written, for each unit to
/// skip, a runtime drop-in conditioned on its flag (/run is the node's own
/// tmpfs: nothing is left in the image or the container layer).
fn boot_command(boot_without: &[String]) -> Result<Vec<String>> {
    if boot_without.is_empty() {
        return Ok(vec!["/lib/systemd/systemd".into()]);
    }
    let mut script = format!("mkdir -p {BOOT_FLAGS}");
    for u in boot_without {
        let unit = super::unit_name(u).ok_or_else(|| anyhow!("node.boot_without: {u:?} is not a unit name (letters, digits, @._-), e.g. \"firewalld\""))?;
        let dir = format!("/run/systemd/system/{unit}.d");
        script.push_str(&format!(
            " && mkdir -p {dir} && printf '[Unit]\\nConditionPathExists=!{BOOT_FLAGS}/{unit}\\n' > {dir}/repro-boot-without.conf && : > {BOOT_FLAGS}/{unit}"
        ));
    }
    script.push_str(" && exec /lib/systemd/systemd");
    Ok(vec!["/bin/sh".into(), "-c".into(), script])
}

/// How long each phase of [`ContainerNode::start_with`] took.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartTimings {
    /// Looking up (or building) the image.
    pub image: Duration,
    /// From creating the container to systemd up and `docker info` answering.
    pub ready: Duration,
    /// Importing the probe image inside (zero when not asked for).
    pub probe: Duration,
}

/// Security mode decided once per process: 0 = not yet known, 1 =
/// privileged works, 2 = privileged refused, use the capability set.
static MODE: AtomicU8 = AtomicU8::new(0);
const MODE_UNKNOWN: u8 = 0;
const MODE_PRIVILEGED: u8 = 1;
const MODE_CAPS: u8 = 2;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The probe image's name inside nodes.
pub const PROBE_IMAGE: &str = "probe:latest";

/// A node running as a container on the host's engine.
pub struct ContainerNode {
    docker: Docker,
    name: String,
    id: String,
    /// The platform as resolved once for the process (label, versions, recipe).
    platform: &'static ResolvedPlatform,
    ip: IpAddr,
    resources: Vec<Owned>,
    timings: StartTimings,
    /// Set once the resources are gone, so `Drop` does nothing.
    removed: bool,
}

impl std::fmt::Debug for ContainerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerNode").field("name", &self.name).field("id", &self.id).field("ip", &self.ip).finish()
    }
}

impl ContainerNode {
    /// Starts a node of `platform` with default options and waits until it
    /// is ready (systemd up, dockerd answering, probe image imported).
    /// Builds the platform's image first if it is missing.
    pub async fn start(platform: Platform) -> Result<ContainerNode> {
        ContainerNode::start_with(platform, &ContainerOptions::default()).await
    }

    /// Starts a node with explicit options.
    pub async fn start_with(platform: Platform, opts: &ContainerOptions) -> Result<ContainerNode> {
        let t = Instant::now();
        let resolved = crate::matrix::resolve(platform)?;
        // Refuse a node this host cannot run before building its image.
        crate::centos::check_container_host(&resolved.recipe.name)?;
        let image = match &opts.image {
            Some(i) => i.clone(),
            None => crate::images::ensure_image(&resolved.recipe).await?,
        };
        let image_time = t.elapsed();
        let docker = crate::docker::connect().await?;
        let name = unique_name(&resolved.label);
        let resources = vec![Owned::container(&name), Owned::volume(&name), Owned::network(&name)];
        // Registered before anything exists, so a Ctrl-C during creation
        // still removes whatever was made ("not found" counts as removed).
        gc::register(&name, resources.clone());
        let mut node = ContainerNode {
            docker,
            name: name.clone(),
            id: String::new(),
            platform: resolved,
            ip: IpAddr::from([0, 0, 0, 0]),
            resources,
            timings: StartTimings { image: image_time, ..Default::default() },
            removed: false,
        };
        // On any error below, dropping `node` removes what was created.
        node.create(&image, opts)
            .await
            .with_context(|| format!("while starting {platform} container node {name}"))?;
        Ok(node)
    }

    async fn create(&mut self, image: &str, opts: &ContainerOptions) -> Result<()> {
        let labels = crate::docker::labels(&[("org.repro.node", &self.name), ("org.repro.platform", &self.platform.label)]);
        // Independent: create both at once.
        let (net, vol) = tokio::join!(
            self.docker.create_network(NetworkCreateRequest {
                name: self.name.clone(),
                driver: Some("bridge".into()),
                labels: Some(labels.clone()),
                ..Default::default()
            }),
            self.docker.create_volume(VolumeCreateRequest {
                name: Some(self.name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
        );
        net.map_err(|e| {
            let hint = if e.to_string().contains("non-overlapping") {
                "; the engine's address pools are used up: remove leftovers with `repro gc` or unused networks with `docker network prune`"
            } else {
                ""
            };
            anyhow!("creating the node's network: {e}{hint}")
        })?;
        vol.context("creating the node's /var/lib/docker volume")?;

        let t0 = Instant::now();
        let cmd = boot_command(&opts.boot_without)?;
        self.create_and_start_container(image, &labels, &cmd).await?;
        if opts.naive_ready {
            self.wait_ready_naive(opts.ready_timeout).await?;
        } else {
            self.wait_ready(opts.ready_timeout).await?;
        }
        self.timings.ready = t0.elapsed();
        tracing::info!("node {} ready in {} ms", self.name, self.timings.ready.as_millis());

        let info = self.docker.inspect_container(&self.id, None).await.context("inspecting the node")?;
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(&self.name))
            .and_then(|e| e.ip_address)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("the node has no address on its network {}", self.name))?;
        self.ip = ip.parse().with_context(|| format!("parsing the node address {ip:?}"))?;

        if opts.probe_image {
            let t = Instant::now();
            self.prepare_probe_image().await?;
            self.timings.probe = t.elapsed();
        }
        Ok(())
    }

    /// Creates and starts the container, privileged if the engine allows it,
    /// else with the fallback capability set.
    async fn create_and_start_container(&mut self, image: &str, labels: &HashMap<String, String>, cmd: &[String]) -> Result<()> {
        let mode = match std::env::var("REPRO_NODE_PRIVILEGED").as_deref() {
            Ok("0") => MODE_CAPS,
            Ok("1") => MODE_PRIVILEGED,
            _ => MODE.load(Ordering::Relaxed),
        };
        let first = if mode == MODE_CAPS { MODE_CAPS } else { MODE_PRIVILEGED };
        match self.try_container(image, labels, cmd, first).await {
            Ok(()) => {
                MODE.compare_exchange(MODE_UNKNOWN, first, Ordering::Relaxed, Ordering::Relaxed).ok();
                Ok(())
            }
            Err(e) if first == MODE_PRIVILEGED && mode == MODE_UNKNOWN && privileged_refused(&e) => {
                tracing::info!("the engine refuses --privileged ({e}); using the capability set from DESIGN.md");
                gc::remove(&self.docker, &[Owned::container(&self.name)]).await?;
                self.try_container(image, labels, cmd, MODE_CAPS).await?;
                MODE.store(MODE_CAPS, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn try_container(&mut self, image: &str, labels: &HashMap<String, String>, cmd: &[String], mode: u8) -> Result<()> {
        let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let mut binds = vec![format!("{}:/var/lib/docker", self.name)];
        // cgroup v1: systemd and the inner dockerd need the host's tree
        // writable (else `mkdir /sys/fs/cgroup/cpuset/docker: read-only`).
        // cgroup v2 with --privileged: a private namespace is writable as is.
        if !cgroup_v2 || mode == MODE_CAPS {
            binds.push("/sys/fs/cgroup:/sys/fs/cgroup:rw".into());
        }
        let tmpfs = HashMap::from([
            ("/run".to_string(), "rw,nosuid,nodev,exec,mode=755".to_string()),
            ("/run/lock".to_string(), "rw,nosuid,nodev,noexec".to_string()),
            ("/tmp".to_string(), "rw,nosuid,nodev,exec,mode=1777".to_string()),
        ]);
        let mut host = HostConfig {
            binds: Some(binds),
            tmpfs: Some(tmpfs),
            network_mode: Some(self.name.clone()),
            cgroupns_mode: Some(if cgroup_v2 { HostConfigCgroupnsModeEnum::PRIVATE } else { HostConfigCgroupnsModeEnum::HOST }),
            ..Default::default()
        };
        if mode == MODE_PRIVILEGED {
            host.privileged = Some(true);
        } else {
            host.cap_add = Some(vec!["ALL".into()]);
            host.cap_drop = Some(vec!["SYS_RESOURCE".into()]);
            host.security_opt = Some(vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()]);
            // `--security-opt systempaths=unconfined` is a CLI spelling: the
            // API takes empty masked/read-only path lists instead.
            host.masked_paths = Some(vec![]);
            host.readonly_paths = Some(vec![]);
            host.device_cgroup_rules = Some(vec!["a *:* rwm".into()]);
        }
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            hostname: Some(self.name.clone()),
            cmd: Some(cmd.to_vec()),
            env: Some(vec!["container=docker".into()]),
            stop_signal: Some("SIGRTMIN+3".into()),
            labels: Some(labels.clone()),
            host_config: Some(host),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(CreateContainerOptions { name: Some(self.name.clone()), ..Default::default() }), body)
            .await
            .with_context(|| format!("creating container from image {image}"))?;
        self.id = created.id;
        self.docker
            .start_container(&self.id, None)
            .await
            .map_err(|e| anyhow!("starting the node container: {e}"))?;
        Ok(())
    }

    /// Waits until systemd is running (or degraded) and `docker info`
    /// answers inside, then drops the boot flags (BOOT_FLAGS). The polling (every 20 ms) runs inside the node in one
    /// exec, so it costs one engine round trip, not one per poll; the outer
    /// loop only retries while the container is too young to exec into.
    async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        // $1 = how many 20 ms rounds to try before giving up; $2 = BOOT_FLAGS.
        // `_ping` over the socket with curl (a few ms; every node image has
        // curl) rather than the docker CLI (about 50 ms a poll); 20 ms rounds.
        const CHECK: &str = r#"n=0
if command -v curl >/dev/null 2>&1; then
  up() { curl -sf --max-time 2 --unix-socket /run/docker.sock http://localhost/_ping >/dev/null 2>&1; }
else
  up() { [ -n "$(docker info --format '{{.ServerVersion}}' 2>/dev/null)" ]; }
fi
while :; do
  s=$(systemctl is-system-running 2>/dev/null)
  case "$s" in
    running|degraded) up && { rm -rf "$2"; echo READY; exit 0; }
                      msg="systemd is $s, dockerd not answering yet";;
    *) msg="systemd is ${s:-not answering}";;
  esac
  n=$((n+1)); [ "$n" -ge "$1" ] && { echo "$msg"; exit 1; }
  sleep 0.02
done"#;
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            let rounds = (deadline.saturating_duration_since(Instant::now()).as_millis() / 20).max(1).to_string();
            let outer = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
            let res = tokio::time::timeout(outer, self.exec_argv(&["sh", "-c", CHECK, "sh", &rounds, BOOT_FLAGS]))
                .await
                .unwrap_or_else(|_| Err(anyhow!("the readiness check inside the node hung")));
            match res {
                Ok(o) if o.stdout.trim() == "READY" => return Ok(()),
                Ok(o) => last = o.combined().trim().to_string(),
                Err(e) => {
                    last = format!("{e:#}");
                    let state = self.docker.inspect_container(&self.id, None).await.ok().and_then(|i| i.state);
                    if let Some(s) = state.filter(|s| s.running == Some(false)) {
                        bail!(
                            "the node container exited (code {:?}, error {:?}) before it was ready; its output:\n{}",
                            s.exit_code,
                            s.error.unwrap_or_default(),
                            self.container_output().await
                        );
                    }
                }
            }
            if Instant::now() >= deadline {
                let journal = self
                    .exec("journalctl -n 50 --no-pager 2>&1")
                    .await
                    .map(|o| o.combined())
                    .unwrap_or_else(|e| format!("(journal unavailable: {e:#})"));
                bail!(
                    "node {} not ready after {} s ({last}); raise ContainerOptions::ready_timeout on a slow host. \
                     Last 50 journal lines:\n{journal}",
                    self.name,
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The baseline's readiness: what a script around `docker run` does.
    async fn wait_ready_naive(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let name = self.name.clone();
            let ok = tokio::task::spawn_blocking(move || {
                // Docker 26's CLI exits 0 with an empty ServerVersion while
                // the daemon is not up yet: the version itself is the answer.
                std::process::Command::new("docker")
                    .args(["exec", &name, "docker", "info", "--format", "{{.ServerVersion}}"])
                    .stderr(std::process::Stdio::null())
                    .output()
                    .is_ok_and(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty())
            })
            .await?;
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("baseline node {}: `docker info` inside did not answer within {} s", self.name, timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn container_output(&self) -> String {
        let opts = bollard::query_parameters::LogsOptions { stdout: true, stderr: true, tail: "50".into(), ..Default::default() };
        let mut s = String::new();
        let mut logs = self.docker.logs(&self.id, Some(opts));
        while let Some(Ok(chunk)) = logs.next().await {
            s.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        s
    }

    /// Imports `probe:latest` inside the node: a rootfs holding only the
    /// node's static busybox and `/www/index.html`, whose default command is
    /// `busybox httpd -f -p 80 -h /www`. Idempotent.
    pub async fn prepare_probe_image(&self) -> Result<()> {
        const SCRIPT: &str = r#"set -e
docker image inspect probe:latest >/dev/null 2>&1 && exit 0
d=$(mktemp -d)
mkdir -p "$d/bin" "$d/www"
cp /bin/busybox "$d/bin/busybox"
ln -s busybox "$d/bin/sh"
echo "probe ok" > "$d/www/index.html"
tar -C "$d" -c . | docker import -c 'CMD ["/bin/busybox","httpd","-f","-p","80","-h","/www"]' - probe:latest >/dev/null
rm -rf "$d""#;
        let o = self.exec(SCRIPT).await?;
        if !o.success() {
            bail!("importing the probe image inside node {} failed (exit {}):\n{}", self.name, o.exit_code, o.combined());
        }
        Ok(())
    }

    /// The container's id on the host engine.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The node's address on its private network (reachable from the host).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// How long starting this node took, by phase.
    pub fn timings(&self) -> StartTimings {
        self.timings
    }

    /// Leaves the node running after this value is dropped (for `repro
    /// shell --keep`); returns the container name. `repro gc` (its run is over) or
    /// `docker rm -f` removes it later.
    pub fn keep(mut self) -> String {
        self.removed = true;
        gc::unregister(&self.name);
        self.name.clone()
    }

    /// Runs a command (argv, no shell) inside the node.
    pub async fn exec_argv(&self, argv: &[&str]) -> Result<ExecOutput> {
        let t = Instant::now();
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("creating an exec in node {}", self.name))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        match self.docker.start_exec(&exec.id, None).await.with_context(|| format!("starting an exec in node {}", self.name))? {
            StartExecResults::Attached { mut output, .. } => {
                while let Some(chunk) = output.next().await {
                    match chunk.with_context(|| format!("reading exec output from node {}", self.name))? {
                        bollard::container::LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                        bollard::container::LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                        _ => {}
                    }
                }
            }
            StartExecResults::Detached => bail!("exec in node {} started detached", self.name),
        }
        let inspect = self.docker.inspect_exec(&exec.id).await.context("inspecting the exec")?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration: t.elapsed(),
        })
    }

    fn mark_removed(&mut self) {
        self.removed = true;
        gc::unregister(&self.name);
    }
}

/// True when starting a privileged container failed because the engine
/// (or the sandbox around it) cannot grant all capabilities.
fn privileged_refused(e: &anyhow::Error) -> bool {
    let s = format!("{e:#}");
    s.contains("unable to apply caps") || s.contains("operation not permitted")
}

/// `repro-debian12-<pid>-<n>`: unique per process and call, readable in
/// `docker ps`.
fn unique_name(label: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("repro-{label}-{}-{n}-{:04x}", std::process::id(), nanos & 0xffff)
}

#[async_trait]
impl Node for ContainerNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn platform(&self) -> Platform {
        self.platform.platform
    }

    fn backend(&self) -> NodeBackend {
        NodeBackend::Container
    }

    fn resolved(&self) -> &'static ResolvedPlatform {
        self.platform
    }

    async fn exec(&self, script: &str) -> Result<ExecOutput> {
        self.exec_argv(&["sh", "-c", script]).await
    }

    async fn copy_in(&self, path: &str, content: &[u8], mode: u32) -> Result<()> {
        // Through exec rather than the archive API: the archive API writes
        // to the image layer and misses tmpfs mounts (/tmp, /run) inside.
        if !path.starts_with('/') || path.contains('\'') {
            bail!("copy_in: path {path:?} must be absolute and contain no single quote");
        }
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(content);
        let dir = std::path::Path::new(path).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
        let tmp = format!("{path}.repro-part");
        let o = self.exec(&format!("mkdir -p '{dir}' && : > '{tmp}'")).await?;
        if !o.success() {
            bail!("copy_in {path} on node {}: {}", self.name, o.combined());
        }
        // Arguments are capped at 128 KiB each by the kernel: send chunks.
        for chunk in b64.as_bytes().chunks(96 * 1024) {
            let chunk = std::str::from_utf8(chunk).expect("base64 is ASCII");
            let o = self.exec_argv(&["sh", "-c", "printf %s \"$1\" | base64 -d >> \"$2\"", "sh", chunk, &tmp]).await?;
            if !o.success() {
                bail!("copy_in {path} on node {}: {}", self.name, o.combined());
            }
        }
        let o = self.exec(&format!("chmod {mode:o} '{tmp}' && mv -f '{tmp}' '{path}'")).await?;
        if !o.success() {
            bail!("copy_in {path} on node {}: {}", self.name, o.combined());
        }
        Ok(())
    }

    async fn endpoint(&self, port: u16) -> Result<SocketAddr> {
        Ok(SocketAddr::new(self.ip, port))
    }

    async fn reboot(&self) -> Result<()> {
        bail!(
            "container node {} cannot reboot: containers share the host kernel, so a reboot would \
             change nothing a kernel-level scenario needs; run this scenario on the `vm` backend",
            self.name
        )
    }

    fn doctor_target(&self) -> String {
        format!("docker:{}", self.id)
    }

    async fn logs(&self) -> Result<String> {
        Ok(self.exec("journalctl -n 100 --no-pager 2>&1").await?.combined())
    }

    fn detach(self: Box<Self>) -> String {
        let name = self.keep();
        format!("node {name} left running: `repro shell {name}` to enter it, `repro gc` to remove it (and every other leftover of finished runs)")
    }

    async fn destroy(mut self: Box<Self>) -> Result<()> {
        let res = gc::remove(&self.docker, &self.resources).await;
        self.mark_removed();
        res.with_context(|| format!("removing node {}", self.name))
    }
}

impl Drop for ContainerNode {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Err(e) = gc::remove_blocking(self.resources.clone()) {
            tracing::error!("removing node {} failed ({e:#}); run `repro gc`", self.name);
        }
        self.mark_removed();
    }
}
