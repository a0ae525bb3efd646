"""Throwaway network labs for tests, the demo and benchmarks: namespaces, veth links, probes.

Never touches the machine's own namespace: everything lives in uniquely named namespaces that
are removed on exit, even on failure. Addresses: 198.18.0.0/15 (RFC 2544 benchmarking) and its
IPv6 counterpart 2001:2::/48 (RFC 5180).
"""
