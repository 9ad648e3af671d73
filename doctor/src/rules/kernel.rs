//! Kernel rules: stale-kernel, reboot-pending, kernel-modules-unavailable.

use super::{journal_since_last_start, reboot_step};
use crate::explain;
use crate::facts::*;
use crate::finding::{codes, Finding, Needs, Severity, Step};

/// Numeric parts of a kernel release, for ordering (`6.1.0-56-amd64` -> [6,1,0,56]).
fn release_key(r: &str) -> Vec<u64> {
    r.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect()
}

/// Evidence that the running kernel's module tree is gone, if it is.
/// `None` in a container (its kernel is the host's: no tree is normal there).
pub fn stale_kernel_evidence(f: &Facts) -> Option<Vec<String>> {
    let k = &f.kernel;
    if k.virtualization == Virtualization::Container || k.release.is_empty() {
        return None;
    }
    if k.running_modules_usable() {
        return None;
    }
    // No package ever owned it: a reboot boots the same kernel again.
    if k.booted_from_outside() {
        return None;
    }
    let others = k.other_trees();
    if others.is_empty() {
        return None; // no module trees at all: a monolithic kernel, not a stale one
    }
    let mut ev = vec![format!("running kernel (uname -r): {}", k.release)];
    match k.running_tree() {
        None => ev.push(format!("/lib/modules/{}: missing", k.release)),
        Some(_) => ev.push(format!("/lib/modules/{}/modules.dep: missing", k.release)),
    }
    let names: Vec<&str> = others.iter().map(|t| t.release.as_str()).collect();
    ev.push(format!("installed module trees: {}", names.join(", ")));
    if !k.boot_images.is_empty() {
        ev.push(format!("kernels in /boot: {}", k.boot_images.join(", ")));
    }
    // The positive evidence that a package owned it: what dpkg or yum did.
    let done: Vec<String> = k
        .package_trace
        .iter()
        .flatten()
        .filter_map(|t| t.strip_prefix("log="))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // dpkg: DATE TIME ACTION PKG:ARCH ...; yum: MON DD HH:MM:SS Erased: PKG
            let i = w.iter().position(|x| ["install", "upgrade", "remove", "purge", "Installed:", "Erased:", "Updated:"].contains(x))?;
            Some(format!("{} {}", w[i].trim_end_matches(':'), w.get(i + 1)?.split(':').next()?))
        })
        .collect();
    if !done.is_empty() {
        ev.push(format!("the package manager's log on the running kernel: {}", done.join(", ")));
    }
    Some(ev)
}

/// stale-kernel: the running kernel's modules were removed by an upgrade.
pub fn stale_kernel(f: &Facts) -> Option<Finding> {
    let mut ev = stale_kernel_evidence(f)?;
    // Symptoms, quoted so the reader recognises them.
    for l in journal_since_last_start(&f.docker) {
        if explain::is_kernel_symptom(l) {
            ev.push(format!("symptom in docker journal: {}", l.trim()));
        }
    }
    let newest = f.kernel.other_trees().into_iter().max_by_key(|t| release_key(&t.release)).map(|t| t.release.clone());
    Some(Finding {
        code: codes::STALE_KERNEL.into(),
        severity: Severity::Incident,
        title: format!(
            "running kernel {} has no module tree any more (upgraded, not rebooted): netfilter modules cannot load",
            f.kernel.release
        ),
        evidence: ev,
        plan: vec![reboot_step(format!(
            "boot the installed kernel{} whose modules exist; iptables (nft and legacy alike) and dockerd work again after it",
            newest.map(|n| format!(" {n}")).unwrap_or_default()
        ))],
    })
}

/// reboot-pending: a newer kernel is installed (or the distro asks for a reboot).
pub fn reboot_pending(f: &Facts) -> Option<Finding> {
    let k = &f.kernel;
    // (A kernel from outside the distribution has no tree: never pending.)
    if k.virtualization == Virtualization::Container || k.release.is_empty() || !k.running_modules_usable() {
        return None;
    }
    let running = release_key(&k.release);
    let newer: Vec<&str> = k
        .other_trees()
        .into_iter()
        .filter(|t| release_key(&t.release) > running)
        .map(|t| t.release.as_str())
        .collect();
    if newer.is_empty() && !k.reboot_required {
        return None;
    }
    let mut ev = vec![format!("running kernel (uname -r): {}", k.release)];
    if !newer.is_empty() {
        ev.push(format!("newer installed module trees: {}", newer.join(", ")));
    }
    if k.reboot_required {
        ev.push("/run/reboot-required exists".into());
        if !k.reboot_required_pkgs.is_empty() {
            ev.push(format!("packages asking for it: {}", k.reboot_required_pkgs.join(", ")));
        }
    }
    Some(Finding {
        code: codes::REBOOT_PENDING.into(),
        severity: Severity::Warning,
        title: "a reboot is pending: the installed kernel is not the running one".into(),
        evidence: ev,
        plan: vec![reboot_step(
            "run the installed kernel before the old module tree is purged (then netfilter modules stop loading: stale-kernel)".into(),
        )],
    })
}

/// A kernel booted from outside the distribution (a hypervisor's direct
/// boot, WSL, a custom build) has no module tree here and no package: if
/// netfilter is not built into it, nothing on this host can load it, and a
/// reboot boots the same kernel. Judged from what fails, not from absent
/// names: `iptables` cannot read its table, or dockerd died on the kernel.
fn outside_kernel_without_netfilter(f: &Facts) -> Option<Finding> {
    let k = &f.kernel;
    let cur = f.iptables.current_backend;
    let unreadable = cur.is_some_and(|b| f.iptables.rules(b).is_none());
    let symptoms: Vec<String> = journal_since_last_start(&f.docker)
        .iter()
        .filter(|l| explain::is_kernel_symptom(l))
        .map(|l| format!("symptom in docker journal: {}", l.trim()))
        .collect();
    if !unreadable && symptoms.is_empty() {
        return None; // netfilter works: built in, as WSL's and Firecracker's kernels have it
    }
    let mut ev = vec![
        format!("running kernel (uname -r): {}", k.release),
        format!("/lib/modules/{}: missing; installed module trees: {}", k.release, {
            let t: Vec<&str> = k.module_trees.iter().map(|t| t.release.as_str()).collect();
            if t.is_empty() { "none".to_string() } else { t.join(", ") }
        }),
        "no package on this host installed the running kernel (dpkg/rpm and their logs know nothing of it): it was booted from outside the distribution, so this is not a stale kernel and a reboot boots it again".into(),
    ];
    if unreadable {
        ev.push(format!(
            "the {} rules cannot be read: netfilter is not built into this kernel and its modules cannot be loaded",
            cur.map(|b| b.name()).unwrap_or("?")
        ));
    }
    ev.extend(symptoms);
    Some(Finding {
        code: codes::KERNEL_MODULES_UNAVAILABLE.into(),
        severity: Severity::Incident,
        title: format!(
            "running kernel {} comes from outside the distribution and has no netfilter: give it its modules (or netfilter built in), or boot a distribution kernel",
            k.release
        ),
        evidence: ev,
        plan: vec![],
    })
}

/// Modules Docker's networking needs, per backend in use. Each entry lists
/// alternative names: kernel 3.10 (CentOS 7) calls MASQUERADE `ipt_MASQUERADE`.
fn needed(b: Option<Backend>) -> &'static [&'static [&'static str]] {
    match b {
        Some(Backend::Nft) => &[
            &["nf_tables"],
            &["nft_chain_nat", "nft_chain_nat_ipv4"],
            &["nf_nat"],
            &["xt_MASQUERADE", "ipt_MASQUERADE"],
            &["xt_addrtype"],
            &["bridge"],
            &["veth"],
        ],
        _ => &[
            &["ip_tables"],
            &["iptable_nat"],
            &["iptable_filter"],
            &["nf_nat"],
            &["xt_MASQUERADE", "ipt_MASQUERADE"],
            &["xt_addrtype"],
            &["bridge"],
            &["veth"],
        ],
    }
}

/// Modules of `needed` that are neither built in, loaded nor loadable.
pub(crate) fn unavailable_modules(f: &Facts) -> Vec<ModprobeCheck> {
    let k = &f.kernel;
    let Some(checks) = k.modprobe.as_ref() else { return vec![] };
    let loaded = k.loaded_modules.clone().unwrap_or_default();
    let builtin = k.builtin_modules.clone().unwrap_or_default();
    let available = |m: &str| {
        loaded.iter().any(|l| l == m)
            || builtin.iter().any(|b| b == m)
            || checks.iter().any(|c| c.module == m && c.ok)
    };
    let mut out = Vec::new();
    for group in needed(f.iptables.current_backend) {
        if group.iter().any(|m| available(m)) {
            continue;
        }
        // Unknown to the probe (not in its modprobe list): not evidence.
        if let Some(c) = group.iter().find_map(|m| checks.iter().find(|c| c.module == *m)) {
            out.push(c.clone());
        }
    }
    out
}

/// kernel-modules-unavailable: a needed module is neither built in, loaded nor loadable.
pub fn modules_unavailable(f: &Facts) -> Option<Finding> {
    let k = &f.kernel;
    if k.virtualization == Virtualization::Container {
        return None;
    }
    if k.booted_from_outside() {
        return outside_kernel_without_netfilter(f);
    }
    if !k.running_modules_usable() {
        return None;
    }
    let missing = unavailable_modules(f);
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|c| c.module.as_str()).collect();
    let mut ev = vec![format!("running kernel {} has its module tree", k.release)];
    ev.extend(missing.iter().map(|c| format!("modprobe -n {}: {}", c.module, c.message)));
    let working = f.docker.is_running() && !f.iptables.backends_with_docker_chains().is_empty();
    Some(Finding {
        code: codes::KERNEL_MODULES_UNAVAILABLE.into(),
        severity: if working { Severity::Warning } else { Severity::Incident },
        title: format!("netfilter modules Docker needs cannot be loaded: {}", names.join(", ")),
        evidence: ev,
        plan: vec![Step {
            command: format!("modprobe -a {}", names.join(" ")),
            why: "load the modules; if modprobe says `not found`, install the kernel's extra modules package (linux-modules-extra, kernel-modules-extra) for this exact kernel".into(),
            disrupts: "nothing".into(),
            needs: Needs::Nothing,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::release_key;
    #[test]
    fn release_order_is_numeric() {
        assert!(release_key("6.1.0-56-amd64") > release_key("6.1.0-9-amd64"));
        assert!(release_key("3.10.0-1160.el7.x86_64") > release_key("3.10.0-957.el7.x86_64"));
    }
}
