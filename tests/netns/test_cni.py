"""CNI plugin mode with the real reference plugins (bridge + host-local, loopback) chained before
ours, run as a runtime runs them (tests/support/cni_runtime.py), then real TCP through the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from proxyinit.lab.netns import Lab, netns_exec, probe_command, sh
from tests.netns.conftest import Topology, proxyinit, save
from tests.support.cni_runtime import PluginFailed, Runtime

REFERENCE_PLUGINS = "/usr/lib/cni"  # Debian's containernetworking-plugins
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cni" / "proxyinit.conflist"
GATEWAY4, SUBNET4 = "198.18.5.1", "198.18.5.0/24"
GATEWAY6, SUBNET6 = "2001:2:5::1", "2001:2:5::/64"


def plugin_dir(tmp: str) -> str:
    """CNI_PATH entry holding `proxyinit` (this checkout's console script), as an operator
    would install it next to the reference plugins."""
    os.symlink(Path(sys.executable).parent / "proxyinit", os.path.join(tmp, "proxyinit"))
    return tmp


def conflist(data_dir: str, bridge: str) -> dict:
    """The shipped example with this test's bridge, subnets and host-local state directory."""
    conf = json.loads(EXAMPLE.read_text())
    first = conf["plugins"][0]
    first.update(bridge=bridge, ipMasq=False)  # masquerading would write the host's nat table
    first["ipam"].update(ranges=[[{"subnet": SUBNET4}], [{"subnet": SUBNET6}]], dataDir=data_dir)
    return conf


def no_dad(ns: str) -> None:
    """Addresses usable at once (the bridge plugin waits for IPv6 duplicate detection)."""
    for key in ("default", "all"):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_dad=0")


def build(lab: Lab, tmp: str) -> tuple[Runtime, Topology]:
    host, pod = lab.add_namespace("pi-cnih"), lab.add_namespace("pi-cnip")
    no_dad(host)
    no_dad(pod)
    bridge = f"cni{os.getpid() % 100000}"
    runtime = Runtime(
        conflist(os.path.join(tmp, "ipam"), bridge),
        [plugin_dir(tmp), REFERENCE_PLUGINS],
        host,
        f"/run/netns/{pod}",
    )
    lab.spawn(pod, *probe_command("serve", "ingress", "15000"), ready_line="ready")
    lab.spawn(pod, *probe_command("serve", "egress", "15001"), ready_line="ready")
    lab.spawn(pod, *probe_command("serve", "local", "8080,9080"), ready_line="ready")
    lab.spawn(host, *probe_command("serve", "peer", "80,3306"), ready_line="ready")
    return runtime, Topology(pod, host, lab)


@pytest.fixture(scope="module")
def chained():
    """One pod networked by the whole chain (ADD), shared by the traffic tests."""
    lab = Lab()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            runtime, topo = build(lab, tmp)
            runtime.add()
            yield runtime, topo
        finally:
            lab.close()


def pod_address(runtime: Runtime, version: str) -> str:
    ips = [ip["address"].split("/")[0] for ip in runtime.result["ips"]]
    return next(ip for ip in ips if (":" in ip) == (version == "6"))


def test_add_prints_the_previous_result_unchanged(chained):
    runtime, _ = chained
    assert runtime.outputs["proxyinit"] == runtime.outputs["bridge"]
    assert [ip["address"].split("/")[1] for ip in runtime.result["ips"]] == ["24", "64"]


@pytest.mark.parametrize("version", ["4", "6"])
def test_inbound_app_port_lands_on_ingress_listener(chained, version):
    runtime, topo = chained
    pod = pod_address(runtime, version)
    shown = f"[{pod}]:9080" if version == "6" else f"{pod}:9080"
    assert topo.connect(pod, 9080, uid=None, ns=topo.peer) == f"ingress {shown}"


@pytest.mark.parametrize(("version", "gateway"), [("4", GATEWAY4), ("6", GATEWAY6)])
def test_pod_egress_lands_on_egress_listener(chained, version, gateway):
    _, topo = chained
    host = f"[{gateway}]" if version == "6" else gateway
    assert topo.connect(gateway, 80, uid=1000) == f"egress {host}:80"
    assert topo.connect(gateway, 80, uid=1337) == f"peer {host}:80"  # Envoy's own traffic
    assert topo.connect(gateway, 3306, uid=1000) == f"peer {host}:3306"  # egressIgnoredPorts


def test_check_del_lifecycle(lab):
    """CHECK passes on what ADD applied and fails once the rules are gone; DEL removes ours,
    twice is fine, and so is DEL after the namespace is gone."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime, topo = build(lab, tmp)
        runtime.add()
        runtime.check()
        assert proxyinit(topo.app, "clean").returncode == 0
        with pytest.raises(PluginFailed) as failed:
            runtime.check()
        assert failed.value.error["code"] == 101, failed.value.error
        assert "absent" in failed.value.error["msg"]
        runtime.run("ADD", runtime.conflist["plugins"][-1], runtime.outputs["loopback"])
        runtime.check()
        runtime.delete()
        assert proxyinit(topo.app, "status", env=_status_env()).returncode == 4  # absent
        ours = runtime.conflist["plugins"][-1]
        runtime.run("DEL", ours, runtime.result)
        sh("ip", "netns", "del", topo.app)
        lab.namespaces.remove(topo.app)
        runtime.run("DEL", ours, runtime.result)


def test_check_fails_when_the_rules_are_there_but_do_not_redirect(lab):
    """CHECK is status + verify: our rules intact (status: match) behind another tool's rules
    that return first is a CHECK failure naming the paths that are not redirected."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime, topo = build(lab, tmp)
        runtime.add()
        runtime.check()  # a good namespace: status matches and every path verifies
        variant = "legacy" if "legacy" in save_variant_in_use(topo.app) else "nft"
        for tool in ("iptables", "ip6tables"):
            sh(
                *netns_exec(
                    topo.app,
                    f"{tool}-{variant}",
                    "-t",
                    "nat",
                    "-I",
                    "OUTPUT",
                    "1",
                    "-p",
                    "tcp",
                    "-j",
                    "RETURN",
                )
            )
        with pytest.raises(PluginFailed) as failed:
            runtime.check()
        error = failed.value.error
        assert error["code"] == 101 and error["cniVersion"], error
        assert "do not redirect" in error["msg"] and "egress" in error["details"], error


def save_variant_in_use(ns: str) -> str:
    """Which iptables variant holds our rules ("legacy" or "nft")."""
    for variant in ("legacy", "nft"):
        if "APPMESH_EGRESS" in save(ns, variant):
            return variant
    raise AssertionError("no rules of ours in either variant")


def _status_env() -> dict[str, str]:
    return {
        "APPMESH_IGNORE_UID": "1337",
        "APPMESH_ENVOY_EGRESS_PORT": "15001",
        "APPMESH_ENVOY_INGRESS_PORT": "15000",
        "APPMESH_APP_PORTS": "9080",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("appPorts", ["15001"]),
        ("proxyEgressPort", 15001),
        ("egressIgnoredIPs", ["10.0.0.0/33"]),
        ("redirectDNS", "true"),
        ("dnsPort", "53x"),
    ],
)
def test_bad_config_changes_nothing_in_the_namespace(netns, key, value):
    """Refused before the namespace is touched: its nat tables read exactly as before."""
    before = {
        (variant, v6): save(netns, variant, v6) for variant in ("legacy", "nft") for v6 in (0, 1)
    }
    plugin = json.loads(EXAMPLE.read_text())["plugins"][-1]
    conf = {**plugin, key: value, "name": "appmesh", "cniVersion": "1.0.0"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "proxyinit")],
        input=json.dumps(conf),
        env={
            "PATH": os.environ["PATH"],
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": "c1",
            "CNI_NETNS": f"/run/netns/{netns}",
            "CNI_IFNAME": "eth0",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout
    assert key in json.loads(proc.stdout)["msg"]
    after = {
        (variant, v6): save(netns, variant, v6) for variant in ("legacy", "nft") for v6 in (0, 1)
    }
    assert after == before


POD = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: howto, labels: {app: front}, annotations: {appmesh.k8s.aws/ports: "8080"}}
spec: {containers: [{name: app, image: a:1}]}
"""


def injected_annotations() -> dict:
    """The pod's annotations after `proxyinit inject --cni` (what containerd hands the plugin)."""
    import io

    from proxyinit.k8s.inject import Options, inject
    from proxyinit.k8s.manifests import read_objects
    from tests.k8s.test_k8s_inject import HOWTO

    options = Options(xds_endpoint="cp:15010", image="proxyinit:test", cni=True)
    docs = inject(read_objects("-", io.StringIO(POD)), read_objects(str(HOWTO)), options).docs
    return docs[0]["metadata"]["annotations"]


def test_inject_cni_annotation_drives_the_plugin(lab):
    """With the pod-annotations capability declared, an unannotated pod is left alone, and an
    injected one gets the redirect its annotation says (app port 8080, not the conflist's 9080)."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime, topo = build(lab, tmp)
        ours = runtime.conflist["plugins"][-1]
        ours["capabilities"] = {"io.kubernetes.cri.pod-annotations": True}
        runtime.capability_args = {"io.kubernetes.cri.pod-annotations": {"other": "x"}}
        runtime.add()
        pod = pod_address(runtime, "4")
        assert topo.connect(pod, 9080, uid=None, ns=topo.peer) == f"local {pod}:9080"
        assert topo.connect(GATEWAY4, 80, uid=1000) == f"peer {GATEWAY4}:80"
        runtime.check()  # nothing to check for a pod outside the mesh
        runtime.delete()
        runtime.capability_args = {"io.kubernetes.cri.pod-annotations": injected_annotations()}
        runtime.add()
        pod = pod_address(runtime, "4")
        assert topo.connect(pod, 8080, uid=None, ns=topo.peer) == f"ingress {pod}:8080"
        assert topo.connect(pod, 9080, uid=None, ns=topo.peer) == f"local {pod}:9080"
        assert topo.connect(GATEWAY4, 80, uid=1000) == f"egress {GATEWAY4}:80"
        runtime.check()
        runtime.delete()


def test_redirect_dns_key_captures_the_pods_queries(lab):
    """`redirectDNS: true` is PROXYINIT_REDIRECT_DNS=1: the app's UDP/53 (to any resolver) gets
    the DNS port's answer, Envoy's reaches the real resolver; CHECK verifies the DNS paths too."""
    from tests.netns.test_dns_capture import CAPTURED, REAL, ask, dnsstub

    with tempfile.TemporaryDirectory() as tmp:
        runtime, topo = build(lab, tmp)
        runtime.conflist["plugins"][-1].update(redirectDNS=True, dnsPort="15053")
        for ns, answer in ((topo.peer, REAL), (topo.app, CAPTURED)):
            port = "53" if ns == topo.peer else "15053"
            lab.spawn(ns, *dnsstub("serve", port, f"upstream.test={answer}"), ready_line="ready")
        runtime.add()
        assert ask(topo.app, GATEWAY4) == CAPTURED
        assert ask(topo.app, GATEWAY6) == CAPTURED
        assert ask(topo.app, GATEWAY4, uid=1337) == REAL
        runtime.check()
        runtime.delete()  # the whole chain: the pod's interface is gone, and so are our rules
        dns = {**_status_env(), "PROXYINIT_REDIRECT_DNS": "1"}
        assert proxyinit(topo.app, "status", env=dns).returncode == 4
