"""The controller's Prometheus metrics, served at /metrics by the HTTP API.

One registry for the process (prometheus-client's default), metrics defined once, here.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ari_recorder.domain.pausing import Ending, Pause

PAUSES = Counter("ari_recorder_pauses", "Pauses of recordings begun, by source (keys or api).", ["source"])
PAUSE_SECONDS = Histogram(
    "ari_recorder_pause_seconds",
    "How long pauses lasted, by how they ended.",
    ["ended_by"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
)
AUTO_RESUMES = Counter("ari_recorder_pause_auto_resumes", "Pauses ended by max_pause_seconds.")


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
