//! Node images built offline from recipes in `images/<platform>/`.
//!
//! A recipe is data (`recipe.toml` plus an `overlay/` tree). The rootfs is
//! built with `mmdebstrap` from the host's own apt sources (no mirror host in
//! our code), imported into the engine with `create_image(from_src = "-")`
//! (that is `docker import`; `import_image` would be `docker load`), and
//! tagged `repro/<platform>:<hash of the recipe directory>`, so an unchanged
//! recipe is a cache hit and any edit rebuilds.

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};


/// Bump when the build logic changes in a way that must invalidate every
/// cached image (it is part of the hash).
const BUILD_LOGIC_VERSION: &str = "1";

/// How a recipe's rootfs is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RootfsBuilder {
    /// `mmdebstrap` from the host's apt sources (Debian and derivatives).
    #[default]
    Mmdebstrap,
    /// `docker build` of the recipe directory's `Dockerfile` (the real
    /// CentOS 7 image, from `centos:7`; see [`crate::centos`]).
    Dockerfile,
}

/// A node image recipe, as written in `images/<name>/recipe.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The recipe's name; must equal its directory name.
    pub name: String,
    /// A sibling recipe directory this one builds on (`extends = "debian12"`):
    /// its fields are the defaults (a `[vm]` table is merged key by key) and
    /// its overlay is copied before this one's. One level or more.
    #[serde(default)]
    pub extends: Option<String>,
    /// The tool that builds the rootfs.
    #[serde(default)]
    pub builder: RootfsBuilder,
    /// The distribution suite, e.g. `bookworm`.
    pub suite: String,
    /// The mmdebstrap variant, e.g. `minbase`.
    #[serde(default = "default_variant")]
    pub variant: String,
    /// Packages installed on top of the variant.
    pub packages: Vec<String>,
    /// Extra mmdebstrap arguments (e.g. `--dpkgopt=path-exclude=...`).
    #[serde(default)]
    pub builder_args: Vec<String>,
    /// More suites of the same archive as `suite` (e.g. `sid`, for one
    /// package pinned from it). Their sources come from the host's apt
    /// configuration at build time (see [`crate::apt_sources`]).
    #[serde(default)]
    pub extra_suites: Vec<String>,
    /// Packages installed from one of `extra_suites` after the rest
    /// (`apt-get install -t SUITE`, before `customize`), pinned to a
    /// version so the platform is what its name says:
    /// `{ sid = ["docker.io=28.5.2+dfsg4-5"] }`.
    #[serde(default)]
    pub from_suites: std::collections::BTreeMap<String, Vec<String>>,
    /// apt options for this build only (`--aptopt`), e.g.
    /// `APT::Default-Release "trixie"`.
    #[serde(default)]
    pub apt_options: Vec<String>,
    /// What the platform is; the build fails unless the rootfs has these
    /// versions (so a moved archive is an error, not a silent upgrade).
    #[serde(default)]
    pub versions: Option<Versions>,
    /// Shell commands run after the overlay is copied in, as mmdebstrap
    /// `--customize-hook`s; `$1` is the rootfs directory.
    #[serde(default)]
    pub customize: Vec<String>,
    /// Dockerfile instructions applied at import (`CMD`, `LABEL`, ...).
    #[serde(default)]
    pub changes: Vec<String>,
    /// Settings for VM disk images built from this recipe (read by the VM
    /// image builder; ignored for container images).
    #[serde(default)]
    pub vm: Option<toml::Table>,
    /// The directory the recipe was loaded from.
    #[serde(skip)]
    pub dir: PathBuf,
    /// This recipe's directory and those it extends, base first.
    #[serde(skip)]
    pub chain: Vec<PathBuf>,
    /// The recipe as merged over its bases (what the hashes read).
    #[serde(skip)]
    pub table: toml::Table,
}

/// The versions a platform promises, as its recipe's `[versions]` table
/// says them. Package versions are prefixes of dpkg's (epoch stripped).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    /// The operating system, as people say it: `Debian 13 (trixie)`.
    pub os: String,
    /// Docker's version (package `docker.io`, or `docker_package`).
    pub docker: String,
    /// firewalld's version.
    pub firewalld: String,
    /// iptables' version.
    pub iptables: String,
    /// The package that carries dockerd (default `docker.io`).
    #[serde(default = "default_docker_package")]
    pub docker_package: String,
}

fn default_docker_package() -> String {
    "docker.io".to_string()
}

impl Versions {
    /// The (package, version prefix) pairs the build checks.
    pub fn package_checks(&self) -> Vec<(&str, &str)> {
        vec![(self.docker_package.as_str(), self.docker.as_str()), ("firewalld", &self.firewalld), ("iptables", &self.iptables)]
    }

    /// The Docker major version, e.g. `28` for `28.5.2`.
    pub fn docker_major(&self) -> &str {
        self.docker.split('.').next().unwrap_or(&self.docker)
    }
}

/// Dockerfile instructions the engine accepts in `docker import --change`.
const IMPORT_CHANGES: [&str; 9] = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR"];

fn default_variant() -> String {
    "minbase".to_string()
}

/// Where recipes live: `$REPRO_IMAGES_DIR`, or `images/` in this workspace.
pub fn images_dir() -> PathBuf {
    match std::env::var_os("REPRO_IMAGES_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("images"),
    }
}

impl Recipe {
    /// Loads the recipe in `dir` (which holds `recipe.toml`).
    pub fn load_dir(dir: &Path) -> Result<Recipe> {
        let file = dir.join("recipe.toml");
        let (table, chain) = merged_table(dir, 0)?;
        let mut r: Recipe = table
            .clone()
            .try_into()
            .with_context(|| format!("invalid image recipe {}", file.display()))?;
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // A platform with several recipes nests them (images/centos7/real is
        // `centos7`, images/centos7/emulated is `centos7-emulated`).
        let parent = dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let nested_ok = r.name == parent || r.name == format!("{parent}-{dir_name}");
        if r.name != dir_name && !nested_ok {
            bail!(
                "{}: field `name` is {:?} but the recipe lives in directory {:?}; make them equal",
                file.display(),
                r.name,
                dir_name
            );
        }
        if r.packages.is_empty() {
            bail!("{}: field `packages` is empty; list at least systemd-sysv", file.display());
        }
        for c in &r.changes {
            let instr = c.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if !IMPORT_CHANGES.contains(&instr.as_str()) {
                bail!(
                    "{}: field `changes` has {c:?}, but an import accepts only {}",
                    file.display(),
                    IMPORT_CHANGES.join(", ")
                );
            }
        }
        if let Some(s) = r.from_suites.keys().find(|s| !r.extra_suites.contains(s)) {
            bail!("{}: field `from_suites` names suite `{s}`, which is not in `extra_suites`; add it there", file.display());
        }
        if let Some(v) = &r.versions
            && r.builder == RootfsBuilder::Mmdebstrap
            && v.docker.is_empty()
        {
            bail!("{}: field `versions.docker` is empty; say which Docker the platform runs", file.display());
        }
        r.dir = dir.to_path_buf();
        r.chain = chain;
        r.table = table;
        Ok(r)
    }

    /// The overlay trees copied over the rootfs, base recipe's first.
    pub fn overlay_dirs(&self) -> Vec<PathBuf> {
        self.chain.iter().map(|d| d.join("overlay")).filter(|o| o.is_dir()).collect()
    }

    /// SHA-256 (hex) of everything the recipe is: the merged recipe table
    /// (parsed, so comments and layout do not count), every other file of
    /// its directory and of those it extends (overlays, Dockerfile), and the
    /// build logic version. Any edit to the recipe or its overlay changes it.
    pub fn hash(&self) -> Result<String> {
        self.hash_of(&self.table, |_| true)
    }

    /// SHA-256 (hex) of what the container image depends on: the merged
    /// recipe without its `[vm]` table, plus the overlay trees and the
    /// build logic version. Editing VM settings does not rebuild the
    /// container image.
    pub fn container_hash(&self) -> Result<String> {
        let mut table = self.table.clone();
        table.remove("vm");
        self.hash_of(&table, |rel| rel.starts_with("overlay"))
    }

    fn hash_of(&self, table: &toml::Table, include: impl Fn(&Path) -> bool) -> Result<String> {
        let mut h = Sha256::new();
        h.update(BUILD_LOGIC_VERSION.as_bytes());
        h.update(toml::to_string(table).context("re-serializing the recipe")?.as_bytes());
        for dir in &self.chain {
            let mut files = Vec::new();
            walk(dir, dir, &mut files)?;
            files.retain(|rel| rel != Path::new("recipe.toml") && include(rel));
            files.sort();
            for rel in files {
                hash_file(&mut h, dir, &rel)?;
            }
        }
        Ok(format!("{:x}", h.finalize()))
    }

    /// The engine tag of the container image this recipe builds:
    /// `repro/<name>:<first 12 hex digits of the container hash>`.
    pub fn tag(&self) -> Result<String> {
        Ok(format!("{}:{}", self.repo(), &self.container_hash()?[..12]))
    }

    /// The repository part of the tag, `repro/<name>`.
    pub fn repo(&self) -> String {
        format!("repro/{}", self.name)
    }
}

/// The recipe table of `dir` merged over the recipes it extends, and the
/// chain of directories, base first.
fn merged_table(dir: &Path, depth: usize) -> Result<(toml::Table, Vec<PathBuf>)> {
    let file = dir.join("recipe.toml");
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading image recipe {}", file.display()))?;
    let mut own: toml::Table = toml::from_str(&text).with_context(|| format!("invalid image recipe {}", file.display()))?;
    let Some(base) = own.remove("extends") else {
        return Ok((own, vec![dir.to_path_buf()]));
    };
    let base = base
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{}: field `extends` must be a recipe directory name, e.g. \"debian12\"", file.display()))?
        .to_string();
    if depth > 4 {
        bail!("{}: field `extends` nests more than 4 recipes deep (a loop?)", file.display());
    }
    let base_dir = dir.parent().unwrap_or(dir).join(&base);
    let (mut table, mut chain) = merged_table(&base_dir, depth + 1)
        .with_context(|| format!("{}: field `extends` = {base:?}", file.display()))?;
    for (k, v) in own {
        match (table.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if k == "vm" => b.extend(o),
            (_, v) => {
                table.insert(k, v);
            }
        }
    }
    chain.push(dir.to_path_buf());
    Ok((table, chain))
}

/// Feeds one file (path, kind, executable bit, content or link target).
fn hash_file(h: &mut Sha256, root: &Path, rel: &Path) -> Result<()> {
    let p = root.join(rel);
    let meta = std::fs::symlink_metadata(&p).with_context(|| format!("reading {}", p.display()))?;
    h.update(rel.to_string_lossy().as_bytes());
    h.update([0]);
    if meta.file_type().is_symlink() {
        h.update(b"L");
        h.update(std::fs::read_link(&p)?.to_string_lossy().as_bytes());
    } else {
        use std::os::unix::fs::PermissionsExt;
        h.update(if meta.permissions().mode() & 0o111 != 0 { b"X" } else { b"F" });
        h.update(std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?);
    }
    h.update([0]);
    Ok(())
}

/// Lists files and symlinks under `dir`, relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).expect("walk stays under root").to_path_buf());
        }
    }
    Ok(())
}

/// What [`build`] did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The image tag, e.g. `repro/debian12:0123456789ab`.
    pub tag: String,
    /// True when the image already existed and nothing was built.
    pub cached: bool,
    /// Wall-clock time of the whole call.
    pub duration: Duration,
}

/// Builds the recipe's image unless its tag already exists (or `force`).
/// Progress goes to `tracing` (target `harness::images`).
pub async fn build(docker: &Docker, recipe: &Recipe, force: bool) -> Result<BuildReport> {
    let start = Instant::now();
    let tag = recipe.tag()?;
    if !force && image_exists(docker, &tag).await? {
        tracing::info!("image {tag}: cache hit");
        return Ok(BuildReport { tag, cached: true, duration: start.elapsed() });
    }
    let log_path = std::env::temp_dir().join(format!("repro-image-{}.log", recipe.name));
    progress(&format!(
        "building node image {tag} from {} (first use of this recipe; a few minutes; log: {})",
        recipe.dir.display(),
        log_path.display()
    ));
    if recipe.builder == RootfsBuilder::Dockerfile {
        crate::centos::build_real(recipe, &tag).await?;
        tracing::info!("image {tag}: built in {:.1} s", start.elapsed().as_secs_f64());
        return Ok(BuildReport { tag, cached: false, duration: start.elapsed() });
    }
    let tmp = tempfile::Builder::new().prefix("repro-image-").tempdir().context("creating a temp dir for the rootfs")?;
    let tar = tmp.path().join("rootfs.tar");
    run_mmdebstrap(recipe, &tar, &log_path).await?;
    let built = start.elapsed();
    // A forced rebuild moves the tag; the previous image would linger as
    // an untagged 500 MB layer, so drop it (unless a container still uses it).
    let previous = docker.inspect_image(&tag).await.ok().and_then(|i| i.id);
    import(docker, recipe, &tar, &tag).await?;
    let current = docker.inspect_image(&tag).await.ok().and_then(|i| i.id);
    let mut stale: Vec<String> = previous.into_iter().filter(|old| Some(old) != current.as_ref()).collect();
    // Images of older versions of this recipe are dead cache entries.
    stale.extend(older_tags(docker, &recipe.repo(), &tag).await);
    for old in stale {
        match docker.remove_image(&old, None::<bollard::query_parameters::RemoveImageOptions>, None).await {
            Ok(_) => tracing::info!("removed the outdated image {old}"),
            Err(e) if crate::docker::is_not_found(&e) => {}
            Err(e) => tracing::info!("kept the outdated image {old}: {e}"),
        }
    }
    progress(&format!(
        "image {tag}: built in {:.1} s (rootfs {:.1} s, import {:.1} s)",
        start.elapsed().as_secs_f64(),
        built.as_secs_f64(),
        (start.elapsed() - built).as_secs_f64()
    ));
    Ok(BuildReport { tag, cached: false, duration: start.elapsed() })
}

/// Returns the tag of the recipe's node image, building it first when it
/// is missing. Safe to call from parallel tests and processes: a file lock
/// makes the second caller wait for the first build and reuse it.
pub async fn ensure_image(recipe: &Recipe) -> Result<String> {
    let docker = crate::docker::connect().await?;
    let tag = recipe.tag()?;
    if image_exists(&docker, &tag).await? {
        return Ok(tag);
    }
    let lock_path = std::env::temp_dir().join(format!("repro-image-{}.lock", recipe.name));
    let lock = tokio::task::spawn_blocking(move || lock_file(&lock_path)).await??;
    let report = build(&docker, recipe, false).await;
    drop(lock);
    Ok(report.with_context(|| format!("building the {} node image", recipe.name))?.tag)
}

/// Tags of `repo` other than `keep` (e.g. `repro/debian12:<older hash>`).
async fn older_tags(docker: &Docker, repo: &str, keep: &str) -> Vec<String> {
    let filters = std::collections::HashMap::from([("reference".to_string(), vec![format!("{repo}:*")])]);
    let opts = bollard::query_parameters::ListImagesOptions { filters: Some(filters), ..Default::default() };
    let Ok(images) = docker.list_images(Some(opts)).await else { return Vec::new() };
    images
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .filter(|t| t.starts_with(&format!("{repo}:")) && t != keep)
        .collect()
}

async fn image_exists(docker: &Docker, tag: &str) -> Result<bool> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(e) if crate::docker::is_not_found(&e) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("inspecting image {tag}")),
    }
}

/// An exclusive `flock` held until dropped (the kernel releases it if the
/// process dies, so a killed build never blocks the next one).
pub fn lock_file(path: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    // SAFETY: flock on a file descriptor we own; blocks until granted.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        bail!("locking {}: {}", path.display(), std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Builds the rootfs tarball with mmdebstrap, streaming its log to tracing.
/// Reports a build milestone: through `tracing` when the program set up a
/// subscriber (the `repro` CLI), else on stderr, so a test that builds
/// the image on first use does not sit silent for minutes.
fn progress(msg: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::info!("{msg}");
    } else {
        eprintln!("repro: {msg}");
    }
}

/// mmdebstrap's arguments for `recipe` (plus extra packages and hooks, for
/// VM disks) building into `out`. When the recipe's suite is the host's own
/// and it needs no other, there is no mirror argument: mmdebstrap then uses
/// the host's apt sources. Otherwise the sources are the host's Debian
/// archive (read from its apt configuration now, never written in code)
/// for each suite; see [`crate::apt_sources`].
pub fn mmdebstrap_args(recipe: &Recipe, extra_packages: &[String], essential_hooks: &[String], customize: &[String], out: &Path) -> Result<Vec<String>> {
    let packages: Vec<&str> = recipe.packages.iter().chain(extra_packages).map(String::as_str).collect();
    let mut args = vec![format!("--variant={}", recipe.variant), format!("--include={}", packages.join(","))];
    args.extend(recipe.apt_options.iter().map(|o| format!("--aptopt={o}")));
    args.extend(essential_hooks.iter().map(|h| format!("--essential-hook={h}")));
    for o in recipe.overlay_dirs() {
        args.push(format!("--customize-hook=sync-in {} /", o.display()));
    }
    for (suite, pkgs) in &recipe.from_suites {
        args.push(format!(
            "--customize-hook=chroot \"$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t {suite} {}",
            pkgs.join(" ")
        ));
    }
    args.extend(customize.iter().map(|c| format!("--customize-hook={c}")));
    if let Some(v) = &recipe.versions {
        args.push(format!("--customize-hook={}", version_check_hook(v)));
    }
    args.extend(recipe.builder_args.iter().cloned());
    args.push(recipe.suite.clone());
    args.push(out.display().to_string());
    args.extend(crate::apt_sources::source_lines(&recipe.suite, &recipe.extra_suites)?);
    Ok(args)
}

/// A customize hook that fails the build unless each package of `v` has
/// the promised version, and records the versions in `/etc/repro-platform`.
fn version_check_hook(v: &Versions) -> String {
    let mut script = String::from("set -e; : > \"$1\"/etc/repro-platform; ");
    for (pkg, want) in v.package_checks() {
        script.push_str(&format!(
            "have=$(chroot \"$1\" dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null || echo none); have=${{have#*:}}; \
             case \"$have\" in {want}*) ;; *) echo \"repro: the recipe promises {pkg} {want} but the archive gave $have; \
             pin it or update versions.* in recipe.toml\" >&2; exit 1;; esac; echo \"{pkg}=$have\" >> \"$1\"/etc/repro-platform; "
        ));
    }
    script
}

async fn run_mmdebstrap(recipe: &Recipe, out: &Path, log_path: &Path) -> Result<()> {
    if recipe.builder != RootfsBuilder::Mmdebstrap {
        bail!("{}: builder {:?} does not build with mmdebstrap", recipe.dir.join("recipe.toml").display(), recipe.builder);
    }
    let args = mmdebstrap_args(recipe, &[], &[], &recipe.customize, out)?;
    tracing::debug!("mmdebstrap {}", args.join(" "));
    let mut cmd = tokio::process::Command::new("mmdebstrap");
    cmd.args(&args);
    let run = crate::logged::run(cmd, "mmdebstrap", Some(log_path)).await?;
    if !run.status.success() {
        bail!(
            "mmdebstrap failed ({}) building recipe {}; full log {}; last output:\n{}",
            run.status,
            recipe.dir.join("recipe.toml").display(),
            log_path.display(),
            run.tail.join("\n")
        );
    }
    Ok(())
}

/// Imports a rootfs tarball as `tag` (`docker import` semantics).
async fn import(docker: &Docker, recipe: &Recipe, tar: &Path, tag: &str) -> Result<()> {
    let (repo, version) = tag.rsplit_once(':').expect("tag has a colon");
    let mut changes = recipe.changes.clone();
    changes.push(format!(
        "LABEL org.repro.recipe={} org.repro.recipe-hash={}",
        recipe.name,
        recipe.container_hash()?
    ));
    let opts = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(changes)
        .build();
    let file = tokio::fs::File::open(tar).await.with_context(|| format!("opening {}", tar.display()))?;
    // Stream the file in 1 MiB chunks rather than reading 500 MB into memory.
    let body = futures_util::stream::try_unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), f)))
    });
    let mut stream = docker.create_image(Some(opts), Some(bollard::body_try_stream(body)), None);
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("importing the rootfs as {tag}"))?;
        if let Some(s) = info.status {
            tracing::debug!("import: {s}");
        }
    }
    if !image_exists(docker, tag).await? {
        bail!("the engine accepted the import but image {tag} does not exist afterwards");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmdebstrap_gets_no_mirror_and_keeps_hook_order() {
        let r = crate::matrix::resolve(crate::platform::Platform::Debian12).unwrap().recipe.clone();
        if std::env::var_os("REPRO_APT_MIRROR").is_some() {
            return; // configured on purpose: then it is the last argument
        }
        let a = mmdebstrap_args(&r, &["qemu-guest-agent".into()], &["ess".into()], &["first".into(), "second".into()], Path::new("/x/out")).unwrap();
        // The host's apt sources: the target is the last argument, no mirror after it.
        assert_eq!(a[a.len() - 2..], [r.suite.clone(), "/x/out".to_string()]);
        assert!(a[1].starts_with("--include=") && a[1].ends_with(",qemu-guest-agent"), "{}", a[1]);
        let hooks: Vec<&str> = a.iter().filter(|x| x.contains("-hook=")).map(String::as_str).collect();
        assert_eq!(hooks[0], "--essential-hook=ess");
        assert!(hooks[1].starts_with("--customize-hook=sync-in "), "{hooks:?}");
        assert_eq!(hooks[2..4], ["--customize-hook=first", "--customize-hook=second"]);
        // Last, the promised versions are checked.
        assert!(hooks[4].contains("promises docker.io 20.10.24"), "{}", hooks[4]);
    }

    #[test]
    fn docker28_extends_debian13_and_pins_sid_packages() {
        let r = crate::matrix::resolve(crate::platform::Platform::Debian13Docker28).unwrap().recipe.clone();
        assert_eq!(r.suite, "trixie");
        assert_eq!(r.chain.len(), 3, "debian12 <- debian13 <- debian13-docker28");
        assert!(r.vm.as_ref().unwrap().contains_key("kernels") && r.vm.as_ref().unwrap().contains_key("customize"));
        let a = mmdebstrap_args(&r, &[], &[], &[], Path::new("/x/out")).unwrap();
        assert!(a.iter().any(|x| x.contains("-t sid docker.io=28.5.2")), "{a:?}");
        assert!(a.iter().any(|x| x == "--aptopt=APT::Default-Release \"trixie\";"), "{a:?}");
        // Two sources, trixie and sid, from the host's archive (never a name in code).
        let lines: Vec<&String> = a.iter().filter(|x| x.starts_with("deb ")).collect();
        assert_eq!(lines.len(), 2, "{a:?}");
        assert!(lines[0].ends_with(" trixie main") && lines[1].ends_with(" sid main"), "{lines:?}");
    }

    #[test]
    fn debian12_recipe_loads_and_hash_is_stable() {
        let r = crate::matrix::resolve(crate::platform::Platform::Debian12).unwrap().recipe.clone();
        assert_eq!(r.name, "debian12");
        assert!(r.packages.iter().any(|p| p == "docker.io"));
        assert_eq!(r.hash().unwrap(), r.hash().unwrap());
        assert!(r.tag().unwrap().starts_with("repro/debian12:"));
    }

    #[test]
    fn editing_a_recipe_changes_its_hash() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("x");
        std::fs::create_dir_all(dir.join("overlay/etc")).unwrap();
        std::fs::write(dir.join("recipe.toml"), "name='x'\nsuite='bookworm'\npackages=['a']\n").unwrap();
        let h1 = Recipe::load_dir(&dir).unwrap().hash().unwrap();
        std::fs::write(dir.join("overlay/etc/f"), "1").unwrap();
        let h2 = Recipe::load_dir(&dir).unwrap().hash().unwrap();
        std::fs::write(dir.join("overlay/etc/f"), "2").unwrap();
        let h3 = Recipe::load_dir(&dir).unwrap().hash().unwrap();
        assert!(h1 != h2 && h2 != h3 && h1 != h3);
        let t1 = Recipe::load_dir(&dir).unwrap().tag().unwrap();
        // Comments and the [vm] table do not change the container image.
        std::fs::write(dir.join("recipe.toml"), "name='x' # c\nsuite='bookworm'\npackages=['a']\n[vm]\nfree_mib=1\n").unwrap();
        assert_eq!(Recipe::load_dir(&dir).unwrap().tag().unwrap(), t1);
        std::fs::write(dir.join("recipe.toml"), "name='x'\nsuite='bookworm'\npackages=['a','b']\n").unwrap();
        assert_ne!(Recipe::load_dir(&dir).unwrap().tag().unwrap(), t1);
        std::fs::write(dir.join("overlay/etc/f"), "3").unwrap();
        assert_ne!(Recipe::load_dir(&dir).unwrap().tag().unwrap(), t1);
    }

    #[test]
    fn bad_recipe_names_file_and_field() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("y");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("recipe.toml"), "name='y'\nsuite='bookworm'\npackages=['a']\npakages=[]\n").unwrap();
        let e = format!("{:#}", Recipe::load_dir(&dir).unwrap_err());
        assert!(e.contains("recipe.toml") && e.contains("pakages"), "{e}");
    }
}
