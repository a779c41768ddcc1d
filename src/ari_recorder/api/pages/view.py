"""What the pages show of a call. The agent page: the agent's call, who, which queue, since
when, whether this segment is recorded (and why not), and the pause in force with its timers.
The supervisor page: each live call as GET /api/v1/calls gives it (`call_json`), with its
segments, its recording's state and why, its pause and the transfer under way."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ari_recorder.domain import call as c


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def call_json(call: c.Call) -> dict[str, Any]:
    """A live call as GET /api/v1/calls answers it."""
    segment = call.segment
    return {
        "id": call.id,
        "direction": call.interaction.direction.value,
        "queue": call.interaction.queue,
        "phase": call.phase.value,
        "agent": segment.agent if segment else None,
        "segment": segment.number if segment else None,
        "recording": segment.recording if segment else None,
        "transferring_to": call.transfer_to.policy.agent if call.transfer_to else None,
    }


def live_call(call: c.Call, now: float, names: Mapping[str, str | None]) -> dict[str, Any]:
    """A live call as the supervisor page shows it: GET /api/v1/calls's, and more of it."""
    segment, pause = call.segment, call.pause
    state = call.recording_state().value if segment is not None else "ringing"
    return {
        **call_json(call),
        "customer": call.interaction.metadata.get("customer"),
        "agent_name": names.get(segment.agent) if segment is not None else None,
        "since": _when(segment.answered if segment is not None else None),
        "state": state,
        "why_not_recorded": why_not_recorded(call),
        "pause": None
        if pause is None
        else {
            "number": pause.number,
            "by": pause.by,
            "source": pause.source.value,
            "started_at": _when(pause.started),
            "elapsed_seconds": round(pause.seconds(now), 3),
        },
        "segments": [
            {
                "number": s.number,
                "agent": s.agent,
                "agent_name": names.get(s.agent),
                "queue": s.queue,
                "answered_at": _when(s.answered),
                "recorded": s.decision.record,
                "reason": s.decision.reason,
            }
            for s in call.segments
        ],
    }


def why_not_recorded(call: c.Call) -> str | None:
    """The reason the current segment is not recorded: the decision's, or the failure's."""
    segment = call.segment
    if segment is None:
        return None
    if segment.recording is None:
        return segment.decision.reason
    return call.failure(segment.recording)


def agent_view(agent: str, call: c.Call | None, now: float) -> dict[str, Any]:
    """The page's state for `agent` (its own call only: the caller chose the call by the agent)."""
    if call is None or call.phase is c.Phase.ENDED:
        return {"agent": agent, "state": "idle", "call": None, "pause_allowed": None, "pause": None}
    segment = call.segment
    pause = call.pause
    return {
        "agent": agent,
        "state": call.recording_state() if segment is not None else "ringing",
        "call": {
            "customer": call.interaction.metadata.get("customer"),
            "queue": call.interaction.queue,
            "direction": call.interaction.direction.value,
            "since": _when(segment.answered if segment is not None else None),
            "recorded": segment is not None and call.recording_state() != "not-recorded",
            "why_not_recorded": why_not_recorded(call),
        },
        "pause_allowed": call.pausing.allowed,
        "pause": None
        if pause is None
        else {
            "number": pause.number,
            "started_at": _when(pause.started),
            "elapsed_seconds": round(pause.seconds(now), 3),
            "resumes_in_seconds": round(max(0.0, pause.started + call.pausing.max_seconds - now), 3),
        },
    }


def steady(view: dict[str, Any]) -> dict[str, Any]:
    """The view without its running timers: what a change is judged by."""
    pause = view.get("pause")
    if pause is None:
        return view
    return {**view, "pause": {"number": pause["number"], "started_at": pause["started_at"]}}
