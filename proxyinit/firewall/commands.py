"""`proxyinit [apply|plan|clean|status]`: wiring from settings to plan to the one kernel boundary."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from proxyinit.environ import get as getenv
from proxyinit.firewall.backends import NAMES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import argparse  # only the parser-building functions import it for real: see cli.main

EXIT_MATCH, EXIT_DRIFT, EXIT_ABSENT = 0, 3, 4
EXIT_UNVERIFIED = 5  # verify: some path is not intercepted (or bypassed) as configured
BACKEND_ENV = "PROXYINIT_BACKEND"  # --backend's default, for containers configured by env only
VERIFY_ENV = "PROXYINIT_VERIFY"  # 1: the entrypoint runs verify right after apply


def default_backend() -> str:
    return getenv(BACKEND_ENV) or "auto"


def entrypoint_args() -> SimpleNamespace:
    """What `proxyinit` with no arguments means, without importing argparse."""
    return SimpleNamespace(netns=None, backend=default_backend(), handler=None)


def add_common_options(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    import argparse

    # On subparsers the defaults are SUPPRESS so `proxyinit --netns X apply` keeps X.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--netns",
        metavar="NAME|PATH",
        default=default,
        help="network namespace to configure (ip netns name or a path such as /proc/PID/ns/net)",
    )
    parser.add_argument(
        "--backend",
        choices=NAMES,
        default=default if suppress else default_backend(),
        help=f"how rules are written (default: ${BACKEND_ENV} or auto)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    handlers = {
        "apply": (
            run_apply,
            "converge the namespace to the APPMESH_* plan in one commit per family",
        ),
        "plan": (
            run_plan,
            "print the exact iptables-restore text apply would commit (against the observed state)",
        ),
        "clean": (run_clean, "remove proxyinit's jumps and chains only"),
        "status": (
            run_status,
            f"show our rules; exit {EXIT_MATCH} match, {EXIT_DRIFT} drift, {EXIT_ABSENT} absent",
        ),
    }
    for name, (handler, help_text) in handlers.items():
        parser = sub.add_parser(name, help=help_text, description=help_text)
        add_common_options(parser, suppress=True)
        parser.set_defaults(handler=handler)
    help_text = (
        "send real TCP through the namespace and check each path is redirected or bypasses "
        f"as configured; exit {EXIT_UNVERIFIED} naming each path that is not"
    )
    parser = sub.add_parser("verify", help=help_text, description=help_text)
    add_common_options(parser, suppress=True)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.set_defaults(handler=run_verify)


def _enter(args: argparse.Namespace):
    """Enter --netns (checked first: a bad path never reaches the lock); the Target, or None."""
    from proxyinit.errors import ConfigError

    if args.backend not in NAMES:  # only possible through the environment: argparse checks flags
        from proxyinit.contract import echo

        raise ConfigError(f"{BACKEND_ENV}={echo(args.backend)}: expected one of {', '.join(NAMES)}")
    _check_log_format()
    if args.netns is None:  # "" is an error (resolve), never "the namespace we are in"
        return None
    from proxyinit.firewall.netns import enter

    return enter(args.netns)


def _check_log_format() -> None:
    from proxyinit.contract import LOG_FORMAT_ENV, LOG_FORMATS

    value = getenv(LOG_FORMAT_ENV)
    if value and value not in LOG_FORMATS:
        from proxyinit.contract import echo
        from proxyinit.errors import ConfigError

        raise ConfigError(
            f"{LOG_FORMAT_ENV}={echo(value)}: expected one of {', '.join(LOG_FORMATS)}"
        )


def _tables():
    """The kernel's listing of this namespace's nf_tables tables (backends/tables.py): read
    once per run, by _native, _select and the nftables path alike."""
    from proxyinit.firewall.backends import tables

    return tables.nf_tables()


def _select(args: argparse.Namespace, found_nf):
    from proxyinit.firewall.backends.select import select_backend
    from proxyinit.firewall.nft_commands import refuse_native_table

    refuse_native_table(args.backend, found_nf)
    return select_backend(args.backend, found_nf)


def _native(args: argparse.Namespace, found_nf) -> bool:
    """--backend nftables, or auto in a namespace that already has our nftables table."""
    if args.backend == "nftables":
        return True
    if args.backend != "auto":
        return False
    from proxyinit.firewall.backends import nftables

    if not nftables.present(found_nf):
        return False
    from proxyinit.contract import log

    log("backend nftables (namespace already has its table)")
    return True


def _check_target(target) -> None:
    if target is not None:
        from proxyinit.firewall.netns import check_still_there

        check_still_there(target)


def run_entrypoint(args: argparse.Namespace) -> int:
    """The init container: validate, then apply only if APPMESH_START_ENABLED=1."""
    from proxyinit.settings import load_settings

    _check_log_format()  # before settings, whose warnings are logs too
    verify = getenv(VERIFY_ENV, "")
    if verify not in ("", "0", "1"):
        from proxyinit.contract import echo
        from proxyinit.errors import ConfigError

        raise ConfigError(f"{VERIFY_ENV}={echo(verify)}: expected 0 or 1")
    settings = load_settings(require=False)
    if not settings.START_ENABLED:
        from proxyinit.contract import log

        log(
            "routing is disabled (APPMESH_START_ENABLED is not 1); nothing changed",
            event="disabled",
        )
        return 0
    code = _apply(settings, args)
    if code == 0 and verify == "1":
        return _verify(settings, as_json=False)  # rules stay applied whatever it finds
    return code


def run_verify(args: argparse.Namespace) -> int:
    from proxyinit.settings import load_settings

    settings = load_settings()
    _enter(args)
    return _verify(settings, as_json=args.json)


def _verify(settings, as_json: bool) -> int:
    """Failed paths, one line each, on stderr (stdout with --json): exit 0 or EXIT_UNVERIFIED."""
    from proxyinit.contract import log, log_json
    from proxyinit.firewall.verify import verify

    checks = verify(settings)
    failed = [check for check in checks if not check.ok]
    if as_json:
        import json

        document = {"ok": not failed, "checks": [check.as_json() for check in checks]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif log_json():  # the log pipeline's format: one object per check, on stderr
        for check in checks:
            level = "info" if check.ok else "error"
            log(f"verify: {check.line()}", level=level, event="verify", **check.as_json())
    else:
        for check in checks:
            stream = sys.stderr if not check.ok else sys.stdout
            print(
                f"proxyinit: verify: {'FAILED ' if not check.ok else ''}{check.line()}", file=stream
            )
    return EXIT_UNVERIFIED if failed else 0


def run_apply(args: argparse.Namespace) -> int:
    from proxyinit.settings import load_settings

    return _apply(load_settings(), args)


def _apply(settings, args: argparse.Namespace) -> int:
    import time

    # Imported before the commit forks its children: after a fork, every page the parent
    # writes faults (copy-on-write), and an import writes many (~0.4 ms more, measured).
    from proxyinit.firewall.applylog import report_plan
    from proxyinit.firewall.lock import writer

    started = time.monotonic()
    target = _enter(args)
    with writer():  # observe, plan and commit as one step
        found_nf = _tables()
        if _native(args, found_nf):
            return _apply_native(settings, target, started, found_nf)
        from proxyinit.firewall.converge import converge, plan_apply  # not nftables' path

        backend = _select(args, found_nf)
        _check_target(target)  # deleted while we waited for the lock: commit nothing
        plan = converge(lambda: plan_apply(settings, backend), backend)
    _check_target(target)
    report_plan(plan, backend.name, settings, started)
    return 0


def _apply_native(settings, target, started: float, found_nf) -> int:
    from proxyinit.firewall import nft_commands
    from proxyinit.firewall.applylog import report_native

    _check_target(target)
    result = nft_commands.apply(settings, found_nf)
    _check_target(target)
    report_native(result, settings, started)
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from proxyinit.firewall.converge import plan_apply
    from proxyinit.firewall.render import render_plan
    from proxyinit.settings import load_settings

    settings = load_settings()
    _enter(args)
    found_nf = _tables()
    if _native(args, found_nf):
        from proxyinit.firewall.nft_commands import plan

        sys.stdout.write(plan(settings))
        return 0
    backend = _select(args, found_nf)
    sys.stdout.write(render_plan(plan_apply(settings, backend), backend.name))
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from proxyinit.firewall.converge import converge, plan_clean_all
    from proxyinit.firewall.lock import writer

    target = _enter(args)
    with writer():
        found_nf = _tables()
        if _native(args, found_nf):
            from proxyinit.firewall.nft_commands import clean

            _check_target(target)
            found = clean()
            print(
                f"proxyinit: clean: {'table removed' if found else 'nothing of ours found'}",
                file=sys.stderr,
            )
            return 0
        backend = _select(args, found_nf)
        _check_target(target)
        plan = converge(lambda: plan_clean_all(backend), backend)
    _check_target(target)
    removed = sum(len(fp.ops) for fp in plan.families)
    print(
        f"proxyinit: clean: {'nothing of ours found' if plan.empty else f'{removed} changes committed'}",
        file=sys.stderr,
    )
    return 0


def run_status(args: argparse.Namespace) -> int:
    from proxyinit.firewall.converge import status
    from proxyinit.settings import load_settings

    settings = load_settings()
    _enter(args)
    found_nf = _tables()
    if _native(args, found_nf):
        from proxyinit.firewall.nft_commands import status as native_status

        verdict, report = native_status(settings)
    else:
        verdict, report = status(settings, _select(args, found_nf))
    sys.stdout.write(report)
    return {"match": EXIT_MATCH, "drift": EXIT_DRIFT, "absent": EXIT_ABSENT}[verdict]
