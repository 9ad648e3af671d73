//! The oracle for "nothing of the admin's is lost": the rules of every
//! iptables backend of a node, split into Docker's own and everyone
//! else's (the admin's, firewalld's, kubelet's), so a scenario can show that
//! a fix kept every rule that is not Docker's, in some backend.
//!
//! Docker's own, by its templates (20.10 to 28): every rule of a `DOCKER*`
//! chain except `DOCKER-USER` (the admin's chain; only its default
//! `-j RETURN` is Docker's), jumps from built-in chains to `DOCKER*` chains,
//! and the FORWARD / POSTROUTING / raw PREROUTING rules Docker writes for
//! its bridges (`docker0`, `br-…`, masquerading its subnets). Docker never
//! writes INPUT rules: an `INPUT -i docker0` rule is the admin's.
//!
//! firewalld's rules that only bind a Docker bridge to a zone (its iptables
//! backend's `FORWARD_ZONES -i docker0 -g FWD_trusted`, `FWD_trusted_allow
//! -o docker0 -j ACCEPT`, …) are neither: they are firewalld's rendering of
//! the interface's zone, and come and go with that binding. A fix that
//! rebinds docker0 (with consent) changes them; they are not counted lost.

use std::collections::BTreeSet;

/// The script that dumps every backend present, each section headed
/// `== TOOL`, counters removed (traffic changes them, not fixes).
pub const DUMP_SCRIPT: &str = "for t in iptables-nft-save iptables-legacy-save; do \
    command -v $t >/dev/null 2>&1 && { echo \"== $t\"; $t 2>/dev/null; }; done; \
    command -v iptables-nft-save >/dev/null 2>&1 || command -v iptables-legacy-save >/dev/null 2>&1 || \
    { echo '== iptables-save'; iptables-save 2>/dev/null; }; true";

/// One rule: the backend's tool, the table and the `-A …` line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// `iptables-nft-save`, `iptables-legacy-save` or `iptables-save`.
    pub backend: String,
    /// `filter`, `nat`, `raw`, `mangle`, …
    pub table: String,
    /// The rule as iptables-save prints it, e.g. `-A INPUT -s 10.9.9.9/32 -j DROP`.
    pub rule: String,
}

/// Parses [`DUMP_SCRIPT`]'s output into rules (chain declarations,
/// comments and policies are not rules).
pub fn parse_dump(text: &str) -> Vec<Rule> {
    let (mut backend, mut table) = (String::new(), String::new());
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(b) = line.strip_prefix("== ") {
            backend = b.to_string();
        } else if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if line.starts_with("-A ") {
            out.push(Rule { backend: backend.clone(), table: table.clone(), rule: line.to_string() });
        }
    }
    out
}

/// True when Docker's templates wrote `rule` (see the module comment).
pub fn is_dockers(r: &Rule) -> bool {
    let words: Vec<&str> = r.rule.split_whitespace().collect();
    let chain = words.get(1).copied().unwrap_or("");
    let target = words.iter().position(|w| *w == "-j").and_then(|i| words.get(i + 1)).copied().unwrap_or("");
    if chain == "DOCKER-USER" {
        return r.rule == "-A DOCKER-USER -j RETURN";
    }
    // `DOCKER_OUTPUT`/`DOCKER_POSTROUTING` (underscore) are the embedded-DNS
    // chains of the engine that runs this node as a container: not this
    // dockerd's, and a fix must keep them.
    let dockers_chain = |c: &str| c.starts_with("DOCKER") && !c.starts_with("DOCKER_");
    if dockers_chain(chain) || dockers_chain(target) {
        return true;
    }
    let bridge = words.windows(2).any(|w| (w[0] == "-i" || w[0] == "-o") && (w[1] == "docker0" || w[1].starts_with("br-")));
    match (r.table.as_str(), chain) {
        ("filter", "FORWARD") => bridge,
        ("nat", "POSTROUTING") => bridge || (target == "MASQUERADE" && masquerades_docker_subnet(&words)),
        ("raw", "PREROUTING") => bridge,
        _ => false,
    }
}

/// Docker's hairpin MASQUERADE for a container (`-s 172.17.0.2/32 -d 172.17.0.2/32 … -j MASQUERADE`):
/// source and destination are the same container address.
fn masquerades_docker_subnet(words: &[&str]) -> bool {
    let arg = |flag: &str| words.iter().position(|w| *w == flag).and_then(|i| words.get(i + 1)).copied();
    matches!((arg("-s"), arg("-d")), (Some(s), Some(d)) if s == d)
}

/// True when `rule` is firewalld's binding of a Docker bridge to a zone: a
/// zone-dispatch chain (`…_ZONES`, `…_ZONES_SOURCE`) or a zone's own chain
/// (`FWD_trusted`, `IN_public_allow`, …) matching the bridge by interface.
pub fn follows_zone_binding(r: &Rule) -> bool {
    let words: Vec<&str> = r.rule.split_whitespace().collect();
    let chain = words.get(1).copied().unwrap_or("");
    let zone_chain = chain.ends_with("_ZONES")
        || chain.ends_with("_ZONES_SOURCE")
        || ["FWD_", "FWDI_", "FWDO_", "IN_", "PRE_", "POST_"].iter().any(|p| chain.starts_with(p));
    let bridge = words.windows(2).any(|w| (w[0] == "-i" || w[0] == "-o") && (w[1] == "docker0" || w[1].starts_with("br-")));
    zone_chain && bridge
}

/// The rules that are not Docker's, as `table: rule` (backend left out: a
/// rule carried to the live backend counts as kept), without firewalld's
/// zone bindings of Docker's bridges.
pub fn not_dockers(rules: &[Rule]) -> BTreeSet<String> {
    rules
        .iter()
        .filter(|r| !is_dockers(r) && !follows_zone_binding(r))
        .map(|r| format!("{}: {}", r.table, r.rule))
        .collect()
}

/// What a fix did to the rules that are not Docker's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminRulesDiff {
    /// How many there were before the fix (in any backend).
    pub before: usize,
    /// Those gone from every backend afterwards: must be empty.
    pub lost: Vec<String>,
}

/// Compares the non-Docker rules before and after a fix.
pub fn diff(before: &[Rule], after: &[Rule]) -> AdminRulesDiff {
    let (b, a) = (not_dockers(before), not_dockers(after));
    AdminRulesDiff { before: b.len(), lost: b.difference(&a).cloned().collect() }
}

/// The full dump with counters blanked, for the "a second fix changes
/// nothing" comparison.
pub fn normalised(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match (l.starts_with(':'), l.rfind(" [")) {
            (true, Some(i)) => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "== iptables-nft-save\n# Generated by iptables-nft-save v1.8.9\n*nat\n:PREROUTING ACCEPT [3:180]\n:DOCKER - [0:0]\n\
        -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n\
        -A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n\
        -A POSTROUTING -s 10.0.0.0/8 -o eth1 -j MASQUERADE\n\
        -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n*filter\n\
        -A INPUT -i docker0 -p tcp --dport 22 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n\
        -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
        -A DOCKER-USER -s 10.9.9.9/32 -j DROP\n-A DOCKER-USER -j RETURN\n-A DOCKER-FORWARD -i docker0 -j ACCEPT\nCOMMIT\n\
        *nat\n-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT\nCOMMIT\n\
        == iptables-legacy-save\n*raw\n-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP\nCOMMIT\n";

    #[test]
    fn dockers_rules_are_told_from_the_admins() {
        let rules = parse_dump(DUMP);
        assert_eq!(rules.len(), 14);
        let mine = not_dockers(&rules);
        assert_eq!(
            mine.into_iter().collect::<Vec<_>>(),
            vec![
                "filter: -A DOCKER-USER -s 10.9.9.9/32 -j DROP".to_string(),
                "filter: -A INPUT -i docker0 -p tcp --dport 22 -j ACCEPT".to_string(),
                "nat: -A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT".to_string(),
                "nat: -A POSTROUTING -s 10.0.0.0/8 -o eth1 -j MASQUERADE".to_string(),
            ]
        );
    }

    #[test]
    fn a_rule_carried_to_another_backend_is_kept_and_a_deleted_one_is_lost() {
        let before = parse_dump(DUMP);
        let carried = DUMP.replace("-A DOCKER-USER -s 10.9.9.9/32 -j DROP\n", "") + "*filter\n-A DOCKER-USER -s 10.9.9.9/32 -j DROP\nCOMMIT\n";
        assert_eq!(diff(&before, &parse_dump(&carried)).lost, Vec::<String>::new());
        let deleted = DUMP.replace("-A INPUT -i docker0 -p tcp --dport 22 -j ACCEPT\n", "");
        let d = diff(&before, &parse_dump(&deleted));
        assert_eq!((d.before, d.lost), (4, vec!["filter: -A INPUT -i docker0 -p tcp --dport 22 -j ACCEPT".to_string()]));
    }

    #[test]
    fn firewalld_rebinding_docker0_is_not_a_lost_rule() {
        let r = |t: &str, rule: &str| Rule { backend: "iptables-save".into(), table: t.into(), rule: rule.into() };
        let before = vec![
            r("filter", "-A FORWARD_ZONES -i docker0 -g FWD_trusted"),
            r("filter", "-A FWD_trusted_allow -o docker0 -j ACCEPT"),
            r("filter", "-A INPUT_ZONES -i eth0 -g IN_public"),
            r("filter", "-A IN_public_allow -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT"),
        ];
        // docker0's binding went with the rebinding; eth0's zone and the
        // zone's own rules must stay.
        assert!(diff(&before, &before[2..]).lost.is_empty());
        assert_eq!(diff(&before, &before[..2]).lost.len(), 2);
    }

    #[test]
    fn counters_and_comments_do_not_count_as_changes() {
        let a = normalised("# Generated at 10:00\n:INPUT ACCEPT [1:2]\n-A INPUT -j ACCEPT");
        let b = normalised("# Generated at 10:05\n:INPUT ACCEPT [9:99]\n-A INPUT -j ACCEPT");
        assert_eq!(a, b);
    }
}
