"""Pick the backend, and never mix legacy and nft in one namespace.

Both register netfilter nat hooks; with rules in both, each table's hooks run and the redirect
silently stops working as intended. So every run first reads what each variant holds (one
`*-save` per variant and family, side by side; reading creates nothing), then:
- auto: follow the variant already in use, else the image's `iptables` alternative;
- an explicit choice that conflicts with rules of the other variant is refused.
The save text read here is handed to the backend, so it is not read twice.
"""

from __future__ import annotations

import posix  # os's functions without os's import (~0.9 ms): see proxyinit/environ.py

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends import make_backend, tables
from proxyinit.firewall.backends.restore import tool
from proxyinit.firewall.backends.spawn import start as spawn
from proxyinit.firewall.model import Family
from proxyinit.firewall.state import has_rules

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from proxyinit.firewall.backends.protocol import Backend

VARIANTS = ("legacy", "nft")
ALTERNATIVES = ("/etc/alternatives/iptables", "/usr/sbin/iptables", "/sbin/iptables")
Survey = dict[str, dict[Family, str | None]]  # variant -> family -> save text (None: unreadable)


def default_variant(paths: tuple[str, ...] = ALTERNATIVES) -> str:
    """What `iptables` means in this image: its alternatives link names xtables-nft or -legacy."""
    for path in paths:
        try:
            posix.stat(path)  # os.path.exists: follows the links (a dangling one does not count)
        except (OSError, ValueError):
            continue
        return "legacy" if "legacy" in link_target(path) else "nft"
    return "nft"  # iptables >= 1.8 defaults to nft when it is the only one installed


def link_target(path: str, hops: int = 40) -> str:
    """Where the chain of symbolic links from `path` ends (the file os.path.realpath names,
    without importing os.path; its directories are the links' own, not resolved: the name is
    what is asked about). Relative targets are relative to their link's directory."""
    for _ in range(hops):  # the kernel's own bound on links in one lookup
        try:
            target = posix.readlink(path)
        except OSError:  # not a link (EINVAL): the end
            return path
        path = target if target.startswith("/") else f"{path.rpartition('/')[0]}/{target}"
    return path


def survey(found_nf=tables.UNREAD) -> Survey:
    """Every variant's and family's save text, read by processes running side by side; a
    variant and family the kernel says has no table reads as "" without a process (tables.py)."""
    found_nf = tables.nf_tables_once(found_nf)
    result: Survey = {variant: {} for variant in VARIANTS}
    started = {}
    for variant in VARIANTS:
        for family in Family:
            if tables.variant_has_tables(variant, family, found_nf) is False:
                result[variant][family] = ""  # no table: nothing to read, with or without the tool
                continue
            try:
                save = tool(variant, family, "save")  # missing: unreadable, as before
                started[variant, family] = spawn([save, "-c"])  # -c: restore.policy_lines
            except (RuntimeFailure, OSError):
                result[variant][family] = None
    for (variant, family), proc in started.items():
        try:
            text = proc.communicate()[0]
        except OSError:  # could not be executed: unreadable, as a missing tool
            text = None
        result[variant][family] = text if proc.returncode == 0 else None
    return result


def in_use(found: Survey) -> list[str]:
    return [v for v in VARIANTS if any(text and has_rules(text) for text in found[v].values())]


def choose(name: str, found: Survey) -> tuple[str, str]:
    """(variant, reason) for `--backend name`; RuntimeFailure if it would mix variants."""
    used = in_use(found)
    if name == "auto":
        if len(used) == 2:
            raise RuntimeFailure(
                "this namespace has rules in both iptables-legacy and iptables-nft; pick one with --backend"
            )
        if used:
            return used[0], f"namespace already has {used[0]} rules"
        variant = default_variant()
        return variant, f"namespace has no rules; image default iptables is {variant}"
    variant = "legacy" if name in ("legacy", "iptc") else "nft"
    other = [v for v in used if v != variant]
    if other:
        raise RuntimeFailure(
            f"--backend {name} would mix variants: this namespace already has iptables-{other[0]} rules"
        )
    return variant, f"--backend {name}"


def select_backend(name: str, found_nf=tables.UNREAD) -> Backend:
    found = survey(found_nf)
    variant, reason = choose(name, found)
    if name == "auto":
        from proxyinit.contract import log

        log(f"backend {variant} ({reason})")
    observed = {family: text for family, text in found[variant].items() if text is not None}
    return make_backend(name if name != "auto" else variant, observed)
