"""A container runtime's side of CNI, as libcni does it, for tests: run a .conflist's plugins
in order (ADD, CHECK) or in reverse (DEL), each found by its `type` in CNI_PATH, with the CNI_*
environment and the plugin's configuration (plus name, cniVersion and prevResult) on stdin.

The "host" is a lab namespace (`ip netns exec`), never the machine's own: the bridge plugin
creates its bridge and host-side veth where it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field

from proxyinit.lab.netns import netns_exec

TIMEOUT = 30  # seconds for one plugin; the bridge plugin waits for IPv6 addresses to settle


class PluginFailed(AssertionError):
    def __init__(self, plugin: str, proc: subprocess.CompletedProcess):
        super().__init__(f"{plugin}: exit {proc.returncode}: {proc.stdout} {proc.stderr}")
        self.proc = proc
        self.error = json.loads(proc.stdout) if proc.stdout.strip() else {}


@dataclass
class Runtime:
    conflist: dict
    cni_path: list[str]
    host_ns: str
    netns_path: str
    container_id: str = "proxyinit-test"
    ifname: str = "eth0"
    capability_args: dict = field(default_factory=dict)  # e.g. the pod's annotations
    result: dict | None = None
    outputs: dict[str, dict] = field(default_factory=dict)  # plugin type -> its ADD result

    def env(self, command: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns_path,
            "CNI_IFNAME": self.ifname,
            "CNI_PATH": ":".join(self.cni_path),
        }

    def find(self, kind: str) -> str:
        for directory in self.cni_path:
            path = os.path.join(directory, kind)
            if os.access(path, os.X_OK):
                return path
        raise AssertionError(f"plugin {kind!r} not found in {self.cni_path}")

    def config(self, plugin: dict, prev: dict | None) -> str:
        conf = {**plugin, "name": self.conflist["name"], "cniVersion": self.conflist["cniVersion"]}
        # libcni's injectRuntimeConfig: only capabilities the plugin declares reach it.
        declared = plugin.get("capabilities") or {}
        runtime = {k: v for k, v in self.capability_args.items() if declared.get(k) is True}
        if runtime:
            conf["runtimeConfig"] = runtime
        if prev is not None:
            conf["prevResult"] = prev
        return json.dumps(conf)

    def invoke(self, command: str, plugin: dict, prev: dict | None) -> subprocess.CompletedProcess:
        return subprocess.run(
            netns_exec(self.host_ns, self.find(plugin["type"])),
            input=self.config(plugin, prev),
            env=self.env(command),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def run(self, command: str, plugin: dict, prev: dict | None) -> str:
        proc = self.invoke(command, plugin, prev)
        if proc.returncode != 0:
            raise PluginFailed(plugin["type"], proc)
        return proc.stdout

    def add(self) -> dict:
        prev = None
        for plugin in self.conflist["plugins"]:
            prev = json.loads(self.run("ADD", plugin, prev))
            self.outputs[plugin["type"]] = prev
        self.result = prev
        return prev

    def check(self) -> None:
        for plugin in self.conflist["plugins"]:
            self.run("CHECK", plugin, self.result)

    def delete(self) -> None:
        for plugin in reversed(self.conflist["plugins"]):
            self.run("DEL", plugin, self.result)
