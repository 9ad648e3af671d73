//! The platform matrix: each platform is resolved once per process into one
//! value (recipe, image tag, OS and Docker/firewalld/iptables versions,
//! real or emulated, and the label reports use) that nodes, the runner,
//! outcomes and snapshots read. Nothing else decides what a platform is.
//!
//! Adding a platform is a recipe directory `images/<name>/recipe.toml`
//! (with a `[versions]` table; `extends` another recipe to share its
//! settings) and one entry in [`crate::platform::Platform`].

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::config::images_dir;
use crate::recipe::{Recipe, Versions};
use crate::platform::Platform;

/// A platform as this process runs it.
#[derive(Debug, Clone)]
pub struct ResolvedPlatform {
    /// The platform asked for (what scenario files name).
    pub platform: Platform,
    /// What reports call it, with its Docker major version and, for an
    /// emulation, `-emulated`: `debian12-docker20`, `debian13-docker28`,
    /// `centos7-emulated-docker20`. Node names, transcripts, outcomes and
    /// snapshot names carry it.
    pub label: String,
    /// True when the platform is emulated on another userland (CentOS 7 here).
    pub emulated: bool,
    /// Why this recipe was chosen, when there was a choice (CentOS 7).
    pub reason: Option<String>,
    /// The versions the recipe promises (checked when the image is built).
    pub versions: Versions,
    /// The recipe the nodes' images and VM disks are built from.
    pub recipe: Recipe,
    /// The container image tag of the recipe.
    pub tag: String,
}

impl ResolvedPlatform {
    /// One line for people: `debian13-docker28: Debian 13 (trixie), Docker 28.5.2, firewalld 2.3.1, iptables 1.8.11`.
    pub fn describe(&self) -> String {
        let v = &self.versions;
        format!(
            "{}: {}, Docker {}, firewalld {}, iptables {}{}",
            self.label,
            v.os,
            v.docker,
            v.firewalld,
            v.iptables,
            if self.emulated { " (emulated)" } else { "" }
        )
    }
}

/// Resolves `platform` (once per process; later calls return the same value).
pub fn resolve(platform: Platform) -> Result<&'static ResolvedPlatform> {
    static CACHE: OnceLock<Mutex<HashMap<Platform, &'static ResolvedPlatform>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().expect("platform cache").get(&platform) {
        return Ok(r);
    }
    let resolved: &'static ResolvedPlatform = Box::leak(Box::new(resolve_uncached(platform)?));
    Ok(*cache.lock().expect("platform cache").entry(platform).or_insert(resolved))
}

fn resolve_uncached(platform: Platform) -> Result<ResolvedPlatform> {
    let (dir, emulated, reason) = match platform {
        Platform::Centos7 => {
            let c = crate::centos::choice()?;
            (c.flavor.recipe_dir(), c.flavor == crate::centos::Flavor::Emulated, Some(c.reason))
        }
        other => (images_dir().join(other.name()), false, None),
    };
    let recipe = Recipe::load_dir(&dir).with_context(|| format!("resolving platform {platform}"))?;
    let versions = recipe.versions.clone().with_context(|| {
        format!("{}: no [versions] table; say os, docker, firewalld and iptables", dir.join("recipe.toml").display())
    })?;
    let label = label_of(&recipe.name, &versions);
    let tag = recipe.tag()?;
    Ok(ResolvedPlatform { platform, label, emulated, reason, versions, recipe, tag })
}

/// `debian12` with Docker 20.10.24 is `debian12-docker20`; a recipe whose
/// name already says its Docker (`debian13-docker28`) keeps it.
pub fn label_of(recipe_name: &str, v: &Versions) -> String {
    let major = v.docker_major();
    if recipe_name.contains(&format!("docker{major}")) {
        recipe_name.to_string()
    } else {
        format!("{recipe_name}-docker{major}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_resolves_and_says_its_docker() {
        for p in Platform::ALL {
            let r = resolve(p).unwrap_or_else(|e| panic!("{p}: {e:#}"));
            assert!(r.label.contains(&format!("-docker{}", r.versions.docker_major())), "{}", r.label);
            assert!(r.label.starts_with(p.name()), "{}", r.label);
            assert!(std::ptr::eq(r, resolve(p).unwrap()), "resolved once");
        }
        assert_eq!(resolve(Platform::Debian12).unwrap().label, "debian12-docker20");
        assert_eq!(resolve(Platform::Debian13).unwrap().label, "debian13-docker26");
        assert_eq!(resolve(Platform::Debian13Docker28).unwrap().label, "debian13-docker28");
    }
}
