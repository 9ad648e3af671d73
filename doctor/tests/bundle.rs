//! `netdoctor collect --bundle FILE [--redact]` on facts captured from real
//! nodes: the reproduction section says what the facts say, and redaction
//! leaves none of the host's addresses or names, mapping each consistently.

mod common;
use common::{fixture, netdoctor};
use std::collections::{BTreeMap, BTreeSet};

fn bundle_of(name: &str, redact: bool) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle.json");
    let f = fixture(name);
    let mut args = vec!["collect", "--facts", f.to_str().unwrap(), "--bundle", out.to_str().unwrap()];
    if redact {
        args.push("--redact");
    }
    let (code, _, err) = netdoctor(&args, &[]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

fn quads(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in s.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let parts: Vec<&str> = w.split('.').collect();
        if parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u16>().is_ok_and(|n| n < 256)) {
            out.push(w.to_string());
        }
    }
    out
}

#[test]
fn a_bundle_states_what_a_reproduction_needs() {
    let (b, _) = bundle_of("debian12-backend-legacy-after-restart", false);
    assert_eq!(b["bundle"], 1);
    assert_eq!(b["redacted"], false);
    let r = &b["reproduction"];
    assert_eq!(r["iptables_backend"], "legacy", "{r:#}");
    assert!(r["docker_rules_in"].as_array().unwrap().iter().any(|x| x == "nft"), "{r:#}");
    assert_eq!(r["containers"][0]["ports"][0], "tcp 0.0.0.0:8080->80", "{r:#}");
    // firewalld's rules are listed as not Docker's; Docker's are not listed.
    let other = |r: &serde_json::Value| -> Vec<String> {
        r["other_rules"].as_object().unwrap().values().flat_map(|v| v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string())).collect()
    };
    let o = other(r);
    assert!(o.iter().any(|x| x.contains("FWD_docker")), "{o:#?}");
    assert!(o.iter().all(|x| !x.contains("-A DOCKER ") && !x.contains("DOCKER-ISOLATION") && !x.contains("-j DOCKER\n")), "{o:#?}");
    // The admin's rule, in the backend it was written to.
    let (b, _) = bundle_of("debian12-backend-stale-dnat-reaches-other", false);
    assert_eq!(b["reproduction"]["other_rules"]["nft"], serde_json::json!(["filter: -A INPUT -s 192.0.2.1/32 -m comment --comment admin-rule -j DROP"]));
    let (b, _) = bundle_of("debian12-firewalld-reload-subscribed", false);
    assert_eq!(b["reproduction"]["start_order"], "firewalld-before-dockerd");
    let (b, _) = bundle_of("debian12-firewalld-flushed", false);
    assert_eq!(b["reproduction"]["start_order"], "firewalld-after-dockerd");
    // Which port lost its DNAT rule, and who holds a port a container wanted.
    let (b, _) = bundle_of("debian12-dnat-rules-lost-chains-kept", false);
    assert_eq!(b["reproduction"]["ports_without_rule"], serde_json::json!(["8080/tcp"]));
    let (b, _) = bundle_of("debian13-docker28-port-already-allocated", false);
    assert_eq!(
        b["reproduction"]["port_conflicts"],
        serde_json::json!([
            { "port": 8080, "proto": null, "container": "clash", "held_by": ["container web8080"] },
            { "port": 9090, "proto": "tcp", "container": "clash2", "held_by": ["host"] }
        ])
    );
}

#[test]
fn redaction_leaves_no_address_or_name_and_maps_each_the_same_way() {
    for name in ["debian12-backend-legacy-after-restart", "debian12-backend-stale-dnat-reaches-other", "debian12-firewalld-flushed-published", "centos7-firewalld-flushed", "debian12-firewalld-flushed"] {
        let (plain, plain_text) = bundle_of(name, false);
        let (red, red_text) = bundle_of(name, true);
        assert_eq!(red["redacted"], true);
        let kept = |q: &str| q.starts_with("127.") || q == "0.0.0.0" || q == "255.255.255.255" || (q.starts_with("172.") && q.split('.').nth(1).and_then(|o| o.parse::<u8>().ok()).is_some_and(|o| (17..=31).contains(&o)));
        let secret: BTreeSet<String> = quads(&plain_text).into_iter().filter(|q| !kept(q)).collect();
        for q in &secret {
            assert!(!quads(&red_text).contains(q), "{name}: {q} survived redaction");
        }
        // The same address, the same placeholder: the n-th occurrence of an
        // address in the plain text lines up with one placeholder only.
        let (p, r) = (quads(&plain_text), quads(&red_text));
        assert_eq!(p.len(), r.len(), "{name}: redaction changed the number of addresses");
        let mut map: BTreeMap<&str, &str> = BTreeMap::new();
        for (a, b) in p.iter().zip(&r) {
            let prev = map.insert(a, b);
            assert!(prev.is_none_or(|x| x == b), "{name}: {a} became both {} and {b}", prev.unwrap());
            if !kept(a) {
                assert!(b.starts_with("198.18.") || b.starts_with("198.19."), "{name}: {a} became {b}");
            }
        }
        for c in plain["facts"]["docker"]["containers"].as_array().into_iter().flatten() {
            let n = c["name"].as_str().unwrap();
            let id = c["id"].as_str().unwrap();
            assert!(!red_text.contains(&format!("\"{n}\"")) && !red_text.contains(&id[..12]), "{name}: container {n} / {id} survived");
        }
        for n in plain["facts"]["docker"]["created"].as_array().into_iter().flatten().filter_map(|n| n.as_str()) {
            assert!(!red_text.contains(&format!("\"{n}\"")), "{name}: created container {n} survived");
        }
        // The host's name, as dockerd's journal lines carry it.
        let host = plain["facts"]["docker"]["journal"][0].as_str().and_then(|l| l.split_whitespace().nth(1)).unwrap().to_string();
        assert!(plain_text.contains(&host) && !red_text.contains(&host), "{name}: host name {host} survived");
        assert!(red_text.contains(" host-1 "), "{name}: no host placeholder");
        // Redaction changes values, never the shape.
        assert_eq!(red["reproduction"]["start_order"], plain["reproduction"]["start_order"]);
    }
}
