"""The Local-channel reference traces recorded with the project's capture tool (tests/support/trace_proxy.py)
against a real Asterisk 22 set up from the project's kit (asterisk/, rendered by tests/asterisk/harness.py
with the handsets of tests/asterisk/extensions-site.conf). Each writes tests/reference/traces/<name>.jsonl.

    PYTHONPATH=. .venv/bin/python -m tests.reference.record.local_traces [name ...]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.reference.record.common import APP, CUSTOMER, RECORDINGS, by_channel, recording


def named(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["recording"]["name"] == name


async def missing_sound_playback() -> None:
    """A playback of a sound Asterisk does not have, beside one it has."""
    async with recording("missing_sound_playback") as (ari, _):
        await ari.connect()
        ari.note("inbound customer call enters Stasis and is answered")
        customer = await ari.inbound()
        await ari.ok("POST", f"/channels/{customer}/answer")
        ari.note("the sounds Asterisk has: one missing, one present (a sound id's slash URL-encoded)")
        await ari.call("GET", "/sounds/no-such-sound")
        await ari.call("GET", "/sounds/sim%2Fannouncement")
        ari.note("play a sound that does not exist: answered 201 failed, then started and finished failed")
        await ari.ok("POST", f"/channels/{customer}/play/missing-{customer}", media="sound:no-such-sound")
        await ari.event("PlaybackFinished", lambda e: e["playback"]["id"] == f"missing-{customer}")
        await ari.call("GET", f"/playbacks/missing-{customer}")
        ari.note("play the announcement, which exists: it ends done")
        await ari.ok("POST", f"/channels/{customer}/play/ann-{customer}", media="sound:sim/announcement")
        await ari.event("PlaybackFinished", lambda e: e["playback"]["id"] == f"ann-{customer}", seconds=5)
        ari.note("a missing sound and a present one in one play: the list goes on past the missing one")
        await ari.ok(
            "POST",
            f"/channels/{customer}/play/both-{customer}",
            media="sound:no-such-sound,sound:sim/announcement",
        )
        await ari.event("PlaybackFinished", lambda e: e["playback"]["id"] == f"both-{customer}", seconds=5)
        ari.note("the application hangs up the customer")
        await ari.ok("DELETE", f"/channels/{customer}")
        await ari.event("StasisEnd", by_channel(customer))
        await asyncio.sleep(0.3)


async def stasis_without_websocket() -> None:
    """Calls arriving while no event WebSocket is connected for the application: the kit's dialplan
    (stasis-or-wait) answers, tries Stasis() again every second, then goes to its fallback."""
    async with recording("stasis_without_websocket", stasis_retry_seconds=4) as (ari, _):
        ari.note("no WebSocket has ever connected for the application")
        await ari.call("GET", "/applications")
        await ari.call("GET", f"/applications/{APP}")
        ari.note(
            "a customer calls: Stasis() fails (not registered); the dialplan answers, waits 1 s, tries again"
        )
        await ari.ok("POST", "/channels", **CUSTOMER)
        await asyncio.sleep(2.5)
        await ari.call("GET", "/channels")
        ari.note("the application connects: the waiting call enters it on its next try")
        await ari.connect()
        customer = await ari.inbound_waiting()
        await ari.call("GET", f"/channels/{customer}")
        await ari.ok("DELETE", f"/channels/{customer}")
        await ari.event("StasisEnd", by_channel(customer))
        await asyncio.sleep(0.3)
        ari.note("the application's WebSocket closes (it was connected before)")
        await ari.disconnect()
        await ari.call("GET", "/applications")
        await ari.call("GET", f"/applications/{APP}")
        ari.note(
            "a second customer calls while it is gone: tried every second for 4 s, then the fallback hangs up"
        )
        await ari.ok("POST", "/channels", **CUSTOMER)
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            channels = await ari.ok("GET", "/channels")
            if not channels:
                break
        await asyncio.sleep(1.0)  # well clear of the fallback: a replay need not race it
        ari.note("the application connects again: nothing is waiting any more")
        await ari.connect()
        await ari.call("GET", f"/applications/{APP}")
        await asyncio.sleep(0.3)


async def snoop_record_before_stasisstart(attempts: int = 20) -> None:
    """A snoop's record sent as soon as its POST is answered, before its own StasisStart."""
    async with recording("snoop_record_before_stasisstart") as (ari, _):
        await ari.connect()
        ari.note("inbound customer call; agent 1001 answers; both in a mixing bridge")
        customer = await ari.inbound()
        await ari.ok("POST", f"/channels/{customer}/answer")
        bridge = await ari.ok("POST", "/bridges", type="mixing", name="snoop-race")
        await ari.ok("POST", f"/bridges/{bridge['id']}/addChannel", channel=customer)
        agent = await ari.agent("1001")
        await ari.ok("POST", f"/bridges/{bridge['id']}/addChannel", channel=agent)
        ari.note("snoop on the agent; its record sent the moment the snoop's POST is answered")
        refused = False
        for n in range(attempts):
            snoop = await ari.ok(
                "POST", f"/channels/{agent}/snoop", app=APP, appArgs=f"snoop,{n}", spy="both"
            )
            status, _ = await ari.call(
                "POST",
                f"/channels/{snoop['id']}/record",
                name=f"rec-early-{n}",
                format="wav",
                ifExists="fail",
                beep="false",
                terminateOn="none",
            )
            await ari.event("StasisStart", by_channel(snoop["id"]))
            if status == 409:
                refused = True
                ari.note("refused 409 before the snoop's StasisStart; sent again after it, it starts")
                await ari.ok(
                    "POST",
                    f"/channels/{snoop['id']}/record",
                    name=f"rec-early-{n}",
                    format="wav",
                    ifExists="fail",
                    beep="false",
                    terminateOn="none",
                )
                await ari.event("RecordingStarted", named(f"rec-early-{n}"))
                break
            ari.note("this time the snoop was in the application first; hang it up and try again")
            await ari.event("RecordingStarted", named(f"rec-early-{n}"))
            await ari.ok("DELETE", f"/channels/{snoop['id']}")
            await ari.event("StasisEnd", by_channel(snoop["id"]))
        print(f"  refused before StasisStart: {refused}", flush=True)
        await asyncio.sleep(1.0)
        ari.note("the customer hangs up; the application hangs up the agent and destroys the bridge")
        await ari.ok("DELETE", f"/channels/{customer}")
        await ari.event("StasisEnd", by_channel(customer))
        await ari.ok("DELETE", f"/channels/{agent}")
        await ari.event("StasisEnd", by_channel(agent))
        await ari.ok("DELETE", f"/bridges/{bridge['id']}")
        await asyncio.sleep(0.3)
        for stored in await ari.ok("GET", "/recordings/stored"):
            await ari.ok("DELETE", f"/recordings/stored/{stored['name']}")
        if not refused:
            raise SystemExit("no record was refused: record again")


async def asterisk_restart() -> None:
    """Asterisk restarted (core stop now, started again) in the middle of a recorded call."""
    async with recording("asterisk_restart") as (ari, asterisk):
        await ari.connect()
        ari.note("inbound customer call; agent 1001 answers; agent side recorded through a snoop")
        customer = await ari.inbound()
        await ari.ok("POST", f"/channels/{customer}/answer")
        bridge = await ari.ok("POST", "/bridges", type="mixing", name="restart")
        await ari.ok("POST", f"/bridges/{bridge['id']}/addChannel", channel=customer)
        agent = await ari.agent("1001")
        await ari.ok("POST", f"/bridges/{bridge['id']}/addChannel", channel=agent)
        snoop = await ari.ok("POST", f"/channels/{agent}/snoop", app=APP, appArgs="snoop", spy="both")
        await ari.event("StasisStart", by_channel(snoop["id"]))
        await ari.ok(
            "POST",
            f"/channels/{snoop['id']}/record",
            name="rec-restart-1001",
            format="wav",
            ifExists="fail",
            beep="false",
            terminateOn="none",
        )
        await ari.event("RecordingStarted")
        await asyncio.sleep(2.0)
        ari.note("Asterisk restarts: core stop now, then started again")
        await asterisk.stop()
        await ari.closed_by_asterisk()
        await asterisk.start()
        ari.note("Asterisk is up again; the application reconnects under the same name")
        await ari.connect()
        await ari.call("GET", f"/applications/{APP}")
        await ari.call("GET", "/channels")
        await ari.call("GET", "/bridges")
        await ari.call("GET", f"/bridges/{bridge['id']}")
        await ari.call("GET", f"/channels/{customer}")
        await ari.call("GET", "/recordings/live/rec-restart-1001")
        await ari.call("GET", "/recordings/stored")
        await ari.call("GET", "/recordings/stored/rec-restart-1001")
        _, wav = await ari.call("GET", "/recordings/stored/rec-restart-1001/file")
        (RECORDINGS / "rec-restart-1001.wav").write_bytes(wav)
        await ari.call("DELETE", "/recordings/stored/rec-restart-1001")
        ari.note("a new call after the restart")
        ari.events.clear()
        customer = await ari.inbound()
        await ari.ok("POST", f"/channels/{customer}/answer")
        await ari.ok("DELETE", f"/channels/{customer}")
        await ari.event("StasisEnd", by_channel(customer))
        await asyncio.sleep(0.3)


SCENARIOS: dict[str, Callable[[], Awaitable[None]]] = {
    "missing_sound_playback": missing_sound_playback,
    "stasis_without_websocket": stasis_without_websocket,
    "snoop_record_before_stasisstart": snoop_record_before_stasisstart,
    "asterisk_restart": asterisk_restart,
}


async def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        print(f"recording {name}", flush=True)
        await SCENARIOS[name]()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
