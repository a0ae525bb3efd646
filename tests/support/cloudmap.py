"""A local AWS Cloud Map for tests: moto's `servicediscovery` server, started by the test.

AWS cannot be reached from the tests, and moto's server is the usual local stand-in for that
API: the control plane talks to it through boto3 exactly as it would to AWS, configured only by
the standard AWS_* variables (endpoint URL, fake credentials, region). DiscoverInstances is sent
to a `data-` host in AWS; AWS_DISABLE_HOST_PREFIX_INJECTION keeps it on the local endpoint.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from tests.support.loopback import free_port


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        time.sleep(0.1)
    raise TimeoutError(f"moto server not listening on 127.0.0.1:{port} after {timeout}s")


class FakeCloudMap:
    """One moto server on loopback; `env` is what points boto3 at it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.env = {
            "AWS_ENDPOINT_URL_SERVICEDISCOVERY": f"http://127.0.0.1:{self.port}",
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        self._services: dict[tuple[str, str], str] = {}

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def client(self):
        import boto3

        return boto3.client(
            "servicediscovery",
            endpoint_url=self.env["AWS_ENDPOINT_URL_SERVICEDISCOVERY"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def service(self, namespace: str, service: str) -> str:
        """The id of `service` in HTTP namespace `namespace`, both created on first use."""
        key = (namespace, service)
        if key not in self._services:
            client = self.client()
            client.create_http_namespace(Name=namespace)
            ids = [
                n["Id"] for n in client.list_namespaces()["Namespaces"] if n["Name"] == namespace
            ]
            self._services[key] = client.create_service(Name=service, NamespaceId=ids[0])[
                "Service"
            ]["Id"]
        return self._services[key]

    def register(self, namespace: str, service: str, instance: str, **attributes: str) -> None:
        self.client().register_instance(
            ServiceId=self.service(namespace, service), InstanceId=instance, Attributes=attributes
        )

    def deregister(self, namespace: str, service: str, instance: str) -> None:
        self.client().deregister_instance(
            ServiceId=self.service(namespace, service), InstanceId=instance
        )


@contextlib.contextmanager
def fake_cloud_map() -> Iterator[FakeCloudMap]:
    cloud_map = FakeCloudMap()
    try:
        cloud_map.start()
        yield cloud_map
    finally:
        cloud_map.stop()
