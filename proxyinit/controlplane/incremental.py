"""Translate only the nodes a change affects: dependencies recorded from what translation reads.

Translation is pure (mesh/translate): a node's snapshot is a function of the mesh resources it
looks up. So each node is translated against a MeshModel whose mappings record every key looked
up (and whether a whole table was iterated). Those reads are the node's dependencies; the
reverse index (resource -> nodes that read it) says which nodes a write affects. The next
prepare diffs the new model against the last one (by identity: the store reuses the parsed
object of every unchanged record, so the diff is cheap), and only nodes that read a changed key,
or iterated a changed table, are translated again. The others keep their Snapshot object, so
publishing them is a no-op (no push).

Recording reads, rather than deriving dependencies from App Mesh's reference rules, keeps this
correct when translation learns to read something new. Cloud Map's answers are a table of the
model like the others (`discovered`, added before the diff by the translator's `enrich`). What
the diff cannot see makes every node translate again: the mesh resource itself changing, or
another input (`certificates`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from proxyinit.mesh.model.mesh import MeshModel
from proxyinit.xds.snapshot import Snapshot

# `discovered`: Cloud Map's answers, part of the model the publisher compares (cloudmap.py).
TABLES = ("nodes", "services", "routers", "routes", "gateways", "gateway_routes", "discovered")
_MISSING = object()
# The reverse index's key for "iterated the whole table" (no resource name equals it).
ITERATED = object()


@dataclass
class ReadLog:
    """What one node's translation looked up: (table, key) pairs and whole tables iterated."""

    keys: set[tuple[str, str]] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)


class _Recording(Mapping):
    """A read-only mapping that notes each lookup in the current ReadLog of its recorder."""

    __slots__ = ("_current", "_data", "_table")

    def __init__(self, data: Mapping, table: str, current: list[ReadLog]):
        self._data, self._table, self._current = data, table, current

    def __getitem__(self, key):
        # A miss is a dependency too: the node changes when that resource appears.
        self._current[0].keys.add((self._table, key))
        return self._data[key]

    def __iter__(self) -> Iterator:
        self._current[0].tables.add(self._table)
        return iter(self._data)

    def __len__(self) -> int:
        self._current[0].tables.add(self._table)
        return len(self._data)


class Recorder:
    """One recording view of a model, shared by the nodes of one prepare (so per-model memos in
    wrapped translators, e.g. Cloud Map's, still hit); `start` begins a node's log."""

    def __init__(self, model: MeshModel):
        # The views share a one-item list with the recorder, not the recorder itself: with no
        # reference cycle a prepare's views, and the previous model they hold, are freed as soon
        # as it ends, not by the next full collection (which waits for an idle moment: heap.py).
        self._current = [ReadLog()]
        wrapped = {name: _Recording(getattr(model, name), name, self._current) for name in TABLES}
        self.model = dataclasses.replace(model, **wrapped)

    @property
    def log(self) -> ReadLog:
        return self._current[0]

    def start(self) -> ReadLog:
        self._current[0] = ReadLog()
        return self._current[0]


@dataclass(frozen=True)
class Entry:
    """A node's last snapshot and what its translation read."""

    snapshot: Snapshot
    keys: frozenset[tuple[str, str]]
    tables: frozenset[str]


@dataclass
class MeshMemo:
    """What one mesh's translation was made from: the model, other inputs, each node's entry."""

    model: MeshModel
    extra: dict
    entries: dict[str, Entry]
    translator: object = None  # what made the entries: another one redoes every node
    # (table, key) -> node ids that read it: the reverse index a change is looked up in. Built
    # once, then kept up to date by `follow` for the nodes each change translated again.
    readers: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # {node id: snapshot}, the entries' snapshots: what `prepare` returns, kept so the next
    # prepare copies it (one C-level copy) rather than collecting it again node by node.
    snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def index(self) -> MeshMemo:
        for node, entry in self.entries.items():
            for key in _index_keys(entry):
                self.readers.setdefault(key, set()).add(node)
        return self

    def follow(self, before: MeshMemo | None, redone: set[str]) -> MeshMemo:
        """Take over `before`'s index (it is being replaced), updated for the nodes redone or gone."""
        if before is None:
            return self.index()
        self.readers = before.readers
        for node in redone | (before.entries.keys() - self.entries.keys()):
            old = before.entries.get(node)
            for key in _index_keys(old):
                nodes = self.readers.get(key)
                if nodes is not None:
                    nodes.discard(node)
                    if not nodes:
                        del self.readers[key]
            for key in _index_keys(self.entries.get(node)):
                self.readers.setdefault(key, set()).add(node)
        return self


def carried(previous: Mapping[str, object] | None, keys: Mapping[str, object]) -> dict:
    """`previous`'s values for `keys`, in their order (None for a new key): a plain copy when
    the keys are the same, as they are for every write that adds or removes no node."""
    if previous is None:
        return dict.fromkeys(keys)
    if previous.keys() == keys.keys():
        return dict(previous)
    # Built by C-level merges, in `keys`' order; only the keys gone are visited one by one.
    out = {**dict.fromkeys(keys), **previous}
    for key in previous.keys() - keys.keys():
        del out[key]
    return out


def _index_keys(entry: Entry | None) -> list:
    if entry is None:
        return []
    return [*entry.keys, *((table, ITERATED) for table in entry.tables)]


def _same(a, b) -> bool:
    return a is b or a == b


def changed_keys(old: MeshModel, new: MeshModel) -> tuple[set[tuple[str, str]], set[str]]:
    """The (table, key) pairs whose resource differs between two models, and the tables they are in."""
    keys: set[tuple[str, str]] = set()
    for table in TABLES:
        before, after = getattr(old, table), getattr(new, table)
        if before is after:
            continue
        for key in _candidates(new, table, before, after):
            if not _same(before.get(key, _MISSING), after.get(key, _MISSING)):
                keys.add((table, key))
    return keys, {table for table, _ in keys}


def _candidates(new: MeshModel, table: str, before: Mapping, after: Mapping):
    """The keys of `table` that may differ: the keys the write made `new` with touched, when it
    was made from `before` (mesh/model/rebuild.py's delta); else every key of both."""
    base, written = new.delta.get(table, (None, ()))
    return written if base is before else before.keys() | after.keys()


def affected(
    memo: MeshMemo | None, model: MeshModel, extra: dict, ids: Mapping[str, object]
) -> set[str]:
    """The node ids of `ids` to translate again for `model`; the rest keep their memo entry."""
    if memo is None or not _same(memo.model.mesh, model.mesh) or memo.extra != extra:
        return set(ids)
    keys, tables = changed_keys(memo.model, model)
    keys |= {(table, ITERATED) for table in tables}
    redo = {node for key in keys for node in memo.readers.get(key, ()) if node in ids}
    return redo | (ids.keys() - memo.entries.keys())  # and the new nodes
