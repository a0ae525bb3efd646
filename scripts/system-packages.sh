#!/bin/sh
# Install the Debian packages proxyinit needs, only if something is missing (idempotent).
# iptables: legacy and nft variants (+ libip4tc/libxtables for python-iptables); iproute2: `ip`;
# procps: `pgrep`; nftables: `nft`, for --backend nftables; containernetworking-plugins: the
# reference CNI plugins (bridge, host-local, loopback) that tests/netns/test_cni.py chains first;
# postgresql: initdb and postgres for the replica tests, which start their own server in a
# temporary directory (tests/support/postgres.py), never the package's own cluster service.
set -eu
# The interpreter the Makefile makes the venv with (its PYTHON): Debian's own, when present.
python=${PYTHON:-python3}
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; fi
need=""
command -v iptables-legacy-restore >/dev/null 2>&1 || need="$need iptables"
command -v iptables-nft-restore >/dev/null 2>&1 || need="$need iptables"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v nft >/dev/null 2>&1 || need="$need nftables"
command -v pgrep >/dev/null 2>&1 || need="$need procps"  # the e2e test looks for leftover processes
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
[ -x /usr/lib/cni/bridge ] || need="$need containernetworking-plugins"
command -v "$python" >/dev/null 2>&1 || need="$need python3"
"$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$need python3-venv"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages:$need (run as root, or install them)" >&2
    exit 1
  fi
  echo "installing system packages:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
