"""For tests and benchmarks that run Envoy outside a namespace: loopback only, free ports.

Production listeners bind 0.0.0.0:15000/15001 (REDIRECT from PREROUTING arrives on the
interface address); a test on the machine's own namespace must bind loopback, on ports nobody
else uses, so the translation is wrapped to move them.
"""

from __future__ import annotations

import socket

from proxyinit.mesh.translate.names import EGRESS_LISTENER, INGRESS_LISTENER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_translator(ingress: int | None = None, egress: int | None = None):
    """translate_node with each listener moved to 127.0.0.1; `.ports` says where (name -> port)
    for a node's ingress and egress listeners."""
    from proxyinit.mesh.translate.node import translate_node
    from proxyinit.xds import types

    ports = {INGRESS_LISTENER: ingress or free_port(), EGRESS_LISTENER: egress or free_port()}

    def translate(model, node, **options):  # options: translate_node's (certificates)
        resources = translate_node(model, node, **options)
        for listener in resources[types.LISTENER]:
            if listener.name.startswith("lds_dns_"):
                # Loopback already. Port 0: Envoy picks a free one, and the config stays the
                # same across translations and processes (versions are content hashes).
                listener.address.socket_address.port_value = 0
                for extra in listener.additional_addresses:
                    extra.address.socket_address.port_value = 0
                continue
            listener.address.socket_address.address = "127.0.0.1"
            # A virtual gateway's listeners keep their own ports (no Envoy binds them unless a
            # test starts the gateway's Envoy, which then picks free ports for them).
            socket_address = listener.address.socket_address
            port = ports.get(listener.name, socket_address.port_value)
            socket_address.port_value = port
            for extra in listener.additional_addresses:  # `[::]` with an ipPreference
                extra.address.socket_address.address = "::1"
                extra.address.socket_address.port_value = port
        return resources

    translate.ports = ports
    return translate
