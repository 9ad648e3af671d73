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
use std::path::Path;
use std::time::{Duration, Instant};

pub use crate::recipe::{Recipe, RootfsBuilder, Versions};
use crate::progress::Progress;


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
    crate::progress::report(Progress::Build {
        image: tag.clone(),
        what: format!("from {} (first use of this recipe; a few minutes; log: {})", recipe.dir.display(), log_path.display()),
    });
    if recipe.builder == RootfsBuilder::Dockerfile {
        crate::centos::build_real(recipe, &tag).await?;
        crate::progress::report(Progress::Built { image: tag.clone(), secs: start.elapsed().as_secs() });
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
    tracing::info!("image {tag}: rootfs {:.1} s, import {:.1} s", built.as_secs_f64(), (start.elapsed() - built).as_secs_f64());
    crate::progress::report(Progress::Built { image: tag.clone(), secs: start.elapsed().as_secs() });
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
    let lock = tokio::task::spawn_blocking(move || crate::filelock::lock(&lock_path, BUILD_LOCK_WAIT, "another process is building the same image")).await??;
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

/// How long a build waits for a concurrent build of the same image (a
/// cold mmdebstrap under load takes minutes; a CentOS build up to 30).
pub const BUILD_LOCK_WAIT: Duration = Duration::from_secs(45 * 60);

/// How long one mmdebstrap run may take (a cold build with VM kernels
/// under TCG-loaded CI takes under 10 minutes; a hung mirror never ends).
pub const MMDEBSTRAP_DEADLINE: Duration = Duration::from_secs(30 * 60);

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

/// Builds the rootfs tarball with mmdebstrap, streaming its log to tracing,
/// within [`MMDEBSTRAP_DEADLINE`].
async fn run_mmdebstrap(recipe: &Recipe, out: &Path, log_path: &Path) -> Result<()> {
    if recipe.builder != RootfsBuilder::Mmdebstrap {
        bail!("{}: builder {:?} does not build with mmdebstrap", recipe.dir.join("recipe.toml").display(), recipe.builder);
    }
    let args = mmdebstrap_args(recipe, &[], &[], &recipe.customize, out)?;
    tracing::debug!("mmdebstrap {}", args.join(" "));
    let mut cmd = tokio::process::Command::new("mmdebstrap");
    cmd.args(&args);
    let run = tokio::time::timeout(MMDEBSTRAP_DEADLINE, crate::logged::run(cmd, "mmdebstrap", Some(log_path)))
        .await
        .map_err(|_| anyhow::anyhow!("mmdebstrap did not finish within {} min (killed); log {}", MMDEBSTRAP_DEADLINE.as_secs() / 60, log_path.display()))??;
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
