"""A tiny DNS server and client for the DNS-capture tests (`python -m proxyinit.lab.dnsstub`).

serve PORT NAME=ADDR[,NAME=ADDR..]: UDP and TCP on 0.0.0.0 and [::], answers A for the names
  given (one answer each), NOERROR without answers for their other types, NXDOMAIN otherwise;
  prints "ready". A stand-in for a namespace's resolver, or for Envoy's DNS listener.
  --udp-only: no TCP socket (a test's TCP probe may own the port).
query HOST PORT NAME [--uid U] [--tcp] [--aaaa]: one A (or AAAA) query over UDP (or TCP), as
  uid U; prints the addresses or the rcode.
resolve NAME [--uid U]: getaddrinfo(NAME) as uid U, as an app does; prints the addresses.
get NAME PORT PATH [--uid U]: getaddrinfo, then HTTP GET http://NAME:PORT/PATH as uid U; prints
  the body. Only the wire format this needs is implemented: one question, A (AAAA) answers.
"""

from __future__ import annotations

import argparse
import os
import random
import selectors
import socket
import struct
import sys

A, AAAA, IN = 1, 28, 1
NXDOMAIN = 3


def encode_name(name: str) -> bytes:
    labels = [label.encode() for label in name.rstrip(".").split(".")]
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def read_question(packet: bytes) -> tuple[str, int, int]:
    """(name, qtype, offset after the question) of a query's first question."""
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    qtype, _ = struct.unpack_from("!HH", packet, offset + 1)
    return ".".join(labels).lower(), qtype, offset + 5


def answer(query: bytes, records: dict[str, str]) -> bytes:
    name, qtype, end = read_question(query)
    address = records.get(name)
    rcode = 0 if address is not None else NXDOMAIN
    answers = b""
    if address is not None and qtype == A:
        # name: a pointer to the question (offset 12); TTL 5 s
        answers = struct.pack("!HHHIH", 0xC00C, A, IN, 5, 4) + socket.inet_aton(address)
    header = struct.pack(
        "!HHHHHH", struct.unpack_from("!H", query)[0], 0x8180 | rcode, 1, 1 if answers else 0, 0, 0
    )
    return header + query[12:end] + answers


def serve(port: int, records: dict[str, str], udp_only: bool = False) -> None:
    """UDP and TCP (RFC 1035 4.2.2: a two-byte length before each message), both families."""
    selector = selectors.DefaultSelector()
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for kind in (socket.SOCK_DGRAM,) if udp_only else (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(family, kind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            if kind == socket.SOCK_STREAM:
                sock.listen(16)
            selector.register(sock, selectors.EVENT_READ, kind)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            try:
                if key.data == socket.SOCK_DGRAM:
                    packet, peer = key.fileobj.recvfrom(4096)
                    key.fileobj.sendto(answer(packet, records), peer)
                else:
                    serve_tcp(key.fileobj, records)
            except (OSError, IndexError, struct.error, UnicodeDecodeError):
                continue  # not a query we understand: no answer, as a real server might


def serve_tcp(listener: socket.socket, records: dict[str, str]) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(2)
        length = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
        reply = answer(conn.recv(length, socket.MSG_WAITALL), records)
        conn.sendall(struct.pack("!H", len(reply)) + reply)


def read_answers(reply: bytes) -> str:
    rcode, count = reply[3] & 0x0F, struct.unpack_from("!H", reply, 6)[0]
    if rcode:
        return f"rcode {rcode}"
    _, _, offset = read_question(reply)
    found = []
    for _ in range(count):
        offset += 2 if reply[offset] & 0xC0 == 0xC0 else len(reply[offset:].split(b"\0")[0]) + 1
        rtype, _, _, length = struct.unpack_from("!HHIH", reply, offset)
        offset += 10
        if rtype in (A, AAAA):
            family = socket.AF_INET if rtype == A else socket.AF_INET6
            found.append(socket.inet_ntop(family, reply[offset : offset + length]))
        offset += length
    return " ".join(found) or "no answer"


def query(host: str, port: int, name: str, tcp: bool = False, qtype: int = A) -> str:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ident = random.getrandbits(16)
    packet = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + encode_name(name)
    packet += struct.pack("!HH", qtype, IN)
    with socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        if not tcp:
            sock.sendto(packet, (host, port))
            return read_answers(sock.recv(4096))
        sock.connect((host, port))
        sock.sendall(struct.pack("!H", len(packet)) + packet)
        length = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))[0]
        return read_answers(sock.recv(length, socket.MSG_WAITALL))


def resolve(name: str) -> str:
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return " ".join(sorted({info[4][0] for info in infos}))


def get(name: str, port: int, path: str) -> str:
    address = socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply.partition(b"\r\n\r\n")[2].decode().strip()


def drop_to(uid: int | None) -> None:
    # getaddrinfo encodes the name with the idna codec, imported lazily: import it while root
    # can still read the Python installation (an unprivileged uid may not).
    import encodings.idna  # noqa: F401

    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("port", type=int)
    s.add_argument("records")
    s.add_argument("--udp-only", action="store_true")
    for mode, args in (
        ("query", ("host", "port", "name")),
        ("resolve", ("name",)),
        ("get", ("name", "port", "path")),
    ):
        p = sub.add_parser(mode)
        for arg in args:
            p.add_argument(arg, type=int if arg == "port" else str)
        p.add_argument("--uid", type=int)
        p.add_argument("--tcp", action="store_true", help="query: over TCP")
        p.add_argument("--aaaa", action="store_true", help="query: AAAA, not A")
    args = parser.parse_args()
    if args.mode == "serve":
        records = dict(item.split("=", 1) for item in args.records.split(","))
        serve(args.port, records, args.udp_only)
        return
    drop_to(args.uid)
    try:
        if args.mode == "query":
            print(query(args.host, args.port, args.name, args.tcp, AAAA if args.aaaa else A))
        elif args.mode == "resolve":
            print(resolve(args.name))
        else:
            print(get(args.name, args.port, args.path))
    except OSError as err:
        print(f"error: {err}")
        sys.exit(1)


if __name__ == "__main__":
    main()
