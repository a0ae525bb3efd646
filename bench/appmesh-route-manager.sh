#!/bin/sh
# A reproduction of the original App Mesh route manager's approach, for comparison only:
# one `iptables` process per rule (same rules, same APPMESH_* contract). Not part of the product.
# IPTABLES / IP6TABLES name the binaries (default: iptables / ip6tables).
set -e
IPT="${IPTABLES:-iptables}"
IPT6="${IP6TABLES:-ip6tables}"
: "${APPMESH_ENVOY_EGRESS_PORT:?}"

ignored_ports=22
[ -n "$APPMESH_EGRESS_IGNORED_PORTS" ] && ignored_ports="$APPMESH_EGRESS_IGNORED_PORTS,22"

multiport_in_groups() {  # $1 = iptables binary, $2 = chain, $3 = ports, rest = target
  ipt=$1; chain=$2; ports=$3; shift 3
  echo "$ports" | tr ',' '\n' | xargs -n 15 | tr ' ' ',' | while read -r group; do
    "$ipt" -t nat -A "$chain" -p tcp -m multiport --dports "$group" "$@"
  done
}

setup_family() {  # $1 = binary, $2 = "4" or "6"
  ipt=$1
  "$ipt" -t nat -N APPMESH_EGRESS
  [ -n "$APPMESH_IGNORE_UID" ] && "$ipt" -t nat -A APPMESH_EGRESS -m owner --uid-owner "$APPMESH_IGNORE_UID" -j RETURN
  [ -n "$APPMESH_IGNORE_GID" ] && "$ipt" -t nat -A APPMESH_EGRESS -m owner --gid-owner "$APPMESH_IGNORE_GID" -j RETURN
  multiport_in_groups "$ipt" APPMESH_EGRESS "$ignored_ports" -j RETURN
  for ip in $(echo "${APPMESH_EGRESS_IGNORED_IP:-}" | tr ',' ' '); do
    case "$2:$ip" in 4:*:*|6:*.*) continue ;; esac
    "$ipt" -t nat -A APPMESH_EGRESS -p tcp -d "$ip" -j RETURN
  done
  "$ipt" -t nat -A APPMESH_EGRESS -p tcp -j REDIRECT --to-ports "$APPMESH_ENVOY_EGRESS_PORT"
  "$ipt" -t nat -A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j APPMESH_EGRESS
  if [ -n "$APPMESH_APP_PORTS" ]; then
    "$ipt" -t nat -N APPMESH_INGRESS
    multiport_in_groups "$ipt" APPMESH_INGRESS "$APPMESH_APP_PORTS" -j REDIRECT --to-ports "$APPMESH_ENVOY_INGRESS_PORT"
    "$ipt" -t nat -A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j APPMESH_INGRESS
  fi
}

setup_family "$IPT" 4
[ "${APPMESH_ENABLE_IPV6:-0}" = 1 ] && setup_family "$IPT6" 6
exit 0
