//! Nothing leaks: a process-wide registry of the engine resources this
//! process owns (removed by `Drop`, or on Ctrl-C by [`remove_live_blocking`],
//! see [`crate::interrupt`]), and a sweep of every labelled leftover from
//! killed runs (`repro gc`).
//!
//! VM backends keep their qemu processes out of the engine: they either
//! write a pid file into [`crate::config::vm_run_dir`] (swept by [`sweep`]) or register
//! their own cleanup with [`register_reaper`].

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use std::sync::Mutex;

/// The kind of an engine resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A container (removed with force, with its anonymous volumes).
    Container,
    /// A named volume.
    Volume,
    /// A network.
    Network,
}

/// One engine resource this process owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// What it is.
    pub kind: Kind,
    /// Its name (or id).
    pub name: String,
}

impl Owned {
    /// A container by name or id.
    pub fn container(name: &str) -> Owned {
        Owned { kind: Kind::Container, name: name.to_string() }
    }
    /// A volume by name.
    pub fn volume(name: &str) -> Owned {
        Owned { kind: Kind::Volume, name: name.to_string() }
    }
    /// A network by name or id.
    pub fn network(name: &str) -> Owned {
        Owned { kind: Kind::Network, name: name.to_string() }
    }
}

/// Live resource groups, by group key (a node's name). A group is removed
/// in its listed order (container before its volume and network).
static LIVE: Mutex<Vec<(String, Vec<Owned>)>> = Mutex::new(Vec::new());

/// Extra cleanup functions (e.g. a VM backend killing its qemu processes),
/// run by [`remove_live_blocking`].
static REAPERS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Records a group of resources so a signal handler can remove them.
pub fn register(key: &str, resources: Vec<Owned>) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|(k, _)| k != key);
    live.push((key.to_string(), resources));
}

/// Forgets a group (after it was removed).
pub fn unregister(key: &str) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|(k, _)| k != key);
}

/// Registers a function run on Ctrl-C / [`remove_live_blocking`], for
/// resources that are not engine objects (qemu processes, temp disks).
pub fn register_reaper(f: fn()) {
    REAPERS.lock().unwrap_or_else(|e| e.into_inner()).push(f);
}

/// Removes resources in order, treating "already gone" as success.
pub async fn remove(docker: &Docker, resources: &[Owned]) -> Result<()> {
    let mut first_err = None;
    for r in resources {
        // 409 = a concurrent removal of the container is in progress, or the
        // volume/network is still held by it: wait for it, bounded (~10 s).
        let mut attempt = 0;
        let res = loop {
            let res = remove_one(docker, r).await;
            match &res {
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) if attempt < 40 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                _ => break res,
            }
        };
        match res {
            Ok(()) => {}
            Err(e) if crate::docker::is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!("removing {:?} {}: {e}", r.kind, r.name);
                first_err.get_or_insert(anyhow::Error::new(e).context(format!("removing {:?} {}", r.kind, r.name)));
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

async fn remove_one(docker: &Docker, r: &Owned) -> std::result::Result<(), bollard::errors::Error> {
    match r.kind {
        Kind::Container => {
            let o = RemoveContainerOptions { force: true, v: true, ..Default::default() };
            docker.remove_container(&r.name, Some(o)).await
        }
        Kind::Volume => docker.remove_volume(&r.name, Some(RemoveVolumeOptions { force: true })).await,
        Kind::Network => docker.remove_network(&r.name).await,
    }
}

/// True when the resource still exists on the engine.
pub async fn exists(docker: &Docker, r: &Owned) -> Result<bool> {
    let res = match r.kind {
        Kind::Container => docker.inspect_container(&r.name, None).await.map(|_| ()),
        Kind::Volume => docker.inspect_volume(&r.name).await.map(|_| ()),
        Kind::Network => docker.inspect_network(&r.name, None).await.map(|_| ()),
    };
    match res {
        Ok(()) => Ok(true),
        Err(e) if crate::docker::is_not_found(&e) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("inspecting {:?} {}", r.kind, r.name)),
    }
}

/// [`remove`] from synchronous code (`Drop`, signal handlers): runs on a
/// private runtime in its own thread, so it works while the caller's
/// runtime is shutting down or unwinding from a panic.
pub fn remove_blocking(resources: Vec<Owned>) -> Result<()> {
    crate::docker::block_on_private(move || {
        Box::pin(async move {
            let docker = crate::docker::connect().await?;
            remove(&docker, &resources).await
        })
    })
}

/// Removes every resource group still registered by this process and runs
/// the registered reapers (Ctrl-C: see [`crate::interrupt`]). An error says
/// what could not be removed; `repro gc` removes it later.
pub fn remove_live_blocking() -> Result<()> {
    let groups: Vec<(String, Vec<Owned>)> = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    let all: Vec<Owned> = groups.into_iter().flat_map(|(_, r)| r).collect();
    let removed = if all.is_empty() { Ok(()) } else { remove_blocking(all) };
    let reapers = REAPERS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for f in reapers {
        f();
    }
    removed
}

/// What [`sweep`] removed.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Container names removed.
    pub containers: Vec<String>,
    /// Volume names removed.
    pub volumes: Vec<String>,
    /// Network names removed.
    pub networks: Vec<String>,
    /// qemu pids killed (from pid files in [`crate::config::vm_run_dir`]).
    pub vm_pids: Vec<i32>,
    /// VM run directories removed (overlay, sockets, logs of dead nodes).
    pub vm_dirs: Vec<String>,
}

/// True when the resource's creating process (label [`crate::docker::RUN_LABEL`])
/// is gone. Resources without that label (made by hand) are never orphans.
fn orphaned(labels: Option<&std::collections::HashMap<String, String>>) -> bool {
    let pid = labels.and_then(|l| l.get(crate::docker::RUN_LABEL)).and_then(|p| p.parse::<i32>().ok());
    match pid {
        Some(pid) => !alive(pid),
        // No run label: made by hand or by another tool; not ours to judge.
        None => false,
    }
}

fn alive(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The parent pid of a process, from /proc/<pid>/status.
fn parent_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|v| v.trim().parse().ok())
}

/// Removes labelled containers, volumes and networks left by runs whose
/// process is gone, and qemu processes recorded in [`crate::config::vm_run_dir`] whose
/// owner is gone. With `all`, removes every labelled resource and recorded
/// qemu, including those of runs still going and those made by hand.
/// Images are kept: they are the cache.
pub async fn sweep(docker: &Docker, all: bool) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let filters = Some(crate::docker::managed_filter());
    let containers = docker
        .list_containers(Some(ListContainersOptions { all: true, filters: filters.clone(), ..Default::default() }))
        .await
        .context("listing labelled containers")?;
    let mut doomed = Vec::new();
    for c in containers {
        if !all && !orphaned(c.labels.as_ref()) {
            continue;
        }
        let name = c.names.and_then(|n| n.into_iter().next()).map(|n| n.trim_start_matches('/').to_string());
        let id = c.id.unwrap_or_default();
        doomed.push(Owned::container(&id));
        report.containers.push(name.unwrap_or(id));
    }
    remove(docker, &doomed).await?;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters: filters.clone() }))
        .await
        .context("listing labelled volumes")?;
    let vols: Vec<Owned> = volumes
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| all || orphaned(Some(&v.labels)))
        .map(|v| Owned::volume(&v.name))
        .collect();
    report.volumes = vols.iter().map(|o| o.name.clone()).collect();
    remove(docker, &vols).await?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters }))
        .await
        .context("listing labelled networks")?;
    let nets: Vec<Owned> = networks
        .into_iter()
        .filter(|n| all || orphaned(n.labels.as_ref()))
        .filter_map(|n| n.name)
        .map(|n| Owned::network(&n))
        .collect();
    report.networks = nets.iter().map(|o| o.name.clone()).collect();
    remove(docker, &nets).await?;
    let run_dir = crate::config::vm_run_dir();
    report.vm_pids = reap_vm_pid_files(&run_dir, all);
    report.vm_dirs = remove_orphan_run_dirs(&run_dir, (!all).then_some(std::time::Duration::from_secs(60)));
    Ok(report)
}

/// Removes VM run directories (overlays of up to a few GB) that no pid file
/// vouches for (their node's qemu is gone, or `repro gc` removed the file)
/// and that were last touched `min_age` ago or earlier (a node creates its
/// directory, then its pid file, within a second); `None`: every one.
pub fn remove_orphan_run_dirs(dir: &std::path::Path, min_age: Option<std::time::Duration>) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let age = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        let old_enough = min_age.is_none_or(|min| age.is_some_and(|a| a >= min));
        if !path.is_dir() || dir.join(format!("{name}.pid")).exists() || !old_enough {
            continue;
        }
        tracing::info!("removing the orphaned VM run dir {}", path.display());
        if std::fs::remove_dir_all(&path).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Kills qemu processes recorded in [`crate::config::vm_run_dir`] and removes their files.
///
/// A pid file holds the qemu pid, optionally followed by the owner's pid.
/// A qemu still owned by a live process (the recorded owner, else its
/// parent unless that is PID 1) is left alone unless `all`; a pid whose
/// process is not a qemu any more (reused) is never killed.
fn reap_vm_pid_files(dir: &std::path::Path, all: bool) -> Vec<i32> {
    let mut killed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return killed };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("pid") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut fields = text.split_whitespace().map(|f| f.parse::<i32>().ok());
        let (pid, owner) = (fields.next().flatten(), fields.next().flatten());
        if let Some(pid) = pid {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let is_qemu = comm.trim_end().starts_with("qemu");
            let owner = owner.or_else(|| parent_of(pid).filter(|&p| p > 1));
            if is_qemu && !all && owner.is_some_and(alive) {
                continue;
            }
            if is_qemu {
                // SAFETY: plain kill(2) on a pid we just checked is a qemu.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed.push(pid);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn only_resources_of_dead_runs_are_orphans() {
        let me = HashMap::from([(crate::docker::RUN_LABEL.to_string(), std::process::id().to_string())]);
        let dead = HashMap::from([(crate::docker::RUN_LABEL.to_string(), "2147483646".to_string())]);
        assert!(!orphaned(Some(&me)));
        assert!(orphaned(Some(&dead)));
        assert!(!orphaned(Some(&HashMap::new())), "hand-made resources are not ours to sweep");
        assert!(!orphaned(None));
    }

    #[test]
    fn pid_files_of_non_qemu_processes_are_removed_without_killing() {
        let d = tempfile::tempdir().unwrap();
        // Our own pid: alive, but not a qemu, so it must survive.
        std::fs::write(d.path().join("a.pid"), std::process::id().to_string()).unwrap();
        std::fs::write(d.path().join("b.pid"), "not a pid").unwrap();
        std::fs::write(d.path().join("notes.txt"), "kept").unwrap();
        assert!(reap_vm_pid_files(d.path(), true).is_empty());
        assert!(!d.path().join("a.pid").exists() && !d.path().join("b.pid").exists());
        assert!(d.path().join("notes.txt").exists());
    }
}
