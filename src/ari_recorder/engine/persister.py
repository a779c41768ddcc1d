"""Writes calls' states to the store beside the calls, not in their way: the latest state of each
call, in batches of one transaction, so that under load a call never waits for the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ari_recorder.domain.call import Call
from ari_recorder.engine.notifier import Notifier
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.engine")


class Persister:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, Call] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.notifier = Notifier()  # every state saved is told to whoever listens (the agent page)

    def save(self, call: Call) -> None:
        """Keep `call` as its latest state; written soon (a newer state replaces an unwritten one)."""
        self._pending[call.id] = call
        self.notifier.changed(call)
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._write(), name="persister")

    async def flush(self) -> None:
        """Wait until everything saved so far is written."""
        await self._idle.wait()

    async def abandon(self) -> None:
        """Write nothing more (leadership lost: the next leader's states must not be overwritten
        by this one's); saving again starts afresh."""
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._idle.set()

    async def aclose(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            try:
                await self.store.save_calls(list(batch.values()))
            except Exception as error:  # the calls go on; reconciliation finds what was missed
                log.error(
                    "store: %d call states not written: %s: %s", len(batch), type(error).__name__, error
                )
            if not self._pending:
                self._idle.set()
