"""Facts both halves of proxyinit agree on, in one dependency-free leaf module (stdlib only).

The redirector (init container), the Envoy bootstrap (sidecar) and the control plane must agree
on the proxy's ports, Envoy's uid, the default addresses and the node-id grammar; and they must
read numbers the same way, so a value one of them accepts is never refused, or read otherwise,
by another. Imported on the init container's start-up path: keep it stdlib-only and cheap.
"""

from __future__ import annotations

from proxyinit.errors import ConfigError
from proxyinit.records import NamedTuple  # typing's, minus the import of typing

# The walkthrough's task definition: APPMESH_ENVOY_INGRESS_PORT / APPMESH_ENVOY_EGRESS_PORT and
# APPMESH_IGNORE_UID. The control plane binds its listeners to these ports, and no application
# listener or backend may use them.
INGRESS_PORT = 15000
EGRESS_PORT = 15001
PROXY_PORTS: tuple[int, ...] = (INGRESS_PORT, EGRESS_PORT)
ENVOY_UID = 1337
# Envoy's DNS listener (UDP, loopback): PROXYINIT_DNS_PORT on the redirector, the control
# plane's --dns-port; istio's agent uses the same port for its DNS proxy.
DNS_PORT = 15053
ENVOY_ADMIN_PORT = 9901

# Defaults of the control plane's listeners (loopback: see README "Security").
DEFAULT_XDS_ADDRESS = "127.0.0.1:15010"
DEFAULT_DEBUG_ADDRESS = "127.0.0.1:15011"
DEFAULT_API_ADDRESS = "127.0.0.1:15080"  # free in the demo: app 9080, Envoy 9901/15000/15001

# The ECS task metadata and instance metadata endpoints, which App Mesh's docs told users to
# exempt (APPMESH_EGRESS_IGNORED_IP).
ECS_METADATA_IPS = "169.254.170.2,169.254.169.254"


def init_container_env(app_ports: str = "9080", ignored_ips: str = ECS_METADATA_IPS) -> dict:
    """The proxyinit container's environment as App Mesh's walkthrough task definition declared
    it (tests/data/colorapp/proxyinit-task-definition-fragment.yaml): the demo's, the tests' and
    the benchmarks' starting point."""
    env = {
        "APPMESH_START_ENABLED": "1",
        "APPMESH_IGNORE_UID": str(ENVOY_UID),
        "APPMESH_ENVOY_INGRESS_PORT": str(INGRESS_PORT),
        "APPMESH_ENVOY_EGRESS_PORT": str(EGRESS_PORT),
        "APPMESH_APP_PORTS": app_ports,
    }
    if ignored_ips:
        env["APPMESH_EGRESS_IGNORED_IP"] = ignored_ips
    return env


MAX_ECHO = 100  # characters of a bad value quoted back in an error message


def echo(value: object, limit: int = MAX_ECHO) -> str:
    """A value quoted back in an error message, bounded whatever it is: a long string is cut
    (saying how long it was), and a nested structure is shown to a few levels and items only,
    without rendering the rest (a YAML alias bomb expands to gigabytes if you let it)."""
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[:limit]) + f"... ({len(value)} characters)"
        return repr(value)
    import reprlib  # only on the error path

    class Bounded(reprlib.Repr):
        def repr_int(self, number: int, level: int) -> str:
            # repr() of an int past 4,300 digits raises; past a few hundred it is noise anyway.
            if number.bit_length() > 256:
                return f"<integer of {number.bit_length()} bits>"
            return repr(number)

    bounded = Bounded()
    bounded.maxlevel, bounded.maxstring, bounded.maxother = 4, limit, limit
    bounded.maxlist = bounded.maxtuple = bounded.maxdict = bounded.maxset = 12
    text = bounded.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_int(text: str, what: str, low: int, high: int) -> int:
    """A plain decimal integer within [low, high]; ValueError with a message naming `what`.

    Stricter than `int()`: only ASCII digits (int() also takes '١٢', '９' and '1_5'), no sign, no
    spaces inside, and no leading zero, since iptables reads `010` as octal 8 and refuses `080`:
    such a value has two meanings, so it has none here.
    """
    token = text.strip()
    if token.startswith("-") and token[1:].isascii() and token[1:].isdigit():
        raise ValueError(f"{what} {echo(token)} is negative")
    if not (token.isascii() and token.isdigit()):
        raise ValueError(f"{what} {echo(token)} is not a number")
    if len(token) > 1 and token.startswith("0"):
        raise ValueError(f"{what} {echo(token)} has a leading zero (octal to iptables): ambiguous")
    if len(token) > len(str(high)):  # before int(): 5,000 digits raise an unrelated ValueError
        raise ValueError(f"{what} {echo(token)} is outside {low}..{high}")
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{what} {number} is outside {low}..{high}")
    return number


def parse_port(text: str, what: str = "port", *, allow_zero: bool = False) -> int:
    return parse_int(text, what, 0 if allow_zero else 1, 65535)


# App Mesh's resource names: 1-255 characters (the API Reference's `ResourceName`).
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}"
_NODE_ID = rf"^mesh/(?P<mesh>{_NAME})/(?P<kind>virtualNode|virtualGateway)/(?P<name>{_NAME})$"


class NodeId(NamedTuple):
    """An Envoy node id in App Mesh's convention: `mesh/<mesh>/virtualNode/<node>`, or
    `mesh/<mesh>/virtualGateway/<gateway>` for a virtual gateway's Envoy (`kind`).

    App Mesh's `APPMESH_RESOURCE_ARN` ends in the same path, so the id of a resource is the
    ARN's resource part."""

    mesh: str
    node: str
    kind: str = "virtualNode"

    @classmethod
    def parse(cls, raw: str) -> NodeId:
        import re  # here, not at the top: the init container's path never parses a node id

        match = re.match(_NODE_ID, raw or "")
        if not match:
            raise ConfigError(
                f"node id {echo(raw)} is not of the form mesh/<mesh>/virtualNode/<node> "
                "or mesh/<mesh>/virtualGateway/<gateway>"
            )
        return cls(match["mesh"], match["name"], match["kind"])

    @property
    def is_gateway(self) -> bool:
        return self.kind == "virtualGateway"

    def __str__(self) -> str:
        return f"mesh/{self.mesh}/{self.kind}/{self.node}"


LOG_FORMAT_ENV = "PROXYINIT_LOG_FORMAT"  # "text" (default) or "json", for log pipelines
LOG_FORMATS = ("text", "json")


def log_json() -> bool:
    from proxyinit.environ import get as getenv

    return getenv(LOG_FORMAT_ENV) == "json"


def log(message: str, level: str = "info", **fields: object) -> None:
    """One line on stderr: `proxyinit: [warning: ]message`, or with PROXYINIT_LOG_FORMAT=json one
    JSON object (`level`, `msg` and the fields), so a log pipeline needs no regular expressions.
    json is imported only in that mode: the init container's default path stays lean."""
    import sys

    if log_json():
        import json
        import time

        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level}
        record.update(msg=message, **fields)
        sys.stderr.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    else:
        prefix = "" if level == "info" else f"{level}: "
        sys.stderr.write(f"proxyinit: {prefix}{message}\n")
