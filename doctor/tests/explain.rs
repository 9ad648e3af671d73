//! `explain` on every error text quoted in DESIGN.md (sections 1-2) and the
//! two seeds (000: port mapping after firewalld; 004: Docker fails after a
//! kernel upgrade), verbatim, double spaces included.

use doctor::explain::classify;

/// (source, text, expected most likely cause, causes that must also be listed).
const CASES: &[(&str, &str, &str, &[&str])] = &[
    (
        "DESIGN 1-A / seed 000",
        "driver failed programming external connectivity on endpoint NAME (...): (iptables failed: iptables --wait -t nat -A DOCKER ... iptables: No chain/target/match by that name.",
        // The text names no tool: the general cause leads, firewalld and the
        // backend split stay candidates.
        "docker-chains-flushed",
        &["firewalld-flushed-chains", "iptables-backend-mismatch"],
    ),
    (
        "seed 000 title",
        "docker端口映射或启动容器时报错 Error response from daemon: driver failed programming external connectivity on endpoint",
        "firewalld-flushed-chains",
        &[],
    ),
    (
        "DESIGN 1-B: legacy tables warning",
        "# Warning: iptables-legacy tables present",
        "iptables-backend-mismatch",
        &[],
    ),
    (
        // DESIGN lists it under B, but seed 004 shows it is what a stale kernel
        // prints through iptables-nft: the kernel is blamed first, the backend
        // stays on the list of causes to rule out.
        "DESIGN 1-B / seed 004: CHAIN_ADD",
        "iptables v1.8.9 (nf_tables): CHAIN_ADD failed (No such file or directory): chain POSTROUTING",
        "stale-kernel",
        &["kernel-modules-unavailable", "iptables-backend-mismatch"],
    ),
    (
        "DESIGN 1-C: MASQUERADE revision",
        "failed to start daemon: Error initializing network controller: ... Failed to Setup IP tables: Unable to enable NAT rule: ... Extension MASQUERADE revision 0 not supported, missing kernel module?",
        "stale-kernel",
        &["docker-daemon-failed", "kernel-modules-unavailable"],
    ),
    (
        "DESIGN 1-C: legacy table",
        "can't initialize iptables table 'nat': Table does not exist (do you need to insmod?)",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "DESIGN 1-C: modprobe",
        "modprobe: FATAL: Module ... not found in directory /lib/modules/...",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "DESIGN 2: no overlay",
        "error initializing graphdriver",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "DESIGN 2: no bridge",
        "Error creating default \"bridge\" network: package not installed",
        "stale-kernel",
        &[],
    ),
    (
        "DESIGN 2: no nf_tables",
        "iptables: Failed to initialize nft: Protocol not supported",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "seed 004: journal",
        "Dec 13 09:22:20 localhost dockerd[352906]: failed to start daemon: Error initializing network controller: Error creating default \"bridge\" network: Failed to Setup IP tables: Unable to enable NAT rule:  (iptables failed: iptables --wait -t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE: Warning: Extension MASQUERADE revision 0 not supported, missing kernel module?\nDec 13 09:22:20 localhost dockerd[352906]: iptables v1.8.9 (nf_tables):  CHAIN_ADD failed (No such file or directory): chain POSTROUTING",
        "stale-kernel",
        &["docker-daemon-failed"],
    ),
    (
        "seed 004: iptables by hand",
        "iptables v1.8.9 (nf_tables):  CHAIN_ADD failed (No such file or directory): chain POSTROUTING",
        "stale-kernel",
        &[],
    ),
    (
        "seed 004: after switching to legacy",
        "Warning: Extension MASQUERADE revision 0 not supported, missing kernel module?\niptables v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)\nPerhaps iptables or your kernel needs to be upgraded.",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "seed 004: modprobe",
        "modprobe: FATAL: Module nf_nat_ipv4 not found in directory /lib/modules/6.1.0-10-amd64",
        "stale-kernel",
        &[],
    ),
    (
        "issue 5: swap symptom seen through firewalld passthrough",
        "driver failed programming external connectivity on endpoint b2 (47a8): (COMMAND_FAILED: '/usr/sbin/iptables -w10 -t nat -A DOCKER -p tcp -d 0/0 --dport 8894 -j DNAT --to-destination 172.17.0.3:80 ! -i docker0' failed: iptables: No chain/target/match by that name.",
        // firewalld relays the command, so dockerd re-adds its chains after
        // firewalld reloads: firewalld is the least likely of the three.
        "docker-chains-flushed",
        &["iptables-backend-mismatch", "firewalld-flushed-chains"],
    ),
    ("port conflict", "Bind for 0.0.0.0:8080 failed: port is already allocated", "port-already-allocated", &[]),
    // The platform matrix: `docker run -p` errors verbatim from debian13
    // (Docker 26.1.5) and debian13-docker28 (28.5.2) nodes (fixtures/README.md).
    (
        "Docker 26: port held by a host process (docker-proxy)",
        "docker: Error response from daemon: driver failed programming external connectivity on endpoint clash2 (db3f7e3c9c95f2ee0df5335c28ba50dd9f7d9b0bdf3de66261986fcf7ad6b846): Error starting userland proxy: listen tcp4 0.0.0.0:9090: bind: address already in use.",
        "port-already-allocated",
        &[],
    ),
    (
        "Docker 28: port held by a container",
        "docker: Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint clash (c1a6063dea3737134e67c5c7a8cc3c9ebd3422759ec4121f4bbd23939535a505): Bind for 0.0.0.0:8080 failed: port is already allocated",
        "port-already-allocated",
        &[],
    ),
    (
        "Docker 28: port held by a host process (dockerd binds it)",
        "docker: Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint clash2 (75c722122d3ee91e50a6c0c1df9a41892980975905c4fa1cdedd70bb72a2927b): failed to bind host port for 0.0.0.0:9090:172.17.0.3:80/tcp: address already in use",
        "port-already-allocated",
        &[],
    ),
    (
        "issue: Docker 28's wrapping of the listen error",
        "failed to set up container networking: driver failed programming external connectivity on endpoint web (abc): listen tcp4 0.0.0.0:8080: bind: address already in use",
        "port-already-allocated",
        &[],
    ),
    (
        "Docker 28: flushed chains",
        "docker: Error response from daemon: failed to set up container networking: driver failed programming external connectivity on endpoint web8893 (91558e2b18f6d5297e76ccb24fedac833bd3a5725272e60b542cf5b5d76afcce): Unable to enable DNAT rule:  (iptables failed: iptables --wait -t nat -A DOCKER -p tcp -d 0/0 --dport 8893 -j DNAT --to-destination 172.17.0.2:80 ! -i docker0: iptables: No chain/target/match by that name.\n (exit status 1))",
        "docker-chains-flushed",
        &["firewalld-flushed-chains", "iptables-backend-mismatch"],
    ),
    // Incident C's journal on Docker 26 and 28 (iptables 1.8.11), verbatim
    // from the kernel scenarios' VM nodes.
    (
        "Docker 28, stale kernel: the bridge driver's jump rules",
        "failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to register \"bridge\" driver: failed to add jump rules to ipv4 NAT table: failed to append jump rules to nat-PREROUTING:  (iptables failed: iptables --wait -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER: Warning: Extension addrtype revision 0 not supported, missing kernel module?\niptables v1.8.11 (nf_tables):  CHAIN_ADD failed (No such file or directory): chain PREROUTING\n (exit status 4))",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "Docker 26/28, stale kernel without nf_tables (iptables 1.8.11)",
        "failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to register \"bridge\" driver: failed to create NAT chain DOCKER: iptables failed: iptables -t nat -N DOCKER: iptables v1.8.11 (nf_tables): Could not fetch rule set generation id: Invalid argument\n (exit status 4)",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    (
        "Docker 26, stale kernel without bridge",
        "level=error msg=\"Failed to create bridge docker0 via netlink\" error=\"operation not supported\"\nfailed to start daemon: Error initializing network controller: error creating default \"bridge\" network: operation not supported",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    ("forwarding", "WARNING: IPv4 forwarding is disabled. Networking will not work.", "ip-forwarding-disabled", &[]),
    (
        // DESIGN 2: a node-setup error of the sandbox, not a Docker-host
        // networking incident: it must not be forced into one.
        "DESIGN 2: read-only cgroup tree",
        "mkdir /sys/fs/cgroup/cpuset/docker: read-only file system",
        "unknown",
        &[],
    ),
    (
        "IPAM at dockerd start: the bridge's configured address, not a port",
        "failed to start daemon: Error initializing network controller: error creating default \"bridge\" network: failed to allocate gateway (198.51.100.0): Address already in use",
        "docker-daemon-failed",
        &[],
    ),
    ("host networking: the forwarding warning does not apply (moby#22820)", "docker run --net=host alpine\nWARNING: IPv4 forwarding is disabled. Networking will not work", "unknown", &[]),
    ("iptables -V on the host and in a container: both backends", "iptables v1.8.7 (nf_tables)\niptables v1.8.8 (legacy)", "iptables-backend-mismatch", &[]),
    (
        "br_netfilter on CentOS 7.2's kernel: built into bridge, missing by build",
        "modprobe: FATAL: Module br_netfilter not found.\n3.10.0-327.el7.x86_64",
        "kernel-modules-unavailable",
        &[],
    ),
    (
        "br_netfilter on CentOS 7.9's kernel: a module of its own, so its absence is the tree",
        "modprobe: FATAL: Module br_netfilter not found.\n3.10.0-1160.el7.x86_64",
        "stale-kernel",
        &["kernel-modules-unavailable"],
    ),
    ("systemctl status of a failed docker.service", "docker.service - Docker Application Container Engine\n   Active: failed (Result: exit-code) since Mon 2018-11-26 13:17:12 CST; 43s ago", "docker-daemon-failed", &[]),
    ("nothing known", "the printer is on fire", "unknown", &[]),
];

#[test]
fn every_quoted_error_is_classified() {
    let mut bad = Vec::new();
    for (src, text, want, also) in CASES {
        let causes = classify(text);
        let got: Vec<&str> = causes.iter().map(|c| c.code.as_str()).collect();
        if got[0] != *want || also.iter().any(|a| !got.contains(a)) {
            bad.push(format!("{src}: want {want} (+{also:?}), got {got:?}"));
        }
        assert!(causes.iter().all(|c| (0.0..=1.0).contains(&c.confidence)));
        assert!(causes.windows(2).all(|w| w[0].confidence >= w[1].confidence), "{src}: not sorted");
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn unknown_has_zero_confidence_and_a_next_step() {
    let c = &classify("")[0];
    assert_eq!((c.code.as_str(), c.confidence), ("unknown", 0.0));
    assert!(!c.confirm.is_empty());
}
