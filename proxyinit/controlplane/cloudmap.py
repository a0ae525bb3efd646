"""AWS Cloud Map discovery for `serviceDiscovery.awsCloudMap` nodes (control-plane runtime).

Every `interval` seconds (and at once when a mesh names a query not asked yet) each query of the
served meshes is answered by Cloud Map's DiscoverInstances through boto3, with the standard
credential chain and region (AWS_* variables, ~/.aws, instance roles; the endpoint too, e.g.
AWS_ENDPOINT_URL_SERVICEDISCOVERY). The calls run in a daemon thread, off the event loop. When a
query's answer changes, `on_change` republishes; translation reads the answers as data
(MeshModel.discovered) through `translator`. When Cloud Map cannot be reached, the last known
instances keep being served, with one log line per failure and the query's `status()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from types import MappingProxyType

from proxyinit.controlplane.cloudmap_queries import MeshQueries
from proxyinit.mesh.model.cloudmap import CloudMapInstance, CloudMapQuery
from proxyinit.mesh.model.mesh import MeshModel

log = logging.getLogger(__name__)

Answers = dict[CloudMapQuery, tuple[CloudMapInstance, ...]]
# DiscoverInstances' MaxResults is 1000 at most; a service with more is paged by nothing (the API
# has no paging for this call), so 1000 is every instance Cloud Map will return.
_MAX_RESULTS = 1000


def _instance(item: dict) -> CloudMapInstance:
    attributes = item.get("Attributes") or {}
    return CloudMapInstance(
        instance_id=item.get("InstanceId", ""),
        ipv4=attributes.get("AWS_INSTANCE_IPV4"),
        ipv6=attributes.get("AWS_INSTANCE_IPV6"),
    )


def discover_instances(client, query: CloudMapQuery) -> tuple[CloudMapInstance, ...]:
    """One DiscoverInstances call (blocking): the instances, sorted, for `query`."""
    kwargs = {
        "NamespaceName": query.namespace,
        "ServiceName": query.service,
        "MaxResults": _MAX_RESULTS,
        # App Mesh asked for healthy instances only (the call's default is HEALTHY too).
        "HealthStatus": "HEALTHY",
    }
    if query.attributes:
        kwargs["QueryParameters"] = dict(query.attributes)
    answer = client.discover_instances(**kwargs)
    return tuple(sorted(_instance(item) for item in answer.get("Instances", ())))


def _in_daemon_thread(function: Callable, *args) -> asyncio.Future:
    """`function(*args)` in a daemon thread of its own. Not asyncio.to_thread: asyncio.run waits
    for the default executor's threads at exit, so a call hanging on an unreachable Cloud Map
    would hold SIGTERM up for boto3's timeouts and retries; a daemon thread is left behind."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result, error) -> None:
        if not future.done():  # cancelled meanwhile (the control plane is stopping)
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def work() -> None:
        try:
            result, error = function(*args), None
        except Exception as err:
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="cloud-map", daemon=True).start()
    return future


def boto3_client():
    """A servicediscovery client from the standard chain; without boto3, says what to install."""
    try:
        import boto3  # lazy: only meshes with awsCloudMap nodes need it
        from botocore.config import Config
    except ImportError:
        raise RuntimeError("boto3 is not installed: pip install 'proxyinit[cloudmap]'") from None

    # Short timeouts (botocore's are 60 s): a call that hangs delays every query's next
    # refresh (they are asked one after the other). Retries stay the chain's (AWS_MAX_ATTEMPTS).
    return boto3.client("servicediscovery", config=Config(connect_timeout=5, read_timeout=10))


class CloudMapDiscovery:
    """The last answer per query, its status, and the refresh loop."""

    def __init__(self, interval: float = 10.0, client_factory: Callable[[], object] = boto3_client):
        self.interval = interval
        self._client_factory = client_factory
        self._client = None
        self._answers: Answers = {}
        self._status: dict[CloudMapQuery, dict] = {}
        self._kick = asyncio.Event()
        self._memo: tuple[MeshModel | None, MeshModel | None] = (None, None)
        self._queries = MeshQueries()  # each mesh's, followed write by write
        self._loop: asyncio.AbstractEventLoop | None = None  # run()'s: kicks may come from a thread

    # ---------------------------------------------------------------- translation side (pure read)
    def with_answers(self, model: MeshModel) -> MeshModel:
        """`model` with the last answers to its queries (MeshModel.discovered)."""
        if self._memo[0] is model:  # the publisher translates one mesh's nodes in a row
            return self._memo[1]
        queries = self._queries.of(model)
        if any(query not in self._status for query in queries):
            self._kick_soon()  # a new query: ask now rather than at the next interval
        found = MappingProxyType(self.with_answers_for(queries))
        enriched = dataclasses.replace(model, discovered=found)
        self._memo = (model, enriched)
        return enriched

    def with_answers_for(self, queries: Iterable[CloudMapQuery]) -> Answers:
        """The last answer to each of `queries` that has one."""
        return {query: self._answers[query] for query in queries if query in self._answers}

    def _kick_soon(self) -> None:
        # Translation runs in the store's worker thread: an asyncio.Event is set on its loop.
        if self._loop is None:
            self._kick.set()
        else:
            self._loop.call_soon_threadsafe(self._kick.set)

    def translator(self, translate):
        """Wrap a Translator so each node's translation sees the discovered instances."""
        return EnrichingTranslator(translate, self.with_answers)

    def status(self) -> dict[str, dict]:
        """Per query: state (OK / UNREACHABLE), instances served, last success, last error."""
        return {str(query): dict(status) for query, status in sorted(self._status.items())}

    # ------------------------------------------------------------------------ refresh side (I/O)
    async def refresh(self, queries: Iterable[CloudMapQuery]) -> bool:
        """Ask Cloud Map for every query; True if any answer changed."""
        changed = False
        wanted = set(queries)
        for query in sorted(wanted):
            changed |= await self._refresh_one(query)
        for query in set(self._answers) - wanted:  # no node asks any more: forget it
            del self._answers[query]
            self._status.pop(query, None)
        if changed:
            self._memo = (None, None)
        return changed

    async def _refresh_one(self, query: CloudMapQuery) -> bool:
        try:
            instances = await _in_daemon_thread(self._discover, query)
        except Exception as err:  # any failure: keep serving what we knew, say so once per try
            kept = len(self._answers.get(query, ()))
            log.warning(
                "cloud map %s cannot be reached, serving the last known %d instance(s): %s",
                query,
                kept,
                err,
            )
            status = self._status.setdefault(query, {"lastSuccess": None})
            status.update(state="UNREACHABLE", error=str(err)[:500], instances=kept)
            return False
        before = self._answers.get(query)
        self._answers[query] = instances
        self._status[query] = {
            "state": "OK",
            "instances": len(instances),
            "lastSuccess": time.time(),
            "error": None,
        }
        if before != instances:
            log.info("cloud map %s: %d instance(s)", query, len(instances))
        return before != instances

    def _discover(self, query: CloudMapQuery) -> tuple[CloudMapInstance, ...]:
        if self._client is None:
            self._client = self._client_factory()
        return discover_instances(self._client, query)

    async def run(
        self,
        queries: Callable[[], Iterable[CloudMapQuery]],
        on_change: Callable[[], Awaitable[object]],
    ) -> None:
        """Refresh forever: every `interval`, or sooner when a new query is kicked."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._kick.clear()  # before asking: a kick during the calls means ask again
            wanted = set(queries())
            try:
                # No query left: refresh(()) only forgets the old answers.
                if await self.refresh(wanted) and wanted:
                    await on_change()
            except Exception:  # a republish bug must not stop discovery: keep serving, say why
                log.exception("cloud map change not served (internal error)")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.interval)


class EnrichingTranslator:
    """A Translator that first adds data from outside the mesh to the model (`enrich`). The
    publisher may call `enrich` once per mesh and `translate` per node, so the added data is
    part of the model it compares between changes (controlplane/incremental.py)."""

    def __init__(self, translate, enrich: Callable[[MeshModel], MeshModel]):
        self.translate, self.enrich = translate, enrich

    def __call__(self, model: MeshModel, node, **options):
        return self.translate(self.enrich(model), node, **options)
