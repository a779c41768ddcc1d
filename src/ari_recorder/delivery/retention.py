"""Purges after the configured retention (RECORDING-RULES.md: "Local copies and metadata are
purged after the configured retention; purges are audited").

- The spool's encrypted copy of a delivered file, `spool_retention_days` after the platform
  confirmed it (the platform holds it: the copy is only there to deliver again by hand).
- An interaction's metadata (attached data, which may name the customer; segments; recordings),
  `metadata_retention_days` after it ended, once every file of it is delivered. Its delivery rows
  and the audit trail stay: they say what was delivered where, and the trail must outlive what it
  tells of.

Nothing is purged that is not delivered, nor anything of an interaction on legal hold
(storage/holds.py): held, its encrypted copy in the spool is the recording, kept past its days;
purged at the first purge after the hold is released. Each purge has its audit row, written in the
transaction that purges; a file is removed before its row forgets it (in that transaction, the
interaction locked against a hold's put), so that a crash in between leaves a row pointing at
nothing (purged again, harmlessly) and never a file no row names. What a hold kept is counted,
and audited once per hold and thing kept.
Several controllers may purge at once: every change is a compare-and-set, and the audit ids are
the facts' own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.domain import moments
from ari_recorder.storage.retention import (
    Tally,
    purge_metadata,
    spool_copies_due,
    spool_copies_held,
    spool_copies_purging,
)
from ari_recorder.storage.store import Store

__all__ = ["Purged", "Tally", "purge", "purge_metadata", "purge_spool"]


@dataclass(frozen=True)
class Purged:
    files: int = 0
    interactions: int = 0
    files_held: int = 0  # due, kept: on legal hold
    interactions_held: int = 0

    def __str__(self) -> str:
        said = f"spool-copies={self.files} interactions={self.interactions}"
        if self.files_held or self.interactions_held:
            said += (
                f" skipped={self.files_held} spool copies, {self.interactions_held} interactions:"
                " on legal hold"
            )
        return said


async def purge(store: Store, settings: DeliverySettings, now: datetime, actor: str = "controller") -> Purged:
    """What the settings' retentions make due now."""
    files = await purge_spool(store, settings.spool, now, settings.spool_retention_days, actor)
    interactions = Tally()
    if settings.metadata_retention_days is not None:
        interactions = await purge_metadata(store, now, settings.metadata_retention_days, actor)
    return Purged(files.purged, interactions.purged, files.held, interactions.held)


async def purge_spool(
    store: Store, spool: Path, now: datetime, days: int, actor: str = "controller"
) -> Tally:
    """Remove the spool copies of files delivered at least `days` days ago, but those of
    interactions on legal hold; how many removed, and kept by a hold."""
    cutoff = moments.days_before(now, days)
    purged = 0
    while True:
        due = await spool_copies_due(store, cutoff)
        if not due:
            break
        async with spool_copies_purging(store, due, now, days, actor) as claimed:
            for copy in claimed:
                await asyncio.to_thread((spool / copy.spool_path).unlink, missing_ok=True)
        purged += len(claimed)
    return Tally(purged, await spool_copies_held(store, cutoff, now, days, actor))
