#!/usr/bin/env python3
"""A fake Docker host for `netdoctor --target "cmd:python3 fake-host.py"`.

netdoctor's `cmd:` transport feeds a script on stdin: the probe, or one
plan step. This program answers like a host would, from a small state kept
in $FAKE_HOST_DIR, so `fix --apply` can be tested without a node:

- the probe: prints probe output (the `@@ND` sections that `collect`
  parses), built from tests/fixtures/probe/*.txt and the current state;
- a step: appends it to $FAKE_HOST_DIR/log, changes the state as the real
  command would, and exits 0 (or 1 when it contains $FAKE_HOST_FAIL);
- `cat /proc/sys/kernel/random/boot_id`: prints the current boot id;
- while the host is down (after a reboot): exits 255 like ssh.

Scenarios ($FAKE_HOST_SCENARIO):

- `flushed-stale` (default): incident A on a host that was on legacy
  before. firewalld (iptables backend) started after dockerd and flushed
  Docker's chains from nft, stale copies of them sit in legacy, with the
  admin's rule `-A DOCKER-USER -s 10.9.9.9/32 -j DROP`; container `web`
  (restart policy unless-stopped) publishes 8080. State flags: `restarted`
  (by `systemctl restart docker`), `carried` (the admin rule inserted into
  nft's DOCKER-USER), `legacy-filter-clean`, `legacy-nat-clean` (Docker's
  stale rules removed from legacy; its DOCKER-USER stays).
- `stale-kernel`: tests/fixtures/probe/debian12-vm-stale-kernel.txt.

$FAKE_HOST_REBOOT says what `systemd-run --on-active=3 systemctl reboot` does: `ok` (exit
0, the host goes down, its boot id changes), `fail-up` (exit 255 but the
host stays up, same boot id) or `fail-down` (exit 255 and the host goes
down). $FAKE_HOST_NOT_BACK=NAME: after a docker restart that container does
not run again. $FAKE_HOST_SLOW_BACK=N: `docker ps --format` lists it only
from its (N+1)th call on.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROBES = os.path.join(HERE, "..", "fixtures", "probe")
STATE = os.environ.get("FAKE_HOST_DIR") or sys.exit("fake-host: set FAKE_HOST_DIR to a writable directory")
BOOT_ID_0 = "5d7e3c1a-9b2f-4e8d-a6c4-1f0e2d3c4b5a"
BOOT_ID_1 = "8a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"


def path(name):
    return os.path.join(STATE, name)


def flags():
    try:
        with open(path("state")) as f:
            return set(f.read().split())
    except FileNotFoundError:
        return set()


def set_flag(flag):
    fl = flags() | {flag}
    with open(path("state"), "w") as f:
        f.write("\n".join(sorted(fl)) + "\n")


def log(line):
    with open(path("log"), "a") as f:
        f.write(line.rstrip("\n") + "\n")


def boot_id():
    try:
        with open(path("boot_id")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return BOOT_ID_0


# --- probe output ------------------------------------------------------------

def read_sections(text):
    """Ordered (name, block) of a probe output; block includes its markers."""
    out, cur, name = [], [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("@@ND begin "):
            name, cur = line.split()[2], [line]
        elif line.startswith("@@ND end ") and name:
            cur.append(line)
            out.append((name, "".join(cur)))
            name = None
        elif line.startswith("@@ND missing "):
            out.append((line.split()[2], line))
        elif name:
            cur.append(line)
    return out


def block(name, body, rc=0):
    body = body.strip("\n")
    return f"@@ND begin {name}\n" + (body + "\n" if body else "") + f"@@ND end {name} rc={rc}\n"


def render(base, overrides):
    secs = read_sections(base)
    names = [n for n, _ in secs]
    out = ["@@ND probe version=1\n"]
    for n, b in secs:
        out.append(block(n, overrides[n]) if n in overrides else b)
    for n, body in overrides.items():
        if n not in names:
            out.append(block(n, body))
    out.append("@@ND done\n")
    return "".join(out)


ADMIN_USER = "-A DOCKER-USER -s 10.9.9.9/32 -j DROP"


def docker_filter(admin):
    return f"""*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
{ADMIN_USER + chr(10) if admin else ""}-A DOCKER-USER -j RETURN
COMMIT
"""


DOCKER_NAT = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A POSTROUTING -s 10.9.0.0/16 -o eth0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
"""

# What firewalld's start left in nft: no Docker chain, the admin's rules stay.
FLUSHED_NFT = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.9.0.0/16 -o eth0 -j MASQUERADE
COMMIT
"""

CLEAN_LEGACY_FILTER = f"""*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
{ADMIN_USER}
-A DOCKER-USER -j RETURN
COMMIT
"""

CLEAN_LEGACY_NAT = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.9.0.0/16 -o eth0 -j MASQUERADE
COMMIT
"""

WEB_ID = "6d41eee1ee1e" + "0" * 52


def web_running(fl):
    """Whether container web runs: it stops with every docker restart and,
    having a restart policy, comes back unless told otherwise."""
    name = os.environ.get("FAKE_HOST_NOT_BACK")
    return not ("restarted" in fl and name == "web")


def flushed_stale_probe():
    fl = flags()
    with open(os.path.join(PROBES, "debian12-vm-reboot-pending.txt")) as f:
        base = f.read()
    restarted = "restarted" in fl
    nft = docker_filter("carried" in fl) + DOCKER_NAT if restarted else FLUSHED_NFT
    legacy = (CLEAN_LEGACY_FILTER if "legacy-filter-clean" in fl else docker_filter(True)) + (
        CLEAN_LEGACY_NAT if "legacy-nat-clean" in fl else DOCKER_NAT
    )
    docker_at = 2_000_000_000 if restarted else 9_000_000
    markers = "2026-11-21T10:01:58+0000 vm1 systemd[1]: Starting docker.service - Docker Application Container Engine...\n"
    if restarted:
        markers += (
            "2026-11-21T10:40:00+0000 vm1 systemd[1]: Starting docker.service - Docker Application Container Engine...\n"
            '2026-11-21T10:40:01+0000 vm1 dockerd[900]: time="2026-11-21T10:40:01Z" level=info msg="Firewalld: docker zone already exists, returning"\n'
        )
    up = web_running(fl)
    return render(
        base,
        {
            "modtrees": "6.1.0-55-amd64 yes yes",
            "boot": "vmlinuz-6.1.0-55-amd64",
            "reboot-required": "",
            "rules.nft4": nft,
            "rules.legacy4": legacy,
            "firewalld.conf": "DefaultZone=public\nFirewallBackend=iptables",
            "unit.docker": f"MainPID=612\nResult=success\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nActiveEnterTimestampMonotonic={docker_at}",
            "unit.firewalld": "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nActiveEnterTimestampMonotonic=1500000000\nMainPID=700\nUnitFileState=enabled",
            "docker.info": f"20.10.24+dfsg1|false|1|{1 if up else 0}|overlay2",
            "docker.containers": f"{WEB_ID}|/web|running|80/tcp=0.0.0.0:8080 |80/tcp=:8080 |bridge=172.17.0.2 " if up else "",
            "docker.journal-markers": markers,
            "fw.cmd-state": "running",
            "fw.cmd-version": "1.3.3",
        },
    )


def probe():
    scenario = os.environ.get("FAKE_HOST_SCENARIO", "flushed-stale")
    if scenario == "stale-kernel":
        with open(os.path.join(PROBES, "debian12-vm-stale-kernel.txt")) as f:
            return f.read()
    if scenario == "flushed-stale":
        return flushed_stale_probe()
    sys.exit(f"fake-host: unknown FAKE_HOST_SCENARIO {scenario!r}")


# --- steps -------------------------------------------------------------------

def docker_answer(cmd):
    """`docker ps` as netdoctor asks it around a restart: the running
    containers with restart policy and stop timeout, or their names."""
    up = web_running(flags())
    slow = int(os.environ.get("FAKE_HOST_SLOW_BACK", "0") or 0)
    if cmd.startswith("docker ps -q"):
        if up:
            print("/web unless-stopped <nil>")
        return 0
    if cmd.startswith("docker ps --format"):
        asked = sum(1 for line in open(path("log")) if line.startswith("docker ps --format"))
        if up and asked > slow:
            print("web")
        return 0
    print(f"fake-host: unknown docker command {cmd!r}", file=sys.stderr)
    return 127


def step(cmd):
    fail = os.environ.get("FAKE_HOST_FAIL")
    if fail and fail in cmd:
        log(cmd)
        print(f"fake-host: `{cmd}` failed on purpose", file=sys.stderr)
        return 1
    if cmd == "cat /proc/sys/kernel/random/boot_id":
        log("BOOT-ID")
        print(boot_id())
        return 0
    log(cmd)
    if cmd == "systemctl restart docker":
        set_flag("restarted")
        return 0
    if cmd.startswith("iptables-nft ") and "-I DOCKER-USER 1" in cmd:
        set_flag("carried")
        return 0
    if cmd.startswith("iptables-legacy -w -t filter "):
        set_flag("legacy-filter-clean")
        return 0
    if cmd.startswith("iptables-legacy -w -t nat "):
        set_flag("legacy-nat-clean")
        return 0
    if cmd.startswith("docker "):
        return docker_answer(cmd)
    if cmd == "systemd-run --on-active=3 systemctl reboot":
        mode = os.environ.get("FAKE_HOST_REBOOT", "ok")
        if mode == "ok":
            go_down()
            return 0
        if mode == "fail-down":
            go_down()
            print("Connection to host closed by remote host.", file=sys.stderr)
            return 255
        print("Failed to reboot system via logind: Access denied", file=sys.stderr)
        return 255
    print(f"fake-host: unknown command {cmd!r}", file=sys.stderr)
    return 127


def go_down():
    open(path("down"), "w").close()
    with open(path("boot_id"), "w") as f:
        f.write(BOOT_ID_1 + "\n")


def main():
    script = sys.stdin.read()
    if os.path.exists(path("down")):
        log("REFUSED " + (" ".join(script.split())[:60] if "@@ND probe version=" not in script else "probe"))
        print("ssh: connect to host fake port 22: Connection refused", file=sys.stderr)
        return 255
    if "@@ND probe version=" in script:
        log("PROBE")
        sys.stdout.write(probe())
        return 0
    return step(script.strip())


if __name__ == "__main__":
    sys.exit(main())
