"""App Mesh's published `howto-*` walkthroughs replayed through the real aws CLI against one real
`xds serve --db --api`, then every virtual node's and gateway's served config taken by the real
Envoy (`envoy --mode validate`: a few tens of milliseconds a node, where starting an Envoy per
node takes seconds).

The inputs are our own (tests/data/walkthroughs/<name>/steps.json), written in the API Reference's
shapes after what each walkthrough's `aws appmesh` calls create: a list of
`[command, --cli-input-json body]` steps, optionally `{"refused": "<error code>"}` for a call
App Mesh refused too (an error code from the server, or the CLI's "Parameter validation failed").
The CLI is the awscli package's own driver, run in this process (tests/support/aws_cli.py) so
that the ~210 calls take seconds; one walkthrough also goes through the `aws` executable.
`meshName` is the walkthrough's name (a fresh mesh per walkthrough, so all share one server);
`${CERTS}` is a directory of generated PEMs, also the server's `--certs`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from proxyinit.xds.types import LISTENER
from tests.api.conftest import Server
from tests.mesh.mesh_envoy_check import envoy_validate_bootstrap, served_bootstrap
from tests.support.aws_cli import AwsCli
from tests.support.certs import TestCa
from tests.support.xds_dump import dump_node

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(60)]

WALKTHROUGHS = Path(__file__).resolve().parents[1] / "data" / "walkthroughs"
NAMES = sorted(path.name for path in WALKTHROUGHS.iterdir() if (path / "steps.json").is_file())


def make_certs(directory: Path) -> Path:
    """The PEMs the walkthroughs name: files (`ca.pem`, `server.*`, `client.*`) and, for --certs,
    SDS secret names and the ids of the ACM / ACM-PCA ARNs used."""
    directory.mkdir()
    ca = TestCa(directory)
    for name in ("ca", "mesh-ca", "pca-walkthrough"):
        shutil.copy(ca.path, directory / f"{name}.pem")
    for name in ("server", "client", "server-cert", "client-cert", "acm-walkthrough"):
        ca.leaf(name, f"{name}.walkthrough.local")
    return directory


def steps(name: str, certs: Path, mesh: str | None = None) -> list[tuple[str, dict, str | None]]:
    text = (WALKTHROUGHS / name / "steps.json").read_text().replace("${CERTS}", str(certs))
    out = []
    for step in json.loads(text)["steps"]:
        command, body, expect = (*step, {})[:3]
        out.append((command, {"meshName": mesh or name, **body}, expect.get("refused")))
    return out


def served_names(results: list[tuple[str, dict]]) -> list[str]:
    """Node ids of the virtual nodes and gateways the walkthrough left in its mesh."""
    kinds = {"virtual-node": "virtualNode", "virtual-gateway": "virtualGateway"}
    alive: dict[str, None] = {}
    for command, body in results:
        verb, _, kind = command.partition("-")
        if kind not in kinds:
            continue
        node = f"mesh/{body['meshName']}/{kinds[kind]}/{body[kinds[kind] + 'Name']}"
        if verb == "create":
            alive[node] = None
        elif verb == "delete":
            alive.pop(node, None)
    return list(alive)


@pytest.fixture(scope="module")
def walkthrough_server(tmp_path_factory):
    """One server for every walkthrough (each its own mesh), serving the generated PEMs."""
    root = tmp_path_factory.mktemp("walkthroughs")
    certs = make_certs(root / "certs")
    running = Server(root / "mesh.db", extra_args=["--certs", str(certs)])
    running.start()
    try:
        yield running, certs
    finally:
        running.stop()


def replay(server: Server, name: str, certs: Path, run=None, mesh=None) -> tuple[list, list]:
    """(accepted calls, calls answered otherwise than App Mesh did); `run(*args)`: how the CLI
    is run (default: the driver in process)."""
    accepted, wrong = [], []
    run = run or AwsCli(server.url).appmesh
    for command, body, refused in steps(name, certs, mesh):
        result = run(command, "--cli-input-json", json.dumps(body))
        if refused is None and result.returncode == 0:
            accepted.append((command, body))
        elif refused is not None and result.returncode != 0 and refused in result.stderr:
            continue
        else:
            wrong.append((command, refused, result.returncode, result.stderr.strip()))
    return accepted, wrong


@pytest.mark.parametrize("name", NAMES)
def test_walkthrough_replayed_and_every_node_taken_by_envoy(walkthrough_server, name, tmp_path):
    server, certs = walkthrough_server
    accepted, wrong = replay(server, name, certs)
    assert not wrong, wrong
    nodes = served_names(accepted)
    assert nodes, f"{name}: no virtual node or gateway to check"
    for node in nodes:
        served = asyncio.run(dump_node(f"127.0.0.1:{server.xds_port}", node))
        assert served[LISTENER], f"{node}: no listener served"
        workdir = tmp_path / node.replace("/", "_")
        workdir.mkdir()
        result = envoy_validate_bootstrap(served_bootstrap(served), workdir)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{node}: {output[-3000:]}"
        assert "deprecated" not in output.lower(), f"{node}: {output[-3000:]}"
    print(f"{name}: {len(accepted)} calls accepted, {len(nodes)} nodes validated by Envoy")


def test_the_aws_command_answers_a_walkthrough_as_the_in_process_driver(walkthrough_server):
    """The `aws` executable in a subprocess, once: the same calls accepted and refused."""
    server, certs = walkthrough_server
    accepted, wrong = replay(
        server,
        "howto-basics",
        certs,
        run=lambda *args: server.aws(*args, check=False),
        mesh="howto-basics-subprocess",
    )
    assert not wrong, wrong
    assert len(accepted) == len(steps("howto-basics", certs)) - 2  # two refused as on App Mesh
