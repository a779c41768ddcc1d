"""The sidecar contract: every kind of delivery, produced end to end on the simulator and delivered
by SFTP to a real sshd, decrypted with the age CLI, and validated against the committed JSON Schema
(schemas/sidecar-v1.json) by a real JSON Schema validator; and that file held to the Struct."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from ari_recorder.delivery.sidecar import SCHEMA_FILE, SCHEMA_VERSION, build, encode, json_schema
from ari_recorder.settings import AgentSettings, QueueSettings, RecordingSettings
from ari_recorder.storage.recordings import Facts
from tests.delivery.conftest import Identity, sftp_settings
from tests.delivery.support import Sshd, age_decrypt
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, world

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "3001": AgentSettings(endpoint="PJSIP/3001", permit_recordings=True, record_percent=100),
}


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / SCHEMA_FILE).read_text())
    return loaded


def test_the_committed_schema_is_the_structs() -> None:
    regenerate = (
        "PYTHONPATH=src python -c 'import sys; from ari_recorder.delivery.sidecar import json_schema; "
        f"sys.stdout.buffer.write(json_schema())' > {SCHEMA_FILE}"
    )
    assert (ROOT / SCHEMA_FILE).read_bytes() == json_schema(), (
        f"{SCHEMA_FILE} is not the Sidecar Struct's schema: a change that keeps old readers working "
        f"is written again with: {regenerate}; one that breaks them is a new schema_version"
    )


def test_the_validator_refuses_what_the_schema_forbids() -> None:
    """The validator really holds a sidecar to the schema: one built here passes, and each way of
    drifting from it (a field missing, unknown, of the wrong type, a time that is not one) fails."""
    moment = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
    facts = Facts(
        recording="call-1-seg1-1001",
        interaction="call-1",
        segment=1,
        side="agent",
        agent="1001",
        queue="support",
        direction="inbound",
        levels=[{"level": "queue", "by": "support"}],
        reason="selected by queue support",
        attached={"customer": "15550001"},
        started_at=moment,
        finished_at=moment + timedelta(seconds=3),
        failure="the snoop channel never entered the application",
        announcement="played",
    )
    document = json.loads(encode(build(facts)))
    validator = jsonschema_rs.validator_for(schema(), validate_formats=True)
    assert validator.is_valid(document)
    drifted = [
        {k: v for k, v in document.items() if k != "agent"},
        {**document, "extra": 1},
        {**document, "segment": "1"},
        {**document, "schema_version": 2},
        {**document, "kind": "video"},
        {**document, "started_at": "yesterday"},
        {**document, "levels": [{"level": "queue"}]},
    ]
    assert [validator.is_valid(d) for d in drifted] == [False] * len(drifted)


# ----- each kind, delivered -----
async def one_channel(w: World) -> None:
    """An inbound call, paused and resumed through the API (the pause timeline is not empty), its
    partitions given by the dialplan (one of them no partition name: left out)."""
    given = ["partitions=emea;vip;bad/name"]
    await w.control("calls", {"queue": "support", "caller": "15550001", "args": given})
    await asyncio.sleep(2.0)
    for verb in ("pause", "resume"):
        async with w.http.post(f"{w.api_url}/api/v1/agents/1001/recording/{verb}", headers=ADMIN) as r:
            assert r.status == 200, await r.text()
        await asyncio.sleep(0.5)
    await w.control("hangup", {"customer": "15550001"})


async def two_channels(w: World) -> None:
    await w.control("calls", {"queue": "stereo", "caller": "15550002"})
    await asyncio.sleep(2.5)
    await w.control("hangup", {"customer": "15550002"})


async def outbound(w: World) -> None:
    """No queue, no announcement."""
    await w.control("outbound", {"agent": "3001", "to": "15550003"})
    await asyncio.sleep(2.0)
    await w.control("hangup", {"customer": "15550003"})


async def not_recorded(w: World) -> None:
    """The snoop never enters the application: selected, never recorded (recording.start_deadline_ms)."""
    await w.control("config", {"snoop_stasis_delay_ms": None}, method="PUT")
    await w.control("calls", {"queue": "support", "caller": "15550004"})
    await asyncio.sleep(2.5)
    await w.control("hangup", {"customer": "15550004"})


async def transcript(w: World) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    joined = end - timedelta(minutes=2)

    def at(seconds: int) -> str:
        return (joined + timedelta(seconds=seconds)).isoformat()

    chat = {
        "id": "chat-1",
        "queue": "support",
        "started_at": (end - timedelta(minutes=3)).isoformat(),
        "ended_at": end.isoformat(),
        "customer": "cust-42",
        "attached": {"lang": "fr"},
        "segments": [{"agent": "1001", "started_at": joined.isoformat()}],
        "messages": [
            {"at": at(10), "from": "agent", "text": "Hello"},
            {"at": at(20), "from": "customer", "text": "My order is late"},
        ],
    }
    async with w.http.post(f"{w.api_url}/api/v1/chats", json=chat, headers=ADMIN) as r:
        assert r.status == 201, await r.text()


KINDS: dict[str, tuple[Callable[[World], Awaitable[None]], str, dict[str, Any]]] = {
    "audio-one-channel": (
        one_channel,
        "audio",
        {
            "media": "voice",
            "channels": 1,
            "side": "agent",
            "recorded": True,
            "queue": "support",
            "partitions": ["emea", "vip"],
        },
    ),
    "audio-two-channels": (
        two_channels,
        "audio",
        {"channels": 2, "recorded": True, "queue": "stereo", "partitions": []},
    ),
    "audio-outbound": (
        outbound,
        "audio",
        {"direction": "outbound", "queue": None, "announcement": None, "partitions": []},
    ),
    "transcript": (
        transcript,
        "transcript",
        {"media": "webchat", "side": "chat", "channels": None, "audio": None, "proof": None}
        | {"partitions": ["emea"]},  # the queue's
    ),
    "not-recorded": (not_recorded, "not_recorded", {"recorded": False, "audio": None, "transcript": None}),
}


@pytest.mark.parametrize("case", list(KINDS))
async def test_every_delivered_sidecar_is_valid_against_the_committed_schema(
    tmp_path: Path, sshd: Sshd, identity: Identity, case: str
) -> None:
    produce, kind, expected = KINDS[case]
    queues = {
        "support": QueueSettings(agents=["1001"], partitions=["emea"]),
        "stereo": QueueSettings(agents=["1001"], channels=2),
    }
    settings = sftp_settings(tmp_path, identity, sshd)
    recording = RecordingSettings(start_deadline_ms=400) if kind == "not_recorded" else None
    async with world(tmp_path, queues, AGENTS, delivery=settings, recording=recording) as w:
        await produce(w)
        (path,) = await until(lambda: _sidecars(sshd), what="the sidecar delivered", timeout=30)
    document = json.loads(age_decrypt(identity.path, path))
    validator = jsonschema_rs.validator_for(schema(), validate_formats=True)
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == [], json.dumps(document, indent=2)
    assert (document["schema_version"], document["kind"]) == (SCHEMA_VERSION, kind)
    assert {key: document[key] for key in expected} == expected
    if case == "audio-one-channel":
        (pause,) = document["pauses"]
        assert (pause["by"], pause["source"], pause["ended_by"]) == ("admin", "api", "resume")
    if kind == "audio":
        assert document["audio"] is not None and document["transcript"] is None


async def _sidecars(sshd: Sshd) -> list[Path] | None:
    found = [sshd.remote / name for name in sshd.files() if name.endswith(".json.age")]
    return found or None
