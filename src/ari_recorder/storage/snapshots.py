"""A call's saved state as a versioned document, `{"snapshot": N, "call": {...}}`, and the way
from every earlier version to this one.

A controller resumes after an upgrade the calls a previous release left open: each stored
document is brought up to VERSION by the chain of MIGRATIONS (version N -> N + 1, over the plain
document), then converted to today's `Call`. Change a field of the domain's `Call` (or of what
it holds), and the JSON Schema kept beside the tests no longer matches (tests/storage): bump
VERSION, add the migration from the previous version, and keep the previous release's documents
as fixtures.

Version 0 is the first releases' document: the whole `Call`, unversioned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ari_recorder.domain.call import Call

VERSION = 3
Document = dict[str, Any]


class SnapshotTooNew(ValueError):
    """A document written by a later release than this one: it cannot be read back safely."""


def _from_0(call: Document) -> Document:
    """Version 0 was the call itself; version 1 wraps it, with its version."""
    return {"snapshot": 1, "call": call}


def _from_1(document: Document) -> Document:
    """Version 2 added a segment's queue and a transfer's queue (Segment.queue,
    Call.transfer_queue): a version 1 call has none, which is what their defaults say."""
    return {**document, "snapshot": 2}


def _from_2(document: Document) -> Document:
    """Version 3 added the call's language (Call.language, which picks the notice in it): a
    version 2 call's notice was chosen without one, which is what its default (None) says."""
    return {**document, "snapshot": 3}


# MIGRATIONS[n]: a version n document to version n + 1.
MIGRATIONS: dict[int, Callable[[Document], Document]] = {0: _from_0, 1: _from_1, 2: _from_2}


def dump(call: Call) -> Document:
    """The document to store for `call`."""
    return {"snapshot": VERSION, "call": msgspec.to_builtins(call)}


def version(document: Document) -> int:
    """A document's version (0: the bare call of the first releases, which has no such key)."""
    found = document.get("snapshot", 0)
    if not isinstance(found, int):
        raise ValueError(f"a call snapshot's version is an integer, not {found!r}")
    return found


def upgrade(document: Document) -> Document:
    """`document` brought up to VERSION, one migration at a time."""
    at = version(document)
    if at > VERSION:
        raise SnapshotTooNew(
            f"a call snapshot of version {at}, written by a later release (this one reads up to {VERSION})"
        )
    while at < VERSION:
        document = MIGRATIONS[at](document)
        at += 1
    return document


def load(document: Document) -> Call:
    """The call a stored document (of any version up to VERSION) holds."""
    return msgspec.convert(upgrade(document)["call"], Call)


def schema() -> dict[str, Any]:
    """The JSON Schema of the `call` a document of VERSION holds, as JSON reads it back."""
    schema: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(msgspec.json.schema(Call)))
    return schema
