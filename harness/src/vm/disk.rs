//! VM disk images: a recipe's rootfs plus the recipe's `[vm]` extras (guest
//! agent, initramfs, the kernels), made into an ext4 image with
//! `mke2fs -d` (no loop device, no mount), and the kernels and initrds
//! copied out of its `/boot` so the harness can play bootloader.
//!
//! Images are cached under [`cache_dir`]`/<key>/` where the key hashes the
//! recipe directory, this builder's logic version and the kernel packages
//! resolved at build time; a run never writes to them (it boots a qcow2
//! overlay, see [`crate::vm::qemu`]).

use crate::images::Recipe;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bump when the build below changes in a way that must invalidate cached disks.
const VM_BUILD_LOGIC_VERSION: &str = "vm-2";

/// The `[vm]` table of a recipe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSettings {
    /// Packages a VM needs on top of the recipe's (guest agent, initramfs tools).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Which kernel packages to install.
    pub kernels: KernelSelection,
    /// Free space left in the filesystem beyond the rootfs, in MiB.
    #[serde(default = "default_free_mib")]
    pub free_mib: u64,
    /// mmdebstrap `--essential-hook`s: run before the remaining packages are
    /// installed (e.g. initramfs settings the kernels' postinst must see).
    #[serde(default)]
    pub essential_hooks: Vec<String>,
    /// mmdebstrap `--customize-hook`s for VMs; they REPLACE the recipe's
    /// container-specific `customize` list. `$1` is the rootfs.
    #[serde(default)]
    pub customize: Vec<String>,
    /// The kernel command line (without `root=`, which the harness adds).
    pub cmdline: String,
}

fn default_free_mib() -> u64 {
    2048
}

/// Kernel packages, resolved against the host's apt cache at build time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSelection {
    /// A regular expression for whole package names, e.g.
    /// `^linux-image-6\.1\.0-[0-9]+-amd64$`.
    pub pattern: String,
    /// How many of the newest matching packages to install (2 for the
    /// upgrade-without-reboot incident: the running one and its successor).
    pub count: usize,
}

/// One kernel found in the image's `/boot`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KernelFiles {
    /// The release, as `uname -r` prints it, e.g. `6.1.0-55-amd64`.
    pub release: String,
    /// Size of `/boot/vmlinuz-<release>`, to recognise the same file in a guest.
    pub vmlinuz_size: u64,
    /// Size of `/boot/initrd.img-<release>`.
    pub initrd_size: u64,
}

/// What a cached disk holds, stored next to it as `image.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The recipe's name, e.g. `debian12`.
    pub recipe: String,
    /// The cache key (directory name).
    pub key: String,
    /// Kernel packages resolved and installed at build time, oldest first.
    pub kernel_packages: Vec<String>,
    /// The kernels in `/boot`, oldest first.
    pub kernels: Vec<KernelFiles>,
    /// The kernel command line without `root=`.
    pub cmdline: String,
    /// Seconds the build took.
    pub build_secs: f64,
}

/// A built disk image in the cache.
#[derive(Debug, Clone)]
pub struct VmImage {
    /// The cache directory of this image.
    pub dir: PathBuf,
    /// What it holds.
    pub meta: ImageMeta,
}

/// What [`ensure`] did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The image.
    pub image: VmImage,
    /// True when it was already in the cache.
    pub cached: bool,
    /// Wall-clock time of the call.
    pub duration: Duration,
}

impl VmImage {
    /// The raw ext4 disk (read-only base of every run's overlay).
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.raw")
    }

    /// The kernel image of `release` as extracted at build time.
    pub fn vmlinuz(&self, release: &str) -> PathBuf {
        self.dir.join("boot").join(format!("vmlinuz-{release}"))
    }

    /// The initrd of `release` as extracted at build time.
    pub fn initrd(&self, release: &str) -> PathBuf {
        self.dir.join("boot").join(format!("initrd.img-{release}"))
    }
}

/// Where VM images are cached: `$REPRO_CACHE_DIR/vm`, else
/// `$XDG_CACHE_HOME/repro/vm`, else `~/.cache/repro/vm`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("REPRO_CACHE_DIR") {
        return PathBuf::from(d).join("vm");
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("repro").join("vm");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache").join("repro").join("vm")
}

/// Parses a recipe's `[vm]` table, naming the file when it is missing or wrong.
pub fn vm_settings(recipe: &Recipe) -> Result<VmSettings> {
    let file = recipe.dir.join("recipe.toml");
    let table = recipe.vm.clone().ok_or_else(|| {
        anyhow!("{}: no [vm] table; add one (packages, kernels, cmdline) to build VM disks", file.display())
    })?;
    let s: VmSettings = toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("{}: invalid [vm] table", file.display()))?;
    if s.kernels.count == 0 {
        bail!("{}: field `vm.kernels.count` is 0; install at least one kernel", file.display());
    }
    regex::Regex::new(&s.kernels.pattern)
        .with_context(|| format!("{}: field `vm.kernels.pattern` is not a regular expression", file.display()))?;
    Ok(s)
}

/// The shell script (run in the chroot by a customize hook) that installs
/// the newest `count` kernel packages matching the pattern, as the
/// TARGET's apt (not the host's) knows them: that also works on hosts whose
/// own sources carry no Debian kernels (Ubuntu CI runners). Resolved, not
/// pinned: the archive drops old ABIs, so a pinned `-55` would stop
/// building one day. The names installed are recorded in `image.json`.
pub fn kernel_install_script(sel: &KernelSelection) -> String {
    let pat = sel.pattern.replace('\'', r"'\''");
    format!(
        r#"set -e
pkgs=$(apt-cache search --names-only '{pat}' | cut -d' ' -f1 | grep -E '{pat}' | sort -V | tail -n {n})
if [ "$(echo $pkgs | wc -w)" -ne {n} ]; then
    echo "apt in the target knows only [$pkgs] matching {pat}; the recipe wants {n}" >&2
    exit 1
fi
echo "installing kernels: $pkgs" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
"#,
        n = sel.count
    )
}

/// Compares version-like strings as `sort -V` (and GRUB's kernel ordering) do:
/// digit runs numerically, everything else bytewise.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// The cache key of a recipe's VM disk: the recipe directory's hash and
/// this builder's version. (The kernels resolved at build time are not in
/// it: a cache hit keeps its kernels; `--force` re-resolves.)
pub fn cache_key(recipe: &Recipe) -> Result<String> {
    let mut h = Sha256::new();
    h.update(VM_BUILD_LOGIC_VERSION);
    h.update(recipe.hash()?);
    Ok(format!("{}-{}", recipe.name, &format!("{:x}", h.finalize())[..16]))
}

/// Returns the recipe's VM image, building it when it is not cached (or
/// `force`). A file lock makes concurrent callers wait for one build.
pub fn ensure(recipe: &Recipe, force: bool) -> Result<BuildReport> {
    let start = Instant::now();
    let settings = vm_settings(recipe)?;
    let key = cache_key(recipe)?;
    let root = cache_dir();
    std::fs::create_dir_all(&root).with_context(|| format!("creating the VM image cache {}", root.display()))?;
    let dir = root.join(&key);
    let _lock = crate::filelock::lock(&root.join(format!("{key}.lock")), crate::images::BUILD_LOCK_WAIT, "another process is building the same VM disk")?;
    if !force && let Some(image) = load(&dir)? {
        return Ok(BuildReport { image, cached: true, duration: start.elapsed() });
    }
    build(recipe, &settings, &key, &dir)?;
    prune(&root, &recipe.name, &key);
    let image = load(&dir)?.ok_or_else(|| anyhow!("built {} but it has no image.json", dir.display()))?;
    Ok(BuildReport { image, cached: false, duration: start.elapsed() })
}

/// Removes this recipe's older disks (1.5 GB each) once a new one is built,
/// except those a live VM still boots from (its run dir names them in `base`).
fn prune(root: &Path, recipe: &str, keep: &str) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let in_use: Vec<String> = std::fs::read_dir(crate::config::vm_run_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|run| std::fs::read_to_string(run.path().join("base")).ok())
        .collect();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stem = name.strip_suffix(".lock").unwrap_or(&name);
        if in_use.iter().any(|b| Path::new(b.trim()).file_name().is_some_and(|n| n == stem)) {
            continue;
        }
        if stem != keep && stem.strip_prefix(recipe).is_some_and(|r| r.starts_with('-')) {
            tracing::info!("VM image cache: removing outdated {name}");
            let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
        }
    }
}

/// Loads a cached image; `None` when `dir` holds no complete image.
pub fn load(dir: &Path) -> Result<Option<VmImage>> {
    let meta_path = dir.join("image.json");
    let Ok(text) = std::fs::read_to_string(&meta_path) else { return Ok(None) };
    let meta: ImageMeta = serde_json::from_str(&text)
        .with_context(|| format!("{} is corrupt; delete {} and rebuild", meta_path.display(), dir.display()))?;
    let image = VmImage { dir: dir.to_owned(), meta };
    if !image.disk().is_file() {
        return Ok(None);
    }
    Ok(Some(image))
}

fn build(recipe: &Recipe, s: &VmSettings, key: &str, dir: &Path) -> Result<()> {
    let start = Instant::now();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "building the VM disk needs root (mmdebstrap writes device nodes and root-owned files into a directory \
             that mke2fs -d then packs); run the build once as root: `sudo -E repro images build --vm {}`",
            recipe.name
        );
    }
    let parent = dir.parent().expect("cache dir has a parent");
    // Build next to the final place and rename: a killed build leaves no half image.
    let work = tempfile::Builder::new()
        .prefix(&format!(".build-{key}-"))
        .tempdir_in(parent)
        .with_context(|| format!("creating a build dir in {}", parent.display()))?;
    let rootfs = work.path().join("rootfs");
    let script = work.path().join("install-kernels.sh");
    std::fs::write(&script, kernel_install_script(&s.kernels))?;
    run_mmdebstrap(recipe, s, &script, &rootfs)?;
    let kernels = installed_kernel_packages(&rootfs, &s.kernels)?;
    let rootfs_done = start.elapsed();

    // Kernels and initrds: the harness boots them with -kernel/-initrd.
    let boot_out = work.path().join("boot");
    std::fs::create_dir_all(&boot_out)?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(rootfs.join("boot")).context("listing the rootfs /boot")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(release) = name.strip_prefix("vmlinuz-") {
            let vmlinuz = rootfs.join("boot").join(&name);
            let initrd = rootfs.join("boot").join(format!("initrd.img-{release}"));
            if !initrd.is_file() {
                bail!("the rootfs has {name} but no initrd.img-{release}; is initramfs-tools in [vm].packages?");
            }
            std::fs::copy(&vmlinuz, boot_out.join(&name))?;
            std::fs::copy(&initrd, boot_out.join(format!("initrd.img-{release}")))?;
            found.push(KernelFiles {
                release: release.to_owned(),
                vmlinuz_size: std::fs::metadata(&vmlinuz)?.len(),
                initrd_size: std::fs::metadata(&initrd)?.len(),
            });
        }
    }
    found.sort_by(|a, b| version_cmp(&a.release, &b.release));
    if found.len() != kernels.len() || found.is_empty() {
        bail!("installed kernel packages {kernels:?} but /boot holds {:?}", found.iter().map(|k| &k.release).collect::<Vec<_>>());
    }

    // ext4 with a label, sized to the content plus free space; the file is sparse.
    let used_mib = du_mib(&rootfs)?;
    let size_mib = (used_mib * 12 / 10 + s.free_mib).div_ceil(256) * 256;
    let disk = work.path().join("disk.raw");
    let out = Command::new("mke2fs")
        .args(["-q", "-t", "ext4", "-L", "repro-root", "-E", "root_owner=0:0", "-d"])
        .arg(&rootfs)
        .arg(&disk)
        .arg(format!("{size_mib}M"))
        .output()
        .map_err(|e| anyhow!("cannot run mke2fs ({e}): install e2fsprogs with `sudo ci/bootstrap`"))?;
    if !out.status.success() {
        bail!("mke2fs -d failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::remove_dir_all(&rootfs).context("removing the build rootfs")?;

    let meta = ImageMeta {
        recipe: recipe.name.clone(),
        key: key.to_owned(),
        kernel_packages: kernels.to_vec(),
        kernels: found,
        cmdline: s.cmdline.clone(),
        build_secs: start.elapsed().as_secs_f64(),
    };
    std::fs::write(work.path().join("image.json"), serde_json::to_vec_pretty(&meta)?)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing the old image {}", dir.display()))?;
    }
    let work = work.keep();
    std::fs::rename(&work, dir).with_context(|| format!("moving the built image to {}", dir.display()))?;
    tracing::info!(
        "VM image {key}: built in {:.1} s (rootfs {:.1} s), {size_mib} MiB disk, kernels {:?}",
        start.elapsed().as_secs_f64(),
        rootfs_done.as_secs_f64(),
        meta.kernel_packages
    );
    Ok(())
}

fn run_mmdebstrap(recipe: &Recipe, s: &VmSettings, kernel_script: &Path, rootfs: &Path) -> Result<()> {
    // Kernels first (their postinst builds the initramfs with the essential
    // hooks' settings), then the recipe's VM customisation.
    let mut customize = vec![format!("chroot \"$1\" sh -s < '{}'", kernel_script.display())];
    customize.extend(s.customize.iter().cloned());
    let args = crate::images::mmdebstrap_args(recipe, &s.packages, &s.essential_hooks, &customize, rootfs)?;
    tracing::debug!("mmdebstrap {}", args.join(" "));
    let out = crate::logged::output_with_deadline(Command::new("mmdebstrap").args(&args), "mmdebstrap", crate::images::MMDEBSTRAP_DEADLINE)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        bail!(
            "mmdebstrap failed ({}) building the VM disk of {}; last output:\n{}",
            out.status,
            recipe.dir.join("recipe.toml").display(),
            tail.join("\n")
        );
    }
    Ok(())
}

/// The kernel packages dpkg has installed in the rootfs, oldest first.
fn installed_kernel_packages(rootfs: &Path, sel: &KernelSelection) -> Result<Vec<String>> {
    let re = regex::Regex::new(&sel.pattern).context("vm.kernels.pattern")?;
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status")).context("reading the rootfs dpkg status")?;
    let mut names: Vec<String> = status
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|l| l == "Status: install ok installed"))
        .filter_map(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Package: ")))
        .filter(|n| re.is_match(n))
        .map(str::to_owned)
        .collect();
    names.sort_by(|a, b| version_cmp(a, b));
    Ok(names)
}

fn du_mib(dir: &Path) -> Result<u64> {
    let out = Command::new("du").args(["-sxm"]).arg(dir).output().context("running du")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("du printed {text:?}"))
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_sort_like_sort_v() {
        assert_eq!(version_cmp("6.1.0-9-amd64", "6.1.0-10-amd64"), Less);
        assert_eq!(version_cmp("6.1.0-56-amd64", "6.1.0-55-amd64"), Greater);
        assert_eq!(version_cmp("6.1.0-55-amd64", "6.1.0-55-amd64"), Equal);
        assert_eq!(version_cmp("6.12.0-1-amd64", "6.1.0-99-amd64"), Greater);
    }
}
