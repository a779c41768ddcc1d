"""The controller's Prometheus metrics, served at /metrics by the HTTP API.

One registry for the process (prometheus-client's default), metrics defined once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from ari_recorder.domain.call import NOT_RECORDED_REASONS, Call, legs, not_recorded_reason
from ari_recorder.domain.pausing import Ending, Pause
from ari_recorder.storage.deliveries import State as DeliveryState

PAUSES = Counter("ari_recorder_pauses", "Pauses of recordings begun, by source (keys or api).", ["source"])
PAUSE_SECONDS = Histogram(
    "ari_recorder_pause_seconds",
    "How long pauses lasted, by how they ended.",
    ["ended_by"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
)
AUTO_RESUMES = Counter("ari_recorder_pause_auto_resumes", "Pauses ended by max_pause_seconds.")

# ----- health: set where things happen (the stream, the controller), never on a scrape -----
ARI_CONNECTED = Gauge(
    "ari_recorder_ari_connected", "1 while the ARI event WebSocket to Asterisk is open, else 0."
)
ARI_RECONNECTS = Counter(
    "ari_recorder_ari_reconnects",
    "Times the ARI event WebSocket was opened again after it had been open (events of each gap "
    "are lost and reconciled).",
)
CALLS_ACTIVE = Gauge(
    "ari_recorder_calls_active",
    "Calls this controller is handling (from their entry in the application until their "
    "recordings have finished).",
)
EVENT_LAG = Histogram(
    "ari_recorder_event_lag_seconds",
    "From an ARI event's timestamp (Asterisk's clock) to the controller having routed it to its "
    "call; includes any clock difference between the two hosts (negative counted as 0).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# ----- what the rules selected and did not get -----
SEGMENTS = Counter(
    "ari_recorder_segments",
    "Segments begun (an agent with the customer), by the decision: selected (to be recorded) or "
    "not_selected.",
    ["decision"],
)
SEGMENTS_RECORDED = Counter(
    "ari_recorder_segments_recorded",
    "Selected segments whose recording Asterisk confirmed started (RecordingStarted, every leg).",
)
NOT_RECORDED = Counter(
    "ari_recorder_segments_not_recorded",
    "Selected segments whose recording Asterisk did not start within recording.start_deadline_ms, "
    "by what was done then (on_record_failure: continue or hangup) and why: refused (Asterisk "
    "refused the snoop or the record), snoop_never_entered, never_started (the record request "
    "taken, no RecordingStarted), call_ended (before the recording started).",
    ["then", "reason"],
)
ANNOUNCEMENT_FAILURES = Counter(
    "ari_recorder_announcement_failures",
    "Calls whose recording notice was not played (failed, cut, or refused), by what was done then "
    "(on_announcement_failure: no-record, hangup, record).",
    ["then"],
)
UNENCRYPTED = Counter(
    "ari_recorder_recordings_unencrypted",
    "Recordings finished with no age recipient (delivery.keep_unencrypted = true): left in Asterisk "
    "unencrypted, each marked in the database (recordings.kept_unencrypted).",
)
ORPHANS = Counter(
    "ari_recorder_recordings_orphaned",
    "Recordings Asterisk held for an interaction of ours that no row accounted for (a controller "
    "stopped between starting one and saving that it had), adopted into the delivery "
    "(delivery/orphans.py).",
)
RECORDING_GAPS = Counter(
    "ari_recorder_recording_gaps",
    "Recordings whose proof failed when fetched (delivery/proof.py), by kind: short (the file "
    "shorter than its segment's connected time less skipped pauses, beyond "
    "delivery.gap_tolerance_seconds), empty (no audio), not_recorded (selected, no file).",
    ["kind"],
)
RECORDING_GAP_SECONDS = Counter(
    "ari_recorder_recording_gap_seconds",
    "Seconds of selected segments missing from their files (the gaps' missing_seconds summed).",
)
for _kind in ("short", "empty", "not_recorded"):  # delivery/proof.py's GAP_KINDS
    RECORDING_GAPS.labels(_kind)
for _then in ("continue", "hangup"):
    for _reason in NOT_RECORDED_REASONS:
        NOT_RECORDED.labels(_then, _reason)
for _decision in ("selected", "not_selected"):
    SEGMENTS.labels(_decision)
for _then in ("no-record", "hangup", "record"):
    ANNOUNCEMENT_FAILURES.labels(_then)

# ----- the service -----
LEADER = Gauge(
    "ari_recorder_leader",
    "1 while this process is the leader (it takes the calls: the only one connected to the "
    "application's event socket); 0 on standby (PostgreSQL: another controller holds the lock).",
)
CLOCK_OFFSET = Gauge(
    "ari_recorder_clock_offset_seconds",
    "How far the system clock is ahead of the calls' clock (clock.py: monotonic, slewed after a "
    "step of the system clock at 500 ppm); call timestamps are off by this much until it is 0.",
)

# ----- delivery -----
# The queue's gauges describe the database (shared by every controller on one PostgreSQL): the
# delivery service refreshes them from it; a scrape never touches the database.
DELIVERY_STATES = tuple(state.value for state in DeliveryState)
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
    for _, why in after.unrecorded[len(before.unrecorded) :]:
        NOT_RECORDED.labels(after.on_record_failure, not_recorded_reason(why)).inc()
    if after.announced != before.announced and after.announced not in (None, "played"):
        ANNOUNCEMENT_FAILURES.labels(after.on_announcement_failure).inc()


def recording_gap(kind: str, missing: float | None) -> None:
    """A recording's proof failed (counted once per recording: when its gap is audited)."""
    RECORDING_GAPS.labels(kind).inc()
    RECORDING_GAP_SECONDS.inc(missing or 0.0)


def segments_changed(before: Call, after: Call) -> None:
    """Count what one step of a call did to its segments: one begun (selected or not), one's
    recording confirmed started."""
    began_before, began_after = dict(before.began), dict(after.began)

    def confirmed(began: dict[str, float], recording: str | None) -> bool:
        return recording is not None and all(leg in began for leg in legs(recording, after.channels))

    for i, segment in enumerate(after.segments):
        new = i >= len(before.segments)
        if new:
            SEGMENTS.labels("selected" if segment.recording is not None else "not_selected").inc()
        if confirmed(began_after, segment.recording) and (
            new or not confirmed(began_before, segment.recording)
        ):
            SEGMENTS_RECORDED.inc()


def event_handled(timestamp: str, now: float) -> None:
    """An ARI event routed: its lag behind Asterisk's timestamp (ISO 8601, as ARI gives it)."""
    try:
        at = datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return
    EVENT_LAG.observe(max(0.0, now - at))


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
