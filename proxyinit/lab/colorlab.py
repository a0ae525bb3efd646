"""The colorapp walkthrough on one machine: namespaces, control plane, tasks, traffic.

hub namespace: bridge br0 (no address). One namespace per task (ingress: the virtual gateway's
Envoy alone; gateway, teller-white/-blue/-red) and a client namespace, each with eth0 on the bridge, 198.18.1.0/24. Service names resolve through
/etc/netns/<ns>/hosts. The control plane runs in the caller's namespace on a unix socket (nothing
listens on any network) that the Envoys reach from inside their namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from proxyinit.lab.netns import Lab, first_line, netns_exec


def examples_dir() -> Path:
    """The repository's colorapp mesh files; an installed image points PROXYINIT_EXAMPLES at its copy."""
    return Path(
        os.environ.get("PROXYINIT_EXAMPLES")
        or Path(__file__).resolve().parents[2] / "examples" / "colorapp"
    )


MESH = "default"
CLIENT_ADDR = "198.18.1.100"
PREFIX = 24


@dataclass(frozen=True)
class TaskSpec:
    name: str
    node: str
    app: str
    color: str
    address: str
    hostname: str

    @property
    def node_id(self) -> str:
        kind = "virtualGateway" if self.app == "" else "virtualNode"
        return f"mesh/{MESH}/{kind}/{self.node}"


TASKS = (
    TaskSpec(
        "gateway",
        "colorgateway-vn",
        "gateway",
        "-",
        "198.18.1.10",
        "colorgateway.default.svc.cluster.local",
    ),
    TaskSpec(
        "teller-white",
        "colorteller-vn",
        "teller",
        "white",
        "198.18.1.11",
        "colorteller.default.svc.cluster.local",
    ),
    TaskSpec(
        "teller-blue",
        "colorteller-blue-vn",
        "teller",
        "blue",
        "198.18.1.12",
        "colorteller-blue.default.svc.cluster.local",
    ),
    TaskSpec(
        "teller-red",
        "colorteller-red-vn",
        "teller",
        "red",
        "198.18.1.13",
        "colorteller-red.default.svc.cluster.local",
    ),
    # App Mesh's ECS walkthrough puts a virtual gateway in front: the client goes through it.
    TaskSpec(
        "ingress", "colorapp-gw", "", "-", "198.18.1.9", "colorapp-gw.default.svc.cluster.local"
    ),
)
GATEWAY = TASKS[0]
INGRESS = TASKS[-1]
INGRESS_PORT = 8080  # the virtual gateway's listener (examples/colorapp/mesh.yaml)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@dataclass
class ColorLab:
    """Everything the demo starts; `close()` (via Lab) removes processes, namespaces, files."""

    lab: Lab
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="proxyinit-colorlab-"))
    )
    namespaces: dict[str, str] = field(default_factory=dict)
    control_plane: subprocess.Popen | None = None

    @property
    def mesh_file(self) -> Path:
        return self.workdir / "mesh.yaml"

    @property
    def socket(self) -> Path:
        return self.workdir / "xds.sock"

    def close(self) -> None:
        self.lab.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def build_network(self) -> None:
        hub = self.lab.add_namespace("pi-hub")
        bridge = self.lab.bridge(hub)
        hosts = {task.hostname: task.address for task in TASKS}
        for task in TASKS:
            ns = self.lab.add_namespace(f"pi-{task.name}")
            self.lab.attach(hub, bridge, ns, [f"{task.address}/{PREFIX}"])
            self.lab.hosts_file(ns, hosts)
            self.namespaces[task.name] = ns
        client = self.lab.add_namespace("pi-client")
        self.lab.attach(hub, bridge, client, [f"{CLIENT_ADDR}/{PREFIX}"])
        self.lab.hosts_file(client, hosts)
        self.namespaces["client"] = client

    def start_control_plane(self, timeout: float = 20.0) -> None:
        """`proxyinit xds serve` on a unix socket; umask 0 so Envoy (uid 1337) may connect."""
        self.workdir.chmod(0o755)
        shutil.copy(examples_dir() / "mesh.yaml", self.mesh_file)
        argv = python_module(
            "proxyinit",
            "xds",
            "serve",
            "--mesh-file",
            str(self.mesh_file),
            "--xds",
            f"unix://{self.socket}",
            "--log-level",
            "warning",
        )
        with open(self.workdir / "control-plane.log", "wb") as log:  # the child keeps its own copy
            self.control_plane = subprocess.Popen(argv, stdout=log, stderr=log, umask=0)
        self.lab.processes.append(self.control_plane)
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.control_plane.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"control plane did not start: {(self.workdir / 'control-plane.log').read_text()}"
                )
            time.sleep(0.01)

    def start_tasks(self) -> None:
        """All tasks start side by side (each: init container, Envoy, app); wait for all."""
        started = []
        for task in TASKS:
            argv = python_module(
                "proxyinit.lab.task", "--node", task.node_id, "--xds", f"unix://{self.socket}"
            )
            argv += ["--app", task.app, "--color", task.color] if task.app else []
            started.append((task, self.lab.spawn(self.namespaces[task.name], *argv)))
        for task, proc in started:
            line = first_line(proc)
            status = (
                json.loads(line)
                if line.startswith("{")
                else {"ready": False, "error": line or self.lab.stderr_of(proc)}
            )
            if not status.get("ready"):
                raise RuntimeError(f"task {task.name} failed: {status.get('error')}")

    def update_mesh(self, source: Path) -> float:
        """Replace the mesh file atomically (as an editor or `kubectl cp` would); returns when."""
        temporary = self.mesh_file.with_suffix(".tmp")
        shutil.copy(source, temporary)
        os.replace(temporary, self.mesh_file)
        return time.monotonic()

    def load(
        self, count: int, concurrency: int = 4, until_not: str | None = None
    ) -> subprocess.Popen:
        """Requests from the client namespace to the virtual gateway, streamed line by line."""
        args = [
            INGRESS.address,
            str(INGRESS_PORT),
            "/color",
            "--count",
            str(count),
            "--concurrency",
            str(concurrency),
        ]
        args += ["--until-not", until_not] if until_not else []
        return subprocess.Popen(
            netns_exec(self.namespaces["client"], *python_module("proxyinit.lab.load", *args)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def inside(self, task: str, url: str) -> str:
        """GET a URL from inside a task's namespace (e.g. Envoy's admin on 127.0.0.1:9901)."""
        code = (
            "import sys,urllib.request as u;o=u.build_opener(u.ProxyHandler({}));"
            "sys.stdout.write(o.open(sys.argv[1],timeout=5).read().decode())"
        )
        proc = subprocess.run(
            netns_exec(self.namespaces[task], sys.executable, "-c", code, url),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"GET {url} in {task}: {proc.stderr.strip()}")
        return proc.stdout

    def envoy_counter(self, task: str, name: str) -> int:
        stats = self.inside(task, f"http://127.0.0.1:9901/stats?filter=^{name}$")
        for line in stats.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0
