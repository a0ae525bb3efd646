# The proxyinit image: the init container (`proxyinit`, needs NET_ADMIN), the Envoy sidecar
# (`proxyinit envoy-run`, runs as uid 1337) and the control plane (`proxyinit xds serve`).
#   docker build -t proxyinit:0.1.0 .
FROM python:3.11-slim-bookworm

# iptables ships both alternatives (iptables-legacy*, iptables-nft*); `--backend auto` follows
# whichever the task's namespace already uses. libip4tc/libxtables come with it (python-iptables).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 nftables \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/proxyinit
COPY pyproject.toml README.md ./
COPY proxyinit ./proxyinit
COPY scripts/proxyinit ./scripts/proxyinit
COPY examples ./examples
ENV PROXYINIT_EXAMPLES=/opt/proxyinit/examples/colorapp
# pip drops the `-S` after `#!python` in scripts/proxyinit (the interpreter skips `site`): put back.
RUN pip install --no-cache-dir ".[cloudmap,postgres]" \
 && sed -i '1s|^\(#!.*python[0-9.]*\)$|\1 -S|' /usr/local/bin/proxyinit \
 && python -m compileall -q /usr/local/lib/python3.11/site-packages/proxyinit

# Envoy's user, as App Mesh's images had it: APPMESH_IGNORE_UID=1337 exempts its traffic.
RUN groupadd --gid 1337 envoy && useradd --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin envoy

ENTRYPOINT ["proxyinit"]
