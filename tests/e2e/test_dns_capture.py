"""Issue 12 part 2, end to end (root): an app resolves a virtual service name that has no DNS
record anywhere, connects, and reaches the backend through Envoy; other names still resolve
through the namespace's own resolver.

One namespace: its resolver (lab/dnsstub.py on 127.0.0.1:53, knowing upstream.test and the
backend's host teller.test only, via /etc/netns/<ns>/resolv.conf), a task (redirector with
PROXYINIT_REDIRECT_DNS=1, Envoy as uid 1337, the colorteller app on 9080) and a client app as
uid 1001. The control plane serves a mesh in which the node has colorteller.default.svc.cluster.local
as its backend. A veth to a second namespace gives a default route: as in a pod, 240.240.x.y
must be routable for connect() to reach the OUTPUT hook that redirects it.

A second task (same control plane) is the node with ipPreference IPv6_PREFERRED and
APPMESH_ENABLE_IPV6=1: its Envoy has the [::1] DNS listener that ip6tables' REDIRECT reaches,
answering AAAA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from proxyinit.contract import init_container_env
from proxyinit.lab.netns import NETNS_ETC, Lab, first_line, netns_exec, sh
from proxyinit.mesh.translate.dns import service_addresses
from tests.netns.conftest import proxyinit
from tests.support.serve import start_on_socket

pytestmark = pytest.mark.root

SERVICE = "colorteller.default.svc.cluster.local"
NODE = "mesh/default/virtualNode/dns-client-vn"
NODE6 = "mesh/default/virtualNode/dns-client6-vn"
MESH = f"""
- meshName: default
  spec: {{egressFilter: {{type: DROP_ALL}}}}
- meshName: default
  virtualNodeName: dns-client-vn
  spec:
    listeners: [{{portMapping: {{port: 9080, protocol: http}}}}]
    serviceDiscovery: {{dns: {{hostname: client.test}}}}
    backends: [{{virtualService: {{virtualServiceName: {SERVICE}}}}}]
- meshName: default
  virtualNodeName: dns-client6-vn
  spec:
    listeners: [{{portMapping: {{port: 9080, protocol: http}}}}]
    serviceDiscovery: {{dns: {{hostname: client6.test, ipPreference: IPv6_PREFERRED}}}}
    backends: [{{virtualService: {{virtualServiceName: {SERVICE}}}}}]
- meshName: default
  virtualNodeName: colorteller-vn
  spec:
    listeners: [{{portMapping: {{port: 9080, protocol: http}}}}]
    serviceDiscovery: {{dns: {{hostname: teller.test}}}}
- meshName: default
  virtualServiceName: {SERVICE}
  spec: {{provider: {{virtualNode: {{virtualNodeName: colorteller-vn}}}}}}
"""
# The task's init container: App Mesh's walkthrough env (task.py) plus DNS capture.
TASK_ENV = {**init_container_env("9080", ignored_ips=""), "PROXYINIT_REDIRECT_DNS": "1"}
WITHOUT_DNS = init_container_env("9080", ignored_ips="")
TASK_ENV6 = {**TASK_ENV, "APPMESH_ENABLE_IPV6": "1"}
RESOLVER6 = "2001:2:5::2"  # the router's address: no resolver there, only capture answers


def client(ns: str, *args: str) -> str:
    argv = [sys.executable, "-m", "proxyinit.lab.dnsstub", *args, "--uid", "1001"]
    proc = subprocess.run(netns_exec(ns, *argv), capture_output=True, text=True, timeout=15)
    return proc.stdout.strip() or proc.stderr.strip()[-300:]


def namespace_with_resolver(lab: Lab) -> str:
    ns, router = lab.add_namespace("pi-dns"), lab.add_namespace("pi-dnsgw")
    lab.link(ns, ["198.18.5.1/24", "2001:2:5::1/64"], router, ["198.18.5.2/24", f"{RESOLVER6}/64"])
    sh("ip", "-n", ns, "route", "add", "default", "via", "198.18.5.2")
    sh("ip", "-n", ns, "-6", "route", "add", "default", "via", RESOLVER6)
    lab.hosts_file(ns, {})  # localhost only; registers /etc/netns/<ns> for removal
    etc = Path(NETNS_ETC) / ns
    (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    (etc / "nsswitch.conf").write_text("hosts: files dns\n")  # no host-side resolver (nss-resolve)
    records = "upstream.test=198.18.9.9,teller.test=127.0.0.1"
    stub = [sys.executable, "-m", "proxyinit.lab.dnsstub", "serve", "53", records]
    lab.spawn(ns, *stub, ready_line="ready")
    return ns


def start_control_plane(lab: Lab, workdir: Path) -> str:
    mesh_file = workdir / "mesh.yaml"
    mesh_file.write_text(MESH)
    return start_on_socket(workdir, lab.processes, "--log-level", "warning", mesh_file=mesh_file)


def start_task(lab: Lab, ns: str, xds: str, node: str = NODE) -> None:
    argv = [sys.executable, "-m", "proxyinit.lab.task", "--node", node, "--xds", xds]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYINIT_")}
    env["PROXYINIT_REDIRECT_DNS"] = "1"  # task.py passes PROXYINIT_* on to its init container
    proc = subprocess.Popen(
        netns_exec(ns, *argv, "--app", "teller"), stdout=subprocess.PIPE, text=True, env=env
    )
    lab.processes.append(proc)
    line = first_line(proc, timeout=40)
    assert line.startswith("{") and json.loads(line)["ready"], line


@pytest.fixture(scope="module")
def plane():
    """The lab and one control plane, shared by both tasks."""
    if os.geteuid() != 0:
        pytest.fail("tests/e2e needs root (network namespaces)", pytrace=False)
    lab = Lab()
    workdir = Path(tempfile.mkdtemp(prefix="proxyinit-envoy-dns-"))
    lab.directories.append(str(workdir))
    workdir.chmod(0o755)
    try:
        yield lab, start_control_plane(lab, workdir)
    finally:
        lab.close()


@pytest.fixture(scope="module")
def task(plane):
    lab, xds = plane
    ns = namespace_with_resolver(lab)
    start_task(lab, ns, xds)
    return ns


@pytest.fixture(scope="module")
def task6(plane):
    """The IPv6 node; its init container's env has APPMESH_ENABLE_IPV6=1 too (task.py keeps
    the walkthrough's, so it is applied again with it, as that init container would)."""
    lab, xds = plane
    ns = namespace_with_resolver(lab)
    start_task(lab, ns, xds, NODE6)
    assert proxyinit(ns, "apply", env=TASK_ENV6).returncode == 0
    return ns


def test_virtual_service_name_resolves_to_a_mesh_address_without_any_record(task):
    assert client(task, "resolve", SERVICE).startswith("240.240.")


def test_app_reaches_the_backend_through_envoy_by_that_name(task):
    assert client(task, "get", SERVICE, "9080", "/") == "white"


def test_other_names_are_forwarded_to_the_namespace_resolver(task):
    assert client(task, "resolve", "upstream.test") == "198.18.9.9"
    assert client(task, "resolve", "nowhere.test").startswith("error:")


def test_dns_over_tcp_is_relayed_to_the_resolver_the_app_asked(task):
    # Envoy's DNS filter is UDP only: TCP/53 is redirected to a relay (translate/dns.py), so a
    # truncated answer's retry still works; the mesh's names are answered over UDP only.
    assert client(task, "query", "127.0.0.1", "53", "upstream.test", "--tcp") == "198.18.9.9"
    assert client(task, "query", "127.0.0.1", "53", SERVICE, "--tcp") == "rcode 3"


def test_without_dns_capture_the_name_does_not_resolve(task):
    assert proxyinit(task, "apply", env=WITHOUT_DNS).returncode == 0
    try:
        assert client(task, "resolve", SERVICE).startswith("error:")
        assert client(task, "resolve", "upstream.test") == "198.18.9.9"
    finally:
        assert proxyinit(task, "apply", env=TASK_ENV).returncode == 0


@pytest.mark.parametrize("resolver", [RESOLVER6, "::1"])
def test_ipv6_queries_get_envoys_aaaa_from_the_ipv6_listener(task6, resolver):
    """UDP/53 to an IPv6 resolver goes (ip6tables REDIRECT) to Envoy's [::1] DNS listener, which
    answers the backend with its 2001:2::f0f0: address; ::1 is the namespace's real resolver,
    which knows no such name."""
    expected = service_addresses(SERVICE, "IPv6_PREFERRED")[1]
    assert expected.startswith("2001:2::f0f0:")
    assert client(task6, "query", resolver, "53", SERVICE, "--aaaa") == expected


def test_envoys_own_ipv6_queries_reach_the_real_resolver(task6):
    argv = [sys.executable, "-m", "proxyinit.lab.dnsstub", "query", "::1", "53", SERVICE]
    argv += ["--aaaa", "--uid", "1337"]
    proc = subprocess.run(netns_exec(task6, *argv), capture_output=True, text=True, timeout=15)
    assert proc.stdout.strip() == "rcode 3", proc.stdout + proc.stderr


def test_without_enable_ipv6_ipv6_queries_are_not_captured(task6):
    assert proxyinit(task6, "apply", env=TASK_ENV).returncode == 0
    try:
        assert client(task6, "query", "::1", "53", SERVICE, "--aaaa") == "rcode 3"
        assert client(task6, "query", "127.0.0.1", "53", SERVICE).startswith("240.240.")
    finally:
        assert proxyinit(task6, "apply", env=TASK_ENV6).returncode == 0
