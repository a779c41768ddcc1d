"""The audit trail and the interactions over HTTP, against the controller on the simulator after
real calls: a recorded segment and one not recorded, each decision in the trail; pages; every
read audited; the administrator's only, for now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ari_recorder.settings import QueueSettings
from ari_recorder.storage.tokens import issue_token
from tests.api.test_http_api import api
from tests.support.world import talk_then_hang_up, world

# 1001 records at 100%; 1003 has not consented: never recorded.
QUEUES = {"support": QueueSettings(agents=["1001"]), "quiet": QueueSettings(agents=["1003"])}


async def test_decisions_interactions_and_reads_after_real_calls(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        recorded = await talk_then_hang_up(w, "15550801", "support", 1.0)
        quiet = await talk_then_hang_up(w, "15550802", "quiet", 1.0)
        listed = await api(w, "GET", "interactions")
        not_recorded = await api(w, "GET", "interactions?recorded=false")
        by_agent = await api(w, "GET", "interactions?agent=1001&queue=support&customer=15550801")
        first = await api(w, "GET", "interactions?limit=1")
        second = await api(w, "GET", f"interactions?limit=1&cursor={first[1]['next']}")
        whole = await api(w, "GET", f"interactions/{recorded.call.id}")
        missing = await api(w, "GET", "interactions/nope")
        decisions = await api(w, "GET", "audit?action=decision")
        about = await api(w, "GET", f"audit?interaction={quiet.call.id}")
        bad_cursor = await api(w, "GET", "audit?cursor=nope")
        bad_limit = await api(w, "GET", "audit?limit=0")
        bad_time = await api(w, "GET", "interactions?from=yesterday")
        token = (await issue_token(w.store, "1001")).token
        agent = await api(w, "GET", "audit", token=token)
        reads = await api(w, "GET", "audit?actor=admin&limit=100")

    assert listed[0] == 200
    assert [i["id"] for i in listed[1]["items"]] == [quiet.call.id, recorded.call.id], "newest first"
    assert [i["id"] for i in not_recorded[1]["items"]] == [quiet.call.id]
    assert [i["id"] for i in by_agent[1]["items"]] == [recorded.call.id]
    assert by_agent[1]["items"][0]["customer"] == "15550801"
    assert [i["id"] for i in first[1]["items"] + second[1]["items"]] == [quiet.call.id, recorded.call.id]
    assert second[1]["next"] is None

    status, body = whole
    assert status == 200, body
    (segment,) = body["segments"]
    assert (segment["agent"], segment["recorded"], segment["levels"]) == (
        "1001",
        True,
        [{"level": "agent", "by": "1001"}],
    )
    (recording,) = body["recordings"]
    assert recording["name"] == segment["recording"] and recording["pauses"] == []
    assert missing[0] == 404 and missing[1]["id"] == "no-such-interaction"

    by_call = {d["detail"]["interaction"]: d for d in decisions[1]["items"]}
    assert by_call[recorded.call.id]["detail"]["recorded"] is True
    assert by_call[recorded.call.id]["detail"]["recording"] == segment["recording"]
    held: dict[str, Any] = by_call[quiet.call.id]["detail"]
    assert (held["recorded"], held["selected"], held["agent"]) == (False, False, "1003")
    assert "1003" in held["reason"]
    assert "decision" in [i["action"] for i in about[1]["items"]]

    assert bad_cursor[0] == 422 and bad_cursor[1]["id"] == "invalid-cursor"
    assert bad_limit[0] == 400 and bad_time[0] == 400
    assert agent[0] == 403, "the administrator's only, until roles"
    actions = [i["action"] for i in reads[1]["items"]]
    # Each read that was answered (a refused one read nothing), this last one too.
    assert (actions.count("interactions-read"), actions.count("audit-read")) == (5, 3)
    (read,) = [
        i for i in reads[1]["items"] if i["action"] == "interaction-read" and i["subject"] == recorded.call.id
    ]
    assert read["detail"] == {"found": True, "recordings": [segment["recording"]]}
