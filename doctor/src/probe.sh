# netdoctor probe: one batched, read-only look at a Docker host.
#
# Runs under POSIX sh (dash) and bash 4.2 (CentOS 7). It never changes the
# host: legacy iptables-save is run without -t so no table gets created, and
# modprobe only in dry-run mode (-n). Output is a list of sections:
#
#   @@ND begin NAME            stdout of the section follows
#   @@ND stderr NAME           its stderr follows (absent when empty)
#   @@ND end NAME rc=N         exit status of the command
#   @@ND missing NAME TOOL     TOOL is not installed: a missing fact
#
# Slow commands (docker CLI, firewalld over D-Bus/python) run in background
# jobs so the whole probe costs about as much as its slowest command.

# shellcheck disable=SC2317 # functions are called through nd/ndf
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
LC_ALL=C
export PATH LC_ALL

ND_T=
for nd_d in /run /dev/shm /tmp /var/tmp; do
    if mkdir -m 700 "$nd_d/netdoctor.$$" 2>/dev/null; then ND_T=$nd_d/netdoctor.$$; break; fi
done
if [ -z "$ND_T" ]; then
    echo "@@ND fatal no writable directory for the probe's scratch files (tried /run /dev/shm /tmp /var/tmp)"
    exit 3
fi
# Every command the probe runs is bounded: a hung daemon (dockerd, D-Bus)
# makes its section exit 124 ("timed out"), never the probe hang.
ND_TO=
if command -v timeout >/dev/null 2>&1; then ND_TO="timeout 30"; fi
ND_NAMES=
ND_NL='
'

have() { command -v "$1" >/dev/null 2>&1; }

# nd NAME CMD ARGS...: run an external command into the scratch files.
# Only clients of a daemon that can hang (dockerd, systemd, D-Bus,
# firewalld) run under timeout; the rest read files or netlink and return
# (a timeout is one more process per command).
nd() {
    nd_n=$1; shift
    ND_NAMES="$ND_NAMES $nd_n"
    if ! have "$1"; then echo "$1" >"$ND_T/$nd_n.missing"; return 0; fi
    case $1 in
        docker|systemctl|dbus-send|firewall-cmd) $ND_TO "$@" >"$ND_T/$nd_n.out" 2>"$ND_T/$nd_n.err" ;;
        *) "$@" >"$ND_T/$nd_n.out" 2>"$ND_T/$nd_n.err" ;;
    esac
    echo $? >"$ND_T/$nd_n.rc"
}

# ndf NAME FUNCTION: run a shell function of this script into the scratch files.
ndf() {
    nd_n=$1; shift
    ND_NAMES="$ND_NAMES $nd_n"
    "$@" >"$ND_T/$nd_n.out" 2>"$ND_T/$nd_n.err"
    echo $? >"$ND_T/$nd_n.rc"
}

f_os() { cat /etc/os-release 2>/dev/null || cat /etc/redhat-release; }

f_kernel() {
    echo "release=$(uname -r)"
    echo "version=$(uname -v)"
    echo "machine=$(uname -m)"
}

f_virt() {
    if have systemd-detect-virt; then
        echo "container=$(systemd-detect-virt -c 2>/dev/null)"
        echo "vm=$(systemd-detect-virt -v 2>/dev/null)"
    fi
    [ -e /.dockerenv ] && echo "marker=/.dockerenv"
    [ -e /run/.containerenv ] && echo "marker=/run/.containerenv"
    if [ -r /proc/1/environ ]; then
        tr '\000' '\n' </proc/1/environ 2>/dev/null | grep '^container=' | sed 's/^/pid1_env_/'
    fi
    return 0
}

# One line per module tree: NAME has_modules.dep has_kernel_dir
f_modtrees() {
    [ -d /lib/modules ] || return 0
    for d in /lib/modules/*; do
        [ -d "$d" ] || continue
        dep=no; [ -s "$d/modules.dep" ] && dep=yes
        kdir=no; [ -d "$d/kernel" ] && kdir=yes
        echo "${d##*/} $dep $kdir"
    done
}

f_boot() {
    for b in /boot/vmlinuz-* /boot/vmlinux-* /boot/kernel-*; do
        [ -e "$b" ] && echo "${b##*/}"
    done
    return 0
}

# What the package manager knows of the running kernel: its package's state
# and what dpkg's or yum's logs say of it. Nothing at all where a package
# manager exists: a kernel booted from outside the distribution.
f_kernel_pkg() {
    r=$(uname -r)
    if have dpkg-query; then
        echo "dpkg-status=$(dpkg-query -W -f='${db:Status-Abbrev}' "linux-image-$r" 2>/dev/null)"
        for f in /var/log/dpkg.log*; do
            # Literal match: Debian 13's releases hold a `+` (6.12.117+deb13-amd64).
            [ -r "$f" ] && zcat -f "$f" 2>/dev/null | awk -v p="linux-image-$r" '($3 == "install" || $3 == "upgrade" || $3 == "remove" || $3 == "purge") && ($4 == p || index($4, p ":") == 1)' | tail -n 3 | sed 's/^/log=/'
        done
    fi
    if have rpm; then
        if rpm -q "kernel-$r" >/dev/null 2>&1; then echo "rpm-status=installed"; else echo "rpm-status="; fi
        for f in /var/log/yum.log*; do
            [ -r "$f" ] && grep -F "kernel-$r" "$f" 2>/dev/null | tail -n 3 | sed 's/^/log=/'
        done
    fi
    return 0
}

f_loaded() { cut -d' ' -f1 /proc/modules; }

f_builtin() {
    f=/lib/modules/$(uname -r)/modules.builtin
    [ -r "$f" ] || return 1
    grep -E '/(netfilter|bridge|overlay|veth|ipv4|ipv6)/' "$f" | sed 's#.*/##; s#\.ko.*##'
}

# modprobe dry runs for the modules Docker's networking needs (skipped when
# the running kernel has no module tree: nothing can load then).
f_modprobe() {
    have modprobe || { echo "modprobe-missing"; return 0; }
    [ -d "/lib/modules/$(uname -r)" ] || { echo "tree-missing /lib/modules/$(uname -r)"; return 0; }
    for m in ip_tables iptable_nat iptable_filter nf_nat nf_conntrack xt_MASQUERADE ipt_MASQUERADE xt_addrtype xt_conntrack nf_tables nft_chain_nat br_netfilter bridge veth overlay; do
        out=$(modprobe -n -v "$m" 2>&1); rc=$?
        echo "$m $rc ${out%%"$ND_NL"*}"
    done
}

f_reboot() {
    for f in /run/reboot-required /var/run/reboot-required; do
        if [ -e "$f" ]; then
            echo "file=$f"
            [ -r "$f.pkgs" ] && sed 's/^/pkg=/' "$f.pkgs"
            return 0
        fi
    done
    return 0
}

f_alt() {
    if have update-alternatives && update-alternatives --query iptables >/dev/null 2>&1; then
        update-alternatives --query iptables
    elif have alternatives && alternatives --display iptables >/dev/null 2>&1; then
        echo "Style: fedora"
        alternatives --display iptables
    else
        echo "Style: none"
    fi
    p=$(command -v iptables 2>/dev/null) && echo "Resolved: $(readlink -f "$p")"
    return 0
}

f_procnames() {
    for f in /proc/net/ip_tables_names /proc/net/ip6_tables_names; do
        if [ -r "$f" ]; then echo "$f: $(tr '\n' ' ' <"$f")"; else echo "$f: unreadable"; fi
    done
}

f_sysctl() {
    for k in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables net/ipv6/conf/all/forwarding; do
        if [ -r "/proc/sys/$k" ]; then echo "$k=$(cat "/proc/sys/$k")"; fi
    done
    return 0
}

f_fwconf() {
    f=/etc/firewalld/firewalld.conf
    [ -r "$f" ] || return 1
    grep -E '^[[:space:]]*(FirewallBackend|FlushAllOnReload|DefaultZone|IndividualCalls)=' "$f"
}

f_daemonjson() { cat /etc/docker/daemon.json; }

# The running dockerd's own argv (flags from the unit, drop-ins and
# /etc/default/docker's DOCKER_OPTS, expanded): with daemon.json, the
# daemon's effective settings. `systemctl show --value` is too new for CentOS 7.
f_dockerd_argv() {
    pid=$(systemctl show -p MainPID docker.service 2>/dev/null | cut -d= -f2)
    [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline"
}

# Start markers and firewalld messages of dockerd over the whole boot: they
# tell whether dockerd connected to firewalld, however long the journal is.
f_journal_markers() {
    have journalctl || return 1
    $ND_TO journalctl -u docker.service -b --no-pager -o short-iso 2>/dev/null |
        grep -E 'Starting (docker|Docker)|Started (docker|Docker)|msg="Firewalld:|"msg":"Firewalld:' | tail -n 40
}

# Containers: one `docker ps -a` for states (created = a `docker run` that
# failed to start), then `docker inspect` of the running ones for their ports.
f_containers() {
    # {{.State}} needs Docker >= 20.10; older engines list running ones only.
    # Without the CLI (Debian 13's docker-cli not installed) nothing can be
    # listed: say so (rc 127), never print an empty list.
    have docker || { echo "docker: command not found" >&2; return 127; }
    # A timeout (124) is not an old engine: do not wait a second time.
    all=$($ND_TO docker ps -a --no-trunc --format '{{.ID}}|{{.State}}|{{.Names}}' 2>/dev/null)
    rc=$?
    [ "$rc" = 124 ] && return 124
    [ "$rc" = 0 ] || all=$($ND_TO docker ps --no-trunc --format '{{.ID}}|running|{{.Names}}') || return $?
    printf '%s\n' "$all" | grep '|created|' | sed 's/^[^|]*|created|/created=/'
    ids=$(printf '%s\n' "$all" | grep '|running|' | cut -d'|' -f1)
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2086
    $ND_TO docker inspect --format '{{.Id}}|{{.Name}}|{{.State.Status}}|{{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{$p}}={{.HostIp}}:{{.HostPort}} {{end}}{{end}}|{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{$p}}={{.HostIp}}:{{.HostPort}} {{end}}{{end}}|{{range $n, $c := .NetworkSettings.Networks}}{{$n}}={{$c.IPAddress}} {{end}}|{{.HostConfig.NetworkMode}}' $ids
}

# The list has no port bindings where dockerd discarded them (host
# networking): those containers' own JSON, one per line. Each container's
# object in the list starts with `{"Id":"…"`.
f_api_host_network() {
    ids=$(tr ',' '\n' <"$ND_T/docker.containers.out" | awk '
        /^\[?\{"Id":"/ { split($0, a, "\""); id = a[4] }
        /"HostConfig":\{"NetworkMode":"host"/ { print id }')
    for id in $ids; do api "/containers/$id/json" || return $?; echo; done
}

fw_dbus() {
    $ND_TO dbus-send --system --reply-timeout=5000 --print-reply --dest=org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 "$@"
}

# firewalld over D-Bus (5 ms) when dbus-send exists, else firewall-cmd (python, 150+ ms each).
f_firewalld_group() {
    if have dbus-send; then
        ndf fw.dbus-version fw_dbus org.freedesktop.DBus.Properties.Get string:org.fedoraproject.FirewallD1 string:version
        ndf fw.dbus-state fw_dbus org.freedesktop.DBus.Properties.Get string:org.fedoraproject.FirewallD1 string:state
        ndf fw.dbus-default-zone fw_dbus org.fedoraproject.FirewallD1.getDefaultZone
        ndf fw.dbus-active-zones fw_dbus org.fedoraproject.FirewallD1.zone.getActiveZones
    elif have firewall-cmd; then
        nd fw.cmd-state firewall-cmd --state
        nd fw.cmd-version firewall-cmd --version
        nd fw.cmd-default-zone firewall-cmd --get-default-zone
        nd fw.cmd-active-zones firewall-cmd --get-active-zones
    fi
}

# --- background first: slower groups overlap with everything else --------
# Read-only means not waking dockerd: with docker.socket listening, any
# `docker` call starts a docker.service that is down (socket activation),
# which would change the host and race the journal read below. Ask the
# daemon only when systemd says it runs (or where there is no systemd).
ND_ASK_DOCKER=yes
if have systemctl && [ -d /run/systemd/system ] && [ "$($ND_TO systemctl is-active docker.service 2>/dev/null)" != active ]; then
    ND_ASK_DOCKER=
fi
# The engine's API through its socket, with curl where it can (7.40+:
# --unix-socket): `docker.info` and `docker.containers` are then the API's
# JSON, two small processes in parallel instead of four starts of the
# docker CLI (a Go binary, ~40 ms each), two of them in series. CentOS 7's
# curl 7.29 (exit 2: unknown option) and a daemon not on a unix socket get
# the CLI. ND_VIA=cli forces it (tests compare both ways).
ND_SOCK=/var/run/docker.sock
case ${DOCKER_HOST:-} in
    unix://*) ND_SOCK=${DOCKER_HOST#unix://} ;;
    ?*) ND_SOCK= ;;
esac
ND_API=
# (A socket we may not write to gets the CLI too: its "permission denied"
# is what says the probe could not look.)
if [ -n "$ND_ASK_DOCKER" ] && [ "${ND_VIA:-}" != cli ] && [ -n "$ND_SOCK" ] && [ -S "$ND_SOCK" ] && [ -w "$ND_SOCK" ] && have curl; then ND_API=yes; fi
api() { $ND_TO curl -sSf --unix-socket "$ND_SOCK" "http://docker$1"; }
# cli_info: docker info twice (FirewallBackend exists from Docker 28.1 on:
# `null`, empty or an error before). A dockerd that did not answer the
# first question will not answer the second: asking again would double the wait.
cli_info() {
    nd docker.info docker info --format '{{.ServerVersion}}|{{.LiveRestoreEnabled}}|{{.Containers}}|{{.ContainersRunning}}|{{.Driver}}'
    if [ "$(cat "$ND_T/docker.info.rc" 2>/dev/null)" != 124 ]; then
        nd docker.firewall-backend docker info --format '{{json .FirewallBackend}}'
    fi
}
( [ -n "$ND_ASK_DOCKER" ] || exit 0
  if [ -n "$ND_API" ]; then
      ndf docker.info api /info
      # curl without --unix-socket: the CLI after all.
      if [ "$(cat "$ND_T/docker.info.rc")" = 2 ]; then rm -f "$ND_T"/docker.info.*; cli_info; fi
      ndf docker.cli have docker
  else
      cli_info
  fi ) &
ND_J1=$!
( [ -n "$ND_ASK_DOCKER" ] || exit 0
  if [ -n "$ND_API" ]; then
      ndf docker.containers api '/containers/json?all=1'
      if [ "$(cat "$ND_T/docker.containers.rc")" = 2 ]; then
          rm -f "$ND_T"/docker.containers.*; ndf docker.containers f_containers
      else
          ndf docker.inspect-host-network f_api_host_network
      fi
  else
      ndf docker.containers f_containers
  fi ) &
ND_J2=$!
( if [ "$($ND_TO systemctl is-active firewalld 2>/dev/null)" = active ]; then f_firewalld_group; fi ) &
ND_J3=$!
( nd docker.journal journalctl -u docker.service -n 150 --no-pager -o short-iso
  ndf docker.journal-markers f_journal_markers ) &
ND_J4=$!
( ndf modprobe f_modprobe ) &
ND_J5=$!

# --- foreground: cheap facts --------------------------------------------
nd uid id -u
ndf os f_os
ndf kernel f_kernel
ndf virt f_virt
ndf modtrees f_modtrees
ndf boot f_boot
ndf kernel.package f_kernel_pkg
ndf modules.loaded f_loaded
ndf modules.builtin f_builtin
ndf reboot-required f_reboot
ndf sysctl f_sysctl
ndf iptables.alternative f_alt
nd iptables.version iptables -V
ndf iptables.proc-names f_procnames
ndf firewalld.conf f_fwconf
ndf docker.daemon-json f_daemonjson
ndf docker.argv f_dockerd_argv
nd unit.docker systemctl show docker.service -p LoadState -p ActiveState -p SubState -p Result -p ActiveEnterTimestampMonotonic -p InactiveEnterTimestampMonotonic -p ExecMainStartTimestampMonotonic -p MainPID -p UnitFileState
nd unit.firewalld systemctl show firewalld.service -p LoadState -p ActiveState -p SubState -p Result -p ActiveEnterTimestampMonotonic -p InactiveEnterTimestampMonotonic -p ExecMainStartTimestampMonotonic -p MainPID -p UnitFileState
# Other services that load a whole ruleset (and so remove Docker's rules).
nd units.firewalls systemctl show nftables.service netfilter-persistent.service iptables.service ufw.service -p Id -p LoadState -p ActiveState -p ActiveEnterTimestampMonotonic

# iptables rules per backend: the split binaries when present (Debian,
# RHEL 8+), else plain iptables-save (CentOS 7: legacy only, 1.4.21).
if have iptables-legacy-save || have iptables-nft-save; then
    nd rules.legacy4 iptables-legacy-save
    nd rules.nft4 iptables-nft-save
    nd rules.legacy6 ip6tables-legacy-save
    nd rules.nft6 ip6tables-nft-save
else
    nd rules.plain4 iptables-save
    nd rules.plain6 ip6tables-save
fi
nd nft.tables nft list tables
nd listen ss -tln
nd listen.udp ss -uln

wait $ND_J1 $ND_J2 $ND_J3 $ND_J4 $ND_J5 2>/dev/null
ND_NAMES="$ND_NAMES docker.info docker.firewall-backend docker.cli docker.containers docker.inspect-host-network fw.dbus-version fw.dbus-state fw.dbus-default-zone fw.dbus-active-zones fw.cmd-state fw.cmd-version fw.cmd-default-zone fw.cmd-active-zones docker.journal docker.journal-markers modprobe"

# --- emit: one awk for all sections (a fork per section costs more) -------
awk -v dir="$ND_T" -v names="$ND_NAMES" 'BEGIN {
    print "@@ND probe version=1"
    n = split(names, a, " ")
    for (i = 1; i <= n; i++) {
        s = a[i]; f = dir "/" s
        if ((getline line < (f ".missing")) > 0) { print "@@ND missing " s " " line; continue }
        if ((getline rc < (f ".rc")) <= 0) continue
        print "@@ND begin " s
        while ((getline line < (f ".out")) > 0) print line
        first = 1
        while ((getline line < (f ".err")) > 0) {
            if (first) { print "@@ND stderr " s; first = 0 }
            print line
        }
        print "@@ND end " s " rc=" rc
    }
    print "@@ND done"
}'
rm -rf "$ND_T"
exit 0
