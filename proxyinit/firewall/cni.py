"""`proxyinit` as a chained CNI plugin (CNI spec 1.0): the runtime applies the redirect, so
neither the task nor the pod needs NET_ADMIN or an init container.

The runtime runs us with CNI_* in the environment and the network configuration on stdin
(`cni_config.py`). ADD applies the APPMESH_* plan inside CNI_NETNS and prints `prevResult`
unchanged; DEL removes our rules (idempotent, and a namespace that is gone is success); CHECK
is `status` (exit 0 only when the namespace holds exactly the plan) + `verify` (real SYNs
land where the settings say); VERSION lists what we
speak. Every failure is the spec's error object on stdout, one line on stderr for the logs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

from proxyinit.errors import ConfigError, ProxyinitError
from proxyinit.firewall.cni_config import (
    CHECK_VERSIONS,
    CODE_CONFIG,
    CODE_ENV,
    CODE_IO,
    CODE_VERSION,
    SUPPORTED_VERSIONS,
    CniError,
    NetConf,
    check_version,
    decode,
    name_keys,
    parse,
)

LATEST = SUPPORTED_VERSIONS[-1]
CODE_KERNEL, CODE_CHECK = 100, 101  # ours (the spec leaves 100+ to plugins)
NEEDS = {  # command -> CNI_* variables it cannot run without (CNI spec 1.0, "Parameters")
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "VERSION": (),
}


def main() -> int:
    """The plugin process: CNI_COMMAND and friends from os.environ, the config from stdin."""
    import os

    code, output = run(os.environ, sys.stdin.read)
    sys.stdout.write(output)
    return code


def run(environ: Mapping[str, str], read_stdin) -> tuple[int, str]:
    """(exit code, stdout text). read_stdin is called only by commands that take a config."""
    version = LATEST
    try:
        command = _command(environ)
        if command == "VERSION":
            text = json.dumps({"cniVersion": LATEST, "supportedVersions": SUPPORTED_VERSIONS})
            return 0, text + "\n"
        try:
            stdin = read_stdin()
        except (OSError, UnicodeDecodeError) as err:
            raise CniError(
                CODE_IO, f"cannot read the network configuration on stdin: {err}"
            ) from None
        if command == "DEL":
            version = check_version(decode(stdin))
            delete(environ)
            return 0, ""
        conf = parse(stdin)
        version = conf.version
        return 0, (add(environ, conf) if command == "ADD" else check(environ, conf))
    except CniError as err:
        return err.exit_code, _error(version, err)
    except ConfigError as err:
        return 2, _error(version, CniError(CODE_CONFIG, name_keys(str(err))))
    except ProxyinitError as err:
        return err.exit_code, _error(version, CniError(CODE_KERNEL, str(err), exit_code=1))


def _command(environ: Mapping[str, str]) -> str:
    command = environ.get("CNI_COMMAND", "")
    if command not in NEEDS:
        raise CniError(CODE_ENV, f"CNI_COMMAND={command!r}: expected one of {', '.join(NEEDS)}")
    missing = [name for name in NEEDS[command] if not environ.get(name)]
    if missing:
        raise CniError(CODE_ENV, f"{', '.join(missing)} required for {command} but not set")
    return command


def _error(version: str, err: CniError) -> str:
    print(f"proxyinit: cni error {err.code}: {err.msg}", file=sys.stderr)
    body = {"cniVersion": version, "code": err.code, "msg": err.msg}
    if err.details:
        body["details"] = err.details
    return json.dumps(body) + "\n"


def _settings(conf: NetConf):
    from proxyinit.settings import load_settings

    return load_settings(conf.env)


def _enter(environ: Mapping[str, str]):
    """Into CNI_NETNS for the rest of this process; CniError (code 4) naming it if unusable."""
    from proxyinit.firewall.netns import enter

    path = environ["CNI_NETNS"]
    try:
        return enter(path)
    except ConfigError as err:
        message = str(err).replace("--netns", "CNI_NETNS")
        raise CniError(CODE_ENV, message) from None


def _backend():
    from proxyinit.firewall.backends.select import select_backend
    from proxyinit.firewall.commands import default_backend

    return select_backend(default_backend())


def add(environ: Mapping[str, str], conf: NetConf) -> str:
    """Validate everything first (nothing changes on bad input), then converge in CNI_NETNS."""
    from proxyinit.firewall.converge import converge, plan_apply
    from proxyinit.firewall.lock import writer
    from proxyinit.firewall.netns import check_still_there

    result = conf.prev_result if conf.prev_result is not None else {"cniVersion": conf.version}
    if not conf.meshed:
        return json.dumps(result) + "\n"
    settings = _settings(conf)
    target = _enter(environ)
    with writer():  # the lock is per namespace: taken after entering it
        backend = _backend()
        check_still_there(target)
        converge(lambda: plan_apply(settings, backend), backend)
    check_still_there(target)
    return json.dumps(result) + "\n"


def delete(environ: Mapping[str, str]) -> None:
    """Remove our chains and jumps. Needs none of the keys (clean removes whatever is ours),
    so a configuration edited since ADD cannot strand rules; no namespace, nothing to do."""
    from proxyinit.firewall.converge import converge, plan_clean_all
    from proxyinit.firewall.lock import writer

    if not environ.get("CNI_NETNS"):
        return
    try:
        _enter(environ)
    except CniError:  # gone (or never was a namespace): nothing of ours can be left there
        return
    with writer():
        backend = _backend()
        converge(lambda: plan_clean_all(backend), backend)


def check(environ: Mapping[str, str], conf: NetConf) -> str:
    """The namespace must hold exactly the plan; anything else is an error naming what differs."""
    from proxyinit.firewall.converge import status

    if conf.version not in CHECK_VERSIONS:
        raise CniError(CODE_VERSION, f"CHECK needs cniVersion 0.4.0 or later, not {conf.version}")
    if conf.prev_result is None:
        raise CniError(CODE_CONFIG, "prevResult=missing: CHECK needs the result of ADD")
    if not conf.meshed:
        return ""
    settings = _settings(conf)
    _enter(environ)
    verdict, report = status(settings, _backend())
    if verdict != "match":
        raise CniError(
            CODE_CHECK, f"the redirect rules are {verdict} in {environ['CNI_NETNS']}", report, 1
        )
    _verify(settings, environ["CNI_NETNS"])
    return ""


def _verify(settings, netns: str) -> None:
    """Rules that match the plan can still be bypassed (another tool's rule returning before
    our jump): real SYNs through the namespace must land where the settings say (verify.py)."""
    from proxyinit.firewall.verify import verify

    failed = [check.line() for check in verify(settings) if not check.ok]
    if failed:
        more = f" (and {len(failed) - 1} more, see details)" if len(failed) > 1 else ""
        raise CniError(
            CODE_CHECK,
            f"the redirect rules are present in {netns} but do not redirect: {failed[0]}{more}",
            "\n".join(failed),
            1,
        )
