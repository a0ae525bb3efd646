"""Start as root, bind, then run as an unprivileged uid (as an app container would).

The Python that runs us may live where an unprivileged uid cannot read (a root-owned pyenv), so
everything the app lazily imports while serving is imported before the uid changes.
"""

from __future__ import annotations

import os


def warm_up() -> None:
    # Modules http.server, urllib and json pull in lazily on their first request.
    import email.utils  # noqa: F401
    import encodings.idna  # noqa: F401
    import http.client  # noqa: F401
    import json  # noqa: F401
    import urllib.request

    urllib.request.build_opener()
    "colorteller.default.svc.cluster.local".encode("idna")


def drop_to(uid: int | None) -> None:
    """setgid/setuid to `uid` (gid = uid) if we are root and a uid was asked for."""
    if uid is None or os.geteuid() != 0:
        return
    warm_up()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
