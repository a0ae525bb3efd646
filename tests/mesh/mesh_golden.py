"""Render translated Envoy resources as deterministic JSON for golden files."""

from __future__ import annotations

import json

from google.protobuf.json_format import MessageToDict

from proxyinit.xds.types import PUSH_ORDER


def render(resources: dict) -> str:
    """{short type name: [resource as proto JSON]}, keys sorted, stable across runs."""
    doc = {
        type_url.rsplit(".", 1)[-1]: [
            MessageToDict(message, preserving_proto_field_name=True)
            for message in resources[type_url]
        ]
        for type_url in PUSH_ORDER
        if type_url in resources  # Secret only when a node is given certificates
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
