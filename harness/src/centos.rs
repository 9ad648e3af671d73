//! CentOS 7 nodes: real where CentOS 7's sources can be reached, emulated
//! (and named so) everywhere else.
//!
//! The real recipe (`images/centos7/real`) needs what most machines can no
//! longer reach since CentOS 7's end of life: the CentOS vault, Docker CE's
//! el7 repository and a registry serving `centos:7`. The emulated recipe
//! (`images/centos7/emulated`) is Debian 12 shaped to behave like CentOS 7
//! where the incidents depend on it; its image, node names, labels,
//! transcripts and snapshots all say `centos7-emulated`.
//!
//! `REPRO_CENTOS7=real|emulated|auto` (default `auto`) chooses. `auto`
//! probes the real recipe's sources once per process (a few seconds at
//! most) and logs which flavour it picked and why.

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::config::images_dir;
use crate::recipe::Recipe;
use crate::platform::Platform;

/// The environment variable that chooses the flavour.
pub const ENV: &str = "REPRO_CENTOS7";

/// Bound on each reachability probe (connect and answer).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Bound on a real image build (it downloads a few hundred MB of rpms).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Which CentOS 7 image a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// CentOS 7.9 from the vault with docker-ce from Docker's el7 repository.
    Real,
    /// Debian 12 userland shaped like CentOS 7 (`images/centos7/emulated`).
    Emulated,
}

impl Flavor {
    /// The recipe's directory under `images/centos7/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Flavor::Real => "real",
            Flavor::Emulated => "emulated",
        }
    }

    /// The recipe (and image, and report) name: `centos7` or `centos7-emulated`.
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Real => "centos7",
            Flavor::Emulated => "centos7-emulated",
        }
    }

    /// The recipe directory of this flavour.
    pub fn recipe_dir(self) -> PathBuf {
        images_dir().join(Platform::Centos7.name()).join(self.dir_name())
    }
}

/// What `REPRO_CENTOS7` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Real when its sources answer, else emulated (the default).
    Auto,
    /// Real, or a clear error.
    Real,
    /// Emulated, without probing anything.
    Emulated,
}

impl Request {
    /// Parses the variable's value (`None` or empty = unset = auto).
    pub fn parse(value: Option<&str>) -> Result<Request> {
        match value.map(str::trim) {
            None | Some("") | Some("auto") => Ok(Request::Auto),
            Some("real") => Ok(Request::Real),
            Some("emulated") => Ok(Request::Emulated),
            Some(other) => bail!("{ENV}={other:?} is not understood; use real, emulated or auto (the default)"),
        }
    }

    /// Reads `REPRO_CENTOS7`.
    pub fn from_env() -> Result<Request> {
        Request::parse(std::env::var(ENV).ok().as_deref())
    }
}

/// The flavour in use and why, for the log and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Real or emulated.
    pub flavor: Flavor,
    /// One line saying why.
    pub reason: String,
}

/// Decides the flavour. `probe` is called only for `auto` on a cgroup v1
/// host, and returns why the real sources cannot be used, if they cannot.
pub fn decide(req: Request, cgroup_v2: bool, probe: impl FnOnce() -> Result<(), String>) -> Choice {
    let (flavor, reason) = match req {
        Request::Real => (Flavor::Real, format!("{ENV}=real")),
        Request::Emulated => (Flavor::Emulated, format!("{ENV}=emulated")),
        Request::Auto if cgroup_v2 => (
            Flavor::Emulated,
            "this host uses cgroup v2, where real CentOS 7 container nodes (systemd 219) cannot run".to_string(),
        ),
        Request::Auto => match probe() {
            Ok(()) => (Flavor::Real, "the real CentOS 7 sources answer".to_string()),
            Err(why) => (Flavor::Emulated, format!("the real CentOS 7 sources cannot be reached ({why})")),
        },
    };
    Choice { flavor, reason }
}

/// The process-wide choice: decided once (probing at most once), logged once.
pub fn choice() -> Result<Choice> {
    static CHOICE: OnceLock<Result<Choice, String>> = OnceLock::new();
    CHOICE
        .get_or_init(|| {
            let req = Request::from_env().map_err(|e| e.to_string())?;
            let c = decide(req, cgroup_v2_host(), || {
                let sources = Sources::load(&Flavor::Real.recipe_dir()).map_err(|e| format!("{e:#}"))?;
                probe_sources(&sources)
            });
            match c.flavor {
                Flavor::Real => tracing::info!("centos7: using the REAL CentOS 7 image ({}); {ENV}=emulated overrides", c.reason),
                Flavor::Emulated => tracing::info!(
                    "centos7: using the EMULATED image, centos7-emulated: Debian 12 userland shaped like CentOS 7 ({}); \
                     {ENV}=real insists on the real one",
                    c.reason
                ),
            }
            Ok(c)
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// True on a unified (cgroup v2) hierarchy.
pub fn cgroup_v2_host() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Refuses, with the fix, a container node that cannot work on this host:
/// real CentOS 7 (systemd 219 cannot be PID 1 on cgroup v2; it would hang
/// or exit early instead). `label` is the recipe name of the node's image.
pub fn check_container_host(label: &str) -> Result<()> {
    check_container_host_with(label, cgroup_v2_host())
}

fn check_container_host_with(label: &str, cgroup_v2: bool) -> Result<()> {
    if label == Flavor::Real.label() && cgroup_v2 {
        bail!(
            "real CentOS 7 container nodes need a cgroup v1 host: CentOS 7's systemd 219 cannot run as PID 1 \
             on this cgroup v2 host. Use the VM backend, a host booted with \
             systemd.unified_cgroup_hierarchy=0, or {ENV}=emulated (Debian's systemd works on both)"
        );
    }
    Ok(())
}

/// Where the real image's parts come from (`images/centos7/real/sources.toml`,
/// each overridable by an environment variable).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// The base image, `centos:7` (`REPRO_CENTOS7_BASE_IMAGE`).
    pub base_image: String,
    /// The CentOS 7.9 tree holding `os/`, `updates/`, `extras/` (`REPRO_CENTOS7_VAULT`).
    pub vault: String,
    /// Docker CE's el7 stable repository (`REPRO_CENTOS7_DOCKER_REPO`).
    pub docker_repo: String,
    /// The key Docker's rpms are signed with (`REPRO_CENTOS7_DOCKER_GPGKEY`).
    pub docker_gpgkey: String,
}

impl Sources {
    /// Reads `<dir>/sources.toml` and applies the environment overrides.
    pub fn load(dir: &Path) -> Result<Sources> {
        let file = dir.join("sources.toml");
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let mut s: Sources = toml::from_str(&text).with_context(|| format!("invalid {}", file.display()))?;
        for (var, field) in [
            ("REPRO_CENTOS7_BASE_IMAGE", &mut s.base_image),
            ("REPRO_CENTOS7_VAULT", &mut s.vault),
            ("REPRO_CENTOS7_DOCKER_REPO", &mut s.docker_repo),
            ("REPRO_CENTOS7_DOCKER_GPGKEY", &mut s.docker_gpgkey),
        ] {
            if let Ok(v) = std::env::var(var).map(|v| v.trim().to_string())
                && !v.is_empty()
            {
                *field = v;
            }
        }
        for (name, var, url) in [
            ("vault", "REPRO_CENTOS7_VAULT", &s.vault),
            ("docker_repo", "REPRO_CENTOS7_DOCKER_REPO", &s.docker_repo),
            ("docker_gpgkey", "REPRO_CENTOS7_DOCKER_GPGKEY", &s.docker_gpgkey),
        ] {
            // We name no mirror in code: the user says where CentOS 7 lives.
            if url.is_empty() {
                bail!("real CentOS 7 sources are not configured: set {var} or `{name}` in {}", file.display());
            }
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://")) {
                bail!("{}: field `{name}` = {url:?} is not an http(s):// or file:// URL", file.display());
            }
        }
        Ok(s)
    }

    /// The repository metadata files a yum install needs first: one per repository.
    pub fn probe_urls(&self) -> Vec<String> {
        let vault = self.vault.trim_end_matches('/');
        vec![
            format!("{vault}/os/x86_64/repodata/repomd.xml"),
            format!("{}/repodata/repomd.xml", self.docker_repo.trim_end_matches('/')),
        ]
    }
}

/// Fetches each of the sources' metadata files once, with curl (which
/// honours the user's proxy variables), each bounded by [`PROBE_TIMEOUT`].
/// Returns why the first one failed.
pub fn probe_sources(s: &Sources) -> Result<(), String> {
    let secs = PROBE_TIMEOUT.as_secs().to_string();
    for url in s.probe_urls() {
        let t = Instant::now();
        let out = std::process::Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", "--connect-timeout", &secs, "--max-time", &secs, &url])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run curl to probe {url}: {e}; install curl"))?;
        tracing::debug!("centos7: probe {url}: {} in {} ms", out.status, t.elapsed().as_millis());
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(format!("GET {url}: {}", if err.is_empty() { out.status.to_string() } else { err }));
        }
    }
    Ok(())
}

/// Builds the real CentOS 7 image as `tag`: `docker build` of the recipe's
/// Dockerfile from `centos:7`, with yum pointed at the vault and Docker's
/// el7 repository. Probes the sources first so an unreachable one is a
/// message in seconds, not a build that hangs on yum's retries.
pub async fn build_real(recipe: &Recipe, tag: &str) -> Result<()> {
    let sources = Sources::load(&recipe.dir)?;
    let probe = sources.clone();
    tokio::task::spawn_blocking(move || probe_sources(&probe)).await?.map_err(|why| {
        anyhow!(
            "cannot build the real CentOS 7 image: {why}. It needs the CentOS vault and Docker CE's el7 repository \
             (images/centos7/real/sources.toml; override with REPRO_CENTOS7_VAULT / REPRO_CENTOS7_DOCKER_REPO to use \
             a mirror you can reach) and a registry serving {} (REPRO_CENTOS7_BASE_IMAGE). Without them, use the \
             emulated image: {ENV}=emulated (or auto). See images/centos7/README.md",
            sources.base_image
        )
    })?;

    // The build context: the recipe directory plus the host's static
    // busybox (CentOS 7 has none; the probe web server inside nodes is it).
    let ctx = tempfile::Builder::new().prefix("repro-centos7-").tempdir().context("creating the build context")?;
    copy_tree(&recipe.dir, ctx.path())?;
    let busybox = Path::new("/bin/busybox");
    std::fs::copy(busybox, ctx.path().join("busybox")).with_context(|| {
        format!("copying {} into the build context; install busybox-static (`sudo ci/bootstrap`)", busybox.display())
    })?;

    let mut args: Vec<String> = vec!["build".into(), "--force-rm".into(), "-t".into(), tag.into()];
    for (k, v) in [
        ("BASE_IMAGE", sources.base_image.as_str()),
        ("VAULT", sources.vault.trim_end_matches('/')),
        ("DOCKER_REPO", sources.docker_repo.trim_end_matches('/')),
        ("DOCKER_GPGKEY", sources.docker_gpgkey.as_str()),
        ("PACKAGES", &recipe.packages.join(" ")),
    ] {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    args.push("--label".into());
    args.push(format!("org.repro.recipe={}", recipe.name));
    args.push("--label".into());
    args.push(format!("org.repro.recipe-hash={}", recipe.hash()?));
    args.push(ctx.path().display().to_string());
    tracing::info!("centos7: docker {}", args.join(" "));

    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(&args);
    let run = tokio::time::timeout(BUILD_TIMEOUT, crate::logged::run(cmd, "docker build", None))
        .await
        .map_err(|_| anyhow!("the real CentOS 7 build did not finish within {} min", BUILD_TIMEOUT.as_secs() / 60))??;
    if !run.status.success() {
        bail!(
            "`docker build` of {} failed ({}); last output:\n{}\nWithout the real sources, use {ENV}=emulated",
            recipe.dir.join("Dockerfile").display(),
            run.status,
            run.tail.join("\n")
        );
    }
    Ok(())
}

/// Copies a directory tree (files, directories, symlinks) with `cp -a`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!("copying {} to {} failed ({status})", from.display(), to.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parses_and_names_the_variable_on_error() {
        assert_eq!(Request::parse(None).unwrap(), Request::Auto);
        assert_eq!(Request::parse(Some("")).unwrap(), Request::Auto);
        assert_eq!(Request::parse(Some("real")).unwrap(), Request::Real);
        assert_eq!(Request::parse(Some(" emulated ")).unwrap(), Request::Emulated);
        let e = Request::parse(Some("centos")).unwrap_err().to_string();
        assert!(e.contains("REPRO_CENTOS7") && e.contains("real, emulated or auto"), "{e}");
    }

    #[test]
    fn auto_uses_real_only_when_the_probe_succeeds_on_cgroup_v1() {
        assert_eq!(decide(Request::Auto, false, || Ok(())).flavor, Flavor::Real);
        let c = decide(Request::Auto, false, || Err("GET x: timed out".into()));
        assert_eq!(c.flavor, Flavor::Emulated);
        assert!(c.reason.contains("timed out"), "{}", c.reason);
        let c = decide(Request::Auto, true, || panic!("must not probe on cgroup v2"));
        assert_eq!(c.flavor, Flavor::Emulated);
        assert!(c.reason.contains("cgroup v2"), "{}", c.reason);
    }

    #[test]
    fn overrides_never_probe() {
        assert_eq!(decide(Request::Real, true, || panic!("no probe")).flavor, Flavor::Real);
        assert_eq!(decide(Request::Emulated, false, || panic!("no probe")).flavor, Flavor::Emulated);
    }

    #[test]
    fn both_recipes_load_and_the_emulated_tag_says_emulated() {
        let e = Recipe::load_dir(&Flavor::Emulated.recipe_dir()).unwrap();
        assert_eq!(e.name, "centos7-emulated");
        assert!(e.tag().unwrap().starts_with("repro/centos7-emulated:"));
        let r = Recipe::load_dir(&Flavor::Real.recipe_dir()).unwrap();
        assert_eq!(r.name, "centos7");
        assert!(r.packages.iter().any(|p| p.starts_with("docker-ce")), "{:?}", r.packages);
        // No mirror is named in the repo: unconfigured sources say which variable to set.
        if std::env::var_os("REPRO_CENTOS7_VAULT").is_none() {
            let e = Sources::load(&r.dir).unwrap_err().to_string();
            assert!(e.contains("not configured: set REPRO_CENTOS7_VAULT"), "{e}");
        }
    }

    #[test]
    fn probe_of_an_unreachable_source_fails_fast_and_names_the_url() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let s = Sources {
            base_image: "centos:7".into(),
            vault: "http://127.0.0.1:1/7.9.2009".into(),
            docker_repo: "http://127.0.0.1:1/docker".into(),
            docker_gpgkey: "http://127.0.0.1:1/gpg".into(),
        };
        let t = Instant::now();
        let e = probe_sources(&s).unwrap_err();
        assert!(e.contains("http://127.0.0.1:1/7.9.2009/os/x86_64/repodata/repomd.xml"), "{e}");
        assert!(t.elapsed() < PROBE_TIMEOUT * 2, "took {:?}", t.elapsed());
    }

    #[test]
    fn real_container_nodes_are_refused_only_on_cgroup_v2() {
        let e = check_container_host_with("centos7", true).unwrap_err().to_string();
        assert!(e.contains("cgroup v1") && e.contains("VM backend") && e.contains("REPRO_CENTOS7=emulated"), "{e}");
        assert!(check_container_host_with("centos7", false).is_ok());
        assert!(check_container_host_with("centos7-emulated", true).is_ok());
        assert!(check_container_host_with("debian12", true).is_ok());
        // And on this host, whatever it is:
        assert_eq!(check_container_host("centos7").is_err(), cgroup_v2_host());
    }
}
