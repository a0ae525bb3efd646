"""A virtual node's `logging.accessLog.file` -> Envoy file access logs on its proxying filters (pure).

Every HTTP connection manager (one line per request) and tcp_proxy (one line per connection) of
the node's ingress and egress listeners logs to the file, passthrough included; the chains that
only refuse (loop guard, DROP_ALL) do not. No `format`: Envoy's default format, as App Mesh did;
`text` is passed as is (Envoy adds no newline: App Mesh's examples end the text with `\n`);
`json` key/value pairs become a JSON object per line.
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import extension_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.formatter.req_without_query.v3 import req_without_query_pb2

from proxyinit.mesh.model.access_log import FileAccessLog, Logging
from proxyinit.mesh.translate.protos import pack
from proxyinit.xds.types import filter_chains

_LOGGING_FILTERS = (hcm_pb2.HttpConnectionManager, tcp_proxy_pb2.TcpProxy)
_LOGGING_TYPES = {
    f"type.googleapis.com/{cls.DESCRIPTOR.full_name}": cls for cls in _LOGGING_FILTERS
}


def file_access_log(file: FileAccessLog) -> accesslog_pb2.AccessLog:
    config = file_pb2.FileAccessLog(path=file.path)
    if file.format is not None and file.format.text is not None:
        config.log_format.text_format_source.inline_string = file.format.text
        texts = [file.format.text]
    elif file.format is not None:
        config.log_format.json_format.update({ref.key: ref.value for ref in file.format.json_})
        texts = [ref.value for ref in file.format.json_]
    else:
        texts = []
    if any("%REQ_WITHOUT_QUERY(" in text for text in texts):
        # An extension formatter in Envoy: it must be named, or Envoy refuses the operator. App
        # Mesh's user guide documents it for access logs, so its Envoy config enabled it.
        config.log_format.formatters.append(
            extension_pb2.TypedExtensionConfig(
                name="envoy.formatter.req_without_query",
                typed_config=pack(req_without_query_pb2.ReqWithoutQuery()),
            )
        )
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=pack(config))


def add_access_logs(listeners: list, logging: Logging | None) -> None:
    """Add the node's file access log to every HCM and tcp_proxy of `listeners`, in place."""
    if logging is None or logging.access_log is None:
        return
    log = file_access_log(logging.access_log.file)
    key = log.SerializeToString(deterministic=True)
    for listener in listeners:
        for chain in filter_chains(listener):
            for filter_ in chain.filters:
                _add_to_filter(filter_, log, key)


# (type URL, filter config bytes, log bytes) -> config bytes with the log: most nodes' filters
# and logs are alike, and unpack + repack is most of this module's cost (issue 11). Bounded.
_WITH_LOG: dict[tuple[str, bytes, bytes], bytes] = {}
_WITH_LOG_SIZE = 4096


def _add_to_filter(filter_, log: accesslog_pb2.AccessLog, log_key: bytes) -> None:
    config = filter_.typed_config
    cls = _LOGGING_TYPES.get(config.type_url)
    if cls is None:
        return
    key = (config.type_url, config.value, log_key)
    value = _WITH_LOG.get(key)
    if value is None:
        message = cls.FromString(config.value)
        message.access_log.append(log)
        value = pack(message).value
        if len(_WITH_LOG) >= _WITH_LOG_SIZE:
            _WITH_LOG.clear()
        _WITH_LOG[key] = value
    config.value = value
