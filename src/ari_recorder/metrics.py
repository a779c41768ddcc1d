"""The controller's Prometheus metrics, served at /metrics by the HTTP API.

One registry for the process (prometheus-client's default), metrics defined once, here.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

from ari_recorder.domain.call import Call
from ari_recorder.domain.pausing import Ending, Pause

PAUSES = Counter("ari_recorder_pauses", "Pauses of recordings begun, by source (keys or api).", ["source"])
PAUSE_SECONDS = Histogram(
    "ari_recorder_pause_seconds",
    "How long pauses lasted, by how they ended.",
    ["ended_by"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
)
AUTO_RESUMES = Counter("ari_recorder_pause_auto_resumes", "Pauses ended by max_pause_seconds.")

# ----- what the rules selected and did not get -----
NOT_RECORDED = Counter(
    "ari_recorder_segments_not_recorded",
    "Selected segments whose recording Asterisk did not start within recording.start_deadline_ms, "
    "by what was done then (on_record_failure: continue or hangup).",
    ["then"],
)
ANNOUNCEMENT_FAILURES = Counter(
    "ari_recorder_announcement_failures",
    "Calls whose recording notice was not played (failed, cut, or refused), by what was done then "
    "(on_announcement_failure: no-record, hangup, record).",
    ["then"],
)
for _then in ("continue", "hangup"):
    NOT_RECORDED.labels(_then)
for _then in ("no-record", "hangup", "record"):
    ANNOUNCEMENT_FAILURES.labels(_then)

# ----- the service -----
LEADER = Gauge(
    "ari_recorder_leader",
    "1 while this process is the leader (it takes the calls: the only one connected to the "
    "application's event socket); 0 on standby (PostgreSQL: another controller holds the lock).",
)

# ----- delivery -----
# The queue's gauges describe the database (shared by every controller on one PostgreSQL): the
# delivery service refreshes them from it; a scrape never touches the database.
DELIVERY_STATES = ("fetching", "pending", "uploading", "done", "dead")
DELIVERY_RESULTS = ("delivered", "already_there", "retry", "dead")
DELIVERY_QUEUE = Gauge("ari_recorder_delivery_queue", "Delivery rows by state, in the database.", ["state"])
DELIVERY_OLDEST_PENDING = Gauge(
    "ari_recorder_delivery_oldest_pending_seconds",
    "Age of the oldest delivery row neither done nor dead (since its recording finished); 0 when none.",
)
DELIVERIES = Counter(
    "ari_recorder_deliveries",
    "Delivery attempts' results in this process: delivered, already_there (found complete on the "
    "platform after a crash), retry, dead.",
    ["result"],
)
DELIVERED_BYTES = Counter(
    "ari_recorder_delivered_bytes", "Bytes of encrypted files uploaded by this process."
)
DELIVERY_LATENCY = Histogram(
    "ari_recorder_delivery_latency_seconds",
    "From the recording finished in Asterisk to the file held by the platform.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
# ----- webchats -----
CHAT_OUTCOMES = ("transcribed", "not_selected", "no_consent")
CHATS = Counter(
    "ari_recorder_chats",
    "Ended webchats received (each once): transcribed (one segment or more), not_selected (no "
    "segment drawn), no_consent (an agent of the chat has not consented: no transcript at all).",
    ["outcome"],
)
TRANSCRIPTS = Counter("ari_recorder_transcripts", "Webchat segments' transcripts queued for delivery.")
for _outcome in CHAT_OUTCOMES:
    CHATS.labels(_outcome)
for _state in DELIVERY_STATES:  # every series exists from the start, at 0
    DELIVERY_QUEUE.labels(_state)
for _result in DELIVERY_RESULTS:
    DELIVERIES.labels(_result)


def pauses_changed(before: tuple[Pause, ...], after: tuple[Pause, ...]) -> None:
    """Count what one step of a call did to its pauses: one begun, one ended."""
    if after == before:
        return
    for i, pause in enumerate(after):
        earlier = before[i] if i < len(before) else None
        if earlier is None:
            PAUSES.labels(pause.source.value).inc()
        if pause.ending is not None and (earlier is None or earlier.ending is None):
            assert pause.ended is not None
            PAUSE_SECONDS.labels(pause.ending.value).observe(pause.ended - pause.started)
            if pause.ending is Ending.TIMEOUT:
                AUTO_RESUMES.inc()


def failures_changed(before: Call, after: Call) -> None:
    """Count what one step of a call failed to do: a selected recording not made, the notice
    not played."""
    for _ in after.unrecorded[len(before.unrecorded) :]:
        NOT_RECORDED.labels(after.on_record_failure).inc()
    if after.announced != before.announced and after.announced not in (None, "played"):
        ANNOUNCEMENT_FAILURES.labels(after.on_announcement_failure).inc()


def delivery_result(result: str, *, size: int = 0, latency: float | None = None) -> None:
    """One file's attempt ended: `result` is one of DELIVERY_RESULTS; a delivered file's size
    (bytes uploaded) and latency (seconds since its recording finished)."""
    DELIVERIES.labels(result).inc()
    if size:
        DELIVERED_BYTES.inc(size)
    if latency is not None:
        DELIVERY_LATENCY.observe(max(0.0, latency))


def delivery_queue(counts: Mapping[str, int], oldest_pending: float | None) -> None:
    """The queue as last read from the database: rows by state, the oldest unfinished row's age."""
    for state in DELIVERY_STATES:
        DELIVERY_QUEUE.labels(state).set(counts.get(state, 0))
    DELIVERY_OLDEST_PENDING.set(max(0.0, oldest_pending) if oldest_pending is not None else 0.0)


def chat_received(transcripts: int, consented: bool) -> None:
    """A new chat's outcome: how many transcripts, and whether every agent had consented."""
    CHATS.labels("transcribed" if transcripts else "not_selected" if consented else "no_consent").inc()
    TRANSCRIPTS.inc(transcripts)
