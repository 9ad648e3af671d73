//! Every rule on facts captured from real nodes (debian12 containers) or
//! built from documented outputs (VM and CentOS 7 cases: see fixtures/README.md).

use doctor::facts::{Backend, Facts, Iptables, Virtualization};
use doctor::finding::{merged_plan, Finding, Needs, Severity};
use doctor::rules::{analyse, cleanup_commands, wrappers_choice};
use std::path::Path;

fn load(name: &str) -> Facts {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.json"));
    doctor::load_facts(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn codes(f: &[Finding]) -> Vec<(&str, Severity)> {
    f.iter().map(|x| (x.code.as_str(), x.severity)).collect()
}

use Severity::{Incident as I, Warning as W};

/// (fixture, expected findings in report order).
const CASES: &[(&str, &[(&str, Severity)])] = &[
    ("debian12-healthy-published", &[]),
    ("debian12-healthy-firewalld-iptables", &[]),
    ("debian12-firewalld-reload-subscribed", &[]),
    ("debian12-firewalld-restarted-subscribed", &[]),
    ("debian12-consistent-legacy", &[]),
    ("debian12-firewalld-flushed", &[("firewalld-flushed-chains", I)]),
    ("debian12-firewalld-flushed-after-failed-run", &[("firewalld-flushed-chains", I)]),
    ("debian12-firewalld-flushed-published", &[("firewalld-flushed-chains", I), ("published-port-without-rule", I)]),
    ("debian12-flushed-with-stale-legacy", &[("firewalld-flushed-chains", I), ("published-port-without-rule", I)]),
    ("debian12-backend-switched-legacy-stale-dnat", &[("iptables-backend-mismatch", I)]),
    ("debian12-backend-legacy-after-restart", &[("iptables-backend-mismatch", I)]),
    ("debian12-backend-stale-dnat-reaches-other", &[("iptables-backend-mismatch", I)]),
    ("debian12-ip-forward-off", &[("ip-forwarding-disabled", I)]),
    ("debian12-port-already-allocated", &[("port-already-allocated", W)]),
    ("debian12-vm-stale-kernel", &[("stale-kernel", I)]),
    ("debian12-vm-reboot-pending", &[("reboot-pending", W)]),
    ("debian12-vm-modules-unavailable", &[("kernel-modules-unavailable", I), ("docker-daemon-failed", I)]),
    ("centos7-firewalld-flushed", &[("firewalld-flushed-chains", I), ("published-port-without-rule", I)]),
    ("centos7-firewalld-healthy", &[]),
    // The platform matrix (tests/platforms.rs asserts their evidence).
    ("debian13-firewalld-subscribed-published", &[]),
    ("debian13-firewalld-flushed", &[("firewalld-flushed-chains", I)]),
    ("debian13-firewalld-flushed-published", &[("firewalld-flushed-chains", I), ("published-port-without-rule", I)]),
    ("debian13-port-already-allocated", &[("port-already-allocated", W)]),
    ("debian13-docker28-firewalld-subscribed-published", &[]),
    ("debian13-docker28-firewalld-restarted-subscribed", &[]),
    ("debian13-docker28-firewalld-flushed", &[("firewalld-flushed-chains", I)]),
    ("debian13-docker28-firewalld-flushed-after-failed-run", &[("firewalld-flushed-chains", I)]),
    ("debian13-docker28-firewalld-flushed-published", &[("firewalld-flushed-chains", I), ("published-port-without-rule", I)]),
    ("debian13-docker28-port-already-allocated", &[("port-already-allocated", W)]),
    ("debian13-docker28-no-cli", &[]),
    // Host states of issue 12, captured from the scenarios' nodes.
    // The port still answers through docker-proxy (firewalld off, INPUT open): a warning.
    ("debian12-docker-chains-flushed-by-hand", &[("docker-chains-flushed", I), ("published-port-without-rule", W)]),
    ("debian13-docker28-docker-chains-flushed-by-hand", &[("docker-chains-flushed", I), ("published-port-without-rule", W)]),
    ("debian12-iptables-false-by-flag", &[]),
    ("debian12-published-on-host-network", &[]),
    ("debian12-firewalld-stopped-after-docker", &[("firewalld-flushed-chains", I)]),
    ("debian13-firewalld-stopped-after-docker", &[("firewalld-flushed-chains", I)]),
    ("debian12-dnat-rules-lost-chains-kept", &[("published-port-without-rule", I)]),
    ("debian12-firewalld-zone-conflict", &[("firewalld-zone-conflict", I)]),
    ("debian12-firewalld-restarted-subscribed-quiet-log", &[]),
    ("debian12-kubelet-hint-chains-in-legacy", &[("kubelet-backend-split", W)]),
    ("debian12-vm-kernel-from-outside", &[("kernel-modules-unavailable", I), ("docker-daemon-failed", I)]),
];

#[test]
fn every_fixture_gets_exactly_its_findings() {
    let mut failures = Vec::new();
    for (name, want) in CASES {
        let got = analyse(&load(name));
        if codes(&got) != want.to_vec() {
            failures.push(format!("{name}: want {want:?}, got {:?}", codes(&got)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_in_the_directory_is_covered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if let Some(stem) = n.strip_suffix(".json") {
            assert!(CASES.iter().any(|(c, _)| *c == stem), "fixture {n} has no expectation in CASES");
        }
    }
}

#[test]
fn every_code_is_exercised_by_some_fixture() {
    for code in doctor::finding::codes::ALL {
        let hit = CASES.iter().any(|(_, w)| w.iter().any(|(c, _)| c == code))
            || ["firewalld-started-after-docker"].contains(code); // built below from a real fixture
        assert!(hit, "no fixture exercises {code}");
    }
}

#[test]
fn stale_kernel_takes_precedence_over_backend_and_flush() {
    let f = load("debian12-vm-stale-kernel");
    let got = analyse(&f);
    assert!(!got.iter().any(|x| x.code == "iptables-backend-mismatch" || x.code == "firewalld-flushed-chains"));
    // dockerd failed because of the kernel: one finding, with the one cure.
    let codes: Vec<&str> = got.iter().map(|x| x.code.as_str()).collect();
    assert_eq!(codes, ["stale-kernel"]);
    assert!(got[0].evidence.iter().any(|e| e.contains("CHAIN_ADD failed")), "{:?}", got[0].evidence);
    assert_eq!(got[0].plan[0].needs, Needs::AllowReboot);
}

#[test]
fn a_stale_kernel_does_not_hide_an_unrelated_flush() {
    // Modules loaded before the purge: dockerd runs and iptables reads its
    // rules, yet Docker's chains are gone (firewalld flushed them): both.
    let mut f = load("debian12-vm-stale-kernel");
    let flushed = load("debian12-firewalld-flushed");
    f.docker = flushed.docker.clone();
    f.firewalld = flushed.firewalld.clone();
    f.iptables = flushed.iptables.clone();
    let found = analyse(&f);
    let got = codes(&found);
    assert!(got.contains(&("stale-kernel", I)) && got.contains(&("firewalld-flushed-chains", I)), "{got:?}");
}

#[test]
fn a_kernel_from_outside_the_distribution_is_not_stale() {
    // Real capture: Debian 12 booted on Debian 13's 6.12 (scenario
    // kernel-booted-from-outside-distribution): no tree, no package.
    let f = load("debian12-vm-kernel-from-outside");
    assert_eq!(f.kernel.package_trace.as_deref(), Some(&[][..]));
    let got = analyse(&f);
    assert!(!got.iter().any(|x| x.code == "stale-kernel" || x.code == "reboot-pending"), "{:?}", codes(&got));
    assert!(got.iter().all(|x| x.plan.iter().all(|s| s.needs != Needs::AllowReboot)), "no reboot for a foreign kernel");
    // The same host where dpkg's log shows the package purged: stale.
    let mut purged = f.clone();
    purged.kernel.package_trace =
        Some(vec![format!("log=2026-12-03 10:00:00 purge linux-image-{}:amd64 6.12.117-1 <none>", f.kernel.release)]);
    let got = analyse(&purged);
    assert_eq!(got[0].code, "stale-kernel");
    assert!(got[0].evidence.iter().any(|e| e.ends_with(&format!("purge linux-image-{}", f.kernel.release))), "{:?}", got[0].evidence);
    // And where no package manager could be asked: as before, the tree decides.
    let mut unknown = f.clone();
    unknown.kernel.package_trace = None;
    assert_eq!(analyse(&unknown)[0].code, "stale-kernel");
}

#[test]
fn a_missing_module_tree_in_a_container_is_not_a_stale_kernel() {
    let mut f = load("debian12-vm-stale-kernel");
    f.kernel.virtualization = Virtualization::Container;
    assert!(!analyse(&f).iter().any(|x| x.code == "stale-kernel"));
}

#[test]
fn latent_firewalld_order_warns_only_when_docker_is_not_subscribed() {
    // Real capture: firewalld restarted after a dockerd that was subscribed.
    let mut f = load("debian12-firewalld-restarted-subscribed");
    assert!(analyse(&f).is_empty(), "subscribed dockerd: a firewalld restart is harmless");
    // Same node, but dockerd never logged a `Firewalld:` line and docker0 is
    // in no firewalld zone (as a dockerd started without firewalld leaves it:
    // debian12-firewalld-flushed has no active zone).
    f.docker.journal.retain(|l| !l.contains("msg=\"Firewalld:"));
    if let Some(m) = f.docker.journal_markers.as_mut() {
        m.retain(|l| !l.contains("msg=\"Firewalld:"));
    }
    let zones = f.firewalld.active_zones.replace(vec![]);
    assert_eq!(codes(&analyse(&f)), vec![("firewalld-started-after-docker", W)]);
    // docker0 in the `docker` zone is positive evidence on its own.
    let mut bound = f.clone();
    bound.firewalld.active_zones = zones;
    assert!(analyse(&bound).is_empty(), "docker0 in the docker zone: subscribed");
    // A quiet dockerd would not have logged the line: cannot tell, no warning.
    let mut quiet = f.clone();
    quiet.docker.log_level = Some("warn".into());
    assert!(analyse(&quiet).is_empty(), "log-level warn hides the Firewalld: lines");
    // Nor when the journal does not reach back to dockerd's start (rotated).
    let mut rotated = f.clone();
    rotated.docker.journal.retain(|l| !l.contains("Starting"));
    rotated.docker.journal_markers = Some(vec![]);
    assert!(analyse(&rotated).is_empty(), "a journal without dockerd's start cannot tell");
    // And with firewalld's nftables backend there is nothing to flush.
    f.firewalld.backend = Some("nftables".into());
    assert!(analyse(&f).is_empty());
}

#[test]
fn a_quiet_dockerd_is_not_called_unsubscribed() {
    // Real capture: dockerd at log-level warn (daemon.json), firewalld
    // restarted after it; dockerd re-applied its rules (scenario
    // firewalld-restarted-docker-subscribed-quiet-log).
    let f = load("debian12-firewalld-restarted-subscribed-quiet-log");
    assert_eq!(f.docker.log_level.as_deref(), Some("warn"));
    assert!(analyse(&f).is_empty(), "{:?}", codes(&analyse(&f)));
    // Without the zone evidence the quiet journal still cannot tell.
    let mut g = f.clone();
    g.firewalld.active_zones = Some(vec![]);
    assert!(analyse(&g).is_empty(), "{:?}", codes(&analyse(&g)));
    // At the default level, silence since dockerd's start is evidence.
    g.docker.log_level = None;
    assert_eq!(codes(&analyse(&g)), vec![("firewalld-started-after-docker", W)]);
}

#[test]
fn backend_cleanup_touches_only_dockers_rules() {
    // Captured after adding admin rules to the stale nft backend.
    let f = load("debian12-backend-legacy-after-restart");
    let plan = merged_plan(&analyse(&f));
    let all: String = plan.iter().map(|s| s.command.clone()).collect::<Vec<_>>().join("\n");
    assert!(all.contains("iptables-nft"), "{all}");
    for admin in ["10.9.0.0/16", "--dport 2222", "FORWARD_ZONES", "PREROUTING_ZONES"] {
        assert!(!all.contains(admin), "plan touches `{admin}`:\n{all}");
    }
    // Never a whole-table flush: every -F/-X names a DOCKER chain.
    for w in all.split("&&") {
        let t: Vec<&str> = w.split_whitespace().collect();
        if let Some(i) = t.iter().position(|x| *x == "-F" || *x == "-X") {
            assert!(t.get(i + 1).is_some_and(|c| c.starts_with("DOCKER")), "unsafe command: {w}");
        }
    }
    // The live backend (legacy) is left alone.
    assert!(!all.contains("iptables-legacy"));
}

#[test]
fn swapped_alternative_is_pointed_back_and_stale_rules_removed() {
    let f = load("debian12-backend-switched-legacy-stale-dnat");
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    assert!(m.plan[0].command.starts_with("update-alternatives --set iptables /usr/sbin/iptables-nft"));
    assert!(m.evidence.iter().any(|e| e.contains("--dport 8894 -j DNAT")), "{:#?}", m.evidence);
    assert!(m.plan.iter().any(|s| s.command.contains("-D DOCKER") && s.command.contains("8894")));
    assert!(m.plan.iter().all(|s| s.needs == Needs::Nothing), "no restart needed");
}

#[test]
fn a_stale_dnat_rule_names_the_container_it_now_reaches() {
    // Scenario iptables-legacy-after-restart: web8080 moved to 172.17.0.3 and
    // was removed; `other` (no published port) got 172.17.0.2, where nft's
    // stale DNAT for 8080 still points, so port 8080 answers from `other`.
    let f = load("debian12-backend-stale-dnat-reaches-other");
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    assert!(
        m.evidence.iter().any(|e| e.contains("--dport 8080 -j DNAT --to-destination 172.17.0.2:80")
            && e.contains("port 8080 now reaches container `other` at 172.17.0.2, which does not publish it")),
        "{:#?}",
        m.evidence
    );
    // The stale backend's Docker rules go, the admin's rule there stays.
    let all: String = m.plan.iter().map(|s| s.command.clone()).collect::<Vec<_>>().join("\n");
    assert!(all.contains("iptables-nft -w -t nat -F DOCKER"), "{all}");
    assert!(!all.contains("admin-rule") && !all.contains("iptables-legacy"), "{all}");
}

#[test]
fn centos7_plain_iptables_is_read_as_legacy() {
    let f = load("centos7-firewalld-flushed");
    assert_eq!(f.iptables.current_backend, Some(Backend::Legacy));
    assert!(f.iptables.alternative.is_none());
    assert!(f.iptables.nft.is_none() && f.iptables.legacy.is_some());
    assert_eq!(f.firewalld.version.as_deref(), Some("0.6.3"));
    assert_eq!(f.firewalld.backend.as_deref(), Some("iptables"));
    assert_eq!(f.firewalld.active_zones.as_deref(), Some(&["public: interfaces=eth0,eth1".to_string()][..]));
}

#[test]
fn healed_hosts_have_an_empty_plan_so_a_second_fix_changes_nothing() {
    for name in ["debian12-healthy-published", "debian12-consistent-legacy", "debian12-firewalld-reload-subscribed"] {
        assert!(merged_plan(&analyse(&load(name))).is_empty(), "{name}");
    }
}

#[test]
fn restart_needs_yes_only_with_running_containers() {
    let busy = load("debian12-firewalld-flushed-published");
    let step = &merged_plan(&analyse(&busy))[0];
    assert_eq!((step.command.as_str(), step.needs), ("systemctl restart docker", Needs::Yes));
    let idle = load("debian12-firewalld-flushed");
    assert_eq!(merged_plan(&analyse(&idle))[0].needs, Needs::Nothing);
    // A count that could not be read is not zero: the restart needs consent.
    let mut unknown = idle.clone();
    unknown.docker.containers = None;
    unknown.docker.containers_running = None;
    let step = &merged_plan(&analyse(&unknown))[0];
    assert_eq!((step.command.as_str(), step.needs), ("systemctl restart docker", Needs::Yes));
    assert!(step.disrupts.contains("could not be read"), "{}", step.disrupts);
    // docker info's count is used when the container list is missing.
    let mut counted = unknown.clone();
    counted.docker.containers_running = Some(0);
    assert_eq!(merged_plan(&analyse(&counted))[0].needs, Needs::Nothing);
}

#[test]
fn merged_steps_know_their_findings_and_what_they_build_on() {
    let f = analyse(&load("debian12-flushed-with-stale-legacy"));
    let steps = doctor::finding::merged_steps(&f);
    let restart = &steps[0];
    assert_eq!(restart.step.command, "systemctl restart docker");
    assert_eq!(restart.findings, ["firewalld-flushed-chains", "published-port-without-rule"]);
    assert!(restart.depends_on.is_empty());
    for later in &steps[1..] {
        assert_eq!(later.findings, ["firewalld-flushed-chains"], "{later:?}");
        assert!(later.depends_on.iter().any(|d| d == "systemctl restart docker"), "{later:?}");
    }
}

// --- kubernetes-sigs/iptables-wrappers agreement -------------------------
// Cases from kubernetes-sigs/iptables-wrappers: test/test.sh (hint chain
// `KUBE-IPTABLES-HINT` in mangle of the chosen mode, junk chains BAD-1/BAD-2
// with one rule each in the other) and pkg/xtables/detect_test.go.

fn rules(text: &str, tool: &str) -> Option<doctor::facts::RuleSet> {
    let lines: Vec<String> = text.lines().map(String::from).collect();
    Some(doctor::collect::parse_iptables_save(&lines, tool).unwrap())
}

const HINT: &str = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n";
const CANARY: &str = "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";
const JUNK: &str = "*filter\n:BAD-1 - [0:0]\n:BAD-2 - [0:0]\n-A BAD-1 -j ACCEPT\n-A BAD-2 -j DROP\nCOMMIT\n";
// detect_test.go's rulesWithoutIPTablesHint: Docker's filter rules, no hint.
const DOCKER_RULES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-BRIDGE - [0:0]\n:DOCKER-FORWARD - [0:0]\n-A FORWARD -j DOCKER-FORWARD\n-A DOCKER ! -i docker0 -o docker0 -j DROP\n-A DOCKER-BRIDGE -o docker0 -j DOCKER\n-A DOCKER-FORWARD -j DOCKER-BRIDGE\n-A DOCKER-FORWARD -i docker0 -j ACCEPT\nCOMMIT\n";

fn ipt(legacy: &str, nft: &str, legacy6: &str, nft6: &str) -> Iptables {
    Iptables {
        legacy: rules(legacy, "iptables-legacy-save"),
        nft: rules(nft, "iptables-nft-save"),
        legacy6: rules(legacy6, "ip6tables-legacy-save"),
        nft6: rules(nft6, "ip6tables-nft-save"),
        ..Default::default()
    }
}

#[test]
fn backend_choice_agrees_with_iptables_wrappers() {
    use Backend::{Legacy, Nft};
    let cases: &[(&str, Iptables, Backend)] = &[
        ("test.sh legacy: hint in legacy, junk in nft", ipt(HINT, JUNK, "", ""), Legacy),
        ("test.sh nft: hint in nft, junk in legacy", ipt(JUNK, HINT, "", ""), Nft),
        ("detect_test no rules", ipt("", "", "", ""), Nft),
        ("detect_test old legacy rules (canary)", ipt(CANARY, "", "", ""), Legacy),
        ("detect_test new legacy rules (hint)", ipt(HINT, "", "", ""), Legacy),
        ("detect_test old nft rules (canary)", ipt("", CANARY, "", ""), Nft),
        ("detect_test legacy, ipv6-only hint", ipt("", "", HINT, ""), Legacy),
        ("detect_test nft, ipv6-only hint", ipt("", "", "", HINT), Nft),
        ("detect_test non-Kubernetes nft rules, Kubernetes legacy", ipt(HINT, DOCKER_RULES, "", ""), Legacy),
        ("shell wrapper: more legacy rules wins", ipt(DOCKER_RULES, JUNK, "", ""), Legacy),
        ("shell wrapper: a tie goes to nft", ipt(JUNK, JUNK, "", ""), Nft),
    ];
    for (name, i, want) in cases {
        assert_eq!(wrappers_choice(i), *want, "{name}");
    }
}

#[test]
fn with_kubelet_hints_the_doctor_targets_the_wrappers_backend() {
    // Docker live in nft (alternative on legacy), kubelet's hint in legacy:
    // iptables-wrappers picks legacy, so the plan moves Docker there.
    let mut f = load("debian12-backend-switched-legacy-stale-dnat");
    let mut legacy = f.iptables.legacy.clone().unwrap();
    legacy.tables.entry("mangle".into()).or_default().chains.push("KUBE-IPTABLES-HINT".into());
    f.iptables.legacy = Some(legacy);
    assert_eq!(wrappers_choice(&f.iptables), Backend::Legacy);
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    let cmds: Vec<&str> = m.plan.iter().map(|s| s.command.as_str()).collect();
    assert!(cmds.contains(&"systemctl restart docker"), "{cmds:#?}");
    assert!(cmds.iter().any(|c| c.starts_with("iptables-nft -w -t nat")), "{cmds:#?}");
    assert!(!cmds.iter().any(|c| c.starts_with("update-alternatives")), "already on legacy: {cmds:#?}");
}

#[test]
fn cleanup_of_a_backend_without_docker_is_empty() {
    let r = rules(JUNK, "iptables-nft-save").unwrap();
    assert!(cleanup_commands(&r, Backend::Nft, false).is_empty());
}

// --- bad input ------------------------------------------------------------

#[test]
fn truncated_facts_name_file_line_and_column() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian12-firewalld-flushed.json")).unwrap();
    let cut = &text[..text.len() / 2];
    let e = doctor::parse_facts(cut, Path::new("cut.json")).unwrap_err().to_string();
    assert!(e.starts_with("facts file cut.json: line "), "{e}");
    assert!(e.contains("column") && e.contains("EOF"), "{e}");
}

#[test]
fn wrong_types_name_the_field() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian12-firewalld-flushed.json")).unwrap();
    let bad = text.replacen("\"reboot_required\": false", "\"reboot_required\": \"no\"", 1);
    let e = doctor::parse_facts(&bad, Path::new("bad.json")).unwrap_err().to_string();
    assert!(e.contains("kernel.reboot_required"), "{e}");
    let e = doctor::parse_facts("{\"schema\": 2}", Path::new("v2.json")).unwrap_err().to_string();
    assert!(e.contains("v2.json") && e.contains("missing field"), "{e}");
}

// --- nothing of the admin's is lost ---------------------------------------

/// Add the admin's rules to one backend of a fixture: two in DOCKER-USER
/// (before Docker's `-j RETURN`, as `iptables -I DOCKER-USER` puts them) and
/// one in FORWARD that names docker0 but is not Docker's.
fn with_admin_rules(mut f: Facts, b: Backend) -> Facts {
    let rs = match b {
        Backend::Nft => f.iptables.nft.as_mut(),
        Backend::Legacy => f.iptables.legacy.as_mut(),
    };
    let filter = rs.unwrap().tables.get_mut("filter").unwrap();
    let at = filter.rules.iter().position(|r| r.starts_with("-A DOCKER-USER")).unwrap();
    filter.rules.insert(at, "-A DOCKER-USER -s 10.9.9.9/32 -j DROP".into());
    filter.rules.insert(at + 1, "-A DOCKER-USER -p tcp -m tcp --dport 25 -j REJECT --reject-with icmp-port-unreachable".into());
    filter.rules.push("-A FORWARD -o docker0 -p tcp -m tcp --dport 22 -j DROP".into());
    f
}

const ADMIN_USER_1: &str = "-s 10.9.9.9/32 -j DROP";
const ADMIN_USER_2: &str = "-p tcp -m tcp --dport 25 -j REJECT --reject-with icmp-port-unreachable";

/// Every `&&`-separated command of a plan.
fn commands(plan: &[doctor::finding::Step]) -> Vec<String> {
    plan.iter().flat_map(|s| s.command.split(" && ").map(str::to_string).collect::<Vec<_>>()).collect()
}

/// No command deletes, flushes or removes DOCKER-USER or an admin rule.
fn assert_spares_the_admin(plan: &[doctor::finding::Step]) {
    for c in commands(plan) {
        let w: Vec<&str> = c.split_whitespace().collect();
        for (i, x) in w.iter().enumerate() {
            if ["-F", "-X", "-D", "-Z"].contains(x) {
                let chain = w.get(i + 1).copied().unwrap_or("");
                assert!(chain != "DOCKER-USER" && !chain.is_empty(), "touches DOCKER-USER or a whole table: {c}");
                assert!(chain.starts_with("DOCKER") || ["PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD"].contains(&chain), "{c}");
            }
        }
        for admin in ["10.9.9.9", "--dport 25", "--dport 22 -j DROP", "10.9.0.0/16", "--dport 2222"] {
            assert!(!c.contains(admin) || c.contains("DOCKER-USER") && !c.contains(" -D "), "touches `{admin}`: {c}");
        }
    }
}

/// The carry-over steps, in plan order, as (tool, rule spec).
fn carried(plan: &[doctor::finding::Step]) -> Vec<(String, String)> {
    plan.iter()
        .filter_map(|s| {
            let (check, insert) = s.command.split_once(" 2>/dev/null || ")?;
            let (tool, spec) = insert.split_once(" -w -I DOCKER-USER 1 ")?;
            assert_eq!(check, format!("{tool} -w -C DOCKER-USER {spec}"), "guarded by -C: {}", s.command);
            Some((tool.to_string(), spec.to_string()))
        })
        .collect()
}

#[test]
fn backend_cleanup_keeps_the_admins_docker_user_rules_and_carries_them_over() {
    let f = with_admin_rules(load("debian12-backend-legacy-after-restart"), Backend::Nft);
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    assert_spares_the_admin(&m.plan);
    // Carried to the live backend (legacy), last first so that `-I 1` keeps the order.
    let c = carried(&m.plan);
    assert_eq!(
        c,
        [("iptables-legacy".to_string(), ADMIN_USER_2.to_string()), ("iptables-legacy".to_string(), ADMIN_USER_1.to_string())]
    );
    // ... before Docker's FORWARD jump to DOCKER-USER goes from nft.
    let first_cleanup = m.plan.iter().position(|s| s.command.contains("-D FORWARD -j DOCKER-USER")).unwrap();
    let last_carry = m.plan.iter().rposition(|s| s.command.contains("-I DOCKER-USER 1")).unwrap();
    assert!(last_carry < first_cleanup);
    // Docker's own jumps go, by their exact text; the admin's docker0 rule stays.
    let all = commands(&m.plan);
    for docker in [
        "iptables-nft -w -t filter -D FORWARD -j DOCKER-USER",
        "iptables-nft -w -t filter -D FORWARD -j DOCKER-ISOLATION-STAGE-1",
        "iptables-nft -w -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "iptables-nft -w -t nat -D POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        "iptables-nft -w -t filter -F DOCKER-ISOLATION-STAGE-2",
        "iptables-nft -w -t filter -X DOCKER",
    ] {
        assert!(all.iter().any(|c| c == docker), "missing `{docker}` in {all:#?}");
    }
    // The `why` says what happens to DOCKER-USER.
    let carry = m.plan.iter().find(|s| s.command.contains("-I DOCKER-USER 1")).unwrap();
    assert!(carry.why.contains("no longer evaluates") && carry.why.contains("left in place"), "{}", carry.why);
    let clean = m.plan.iter().find(|s| s.command.contains("-D FORWARD -j DOCKER-USER")).unwrap();
    assert!(clean.why.contains("except DOCKER-USER") && clean.why.contains("stay untouched"), "{}", clean.why);
}

#[test]
fn a_rule_already_in_the_live_docker_user_is_not_carried_again() {
    let mut f = with_admin_rules(load("debian12-backend-legacy-after-restart"), Backend::Nft);
    let legacy = f.iptables.legacy.as_mut().unwrap().tables.get_mut("filter").unwrap();
    legacy.rules.insert(0, format!("-A DOCKER-USER {ADMIN_USER_1}"));
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    assert_eq!(carried(&m.plan), [("iptables-legacy".to_string(), ADMIN_USER_2.to_string())]);
}

#[test]
fn a_flush_with_a_stale_backend_carries_the_admins_rules_after_the_restart() {
    let f = with_admin_rules(load("debian12-flushed-with-stale-legacy"), Backend::Legacy);
    let plan = merged_plan(&analyse(&f));
    assert_eq!(plan[0].command, "systemctl restart docker");
    assert_spares_the_admin(&plan);
    let c = carried(&plan);
    assert_eq!(c.len(), 2, "{plan:#?}");
    assert!(c.iter().all(|(tool, _)| tool == "iptables-nft"), "{c:?}");
}

#[test]
fn the_admins_docker_user_rules_in_the_live_backend_are_not_stale_container_rules() {
    // `-s 10.9.9.9/32` in the live DOCKER-USER looks like a container address
    // nobody has; it is the admin's, and must not be deleted.
    let f = with_admin_rules(load("debian12-backend-switched-legacy-stale-dnat"), Backend::Nft);
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    assert_spares_the_admin(&m.plan);
    assert!(!m.evidence.iter().any(|e| e.contains("10.9.9.9")), "{:#?}", m.evidence);
}

/// Docker 28.5's filter layout (DESIGN.md 2b), with an admin rule.
const DOCKER28_STALE: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-BRIDGE - [0:0]
:DOCKER-CT - [0:0]
:DOCKER-FORWARD - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER-BRIDGE -o docker0 -j DOCKER
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-USER -s 10.9.9.9/32 -j DROP
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 10.9.0.0/16 -o eth0 -j MASQUERADE
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

#[test]
fn docker_28_layout_is_cleaned_up_the_same_way() {
    let mut f = load("debian12-backend-legacy-after-restart");
    f.iptables.nft = rules(DOCKER28_STALE, "iptables-nft-save");
    let m = analyse(&f).into_iter().find(|x| x.code == "iptables-backend-mismatch").unwrap();
    assert_spares_the_admin(&m.plan);
    assert_eq!(carried(&m.plan), [("iptables-legacy".to_string(), ADMIN_USER_1.to_string())]);
    let all = commands(&m.plan);
    for docker in [
        "iptables-nft -w -t filter -D FORWARD -j DOCKER-USER",
        "iptables-nft -w -t filter -D FORWARD -j DOCKER-FORWARD",
        "iptables-nft -w -t filter -F DOCKER-FORWARD",
        "iptables-nft -w -t filter -X DOCKER-BRIDGE",
        "iptables-nft -w -t filter -X DOCKER-CT",
        "iptables-nft -w -t raw -D PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP",
        "iptables-nft -w -t nat -X DOCKER",
    ] {
        assert!(all.iter().any(|c| c == docker), "missing `{docker}` in {all:#?}");
    }
    // Exactly Docker's rules are deleted from built-in chains.
    let deleted: Vec<&String> = all.iter().filter(|c| c.contains(" -D ")).collect();
    assert_eq!(deleted.len(), 6, "{deleted:#?}");
}

// --- firewalld zones ------------------------------------------------------

#[test]
fn docker0_in_another_zone_is_a_latent_conflict_then_the_cause_of_the_failure() {
    // Still running: the next dockerd start fails.
    let mut f = load("debian13-firewalld-subscribed-published");
    f.firewalld.active_zones = Some(vec!["trusted: interfaces=docker0; sources=".into(), "public: interfaces=; sources=".into()]);
    let found = analyse(&f);
    assert_eq!(codes(&found), vec![("firewalld-zone-conflict", Severity::Warning)]);
    assert!(found[0].plan[0].command.contains("--zone=trusted --remove-interface=docker0"), "{:?}", found[0].plan);
    assert_eq!(found[0].plan[0].needs, Needs::Yes, "the binding is someone's choice");
    // dockerd failed on it: one incident naming the cause, not a bare daemon failure.
    let u = f.docker.unit.as_mut().unwrap();
    u.active_state = Some("failed".into());
    u.sub_state = Some("failed".into());
    u.result = Some("exit-code".into());
    f.docker.journal.push("Dec 03 12:00:00 n dockerd[9]: failed to start daemon: Error initializing network controller: Error creating default \"bridge\" network: Failed to program NAT chain: ZONE_CONFLICT: 'docker0' already bound to a zone".into());
    let found = analyse(&f);
    let got = codes(&found);
    assert!(got.contains(&("firewalld-zone-conflict", Severity::Incident)), "{got:?}");
    assert!(!got.iter().any(|(c, _)| *c == "docker-daemon-failed"), "{got:?}");
    let plan: Vec<&str> = found[0].plan.iter().map(|s| s.command.as_str()).collect();
    // The start, and only if it fails on Docker 26's stale default bridge,
    // the network store set aside (moby#52642) and a second start.
    let last = plan.last().copied().unwrap_or_default();
    assert!(last.starts_with("systemctl reset-failed docker; systemctl start docker || { journalctl"), "{plan:?}");
    assert!(last.contains("grep -q 'networks have same bridge name' && mv /var/lib/docker/network/files/local-kv.db"), "{plan:?}");
    assert_eq!(found[0].plan.last().unwrap().needs, Needs::Yes, "setting the store aside needs consent");
    // docker0 in the `docker` zone is what dockerd itself does: nothing.
    f.firewalld.active_zones = Some(vec!["docker: interfaces=docker0; sources=".into()]);
    assert!(!codes(&analyse(&f)).iter().any(|(c, _)| *c == "firewalld-zone-conflict"));
}
