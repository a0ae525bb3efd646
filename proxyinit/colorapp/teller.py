"""colorteller: `GET /` -> its color (COLOR env, default white); `GET /ping` -> 200 for health."""

from __future__ import annotations

import os

from proxyinit.colorapp.base import AppHandler, serve, server_args


class TellerHandler(AppHandler):
    color = "white"

    def do_GET(self) -> None:
        if self.path in ("/", "/ping"):
            self.send_body(200, (self.color if self.path == "/" else "pong").encode(), "text/plain")
        else:
            self.send_body(404, b"not found", "text/plain")


def run(host: str, port: int, color: str, uid: int | None = None) -> None:
    serve(
        type("Handler", (TellerHandler,), {"color": color}), host, port, uid, f"colorteller {color}"
    )


def main() -> None:
    args = server_args(__doc__)
    run(args.host, args.port, os.environ.get("COLOR", "white"), args.uid)


if __name__ == "__main__":
    main()
