"""Tiny TCP probe run inside a namespace (`python -m proxyinit.lab.probe`): tagging server + client.

serve TAG PORT[,PORT..] [--v6]: accept, reply "TAG <original destination>" and close. The
original destination comes from SO_ORIGINAL_DST, so a redirected connection reports where it
was really going. connect HOST PORT [--uid U] [--gid G]: drop to uid/gid, print the reply.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import struct
import sys

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST has the same value


def original_destination(conn: socket.socket, family: int) -> str:
    if family == socket.AF_INET:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, packed = struct.unpack_from("!2xH4s", raw)
        return f"{socket.inet_ntop(socket.AF_INET, packed)}:{port}"
    raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
    port, packed = struct.unpack_from("!2xH4x16s", raw)
    return f"[{socket.inet_ntop(socket.AF_INET6, packed)}]:{port}"


def serve(tag: str, ports: list[int]) -> None:
    selector = selectors.DefaultSelector()
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for port in ports:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(64)
            selector.register(sock, selectors.EVENT_READ, family)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            conn, _ = key.fileobj.accept()
            with conn:
                try:
                    where = original_destination(conn, key.data)
                except OSError:  # not NATed: report the local address we were reached at
                    host, port = conn.getsockname()[:2]
                    where = f"[{host}]:{port}" if key.data == socket.AF_INET6 else f"{host}:{port}"
                conn.sendall(f"{tag} {where}\n".encode())


def connect(host: str, port: int, uid: int | None, gid: int | None) -> None:
    # Resolve before dropping privileges: name lookup lazily imports codecs, which an
    # unprivileged uid may not be able to read from root's Python installation.
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(3)
        sock.connect(address)
        sys.stdout.write(sock.makefile().readline())


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("tag")
    s.add_argument("ports")
    c = sub.add_parser("connect")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--uid", type=int)
    c.add_argument("--gid", type=int)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.tag, [int(p) for p in args.ports.split(",")])
    else:
        connect(args.host, args.port, args.uid, args.gid)


if __name__ == "__main__":
    main()
