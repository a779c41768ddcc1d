"""The delivery stage: ready recordings into the spool, spooled files to the platform, with retries.

One fetch loop and `parallel_uploads` upload loops. Rows are claimed from the database, so that
a restart resumes every unfinished row and several processes share one queue (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ari_recorder import metrics
from ari_recorder.ari.errors import AriError
from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import crypto, retention
from ari_recorder.delivery.audio import EmptyRecording
from ari_recorder.delivery.errors import DeliveryError, NotConfigured, Permanent
from ari_recorder.delivery.fetch import Spooler
from ari_recorder.delivery.orphans import Sweep
from ari_recorder.delivery.proof import Proof
from ari_recorder.delivery.retention import Purged
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.delivery.targets import OutboxTarget, SftpTarget, Target
from ari_recorder.storage.deliveries import Clock, DeliveryQueue, State, stage
from ari_recorder.storage.recordings import Facts, utc
from ari_recorder.storage.store import Store, is_busy
from ari_recorder.storage.tables import DeliveryRow

log = logging.getLogger("ari_recorder.delivery")
T = TypeVar("T")

# The queue gauges (metrics.py) are read from the database by `run`: at least this often, and
# after the loops' passes, but not more often than GAUGES_MIN_SECONDS however busy they are.
GAUGES_SECONDS = 5.0
GAUGES_MIN_SECONDS = 1.0
# How often `run` purges what the retention settings make due (delivery/retention.py).
PURGE_SECONDS = 3600.0


@dataclass(frozen=True)
class Outcome:
    """Something that happened to a file, for the audit trail (`listener`)."""

    what: str  # spooled | delivered | retry | dead
    recording: str
    delivery: str | None = None  # the row's id
    remote_path: str | None = None
    error: str | None = None


@dataclass
class Counters:
    """What this process did since it started (to become metrics)."""

    spooled: int = 0
    delivered: int = 0
    already_there: int = 0  # found complete under the final name: a crash after the rename
    retried: int = 0
    dead: int = 0
    bytes: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


class Delivery:
    """`await run()` until cancelled; `wake()` when a recording is ready; `await aclose()` at the end.

    `drain()` does everything that is due now and returns (tests, `ari-recorder deliveries`).
    """

    def __init__(
        self,
        store: Store,
        ari: AriClient,
        settings: DeliverySettings,
        *,
        clock: Clock = _now,
        worker: str | None = None,
        rng: random.Random | None = None,
        listener: Callable[[Outcome], None] | None = None,
    ) -> None:
        if not settings.age_recipients:
            raise NotConfigured(
                "delivery.age_recipients: no age public key to encrypt to "
                "(`ari-recorder keys generate` makes a key pair)"
            )
        self.settings = settings
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.queue = DeliveryQueue(store, self.worker, clock, timedelta(seconds=settings.lease_seconds))
        self.spooler = Spooler(ari, settings, crypto.recipients(settings.age_recipients))
        self.target: Target = SftpTarget(settings) if settings.sftp_host else OutboxTarget(settings.outbox)
        self.counters = Counters()
        self.orphans = Sweep(store, ari, settings.orphan_sweep_seconds)
        self._rng = rng or random.Random()
        self._listener = listener
        self._fetch_wanted = asyncio.Event()
        self._upload_wanted = asyncio.Event()
        self._gauges_wanted = asyncio.Event()
        self._closed = asyncio.Event()
        self._started = False
        self._closing = False
        self._running: asyncio.Task[None] | None = None

    # ----- the life cycle -----
    async def run(self) -> None:
        await self._start()
        self._running = asyncio.current_task()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._loop("fetch", self._fetch_pass, self._fetch_wanted, State.FETCHING))
                for n in range(self.settings.parallel_uploads):
                    group.create_task(self._loop(f"upload-{n}", self._upload_one, self._upload_wanted))
                group.create_task(self._gauges_loop())
                group.create_task(self._purge_loop())
                if self.settings.orphan_sweep_seconds > 0:
                    group.create_task(self._orphans_loop())
        finally:
            self._running = None

    def wake(self) -> None:
        """A recording became ready, or files were queued straight into the spool (a chat's
        transcripts): look now rather than at the next poll."""
        self._fetch_wanted.set()
        self._upload_wanted.set()

    async def aclose(self) -> None:
        """Stop claiming, let the work in hand finish, close the connection and end the encryption
        process."""
        self._closing = True
        self._closed.set()
        self._fetch_wanted.set()
        self._upload_wanted.set()
        self._gauges_wanted.set()
        running = self._running
        if running is not None and running is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await self.target.aclose()
        await self.spooler.aclose()

    async def drain(self) -> Counters:
        """Fetch every ready recording and upload every due row, then return."""
        await self._start()
        while True:
            fetched = await self._fetch_pass()
            async with asyncio.TaskGroup() as group:
                uploads = [
                    group.create_task(self._upload_all()) for _ in range(self.settings.parallel_uploads)
                ]
            await self.refresh_gauges()
            if not fetched and not any(task.result() for task in uploads):
                return self.counters

    async def _start(self) -> None:
        if not self._started:
            await asyncio.to_thread(self.spooler.prepare)
            await _landed(self.queue.release_own, "(own claims)")  # a busy store at start: wait
            self._started = True

    async def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[bool]],
        wanted: asyncio.Event,
        due: State = State.PENDING,
    ) -> None:
        """Do `step` while it finds work; then sleep until woken, a row falls due, or the poll."""
        while not self._closing:
            wanted.clear()
            try:
                did = await step()
                self._gauges_wanted.set()
                if did:
                    continue
                pause = await self._pause(due)
            except Exception:
                # The database or the spool failing under us: say so, and try again later.
                log.exception(
                    "delivery loop=%s failed; trying again in %s s", name, self.settings.poll_seconds
                )
                pause = self.settings.poll_seconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await wanted.wait()

    async def _pause(self, due: State) -> float:
        states = (State.FETCHING,) if due is State.FETCHING else (State.PENDING, State.UPLOADING)
        when = await self.queue.next_due(states)
        pause = self.settings.poll_seconds
        if when is not None:
            pause = min(pause, max(0.1, (when - self.clock()).total_seconds()))
        return pause

    # ----- the queue gauges -----
    async def refresh_gauges(self) -> None:
        """The queue as the database holds it (every process's rows) into the gauges."""
        counts, oldest = await self.queue.depth()
        age = (self.clock() - oldest).total_seconds() if oldest is not None else None
        metrics.delivery_queue(counts, age)

    async def _gauges_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            self._gauges_wanted.clear()
            began = loop.time()
            try:
                await self.refresh_gauges()
            except Exception as error:  # the database away: the loops say so; the gauges wait
                log.warning("delivery action=queue-gauges failed: %s", error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GAUGES_SECONDS):
                    await self._gauges_wanted.wait()
            with contextlib.suppress(TimeoutError):  # woken by a busy loop: not more often than this
                async with asyncio.timeout(max(0.0, began + GAUGES_MIN_SECONDS - loop.time())):
                    await self._closed.wait()

    # ----- retention -----
    async def purge(self) -> Purged:
        """The spool copies and metadata whose retention has passed, purged (and audited)."""
        purged = await retention.purge(self.queue.store, self.settings, self.clock())
        if purged.files or purged.interactions or purged.files_held or purged.interactions_held:
            log.info("delivery action=purge %s", purged)
        return purged

    async def _purge_loop(self) -> None:
        while not self._closing:
            try:
                await self.purge()
            except Exception as error:  # the database away: the loops say so; the purge waits
                log.warning("delivery action=purge failed: %s", error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PURGE_SECONDS):
                    await self._closed.wait()

    async def _orphans_loop(self) -> None:
        while not self._closing:
            try:
                if await self.orphans.once():
                    self._fetch_wanted.set()
            except AriError as error:  # Asterisk away: the next sweep
                log.warning("delivery action=orphan-sweep failed: %s", error)
            except Exception:  # the database away: the loops say so; the sweep waits
                log.exception("delivery action=orphan-sweep failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.orphan_sweep_seconds):
                    await self._closed.wait()

    # ----- fetching -----
    async def _fetch_pass(self) -> bool:
        for recording, channels in await self.queue.to_delete():
            await self._delete_in_asterisk(recording, channels)
        did = False
        for recording in await self.queue.unrecorded():
            if self._closing:
                break
            did = await self._report_unrecorded(recording) or did
        for recording in await self.queue.fetchable():
            if self._closing:
                break
            did = await self._fetch(recording) or did
        return did

    async def _fetch(self, recording: str) -> bool:
        facts = await self.queue.facts(recording)
        if facts is None:
            return False
        row = await self.queue.claim_fetch(recording, self.spooler.audio_path(facts))
        if row is None:
            return False
        try:
            files, proof = await self.spooler.spool(facts)
        except EmptyRecording as error:
            await _shielded(self._failed(row, error))
            await _shielded(self._gap(facts, self.spooler.prove(facts, 0.0), self.queue.gap))
            return True
        except DeliveryError as error:
            await _landed(functools.partial(self._failed, row, error), row.id)
            return True
        gap = _gap_detail(facts, proof)
        if not await _shielded(self.queue.spooled(recording, files, gap)):
            log.warning("recording=%s action=spool lost-claim worker=%s", recording, self.worker)
            return True
        if gap is not None:
            self._gap_said(facts, proof)
        self.counters.spooled += 1
        log.info("recording=%s action=spool files=%s", recording, ",".join(f.remote_path for f in files))
        self._tell(Outcome("spooled", recording))
        self._upload_wanted.set()
        await self._delete_in_asterisk(recording, facts.channels)
        return True

    async def _report_unrecorded(self, recording: str) -> bool:
        """A selected segment never recorded: its sidecar saying so goes to the platform all the
        same, through the same queue (nothing to fetch from Asterisk)."""
        facts = await self.queue.facts(recording)
        if facts is None:
            return False
        try:
            sidecar, proof = await self.spooler.sidecar(facts)
        except DeliveryError as error:
            log.warning("recording=%s action=spool-sidecar failed: %s", recording, error)
            return False
        gap = _gap_detail(facts, proof)
        finished = facts.finished_at or self.clock()
        if not await _shielded(self.queue.reported(recording, sidecar, finished, gap)):
            self.spooler.discard(sidecar)  # another worker queued it first
            return False
        self._gap_said(facts, proof)
        log.info("recording=%s action=spool-sidecar not-recorded file=%s", recording, sidecar.remote_path)
        self._upload_wanted.set()
        return True

    async def _gap(
        self, facts: Facts, proof: Proof, audit: Callable[[str, dict[str, Any]], Awaitable[bool]]
    ) -> None:
        detail = _gap_detail(facts, proof)
        if detail is not None and await audit(facts.recording, detail):
            self._gap_said(facts, proof)

    def _gap_said(self, facts: Facts, proof: Proof) -> None:
        """A recording gap, audited just now: counted, and said at ERROR."""
        metrics.recording_gap(proof.gap or "short", proof.missing)
        expected = "unknown" if proof.expected is None else f"{proof.expected:.3f}"
        log.error(
            'recording=%s segment=%s agent=%s action=recording-gap kind=%s expected=%s audio=%.3f '
            'missing=%s why="%s"',
            facts.recording, facts.segment, facts.agent, proof.gap, expected, proof.audio,
            "unknown" if proof.missing is None else f"{proof.missing:.3f}", proof.why,
        )  # fmt: skip

    async def _delete_in_asterisk(self, recording: str, channels: int) -> None:
        try:
            await self.spooler.delete_in_asterisk(recording, channels)
        except AriError as error:
            log.warning("recording=%s action=delete-in-asterisk failed: %s", recording, error)
            return
        await self.queue.deleted(recording)

    # ----- uploading -----
    async def _upload_all(self) -> bool:
        did = False
        while not self._closing and await self._upload_one():
            did = True
        return did

    async def _upload_one(self) -> bool:
        row = await self.queue.claim_upload()
        if row is None:
            return False
        renewing = asyncio.create_task(self._renew(row))
        try:
            already = await self._deliver(row)
        except DeliveryError as error:
            await _landed(functools.partial(self._failed, row, error), row.id)
            return True
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        # Under a shield: cancelled now, the file is in place but the row would say otherwise
        # (harmless, the next attempt finds it there; but needless).
        if await _landed(functools.partial(self.queue.done, row), row.id):
            finished = utc(row.finished_at) if row.finished_at is not None else None
            latency = (self.clock() - finished).total_seconds() if finished is not None else None
            if already:
                self.counters.already_there += 1
                metrics.delivery_result("already_there", latency=latency)
            else:
                self.counters.delivered += 1
                self.counters.bytes += row.size or 0
                metrics.delivery_result("delivered", size=row.size or 0, latency=latency)
            log.info(
                "delivery=%s action=delivered remote=%s size=%s attempts=%s resumed=%s",
                row.id, row.remote_path, row.size, row.attempts, already,
            )  # fmt: skip
            self._tell(Outcome("delivered", row.recording, row.id, row.remote_path))
        else:
            log.warning("delivery=%s action=delivered lost-claim worker=%s", row.id, self.worker)
        return True

    async def _deliver(self, row: DeliveryRow) -> bool:
        if row.spool_path is None or row.size is None:
            raise Permanent(f"row {row.id} is queued without a spool copy")
        local = self.settings.spool / row.spool_path
        if not await asyncio.to_thread(local.is_file):
            raise Permanent(f"the spool copy {local} is missing")
        try:
            return await self.target.deliver(local, row.remote_path, row.size)
        except DeliveryError:
            raise
        except Exception as error:  # a library's surprise: kept as a retryable failure, with its type
            log.exception("delivery=%s action=upload unexpected error", row.id)
            raise DeliveryError(f"unexpected {type(error).__name__} while delivering") from None

    async def _renew(self, row: DeliveryRow) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            if not await self.queue.renew(row):
                return

    async def _failed(self, row: DeliveryRow, error: DeliveryError) -> None:
        dead = isinstance(error, Permanent) or row.attempts >= self.settings.max_attempts
        retry_at = None if dead else self.clock() + timedelta(seconds=self.backoff(row.attempts))
        if not await self.queue.failed(row, str(error), retry_at):
            return
        self._tell(Outcome("dead" if dead else "retry", row.recording, row.id, row.remote_path, str(error)))
        metrics.delivery_result("dead" if dead else "retry")
        if dead:
            self.counters.dead += 1
            log.error(
                "delivery=%s action=%s dead attempts=%s error=%s", row.id, stage(row), row.attempts, error
            )
        else:
            self.counters.retried += 1
            log.warning(
                "delivery=%s action=%s retry-at=%s attempts=%s error=%s",
                row.id, stage(row), retry_at.isoformat() if retry_at else "", row.attempts, error,
            )  # fmt: skip

    def _tell(self, outcome: Outcome) -> None:
        if self._listener is not None:
            self._listener(outcome)

    def backoff(self, attempts: int) -> float:
        return backoff_seconds(attempts, self.settings.backoff_base, self.settings.backoff_cap, self._rng)


def _gap_detail(facts: Facts, proof: Proof) -> dict[str, Any] | None:
    """The audit trail's `recording-gap` row for a failed proof (None when it did not fail)."""
    if proof.ok is not False:
        return None
    return {
        "interaction": facts.interaction,
        "segment": facts.segment,
        "agent": facts.agent,
        "side": facts.side,
        "channels": facts.channels,
        "start_offset_seconds": facts.start_offset,
        "connected_seconds": facts.connected_seconds,
        **proof.json(),
    }


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Before the next attempt: doubling from `base` up to `cap`, half of it jitter (so that rows
    failed together by one outage do not all come back at once)."""
    ceiling = min(cap, base * 2.0 ** max(0, attempts - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


async def _landed(change: Callable[[], Awaitable[T]], delivery: str) -> T:
    """A row's change after an upload (or at start), shielded, and tried again while the store
    is busy until it lands: a file in place whose row kept saying "uploading" would wait out its
    lease (300 s) before anyone marked it delivered."""
    delay = 0.05
    while True:
        try:
            return await _shielded(change())
        except Exception as error:
            if not is_busy(error):
                raise
            log.warning("delivery=%s action=row-update busy, again in %.2f s: %s", delivery, delay, error)
        await asyncio.sleep(delay)
        delay = min(2.0, delay * 2)


async def _shielded(work: Awaitable[T]) -> T:
    """Bookkeeping that must not be half done when the task is cancelled."""
    return await asyncio.shield(work)
