"""Real TCP probes for `verify`: a SYN sent the way an app or a peer would send it, and the
conntrack entry it created (firewall/conntrack.py) to say where the kernel sent it.

Outbound: a forked child drops to the uid/gid under test and connects (non-blocking) from a
port it bound first, so the entry can be found whatever the handshake does. Inbound: a SYN must
arrive from outside (PREROUTING, `! --src-type LOCAL`), so a child moves into a throwaway
namespace joined to ours by a veth pair for the duration of the check, and connects from there.
Neither binds a port in the namespace, so a live Envoy keeps its listeners.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
import subprocess
import time

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall import conntrack

WAIT = 0.5  # seconds for a SYN to show up in conntrack (a missing one: RST, or never sent)
CLONE_NEWNET = 0x40000000
# The veth pair of the inbound probe: a /30 and a /126 nobody routes (link-local IPv4, our ULA).
INBOUND_V4 = ("169.254.255.1", "169.254.255.2", 30)
INBOUND_V6 = ("fd70:726f:7879::1", "fd70:726f:7879::2", 126)


@contextlib.contextmanager
def listening(ports: list[int], v6: bool):
    """Listeners on the proxy (and app) ports that nobody listens on yet (Envoy and the app not
    started), for the
    length of the checks: a redirected SYN that meets no listener is answered with a RST, and
    the RST deletes its conntrack entry before we can read it. A port Envoy holds is left to
    Envoy. Nothing is ever accepted: the kernel completes the handshakes, closing resets them."""
    held = []
    families = [(socket.AF_INET, "0.0.0.0")] + ([(socket.AF_INET6, "::")] if v6 else [])
    try:
        for family, host in families:
            for port in ports:
                sock = socket.socket(family, socket.SOCK_STREAM)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind((host, port))
                    sock.listen(256)
                    held.append(sock)
                except OSError:  # in use: Envoy (or something) answers there already
                    sock.close()
        yield
    finally:
        for sock in held:
            sock.close()


class Unavailable(Exception):
    """A probe this process cannot run here (no CAP_SYS_ADMIN, no `ip`): not a verdict."""


def _read_line(fd: int, timeout: float) -> str:
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 4096).decode() if ready else ""


def _connect_from_bound_port(
    dst: str, port: int, kind: int = socket.SOCK_STREAM
) -> tuple[socket.socket, str]:
    """('port N' | 'unreachable ...'), keeping the socket open so its entry stays. A UDP
    `connect` sends nothing: one datagram then creates the entry (DNS capture's probe)."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    sock = socket.socket(family, kind)
    sock.setblocking(False)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    err = sock.connect_ex((dst, port))
    if kind == socket.SOCK_DGRAM and not err:
        try:
            sock.send(b"\0")
        except OSError as why:
            err = why.errno
    if err in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return sock, f"unreachable {os.strerror(err)}"
    return sock, f"port {sock.getsockname()[1]}"


def _child_connect(dst: str, port: int, uid: int, gid: int, out: int, done: int, kind: int) -> None:
    code = 0
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        sock, said = _connect_from_bound_port(dst, port, kind)
        os.write(out, said.encode())
        select.select([done], [], [], WAIT + 1)  # hold the socket until the parent has looked
        sock.close()
    except BaseException as err:  # reported to the parent, never raised here
        os.write(out, f"error {err}".encode())
        code = 1
    os._exit(code)


def wait_entry(
    sport: int, dst: str, dport: int, wait: float = WAIT, protocol: str = "tcp"
) -> conntrack.Entry | None:
    deadline = time.monotonic() + wait
    while True:
        entry = conntrack.find(sport, dst, dport, protocol=protocol)
        if entry is not None or time.monotonic() > deadline:
            return entry
        time.sleep(0.01)


def tracking() -> bool:
    """Does this namespace track connections at all? Without any nat rule it does not, and no
    probe will ever find an entry: then nobody waits for one (nothing can be redirected)."""
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client.connect(server.getsockname())
        sport = client.getsockname()[1]
        return wait_entry(sport, "127.0.0.1", server.getsockname()[1], WAIT) is not None


def outbound(
    dst: str, port: int, uid: int, gid: int, wait: float = WAIT, udp: bool = False
) -> tuple[str, conntrack.Entry | None]:
    """('sent' | 'unreachable: why', its entry): a connection (or a UDP datagram) from uid/gid
    to dst:port."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    out_r, out_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(done_w)
        _child_connect(dst, port, uid, gid, out_w, done_r, kind)
    os.close(out_w)
    os.close(done_r)
    try:
        said = _read_line(out_r, WAIT)
        if said.startswith("port "):
            sport = int(said.split()[1])
            return "sent", wait_entry(sport, dst, port, wait, "udp" if udp else "tcp")
        if said.startswith("unreachable "):
            return "unreachable: " + said.split(" ", 1)[1], None
        raise RuntimeFailure(
            f"verify: probe to {dst}:{port} as uid {uid} failed: {said or 'no answer'}"
        )
    finally:
        os.write(done_w, b"x")
        os.close(done_w)
        os.close(out_r)
        os.waitpid(pid, 0)


def _ip(*argv: str) -> None:
    try:
        proc = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise Unavailable("`ip` (iproute2) is not installed") from None
    if proc.returncode != 0:
        raise RuntimeFailure(f"verify: ip {' '.join(argv)}: {proc.stderr.strip()}")


IFF_RUNNING = 0x40
SIOCGIFFLAGS = 0x8913


def _wait_running(link: str) -> None:
    import fcntl
    import struct

    deadline = time.monotonic() + WAIT * 4
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while time.monotonic() < deadline:
            request = struct.pack("16sH", link.encode(), 0)
            flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
            if flags & IFF_RUNNING:
                return
            time.sleep(0.005)


def _peer_child(ready: int, go: int, out: int, link: str, v6: bool, targets: list) -> None:
    """In a new namespace: wait for our veth end, address it, then connect to each target."""
    code = 0
    try:
        if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
            os.write(ready, b"e")  # no CAP_SYS_ADMIN: the parent reports the check as not run
            os._exit(1)
        os.write(ready, b"r")
        if _read_line(go, WAIT * 2) != "g":
            os._exit(1)
        _, peer4, bits4 = INBOUND_V4
        _ip("addr", "add", f"{peer4}/{bits4}", "dev", link)
        if v6:
            _, peer6, bits6 = INBOUND_V6
            _ip("addr", "add", f"{peer6}/{bits6}", "dev", link, "nodad")
        _ip("link", "set", link, "up")
        _wait_running(link)  # a SYN sent before the carrier is up is dropped, retried in 1 s
        sockets = []
        for dst, port in targets:
            sock, said = _connect_from_bound_port(dst, port)
            sockets.append(sock)
            os.write(out, f"{said}\n".encode())
        select.select([go], [], [], WAIT * 10)
    except BaseException as err:  # reported to the parent
        os.write(out, f"error {err}\n".encode())
        code = 1
    os._exit(code)


def inbound(
    ports: list[int], v6: bool, wait: float = WAIT * 4
) -> list[tuple[str, int, conntrack.Entry | None]]:
    """A SYN from outside to each app port on our veth end's address(es): (dst, port, entry)."""
    ours4, _, bits4 = INBOUND_V4
    ours6, _, bits6 = INBOUND_V6
    targets = [(ours4, p) for p in ports] + ([(ours6, p) for p in ports] if v6 else [])
    link, peer_link = f"piv{os.getpid() % 100000}", f"piv{os.getpid() % 100000}p"
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _peer_child(ready_w, go_r, out_w, peer_link, v6, targets)
    for fd in (ready_w, go_r, out_w):
        os.close(fd)
    created = False
    try:
        if _read_line(ready_r, WAIT) != "r":
            raise Unavailable("creating the peer namespace needs CAP_SYS_ADMIN")
        _ip("link", "add", link, "type", "veth", "peer", "name", peer_link, "netns", str(pid))
        created = True
        _ip("addr", "add", f"{ours4}/{bits4}", "dev", link)
        if v6:
            _ip("addr", "add", f"{ours6}/{bits6}", "dev", link, "nodad")
        _ip("link", "set", link, "up")
        os.write(go_w, b"g")
        return _collect(out_r, targets, wait)
    finally:
        with contextlib.suppress(OSError):
            os.write(go_w, b"x")
        os.close(go_w)
        os.waitpid(pid, 0)
        for fd in (ready_r, out_r):
            os.close(fd)
        if created:  # the peer end went with the child's namespace; ours goes now
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)


def _collect(
    out_r: int, targets: list, wait: float
) -> list[tuple[str, int, conntrack.Entry | None]]:
    buffer = ""
    deadline = time.monotonic() + WAIT * 8  # the carrier alone may take 1 s (linkwatch)
    while buffer.count("\n") < len(targets) and "error " not in buffer:
        chunk = _read_line(out_r, max(0.0, deadline - time.monotonic()))
        if not chunk:
            raise RuntimeFailure("verify: the inbound probe stopped answering")
        buffer += chunk
    lines = buffer.splitlines()[: len(targets)]
    failed = [line for line in lines if line.startswith("error ")]
    if failed:
        raise RuntimeFailure(f"verify: inbound probe: {failed[0][6:]}")
    results = []
    for (dst, port), said in zip(targets, lines, strict=True):
        # Longer: a SYN crossing the veth may wait for neighbour resolution on a loaded machine.
        sport = int(said.split()[1]) if said.startswith("port ") else None
        entry = wait_entry(sport, dst, port, wait) if sport else None
        results.append((dst, port, entry))
    return results
