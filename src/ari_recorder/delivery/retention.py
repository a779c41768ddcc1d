"""Purges after the configured retention (RECORDING-RULES.md: "Local copies and metadata are
purged after the configured retention; purges are audited").

- The spool's encrypted copy of a delivered file, `spool_retention_days` after the platform
  confirmed it (the platform holds it: the copy is only there to deliver again by hand).
- An interaction's metadata (attached data, which may name the customer; segments; recordings),
  `metadata_retention_days` after it ended, once every file of it is delivered. Its delivery rows
  and the audit trail stay: they say what was delivered where, and the trail must outlive what it
  tells of.

Nothing is purged that is not delivered. Each purge has its audit row, written in the
transaction that purges; a file is removed before its row forgets it, so that a crash in between
leaves a row pointing at nothing (purged again, harmlessly) and never a file no row names.
Several controllers may purge at once: every change is a compare-and-set, and the audit ids are
the facts' own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.storage.retention import purge_metadata, spool_copies_due, spool_copies_purged
from ari_recorder.storage.store import Store

__all__ = ["Purged", "purge", "purge_metadata", "purge_spool"]


@dataclass(frozen=True)
class Purged:
    files: int = 0
    interactions: int = 0


async def purge(store: Store, settings: DeliverySettings, now: datetime, actor: str = "controller") -> Purged:
    """What the settings' retentions make due now."""
    files = await purge_spool(store, settings.spool, now, settings.spool_retention_days, actor)
    interactions = 0
    if settings.metadata_retention_days is not None:
        interactions = await purge_metadata(store, now, settings.metadata_retention_days, actor)
    return Purged(files, interactions)


async def purge_spool(store: Store, spool: Path, now: datetime, days: int, actor: str = "controller") -> int:
    """Remove the spool copies of files delivered at least `days` days ago; how many."""
    cutoff = now - timedelta(days=days)
    purged = 0
    while True:
        due = await spool_copies_due(store, cutoff)
        if not due:
            return purged
        for copy in due:
            await asyncio.to_thread((spool / copy.spool_path).unlink, missing_ok=True)
        purged += await spool_copies_purged(store, due, now, days, actor)
