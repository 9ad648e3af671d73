#!/bin/sh
# Shapes this Debian 12 rootfs into the CentOS 7 behaviour the incident
# scenarios depend on. Run once at image build time, inside the rootfs
# (chroot), by images/centos7/emulated/recipe.toml; kept in the image so a
# person inside the node can read what was changed.
set -eu

# 1. iptables is legacy only, as iptables 1.4.21 on CentOS 7 was: no
#    alternatives, no nft variants, `iptables` IS the legacy binary.
for n in iptables ip6tables arptables ebtables; do
    update-alternatives --remove-all "$n" >/dev/null 2>&1 || true
done
cd /usr/sbin
for t in iptables ip6tables; do
    for s in "" -save -restore; do
        ln -sfn xtables-legacy-multi "$t$s"
        rm -f "$t-legacy$s" "$t-nft$s"
    done
    rm -f "$t-translate" "$t-restore-translate"
done
rm -f xtables-nft-multi xtables-monitor arptables* ebtables* nft
if update-alternatives --display iptables >/dev/null 2>&1; then
    echo "centos7-emulate: an iptables alternative survived" >&2
    exit 1
fi
iptables -V | grep -q '(legacy)' || { echo "centos7-emulate: iptables is not the legacy binary" >&2; exit 1; }

# 2. firewalld uses its iptables backend, the only one CentOS 7's firewalld
#    0.6.3 supports there; its start and reload flush every chain.
conf=/etc/firewalld/firewalld.conf
sed -i -E 's/^#?FirewallBackend=.*/FirewallBackend=iptables/' "$conf"
grep -qx 'FirewallBackend=iptables' "$conf" || { echo "centos7-emulate: FirewallBackend not set in $conf" >&2; exit 1; }

# 3. Both enabled at boot, firewalld first (see docker.service.d/centos7-order.conf).
systemctl enable firewalld.service docker.service >/dev/null 2>&1
