"""Issue 11 part 2 through a real Envoy: bootstrapped by `envoy-bootstrap` from APPMESH_XDS_TLS_*
and APPMESH_XDS_TOKEN_FILE, it connects over mutual TLS with node A's certificate and token to a
control plane requiring both, and gets (and ACKs) A's listeners; the bootstrap holding the
token is readable by Envoy's uid alone."""

from __future__ import annotations

import stat
import subprocess

import pytest

from proxyinit.mesh.runtime.envoy import EnvoyProcess, find_envoy_binary
from proxyinit.xds import types
from tests.support.xds_watch import watch
from tests.xds.test_xds_auth import TOKEN_A, TOKEN_B, A, B, make_pki, serving

pytestmark = pytest.mark.envoy


async def test_envoy_with_node_a_credentials_gets_a_config(tmp_path):
    find_envoy_binary()
    envoy = EnvoyProcess()
    pki = make_pki(envoy.workdir)  # readable by Envoy's uid
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{A} {TOKEN_A}\n{B} {TOKEN_B}\n")
    token_file = envoy.workdir / "token"
    token_file.write_text(TOKEN_A)
    token_file.chmod(0o644)
    env = {
        "APPMESH_XDS_TLS_CA": str(pki.ca.path),
        "APPMESH_XDS_TLS_CERT": str(pki.a.chain),
        "APPMESH_XDS_TLS_KEY": str(pki.a.key),
        "APPMESH_XDS_TOKEN_FILE": str(token_file),
    }
    async with serving(tmp_path, pki, pki.mtls(tokens=str(tokens))) as plane:
        watcher = watch(plane.ads, plane.registry)
        try:
            await envoy.start_node(A, f"127.0.0.1:{plane.xds_port}", env=env)
            version = plane.cache.get_snapshot(A).version(types.LISTENER)
            await watcher.wait_until(
                lambda streams: any(
                    s.node_id == A and s.types[types.LISTENER].acked_version == version
                    for s in streams
                ),
                timeout=10,
            )
            bootstrap = envoy.workdir / "bootstrap.yaml"
            assert stat.S_IMODE(bootstrap.stat().st_mode) == 0o600
            assert envoy.run_as is None or bootstrap.stat().st_uid == envoy.run_as
        finally:
            await envoy.stop()


@pytest.mark.parametrize(
    "env",
    [
        {"APPMESH_XDS_ENDPOINT": "xds.example:15010"},  # CA alone: server authentication only
        {"APPMESH_XDS_TLS_SERVER_NAME": "cp.mesh.internal", "cert": True},
    ],
)
def test_envoy_validates_the_tls_bootstraps(tmp_path, env):
    """The shapes the running test above does not start: Envoy parses and accepts them."""
    from proxyinit.mesh.runtime.bootstrap import render_bootstrap, settings_from_env

    pki = make_pki(tmp_path)
    cert = {"APPMESH_XDS_TLS_CERT": str(pki.a.chain), "APPMESH_XDS_TLS_KEY": str(pki.a.key)}
    env = {k: v for k, v in env.items() if k != "cert"} | (cert if env.get("cert") else {})
    settings = settings_from_env(
        {"APPMESH_VIRTUAL_NODE_NAME": A, "APPMESH_XDS_TLS_CA": str(pki.ca.path), **env}
    )
    config = tmp_path / "bootstrap.yaml"
    config.write_text(render_bootstrap(settings))
    result = subprocess.run(
        [find_envoy_binary(), "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
