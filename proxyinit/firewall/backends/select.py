"""`--backend auto`: never mix legacy and nft in one namespace.

Both register netfilter nat hooks; with rules in both, whichever registered last wins and the
redirect silently stops working. So: follow what the namespace already uses, else the image's
`iptables` alternative.
"""

from __future__ import annotations

import os
import sys

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends import make_backend
from proxyinit.firewall.backends.restore import RestoreBackend
from proxyinit.firewall.model import Family

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from proxyinit.firewall.backends.protocol import Backend

ALTERNATIVES = ("/etc/alternatives/iptables", "/usr/sbin/iptables", "/sbin/iptables")


def default_variant() -> str:
    """What `iptables` means in this image: its alternatives link names xtables-nft or -legacy."""
    for path in ALTERNATIVES:
        if os.path.exists(path):
            return "legacy" if "legacy" in os.path.realpath(path) else "nft"
    return "nft"  # iptables >= 1.8 defaults to nft when it is the only one installed


def detect_variant() -> tuple[str, str]:
    """(variant, reason). Raises if both variants already hold rules."""
    in_use = [v for v in ("legacy", "nft") if RestoreBackend(v).has_rules(Family.IPV4)]
    if len(in_use) == 2:
        raise RuntimeFailure("this namespace has rules in both iptables-legacy and iptables-nft; pick one with --backend")
    if in_use:
        return in_use[0], f"namespace already has {in_use[0]} rules"
    variant = default_variant()
    return variant, f"namespace has no rules; image default iptables is {variant}"


def select_backend(name: str, announce: bool = True) -> "Backend":
    if name != "auto":
        return make_backend(name)
    variant, reason = detect_variant()
    if announce:
        print(f"proxyinit: backend {variant} ({reason})", file=sys.stderr)
    return make_backend(variant)
