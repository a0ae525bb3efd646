"""One exception family; each kind maps to one process exit code.

Exit codes are part of the contract (documented in README):
0 ok, 1 runtime error, 2 configuration error; `status` adds 3 (drift) and 4 (absent).
"""


class ProxyinitError(Exception):
    """Base class: anything the CLI reports as a clean one-line error."""

    exit_code = 1


class ConfigError(ProxyinitError):
    """Bad input (environment, flags, mesh spec). Nothing was changed."""

    exit_code = 2


class RuntimeFailure(ProxyinitError):
    """The system refused (iptables, netns, Envoy...). Reported with the underlying reason."""

    exit_code = 1
