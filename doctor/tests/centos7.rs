//! The doctor on CentOS 7's own tool output formats: `iptables-save v1.4.21`
//! (no nft/legacy split, no alternative, no trailing space after a rule, the
//! `security` and `raw` tables), firewalld 0.6's iptables-backend chains and
//! `firewall-cmd` 0.6 output. Where each line of the fixtures comes from is
//! in `fixtures/README.md` ("CentOS 7 fixtures").

use doctor::facts::{Backend, Facts};
use doctor::rules::analyse;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> Facts {
    doctor::load_facts(&dir().join(format!("{name}.json"))).unwrap_or_else(|e| panic!("{e}"))
}

fn codes(f: &Facts) -> Vec<String> {
    analyse(f).into_iter().map(|x| x.code).collect()
}

const HEALTHY: &str = "centos7-firewalld-healthy";
const FLUSHED: &str = "centos7-firewalld-flushed";

// Sources: firewalld 0.6's ruleset is a verbatim `iptables-save` (v1.4.21) of a
// CentOS 7.9 host right after `systemctl enable firewalld --now` (a public
// NFS lab write-up, see fixtures/README.md); Docker's rules use the layout of
// moby/moby#49518's "before" dump (https://github.com/moby/moby/pull/49518),
// added the way dockerd adds them (-I for the FORWARD jumps and MASQUERADE).
#[test]
fn centos7_healthy_host_with_firewalld_0_6_gets_no_finding() {
    let f = load(HEALTHY);
    assert_eq!(codes(&f), Vec::<String>::new());
    // The healthy dump really holds Docker's chains next to firewalld's.
    let nat = &f.iptables.legacy.as_ref().unwrap().tables["nat"];
    assert!(nat.chains.iter().any(|c| c == "DOCKER") && nat.chains.iter().any(|c| c == "PREROUTING_ZONES"));
    assert!(nat.rules.iter().any(|r| r == "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"));
}

// Source: the same verbatim firewalld 0.6 dump, alone: firewalld restarted
// after dockerd and flushed every chain (moby/moby#16137, #15254, #35043;
// spantaleev/matrix-docker-ansible-deploy#827 on CentOS 7: installing
// firewalld "flushed all iptables rules, including the docker network ones").
// The dockerd error is seed 000's "driver failed programming external
// connectivity … No chain/target/match by that name".
#[test]
fn centos7_flushed_host_is_firewalld_flushed_chains_never_backend_mismatch() {
    let f = load(FLUSHED);
    let got = codes(&f);
    assert!(got.iter().any(|c| c == "firewalld-flushed-chains"), "{got:?}");
    assert!(!got.iter().any(|c| c == "iptables-backend-mismatch"), "CentOS 7 has one backend: {got:?}");
    let nat = &f.iptables.legacy.as_ref().unwrap().tables["nat"];
    assert!(!nat.chains.iter().any(|c| c.starts_with("DOCKER")));
    assert!(nat.chains.iter().any(|c| c == "POST_public"), "firewalld's chains are there");
}

// Sources: `iptables v1.4.21` as CentOS 7 prints it
// (https://github.com/spantaleev/matrix-docker-ansible-deploy/issues/827);
// `firewall-cmd --version` prints the bare version
// (https://github.com/moby/moby/issues/15254: `0.3.9`), RHEL/CentOS 7's last
// firewalld is 0.6.3 (https://github.com/firewalld/firewalld/issues/1081).
#[test]
fn centos7_facts_carry_iptables_1_4_21_and_firewalld_0_6() {
    for name in [HEALTHY, FLUSHED] {
        let f = load(name);
        assert_eq!(f.os.id.as_deref(), Some("centos"), "{name}");
        assert_eq!(f.iptables.version.as_deref(), Some("iptables v1.4.21"), "{name}");
        assert_eq!(f.iptables.current_backend, Some(Backend::Legacy), "{name}: 1.4.x is legacy only");
        assert!(f.iptables.alternative.is_none() && f.iptables.nft.is_none(), "{name}");
        assert_eq!(f.iptables.legacy.as_ref().unwrap().tool, "iptables-save", "{name}");
        let v = f.firewalld.version.as_deref().unwrap_or("");
        assert!(v.starts_with("0.6."), "{name}: firewalld {v}");
        assert_eq!(f.firewalld.state.as_deref(), Some("running"), "{name}");
        assert_eq!(f.firewalld.backend.as_deref(), Some("iptables"), "{name}");
        assert!(f.notes.is_empty(), "{name}: {:?}", f.notes);
    }
}

// Source: the verbatim 1.4.21 dump (five tables, no trailing space, firewalld
// 0.6's `--ctstate NEW,UNTRACKED` service rules and `-A OUTPUT -o lo -j ACCEPT`).
#[test]
fn centos7_iptables_save_1_4_21_keeps_every_table_and_rule_verbatim() {
    let f = load(FLUSHED);
    let r = f.iptables.legacy.as_ref().unwrap();
    let tables: Vec<&str> = r.tables.keys().map(String::as_str).collect();
    assert_eq!(tables, ["filter", "mangle", "nat", "raw", "security"]);
    let filter = &r.tables["filter"];
    assert!(filter.rules.contains(&"-A IN_public_allow -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT".to_string()));
    assert!(filter.rules.contains(&"-A OUTPUT -o lo -j ACCEPT".to_string()));
    assert_eq!(filter.chains.len(), 24, "3 built-in + 21 firewalld chains: {:?}", filter.chains);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

/// The committed facts are exactly what `collect` makes of the probe text.
#[test]
fn centos7_facts_fixtures_are_regenerated_from_their_probe_text() {
    for name in [HEALTHY, FLUSHED] {
        let text = std::fs::read_to_string(dir().join(format!("probe/{name}.txt"))).unwrap();
        let parsed = doctor::collect::parse_probe(&text, &format!("file:{name}.txt")).unwrap();
        let committed = load(name);
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::to_value(&committed).unwrap(),
            "{name}.json is stale: netdoctor collect --probe-output tests/fixtures/probe/{name}.txt > tests/fixtures/{name}.json"
        );
    }
}
