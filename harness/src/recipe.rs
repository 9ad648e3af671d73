//! Node image recipes: `images/<name>/recipe.toml` plus an `overlay/`
//! tree, merged over the recipes they extend, and hashed into the image tag
//! (an unchanged recipe is a cache hit, any edit rebuilds). Data only:
//! building is `images` (containers) and `vm::disk` (VM disks).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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
    /// CentOS 7 image, from `centos:7`).
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
