"""One ECS-style task, run inside its network namespace, containers in ECS order:

1. the proxyinit init container (`proxyinit` with the task's APPMESH_* env, must exit 0),
2. Envoy as uid 1337 from `proxyinit envoy-bootstrap`'s bootstrap, until /ready (xDS applied),
3. the app as an unprivileged uid (its `dependsOn` Envoy HEALTHY), until it answers /ping.

Prints one JSON line {"ready": true, ...} (or {"ready": false, "error": ...}) and then runs until
SIGTERM/SIGINT, when it stops the app and Envoy. Usage (as root, inside the namespace):
  python -m proxyinit.lab.task --node mesh/default/virtualNode/colorteller-vn --xds unix:///x.sock
      --app teller --color white [--app-uid 1000]

A virtual gateway's task (`--node mesh/M/virtualGateway/G`) is Envoy alone, as App Mesh ran it
behind a load balancer: no init container (nothing is redirected), no app.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request

from proxyinit.contract import init_container_env

APP_PORT = 9080


@functools.cache
def direct() -> urllib.request.OpenerDirector:
    """An opener that ignores http_proxy and friends."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


INIT_ENV = init_container_env(str(APP_PORT), ignored_ips="")


def clean_environ() -> dict[str, str]:
    """The operator's environment minus APPMESH_* (it must not change the demo's rules) and
    proxy settings (urllib would send loopback requests through them)."""
    drop = (
        "APPMESH_",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_init_container() -> None:
    env = {**clean_environ(), **INIT_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "proxyinit"], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"proxyinit init container exited {proc.returncode}: {proc.stderr.strip()}"
        )


def start_app(app: str, color: str, uid: int) -> tuple[subprocess.Popen, object]:
    """The app process and the anonymous file holding its stderr (not a pipe: nobody reads
    it while the app runs, and a full pipe would block the app)."""
    module = {"teller": "proxyinit.colorapp.teller", "gateway": "proxyinit.colorapp.gateway"}[app]
    env = {**clean_environ(), "COLOR": color}
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--uid", str(uid)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    return proc, errors


async def wait_app(proc: subprocess.Popen, errors, timeout: float = 15.0) -> None:
    url = f"http://127.0.0.1:{APP_PORT}/ping"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if proc.poll() is not None:
            errors.seek(0)
            raise RuntimeError(
                f"app exited {proc.returncode}: {errors.read().decode(errors='replace').strip()[-1000:]}"
            )
        try:
            await asyncio.to_thread(lambda: direct().open(url, timeout=1).read())
            return
        except OSError:
            if loop.time() > deadline:
                raise RuntimeError("app did not answer /ping in time") from None
            await asyncio.sleep(0.02)


async def run(args: argparse.Namespace) -> int:
    from proxyinit.mesh.runtime.envoy import EnvoyProcess

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    gateway = "/virtualGateway/" in args.node
    if not gateway:
        run_init_container()
    envoy = EnvoyProcess()
    app = None
    try:
        await envoy.start_node(args.node, args.xds, admin_port=9901, timeout=30)
        if not gateway:
            app, app_errors = start_app(args.app, args.color, args.app_uid)
            await wait_app(app, app_errors)
        print(
            json.dumps(
                {
                    "ready": True,
                    "node": args.node,
                    "envoy_pid": envoy.process.pid,
                    "app_pid": app.pid if app is not None else None,
                }
            ),
            flush=True,
        )
        await stop.wait()
        return 0
    finally:
        if app is not None and app.poll() is None:
            app.terminate()
            app.wait(5)
        await envoy.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--node", required=True, help="mesh/<mesh>/virtualNode/<node> or .../virtualGateway/<g>"
    )
    parser.add_argument("--xds", required=True, help="control plane: host:port or unix:///path")
    parser.add_argument("--app", choices=("teller", "gateway"), help="not for a virtual gateway")
    parser.add_argument("--color", default="white")
    parser.add_argument("--app-uid", type=int, default=1000)
    args = parser.parse_args()
    try:
        raise SystemExit(asyncio.run(run(args)))
    except Exception as err:
        print(json.dumps({"ready": False, "error": str(err)}), flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
