//! The platform matrix: facts captured from real debian13 (Docker 26.1.5,
//! firewalld 2.3.1, iptables 1.8.11) and debian13-docker28 (Docker 28.5.2)
//! nodes, how each was made is in fixtures/README.md. Docker 28 writes
//! another chain layout and says itself whether it is subscribed to
//! firewalld (`docker info`'s `FirewallBackend`); the rules must be right on
//! both, and on 20.10 (the debian12 fixtures of tests/rules.rs).

use doctor::facts::{DockerFirewallBackend, Facts};
use doctor::finding::{Finding, Needs};
use doctor::rules::analyse;

mod common;

fn load(name: &str) -> Facts {
    doctor::load_facts(&common::fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn codes(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|x| x.code.as_str()).collect()
}

fn finding<'a>(f: &'a [Finding], code: &str) -> &'a Finding {
    f.iter().find(|x| x.code == code).unwrap_or_else(|| panic!("no {code} in {:?}", codes(f)))
}

fn has_line(f: &Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

const NOT_SUBSCRIBED: &str = r#"docker info FirewallBackend: Driver "iptables" (dockerd is not subscribed to firewalld)"#;

/// Facts whose dockerd journal says nothing about firewalld (a rotated or quiet journal).
fn without_journal(mut f: Facts) -> Facts {
    f.docker.journal.clear();
    f.docker.journal_markers = Some(vec![]);
    f
}

#[test]
fn the_captures_are_of_the_platforms_they_are_named_for() {
    for (name, docker, firewalld) in [
        ("debian13-firewalld-subscribed-published", "26.1.5", "2.3.1"),
        ("debian13-firewalld-flushed", "26.1.5", "2.3.1"),
        ("debian13-docker28-firewalld-subscribed-published", "28.5.2", "2.3.1"),
        ("debian13-docker28-firewalld-flushed", "28.5.2", "2.3.1"),
    ] {
        let f = load(name);
        assert!(f.docker.version.as_deref().is_some_and(|v| v.starts_with(docker)), "{name}: {:?}", f.docker.version);
        assert_eq!(f.firewalld.version.as_deref(), Some(firewalld), "{name}");
        assert_eq!(f.os.version_id.as_deref(), Some("13"), "{name}");
        assert_eq!(f.docker.cli_installed, Some(true), "{name}");
    }
}

/// (a) firewalld running (iptables backend), dockerd started after it, web8080 published.
#[test]
fn docker28_healthy_and_subscribed_has_no_finding() {
    let f = load("debian13-docker28-firewalld-subscribed-published");
    assert_eq!(f.docker.firewall_backend.as_ref().map(|b| b.driver.as_str()), Some("iptables+firewalld"));
    let nft = f.iptables.nft.as_ref().unwrap();
    for c in ["DOCKER", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"] {
        assert!(nft.has_chain("filter", c), "Docker 28's filter {c}");
    }
    let fwd = &nft.tables["filter"].rules;
    assert_eq!(fwd.iter().filter(|r| r.starts_with("-A FORWARD -j DOCKER")).collect::<Vec<_>>(), ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD"]);
    assert_eq!(codes(&analyse(&f)), Vec::<&str>::new());
}

/// firewalld restarted after a subscribed dockerd: firewalld is now the
/// younger unit, and the Driver alone must keep every firewalld finding away
/// (even with a journal that says nothing).
#[test]
fn docker28_driver_iptables_firewalld_prevents_firewalld_findings() {
    let f = load("debian13-docker28-firewalld-restarted-subscribed");
    let b = f.docker.firewall_backend.as_ref().unwrap();
    assert_eq!(b.driver, "iptables+firewalld");
    assert!(b.info.iter().any(|(k, _)| k == "ReloadedAt"), "{b:?}");
    let fw = f.firewalld.unit.as_ref().unwrap().active_enter_monotonic_us.unwrap();
    let dk = f.docker.unit.as_ref().unwrap().active_enter_monotonic_us.unwrap();
    assert!(fw > dk, "firewalld became active after dockerd in this capture");
    assert_eq!(codes(&analyse(&f)), Vec::<&str>::new());
    assert_eq!(codes(&analyse(&without_journal(f))), Vec::<&str>::new());
}

/// The same facts with Driver `iptables`: the latent warning, quoting the Driver.
#[test]
fn docker28_driver_iptables_with_late_firewalld_is_the_latent_warning() {
    let mut f = without_journal(load("debian13-docker28-firewalld-restarted-subscribed"));
    f.docker.firewall_backend = Some(DockerFirewallBackend { driver: "iptables".into(), info: vec![] });
    let got = analyse(&f);
    assert_eq!(codes(&got), ["firewalld-started-after-docker"]);
    assert!(has_line(finding(&got, "firewalld-started-after-docker"), NOT_SUBSCRIBED), "{:#?}", got[0].evidence);
}

/// Absent FirewallBackend (an old engine) means "cannot tell", never
/// "unsubscribed": with a quiet journal too, the doctor does not cry wolf.
#[test]
fn absent_firewall_backend_is_cannot_tell() {
    let mut f = without_journal(load("debian13-docker28-firewalld-restarted-subscribed"));
    f.docker.firewall_backend = None;
    f.docker.journal_markers = None;
    assert_eq!(codes(&analyse(&f)), Vec::<&str>::new());
    let old = load("debian13-firewalld-subscribed-published");
    assert_eq!(old.docker.firewall_backend, None, "Docker 26 has no FirewallBackend");
}

/// (b) firewalld started after dockerd: Docker 28's chains flushed.
#[test]
fn docker28_flushed_quotes_the_driver_and_names_28s_chains() {
    for name in ["debian13-docker28-firewalld-flushed", "debian13-docker28-firewalld-flushed-after-failed-run", "debian13-docker28-firewalld-flushed-published"] {
        let got = analyse(&load(name));
        let x = finding(&got, "firewalld-flushed-chains");
        assert!(has_line(x, NOT_SUBSCRIBED), "{name}: {:#?}", x.evidence);
        assert!(has_line(x, "filter DOCKER/DOCKER-BRIDGE/DOCKER-CT/DOCKER-FORWARD/DOCKER-ISOLATION-STAGE-1/DOCKER-ISOLATION-STAGE-2/DOCKER-USER) are absent"), "{name}: {:#?}", x.evidence);
        assert!(has_line(x, "filter FORWARD has no jump to Docker's chains (dockerd 28.5.2+dfsg4 writes DOCKER-USER, then DOCKER-FORWARD)"), "{name}: {:#?}", x.evidence);
        assert!(!codes(&got).contains(&"iptables-backend-mismatch"), "{name}");
    }
    let got = analyse(&load("debian13-docker28-firewalld-flushed-after-failed-run"));
    assert!(has_line(finding(&got, "firewalld-flushed-chains"), "No chain/target/match by that name"));
}

/// (c) Docker 26: 20.10's layout, no FirewallBackend, healthy.
#[test]
fn docker26_healthy_published_has_no_finding() {
    let f = load("debian13-firewalld-subscribed-published");
    let nft = f.iptables.nft.as_ref().unwrap();
    assert!(nft.has_chain("filter", "DOCKER-ISOLATION-STAGE-1") && !nft.has_chain("filter", "DOCKER-FORWARD"));
    assert_eq!(f.docker.running().len(), 1);
    assert_eq!(codes(&analyse(&f)), Vec::<&str>::new());
}

/// (d) Docker 26 flushed: 20.10's chain names in the evidence, no Driver line.
#[test]
fn docker26_flushed_names_its_chains() {
    for name in ["debian13-firewalld-flushed", "debian13-firewalld-flushed-published"] {
        let got = analyse(&load(name));
        let x = finding(&got, "firewalld-flushed-chains");
        assert!(has_line(x, "(nat DOCKER, filter DOCKER/DOCKER-ISOLATION-STAGE-1/DOCKER-ISOLATION-STAGE-2/DOCKER-USER) are absent"), "{name}: {:#?}", x.evidence);
        assert!(has_line(x, "writes DOCKER-USER, DOCKER-ISOLATION-STAGE-1, DOCKER)"), "{name}: {:#?}", x.evidence);
        assert!(!has_line(x, "FirewallBackend"), "{name}: Docker 26 has none");
    }
}

/// Both port-conflict wordings, from real journals: Docker 26 (`Bind for …
/// port is already allocated`; docker-proxy's `listen tcp4 …: bind: address
/// already in use`) and Docker 28 (the same wrapped in `failed to set up
/// container networking: …`; `failed to bind host port for …: address already in use`).
#[test]
fn port_conflicts_in_26s_and_28s_wordings() {
    for (name, by_process) in [("debian13-port-already-allocated", "listen tcp4 0.0.0.0:9090: bind: address already in use"), ("debian13-docker28-port-already-allocated", "failed to bind host port for 0.0.0.0:9090:172.17.0.3:80/tcp: address already in use")] {
        let got = analyse(&load(name));
        let x = finding(&got, "port-already-allocated");
        assert!(has_line(x, "Bind for 0.0.0.0:8080 failed: port is already allocated"), "{name}");
        assert!(has_line(x, "port 8080 is held by container web8080"), "{name}: {:#?}", x.evidence);
        assert!(has_line(x, "container clash was created but never started"), "{name}");
        assert!(has_line(x, by_process), "{name}: {:#?}", x.evidence);
        assert!(has_line(x, "port 9090 is held by a process listening on the host"), "{name}: {:#?}", x.evidence);
        assert!(has_line(x, "container clash2 was created but never started"), "{name}");
        assert_eq!(x.plan.len(), 2, "{name}");
    }
    let got = analyse(&load("debian13-docker28-port-already-allocated"));
    assert!(has_line(finding(&got, "port-already-allocated"), "failed to set up container networking: driver failed programming external connectivity on endpoint clash"));
}

/// dockerd without the `docker` CLI (Debian 13's docker-cli not installed):
/// containers are unknown, not none, and the note says what to install.
#[test]
fn no_docker_cli_is_could_not_look() {
    let f = load("debian13-docker28-no-cli");
    assert_eq!(f.docker.cli_installed, Some(false));
    assert!(f.docker.is_running(), "dockerd runs");
    assert_eq!(f.docker.containers, None);
    assert_eq!(f.docker.created, None);
    assert_eq!(f.docker.version, None);
    assert_eq!(f.docker.firewall_backend, None);
    assert!(f.notes.iter().any(|n| n.contains("could not look at containers") && n.contains("docker-cli")), "{:?}", f.notes);
    // A restart would stop containers nobody could count: it needs --yes.
    let mut flushed = f.clone();
    flushed.iptables = load("debian13-docker28-firewalld-flushed").iptables;
    let got = analyse(&flushed);
    let step = &finding(&got, "firewalld-flushed-chains").plan[0];
    assert_eq!(step.needs, Needs::Yes, "{step:?}");
    let human = doctor::report::check_human(&f.target, &analyse(&f), &f.notes, &f.could_not_look, false);
    assert!(!human.contains("healthy"), "{human}");
    assert!(human.contains("could not be looked at"), "{human}");
}

/// A port conflict seen in the journal while the containers cannot be
/// listed: the evidence says what could not be looked at.
#[test]
fn port_conflict_without_cli_says_what_it_could_not_see() {
    let mut f = load("debian13-docker28-port-already-allocated");
    f.docker.containers = None;
    f.docker.created = None;
    let got = analyse(&f);
    let x = finding(&got, "port-already-allocated");
    assert!(has_line(x, "whether a container or a host process holds it could not be looked at"), "{:#?}", x.evidence);
    assert!(has_line(x, "container clash failed to start; whether it still exists could not be looked at"), "{:#?}", x.evidence);
}
