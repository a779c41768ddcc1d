"""Webchat transcripts end to end: reported to the live API over a socket, decided by the rules,
encrypted into the spool, queued and delivered by the running delivery (a real sshd, or the
outbox), decrypted with the real `age` CLI."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from ari_recorder.delivery import DeliverySettings
from ari_recorder.engine.chats import ChatIntake, ChatReport
from ari_recorder.settings import AgentSettings, QueueSettings, Settings
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.redelivery import list_deliveries
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import InteractionRow
from ari_recorder.storage.tokens import issue_token
from tests.delivery.conftest import Identity, SpoolDisk, local_settings, sftp_settings
from tests.delivery.support import Sshd, age_decrypt
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, world

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True),
    "1003": AgentSettings(endpoint="Local/1003@agent-phone", permit_recordings=False, record_percent=100),
}
QUEUES = {
    "support": QueueSettings(agents=["1001", "1002"]),
    "billing": QueueSettings(agents=["1002"], record_percent=100),
}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def a_chat(chat_id: str, *segments: tuple[str, str | None], ended: datetime | None = None) -> dict[str, Any]:
    """A chat that ended `ended` (5 s ago by default): a bot's greeting before any agent, then for
    each (agent, queue) segment, three minutes of the customer and the agent talking."""
    end = ended or datetime.now(UTC) - timedelta(seconds=5)
    start = end - timedelta(minutes=1 + 3 * len(segments))
    messages = [{"at": stamp(start + timedelta(seconds=5)), "from": "system", "text": "Hello from the bot"}]
    parts = []
    for n, (agent, queue) in enumerate(segments):
        joined = start + timedelta(minutes=1 + 3 * n)
        parts.append({"agent": agent, "started_at": stamp(joined), **({"queue": queue} if queue else {})})
        messages += [
            {"at": stamp(joined + timedelta(seconds=10)), "from": "agent", "text": f"Hi, this is {agent}"},
            {"at": stamp(joined + timedelta(seconds=20)), "from": "customer", "text": f"my card for {agent}"},
        ]
    return {
        "id": chat_id,
        "queue": "support",
        "started_at": stamp(start),
        "ended_at": stamp(end),
        "customer": "cust-42",
        "attached": {"lang": "fr"},
        "segments": parts,
        "messages": messages,
    }


async def post(w: World, body: object, headers: dict[str, str] = ADMIN) -> tuple[int, Any]:
    async with w.http.post(f"{w.api_url}/api/v1/chats", json=body, headers=headers) as r:
        return r.status, await r.json()


async def scrape(w: World) -> dict[str, float]:
    """/metrics, as Prometheus reads it: sample -> value."""
    async with w.http.get(f"{w.api_url}/metrics") as r:
        text = await r.text()
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in samples}


async def delivered(store: Store, count: int) -> list[str]:
    """Wait until `count` rows are done (the running delivery uploads them); their remote paths."""

    async def done() -> list[str]:
        rows = await list_deliveries(store)
        assert not [r for r in rows if r.state == State.DEAD], [r.last_error for r in rows]
        finished = len(rows) >= count and all(r.state == State.DONE for r in rows)
        return sorted(r.remote_path for r in rows) if finished else []

    paths: list[str] = await until(done, what=f"{count} deliveries done", timeout=20)
    return paths


async def tried(store: Store) -> None:
    """Wait until an upload was tried (and failed: the outbox cannot be made)."""

    async def failed() -> bool:
        return any(r.attempts >= 1 and r.last_error for r in await list_deliveries(store))

    await until(failed, what="an upload tried", timeout=10)


def spool_files(settings: DeliverySettings) -> list[Path]:
    return sorted(p for p in settings.spool.rglob("*") if p.is_file())


async def test_each_chosen_segment_is_delivered_as_an_encrypted_transcript_with_its_metadata(
    tmp_path: Path, sshd: Sshd, identity: Identity
) -> None:
    settings = sftp_settings(tmp_path, identity, sshd)
    chat = a_chat("chat-7", ("1001", None), ("1002", None), ("1002", "billing"))
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings) as w:
        status, answer = await post(w, chat)
        paths = await delivered(w.store, 4)

    assert status == 201, answer
    assert [(s["segment"], s["agent"], s["recorded"], s["levels"]) for s in answer["segments"]] == [
        (1, "1001", True, [{"level": "agent", "by": "1001"}]),
        (2, "1002", False, []),  # 1002 records nothing at agent level, support nothing at queue level
        (3, "1002", True, [{"level": "queue", "by": "billing"}]),
    ]
    assert answer["segments"][1]["reason"] == "not drawn: agent 1002 at 0%, queue support at 0%"
    day = chat["segments"][0]["started_at"][:10]
    assert paths == [
        f"{day}/billing/chat-7-3-1002.json.age",
        f"{day}/billing/chat-7-3-1002.txt.age",
        f"{day}/support/chat-7-1-1001.json.age",
        f"{day}/support/chat-7-1-1001.txt.age",
    ]
    incoming = sshd.remote / "incoming" / day
    text = age_decrypt(identity.path, incoming / "support/chat-7-1-1001.txt.age").decode()
    first = chat["segments"][0]["started_at"]
    assert text.splitlines() == [
        "# webchat chat-7, segment 1: agent 1001, queue support",
        f"# from {first} to {chat['segments'][1]['started_at']}",
        f"{chat['messages'][1]['at']} agent 1001: Hi, this is 1001",
        f"{chat['messages'][2]['at']} customer: my card for 1001",
    ], "only the segment's own messages: not the bot's greeting, not the next agent's"
    meta = json.loads(age_decrypt(identity.path, incoming / "support/chat-7-1-1001.json.age"))
    assert meta["media"] == "webchat"
    assert (meta["interaction"], meta["segment"], meta["agent"], meta["queue"]) == (
        "chat-7",
        1,
        "1001",
        "support",
    )
    assert (meta["customer"], meta["attached"]) == ("cust-42", {"lang": "fr", "customer": "cust-42"})
    assert meta["levels"] == [{"level": "agent", "by": "1001"}]
    assert meta["transcript"]["messages"] == 2
    assert meta["transcript"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert meta["transcript"]["file"] == f"{day}/support/chat-7-1-1001.txt.age"
    third = age_decrypt(identity.path, incoming / "billing/chat-7-3-1002.txt.age").decode()
    assert third.splitlines()[-1] == f"{chat['messages'][-1]['at']} customer: my card for 1002"
    spooled = spool_files(settings)
    assert [p.parent.name for p in spooled] == ["out"] * 4, "encrypted copies only: no plaintext, ever"
    assert {stat.S_IMODE(p.stat().st_mode) for p in spooled} == {0o600}


async def test_a_chat_transferred_to_an_agent_without_consent_produces_no_transcript_at_all(
    tmp_path: Path, identity: Identity
) -> None:
    settings = local_settings(tmp_path, identity)
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings) as w:
        before = await scrape(w)  # (the counters are the process's: other tests' chats are in them)
        status, answer = await post(w, a_chat("chat-8", ("1001", None), ("1003", None)))
        unanswered = await post(w, a_chat("chat-8b"))  # no agent ever joined (schemathesis's find)
        rows = await list_deliveries(w.store)
        audit = await w.store.audit("chat-8")
        async with w.http.get(f"{w.api_url}/api/v1/chats/chat-8", headers=ADMIN) as r:
            again = r.status, await r.json()
        after_reading = await w.store.audit("chat-8")
        metrics = await scrape(w)

    assert status == 201
    assert [s["recorded"] for s in answer["segments"]] == [False, False]
    assert {s["reason"] for s in answer["segments"]} == {
        "no transcript for this chat: agent 1003 has not consented to recording "
        "(a chat transferred to such an agent is never recorded)"
    }
    assert rows == [] and spool_files(settings) == [] and not settings.outbox.exists()
    assert [(a.action, a.actor, a.detail["transcripts"]) for a in audit] == [("chat-received", "admin", [])]
    assert audit[0].detail["segments"][1] == {
        "segment": 2,
        "agent": "1003",
        "reason": answer["segments"][1]["reason"],
    }
    assert again == (200, {**answer, "already_received": True})
    reads = [a for a in after_reading if a.action == "metadata-read"]
    assert [(a.actor, a.subject) for a in reads] == [("admin", "chat-8")], "who read the chat's metadata"
    chats = 'ari_recorder_chats_total{outcome="%s"}'
    assert metrics[chats % "no_consent"] - before[chats % "no_consent"] == 1
    assert metrics[chats % "not_selected"] - before[chats % "not_selected"] == 1  # chat-8b: no agent
    assert metrics["ari_recorder_transcripts_total"] == before["ari_recorder_transcripts_total"]
    assert unanswered == (201, {"chat": "chat-8b", "already_received": False, "segments": []})


async def test_a_chat_reported_twice_even_at_once_is_delivered_once(
    tmp_path: Path, identity: Identity
) -> None:
    settings = local_settings(tmp_path, identity)
    chat = a_chat("chat-9", ("1001", None))
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings) as w:
        answers = await asyncio.gather(*(post(w, chat) for _ in range(4)))
        paths = await delivered(w.store, 2)
        late = await post(w, dict(reversed(list(chat.items()))))  # the same report, its keys reordered
        changed = await post(w, {**chat, "messages": chat["messages"][:-1]})

    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert late[0] == 200 and late[1]["already_received"] is True
    assert changed[0] == 409 and "received before with other contents" in changed[1]["error"], changed
    assert {json.dumps(a["segments"]) for _, a in [*answers, late]} == {json.dumps(answers[0][1]["segments"])}
    assert (
        sorted(str(p.relative_to(settings.outbox)) for p in settings.outbox.rglob("*") if p.is_file())
        == paths
    )
    assert len(spool_files(settings)) == 2, "the copies of the reports that lost were removed"


async def test_a_report_that_is_wrong_is_refused_naming_what_and_nothing_is_kept(
    tmp_path: Path, identity: Identity
) -> None:
    settings = local_settings(tmp_path, identity)
    future = datetime.now(UTC) + timedelta(minutes=10)
    naive = a_chat("c-naive", ("1001", None))
    naive["ended_at"] = naive["ended_at"].removesuffix("Z")
    # Times that parse, but lie beyond the calendar in UTC (OverflowError once converted).
    year_1 = {**a_chat("c-year-1", ("1001", None)), "started_at": "0001-01-01T00:00:00+05:00"}
    year_9999 = a_chat("c-year-9999", ("1001", None))
    year_9999["messages"][1] = {**year_9999["messages"][1], "at": "9999-12-31T23:59:59-05:00"}
    cases: list[tuple[object, int, str]] = [
        (a_chat("c-1", ("1001", None), ended=future), 422, "is in the future: a transcript is produced once"),
        (a_chat("c-2", ("1001", None), ("9999", None)), 422, "segments[1].agent: no agent '9999'"),
        (a_chat("c-3", ("1001", "nowhere")), 422, "segments[0].queue: no queue 'nowhere'"),
        ({**a_chat("c-4", ("1001", None)), "segmens": []}, 422, "unknown field `segmens`"),
        ({k: v for k, v in a_chat("c-5", ("1001", None)).items() if k != "messages"}, 422, "`messages`"),
        (naive, 422, "$.ended_at"),
        (year_1, 422, "started_at: 0001-01-01T00:00:00+05:00 is beyond the calendar in UTC"),
        (year_9999, 422, "messages[1].at: 9999-12-31T23:59:59-05:00 is beyond the calendar in UTC"),
        ({**a_chat("c-6", ("1001", None)), "id": "../etc"}, 422, "$.id"),
        ([], 422, "Expected `object`, got `array`"),
    ]
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings) as w:
        answers = [await post(w, body) for body, _, _ in cases]
        async with w.http.post(f"{w.api_url}/api/v1/chats", data=b"{not json", headers=ADMIN) as r:
            not_json = r.status, await r.json()
        long = a_chat("c-long", ("1001", None))  # 200 messages of 60 KB: 12 MB, taken
        long["messages"] += [{**long["messages"][1], "text": "x" * 60_000} for _ in range(200)]
        body = io.BytesIO(json.dumps(long).encode())  # (aiohttp wants a large body as a stream)
        async with w.http.post(
            f"{w.api_url}/api/v1/chats", data=body, headers={**ADMIN, "Content-Type": "application/json"}
        ) as r:
            taken_long = r.status, await r.json()
        async with w.http.post(
            f"{w.api_url}/api/v1/chats", data=io.BytesIO(b" " * (17 * 1024 * 1024)), headers=ADMIN
        ) as r:
            too_large = r.status, await r.json()
        token = await issue_token(w.store, "1001", days=1)
        as_agent = await post(w, a_chat("c-7", ("1001", None)), {"Authorization": f"Bearer {token.token}"})
        anonymous = await post(w, a_chat("c-8", ("1001", None)), {})
        rows = await list_deliveries(w.store)
        async with w.http.get(f"{w.api_url}/api/v1/chats/c-2", headers=ADMIN) as r:
            unknown = r.status

    for (status, answer), (_, wanted, says) in zip(answers, cases, strict=True):
        assert status == wanted and says in answer["detail"], answer
    assert not_json[0] == 400 and "JSON is malformed" in not_json[1]["detail"]
    assert taken_long[0] == 201 and taken_long[1]["segments"][0]["recorded"] is True
    assert too_large == (413, {"error": "Request Entity Too Large", "id": "body-too-large", "detail": None})
    assert as_agent[0] == 403 and anonymous[0] == 401
    assert [r.recording for r in rows] == ["chat-c-long-1"] * 2 and unknown == 404, "only the long chat's"


async def test_without_age_recipients_a_due_transcript_is_refused_and_can_be_sent_again(
    tmp_path: Path, identity: Identity
) -> None:
    # No recipient, by the explicit opt-out (the controller refuses to start otherwise)
    unconfigured = msgspec.structs.replace(
        local_settings(tmp_path, identity), age_recipients=[], keep_unencrypted=True
    )
    chat = a_chat("chat-10", ("1001", None))
    async with world(tmp_path, QUEUES, AGENTS, delivery=unconfigured) as w:
        refused = await post(w, chat)
        nothing_due = await post(w, a_chat("chat-11", ("1002", None)))
    async with world(tmp_path, QUEUES, AGENTS, delivery=local_settings(tmp_path, identity)) as w:
        taken = await post(w, chat)
        await delivered(w.store, 2)

    assert refused[0] == 503 and "age_recipients" in refused[1]["detail"]
    assert nothing_due[0] == 201 and nothing_due[1]["segments"][0]["recorded"] is False
    assert taken[0] == 201 and taken[1]["segments"][0]["recorded"] is True


async def test_a_chat_id_that_is_a_calls_is_a_conflict(tmp_path: Path, identity: Identity) -> None:
    async with world(tmp_path, QUEUES, AGENTS, delivery=local_settings(tmp_path, identity)) as w:
        async with w.store.sessions.begin() as session:
            session.add(
                InteractionRow(
                    id="1764435601.12",
                    direction="inbound",
                    queue="support",
                    customer_channel="1764435601.12",
                    phase="ended",
                    started_at=datetime.now(UTC),
                )
            )
        status, answer = await post(w, a_chat("1764435601.12", ("1001", None)))
        async with w.http.get(f"{w.api_url}/api/v1/chats/1764435601.12", headers=ADMIN) as r:
            looked = r.status
    assert (
        status == 409 and answer["error"] == "'1764435601.12' is the id of a voice interaction, not a chat's"
    )
    assert looked == 404


async def test_transcripts_waiting_in_the_spool_are_private_and_survive_a_restart(
    tmp_path: Path, identity: Identity
) -> None:
    """Delivered by the next controller when the first stopped before uploading."""
    settings = msgspec.structs.replace(local_settings(tmp_path, identity), outbox_dir="/proc/no-outbox-here")
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings) as w:
        status, _ = await post(w, a_chat("chat-12", ("1001", None)))
        await tried(w.store)
    waiting = spool_files(settings)
    assert status == 201 and len(waiting) == 2
    assert {stat.S_IMODE(p.stat().st_mode) for p in waiting} == {0o600}
    async with world(tmp_path, QUEUES, AGENTS, delivery=local_settings(tmp_path, identity)) as w:
        paths = await delivered(w.store, 2)
    assert len(paths) == 2
    assert all((tmp_path / "outbox" / p).is_file() for p in paths)


async def test_a_full_spool_refuses_the_chat_keeps_nothing_and_takes_it_when_sent_again(
    tmp_path: Path, identity: Identity, spool_disk: SpoolDisk
) -> None:
    settings = local_settings(tmp_path, identity)
    assert settings.spool == spool_disk.path
    chat = a_chat("chat-13", ("1001", None))
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings) as w:
        spool_disk.fill(room=0)
        refused = await post(w, chat)
        async with w.http.get(f"{w.api_url}/api/v1/chats/chat-13", headers=ADMIN) as r:
            unknown = r.status
        kept = spool_disk.files()
        rows = await list_deliveries(w.store)
        spool_disk.filler.unlink()  # room again: the chat platform sends it again
        taken = await post(w, chat)
        paths = await delivered(w.store, 2)

    assert refused[0] == 503, refused
    assert refused[1]["detail"] == "the spool's disk is full"
    assert (unknown, kept, rows) == (404, ["filler"], []), "nothing of the chat kept: no row, no file"
    assert taken[0] == 201 and taken[1]["segments"][0]["transcript"] == "chat-chat-13-1"
    assert all((tmp_path / "outbox" / p).is_file() for p in paths)


async def test_reports_at_once_write_one_chat_on_either_database(
    store: Store, tmp_path: Path, identity: Identity
) -> None:
    """The intake itself, on SQLite and PostgreSQL: of eight reports of one chat at once, one
    writes it (its files and rows), the others find it and leave nothing behind."""
    settings = Settings(queues=QUEUES, agents=AGENTS, delivery=local_settings(tmp_path, identity))
    intake = ChatIntake(settings, store)
    report = msgspec.convert(a_chat("chat-14", ("1001", None), ("1002", "billing")), ChatReport)
    outcomes = await asyncio.gather(*(intake.receive(report, "admin") for _ in range(8)))

    assert sorted(o.new for o in outcomes) == [False] * 7 + [True]
    assert len({repr(o.segments) for o in outcomes}) == 1
    rows = await list_deliveries(store)
    assert sorted(r.id for r in rows) == [
        "chat-chat-14-1/metadata",
        "chat-chat-14-1/transcript",
        "chat-chat-14-2/metadata",
        "chat-chat-14-2/transcript",
    ]
    assert sorted(f"out/{p.name}" for p in spool_files(settings.delivery)) == sorted(
        r.spool_path for r in rows
    )
    assert [a.action for a in await store.audit("chat-14")] == ["chat-received"]
