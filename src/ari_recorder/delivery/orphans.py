"""The orphan sweep: files Asterisk holds for our interactions that no row accounts for, found and
adopted into the delivery (what an orphan is and how one comes about: storage/orphans.py).

Every `delivery.orphan_sweep_seconds` Asterisk's stored recordings are listed. A name of ours
(domain/ids.py's grammar, one channel or a pair), of an interaction in the database, with no
recording row, seen so in two sweeps a sweep apart (not a recording whose row is a moment away),
and no longer live (Asterisk lists a file while it is still being written), is adopted: an ERROR
line, the `ari_recorder_recordings_orphaned` metric and a `recording-orphan` audit row; then it
is fetched, encrypted and delivered as any other, its sidecar's reason saying it was adopted.
Other names (another application's, a site's own) are left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ari_recorder import metrics
from ari_recorder.ari.errors import exists
from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import ids
from ari_recorder.storage import orphans
from ari_recorder.storage.orphans import Adopted
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.delivery")


class Sweep:
    def __init__(
        self, store: Store, ari: AriClient, every: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.store, self.ari, self.every, self._monotonic = store, ari, every, monotonic
        self._first_seen: dict[str, float] = {}  # unaccounted names, when first seen so

    async def once(self) -> list[Adopted]:
        """One sweep: the orphans adopted now."""
        found = ids.recordings_of({stored.name for stored in await self.ari.list_stored()})
        ours = [read for name in sorted(found) if (read := ids.read_recording(name)) is not None]
        unaccounted = await orphans.unaccounted(self.store, ours)
        now = self._monotonic()
        self._first_seen = {f.name: self._first_seen.get(f.name, now) for f in unaccounted}
        adopted = []
        for orphan in unaccounted:
            if now - self._first_seen[orphan.name] < self.every:
                continue
            if await self._live(orphan.name, found[orphan.name]):
                continue  # Asterisk lists a recording's file while it is still being written
            done = await orphans.adopt(self.store, orphan, found[orphan.name], datetime.now(UTC))
            self._first_seen.pop(orphan.name)
            if done is None:
                continue
            metrics.ORPHANS.inc()
            log.error(
                "recording=%s call=%s segment=%d agent=%s channels=%d action=recording-orphan "
                'why="Asterisk held it and no row accounted for it: adopted, to be delivered"',
                done.recording,
                done.interaction,
                done.segment,
                done.agent,
                done.channels,
            )
            adopted.append(done)
        return adopted

    async def _live(self, name: str, channels: int) -> bool:
        return any([await exists(self.ari.get_live(leg)) for leg in ids.recording_legs(name, channels)])
