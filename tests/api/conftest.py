"""Fixtures for the App Mesh API tests: a real server process on loopback, the real aws CLI, boto3.

The server runs in its own process (tests/api/serve_loopback.py) so tests can kill -9 it; its
store is a SQLite file under tmp_path. The aws CLI runs as a subprocess with dummy credentials
(requests are SigV4-signed; the server does not check signatures by default).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AWS = str(Path(sys.executable).with_name("aws"))
REGION = "us-west-2"
ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDPROXYINITTEST",
    "AWS_SECRET_ACCESS_KEY": "not-a-secret",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_PAGER": "",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class AwsResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


@dataclass
class Server:
    db: Path
    listener_ports: str = "0,0"
    process: subprocess.Popen | None = None
    api_port: int = 0
    xds_port: int = 0
    debug_port: int = 0
    metrics_port: int = -1  # -1: no metrics endpoint; 0: any free port
    extra_args: list[str] = field(default_factory=list)

    def start(self) -> None:
        # Same ports across restarts: a reconnecting Envoy and the aws CLI keep their endpoint.
        args = [
            sys.executable,
            "-m",
            "tests.api.serve_loopback",
            "--db",
            str(self.db),
            "--listener-ports",
            self.listener_ports,
            "--api-port",
            str(self.api_port),
            "--xds-port",
            str(self.xds_port),
            "--debug-port",
            str(self.debug_port),
            "--metrics-port",
            str(self.metrics_port),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.process.kill()
            raise AssertionError(f"server did not start: {line!r} {self.process.stderr.read()}")
        words = line.split()
        ports = dict(zip(words[1::2], map(int, words[2::2]), strict=True))
        self.xds_port, self.api_port, self.debug_port = ports["xds"], ports["api"], ports["debug"]
        self.metrics_port = ports.get("metrics", -1)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.stop()  # only closes the pipes now

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                stream.close()
            self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def aws(self, *args: str, check: bool = True) -> AwsResult:
        """`aws appmesh <args> --endpoint-url <server>`; JSON output."""
        command = [
            AWS,
            "appmesh",
            *args,
            "--endpoint-url",
            self.url,
            "--region",
            REGION,
            "--output",
            "json",
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env={**os.environ, **ENV}
        )
        result = AwsResult(done.returncode, done.stdout, done.stderr)
        if check and done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return result

    def create_node(self, mesh: str, name: str, spec: dict, check: bool = True) -> AwsResult:
        """`aws appmesh create-virtual-node` with `spec` as JSON."""
        spec_json = json.dumps(spec)
        return self.aws(
            "create-virtual-node", "--mesh-name", mesh, "--virtual-node-name", name,
            "--spec", spec_json, check=check,
        )  # fmt: skip

    def debug_state(self) -> dict:
        """The xDS debug endpoint's document: per node, its streams and per type what was sent and acked."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.debug_port}/", timeout=10) as response:
            return json.load(response)

    def boto3(self):
        import boto3

        return boto3.client(
            "appmesh",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
        )


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "mesh.db")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for a module of tests that must not change its state (refused requests)."""
    running = Server(tmp_path_factory.mktemp("api") / "mesh.db")
    running.start()
    try:
        yield running
    finally:
        running.stop()
