"""Replays a real Asterisk trace against the simulator and compares the answers and the events.

Requests are sent as the trace sent them, paced by the trace's clock and by the events that came
before them; ids are mapped by order of appearance of objects with the same shape of name
(`Local/2001@agent-phone-<n>;1`, `Snoop/<that>-<n>`, the n-th bridge).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import difflib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import apidocs
from tests.support.audio import windows

SIGNIFICANT = {
    "StasisStart",
    "StasisEnd",
    "ChannelEnteredBridge",
    "ChannelLeftBridge",
    "RecordingStarted",
    "RecordingFinished",
    "RecordingFailed",
    "PlaybackStarted",
    "PlaybackContinuing",
    "PlaybackFinished",
    "ChannelDtmfReceived",
    "ChannelDestroyed",
    "BridgeDestroyed",
    "ChannelTransfer",
    "BridgeBlindTransfer",
    "BridgeAttendedTransfer",
}
# Events whose payloads are compared field by field, not just their subject: the transfers.
PAYLOADS = {"ChannelTransfer", "BridgeBlindTransfer", "BridgeAttendedTransfer"}
# Values a phone or the clock makes up: compared by presence only.
ARBITRARY = {"timestamp", "asterisk_id", "protocol_id", "parameter_value", "creationtime"}
RACE = 0.020  # seconds: one media frame; Asterisk's frame-driven threads order nothing within it
ID = re.compile(r"\d{9,}\.\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Objects:
    """Channel and bridge ids seen on one side, each given a key that is the same on both sides."""

    def __init__(self) -> None:
        self.key_of: dict[str, str] = {}
        self.id_of: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def _add(self, obj_id: str, shape: str) -> None:
        if obj_id in self.key_of:
            return
        n = self._counts.get(shape, 0)
        self._counts[shape] = n + 1
        key = f"{shape}#{n}"
        self.key_of[obj_id] = key
        self.id_of[key] = obj_id

    def _shape(self, name: str) -> str:
        name = re.sub(r"-[0-9a-f]{8}(;[12])?$", r"-N\1", name)
        snooped = re.match(r"Snoop/([^-]+)-N$", name)
        if snooped:
            return f"Snoop/{self.key_of.get(snooped.group(1), '?')}"
        return name

    def learn(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self.learn(item)
        elif isinstance(value, dict):
            if "bridge_type" in value and "id" in value:
                self._add(value["id"], "bridge")
            elif "name" in value and "state" in value and "id" in value and "dialplan" in value:
                self._add(value["id"], self._shape(value["name"]))
            for item in value.values():
                self.learn(item)

    def subject(self, event: dict[str, Any]) -> str:
        for field_name in ("channel", "bridge", "recording", "playback"):
            obj = event.get(field_name)
            if isinstance(obj, dict):
                if field_name == "recording":
                    return str(obj.get("name"))
                if field_name == "playback":
                    return ID.sub(lambda m: self.key_of.get(m.group(0), "?"), str(obj.get("id")))
                return self.key_of.get(str(obj.get("id")), "?")
        return ""

    def payload(self, value: Any, key: str = "") -> Any:
        """A transfer event's payload with its channels and bridges as their keys (a bridge with
        its members') and the values phones and clocks make up left out: comparable across sides."""
        if isinstance(value, list):
            return [self.payload(item) for item in value]
        if isinstance(value, dict):
            if "bridge_type" in value and "id" in value:
                members = sorted(self.key_of.get(c, "?") for c in value.get("channels", []))
                return f"{self.key_of.get(value['id'], '?')} {value.get('bridge_class')} {members}"
            if "name" in value and "state" in value and "id" in value and "dialplan" in value:
                plan, key = value["dialplan"], self.key_of.get(value["id"], "?")
                return f"{key} {value['state']} {plan['app_name']}({plan['app_data']})"
            return {k: self.payload(v, k) for k, v in sorted(value.items())}
        return "*" if key in ARBITRARY else value

    def token(self, event: dict[str, Any]) -> str:
        extra = f" {event['digit']}" if "digit" in event else ""
        if isinstance(event.get("playback"), dict):
            # How a playback went: a missing sound's is "failed", a list's item "continuing".
            extra = f" {event['playback'].get('state')} {event['playback'].get('media_uri')}"
        return f"{event['type']} {self.subject(event)}{extra}"


@dataclass
class Report:
    name: str
    requests: int = 0
    requests_matched: int = 0
    events: int = 0
    events_matched: int = 0
    mismatches: list[str] = field(default_factory=list)
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (trace, sim) bytes
    skipped: list[str] = field(default_factory=list)
    wavs: dict[str, bytes] = field(default_factory=dict)  # recording name -> the simulator's file
    races: list[str] = field(default_factory=list)  # reorderings within real Asterisk's own races
    nonconformant: list[str] = field(default_factory=list)  # simulator JSON unlike api-docs' models

    def line(self) -> str:
        return (
            f"{self.name}: requests matched {self.requests_matched}/{self.requests}, "
            f"events matched {self.events_matched}/{self.events}"
        )


Stimulus = Callable[[dict[str, Any], aiohttp.ClientSession], Awaitable[None] | None]


class Replayer:
    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        trace: list[dict[str, Any]],
        name: str,
        stimulus: Stimulus | None = None,
        listings: bool = False,
    ):
        self.base = base_url
        self.listings = listings
        self.stimulus = stimulus
        self.docs = apidocs.load()
        self.auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        self.trace = trace
        self.report = Report(name)
        self.real = Objects()
        self.sim = Objects()
        self.sim_events: list[dict[str, Any]] = []
        self.gone: set[str] = set()  # the trace's objects the simulator cannot have
        self._arrived = asyncio.Condition()
        self._ws_task: asyncio.Task[None] | None = None

    async def run(self) -> Report:
        async with aiohttp.ClientSession(headers=self.auth) as session:
            self.session = session
            t0 = self.trace[0]["t"]
            start = time.monotonic()
            real_significant = 0
            for entry in self.trace:
                kind = entry["kind"]
                act = self.stimulus(entry, session) if self.stimulus else None
                if act is not None:
                    # What a phone did in the trace (a SIP call, a REFER), done through /sim/.
                    await self._pace(start, entry["t"] - t0, real_significant)
                    await act
                if kind == "event":
                    self.real.learn(entry["event"])
                    # Not an object's the simulator cannot have (a bridge from before the trace
                    # began): _compare_events leaves those out, and the simulator never sends
                    # them, so waiting for them would only sit out _pace's bound at each step.
                    if entry["event"]["type"] in SIGNIFICANT and not self._gone(entry["event"]):
                        real_significant += 1
                    continue
                if kind == "response":
                    self.real.learn(entry["body"])
                    continue
                await self._pace(start, entry["t"] - t0, real_significant)
                if kind == "websocket":
                    await self._websocket(entry["action"])
                elif kind == "request":
                    await self._request(entry)
            await self._pace(start, self.trace[-1]["t"] - t0, real_significant)
            await self._websocket("closed")
        self._compare_events()
        return self.report

    async def _pace(self, start: float, at: float, significant: int) -> None:
        """Wait for the trace's moment, then for the events the trace had seen by then."""
        await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0), self._arrived:
                await self._arrived.wait_for(lambda: self._significant_sim() >= significant)

    def _significant_sim(self) -> int:
        return sum(1 for e in self.sim_events if e["type"] in SIGNIFICANT)

    async def _websocket(self, action: str) -> None:
        if action == "connected" and self._ws_task is None:
            ready = asyncio.Event()
            self._ws_task = asyncio.create_task(self._listen(ready))
            await ready.wait()
        elif action == "closed" and self._ws_task is not None:
            await asyncio.sleep(0.05)  # let the last events in
            self._ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ws_task
            self._ws_task = None

    async def _listen(self, ready: asyncio.Event) -> None:
        url = self.base.replace("http", "ws", 1) + "/ari/events?app=ari-recorder&subscribeAll=false"
        async with self.session.ws_connect(url) as ws:
            ready.set()
            async for message in ws:
                event = message.json()
                self.sim.learn(event)
                async with self._arrived:
                    self.sim_events.append(event)
                    self._arrived.notify_all()
                self.report.nonconformant += self.docs.event_problems(event)

    async def _map(self, text: str) -> str | None:
        """The text with the trace's ids replaced by the simulator's; None if one has no twin."""
        missing = False

        async def one(real_id: str) -> str:
            nonlocal missing
            key = self.real.key_of.get(real_id)
            if key is None:
                return real_id
            for _ in range(200):
                if key in self.sim.id_of:
                    return self.sim.id_of[key]
                await asyncio.sleep(0.01)
            missing = True
            return real_id

        parts, last = [], 0
        for match in ID.finditer(text):
            parts += [text[last : match.start()], await one(match.group(0))]
            last = match.end()
        return None if missing else "".join([*parts, text[last:]])

    async def _request(self, entry: dict[str, Any]) -> None:
        index = self.trace.index(entry)
        expected = next(e for e in self.trace[index + 1 :] if e["kind"] == "response")
        path = await self._map(entry["path"])
        params = {k: await self._map(str(v)) for k, v in entry["params"].items()}
        if path is None or None in params.values():
            # An object the trace's Asterisk had from before the trace began (a bridge left by an
            # earlier run shows up in GET /bridges): the simulator cannot have it.
            self.report.skipped.append(f"{entry['method']} {entry['path']}")
            self.gone.update(m.group(0) for m in ID.finditer(entry["path"]))
            return
        url = f"{self.base}/ari{path}"
        async with self.session.request(entry["method"], url, params=params) as response:
            raw = await response.read()
            body: Any = None
            if response.content_type == "application/json":
                body = await response.json()
                self.sim.learn(body)
                self.report.nonconformant += self._body_problems(entry["method"], path, response.status, body)
        self.report.requests += 1
        want = expected["body"]
        problem = None
        if await self._already_ended(entry["method"], path, response.status, expected["status"]):
            # The trace's application hung up a channel (a snoop) 1 ms after the one it watched;
            # replayed late on a loaded machine, the simulator had ended it by then, as a real
            # Asterisk does: a snoop ends with its channel. A race, not a difference.
            self.report.races.append(f"{entry['method']} {entry['path']}: 404, already ended")
            self.report.requests_matched += 1
            return
        if response.status != expected["status"]:
            problem = f"status {response.status} != {expected['status']} ({body})"
        elif isinstance(want, dict) and "_binary_bytes" in want:
            self.report.files[entry["path"]] = (want["_binary_bytes"], len(raw))
            self.report.wavs[entry["path"].split("/")[3]] = raw
        elif isinstance(want, dict) and isinstance(body, dict) and set(want) != set(body):
            problem = f"fields {sorted(body)} != {sorted(want)}"
        elif self.listings and isinstance(want, list) and isinstance(body, list) and len(want) != len(body):
            # GET /channels, /bridges, /applications, /recordings/stored: as many as Asterisk held
            # (for traces recorded on an Asterisk of their own, holding nothing from before).
            problem = f"{len(body)} items != {len(want)}"
        elif "/play" in path and isinstance(body, dict) and want.get("state") != body.get("state"):
            # A playback as answered: "queued", whether its sound exists or not. (A recording's
            # is "queued" or, now and then, already "recording": a race of Asterisk's own.)
            problem = f"state {body.get('state')!r} != {want.get('state')!r}"
        if problem:
            self.report.mismatches.append(f"{entry['method']} {entry['path']}: {problem}")
        else:
            self.report.requests_matched += 1

    async def _already_ended(self, method: str, path: str, status: int, expected: int) -> bool:
        """A DELETE of a channel the trace found alive, answered 404 for one the simulator had
        already ended (its StasisEnd or ChannelDestroyed seen, or arriving within half a second:
        a snoop's StasisEnd is the last the application hears of it)."""
        if method != "DELETE" or status != 404 or expected >= 300 or not path.startswith("/channels/"):
            return False
        channel = path.split("/")[2]

        def ended() -> bool:
            return any(
                e["type"] in ("StasisEnd", "ChannelDestroyed") and e.get("channel", {}).get("id") == channel
                for e in self.sim_events
            )

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5), self._arrived:
                await self._arrived.wait_for(ended)
        return ended()

    def _body_problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """The simulator's answer against the model api-docs declares for the operation."""
        op = self.docs.find_operation(method, path)
        if op is None or status >= 300:
            return [] if status >= 300 and set(body) == {"message"} else [f"{method} {path}: {body}"]
        klass = self.docs.response_classes[(op.method, op.template)]
        if klass.startswith("List["):
            return [p for item in body for p in self.docs.model_problems(klass[5:-1], item)]
        return self.docs.model_problems(klass, body)

    def _compare_events(self) -> None:
        real_events = [
            e
            for e in self.trace
            if e["kind"] == "event" and e["event"]["type"] in SIGNIFICANT and not self._gone(e["event"])
        ]
        real = _numbered([self.real.token(e["event"]) for e in real_events])
        sim = _numbered([self.sim.token(e) for e in self.sim_events if e["type"] in SIGNIFICANT])
        self.report.events = len(real)
        self._compare_payloads(real_events)
        if sorted(real) != sorted(sim):
            matcher = difflib.SequenceMatcher(a=real, b=sim, autojunk=False)
            self.report.events_matched = sum(b.size for b in matcher.get_matching_blocks())
            diff = difflib.unified_diff(real, sim, "real Asterisk", "simulator", lineterm="", n=1)
            self.report.mismatches.append("events differ:\n" + "\n".join(diff))
            return
        # Same events; the order must be the same too, except where real Asterisk itself raced:
        # two events less than a frame apart come from different threads in no guaranteed order.
        when = {token: e["t"] for token, e in zip(real, real_events, strict=True)}
        position = {token: i for i, token in enumerate(sim)}
        self.report.events_matched = len(real)
        for i, a in enumerate(real):
            for b in real[i + 1 :]:
                if position[a] > position[b]:
                    if abs(when[b] - when[a]) <= RACE:
                        self.report.races.append(f"{a} / {b}")
                    else:
                        self.report.events_matched -= 1
                        self.report.mismatches.append(f"order: real has {a} before {b}")

    def _compare_payloads(self, real_events: list[dict[str, Any]]) -> None:
        """Each transfer event's payload against the simulator's of the same type, in order."""
        for kind in PAYLOADS:
            real = [self.real.payload(e["event"]) for e in real_events if e["event"]["type"] == kind]
            sim = [self.sim.payload(e) for e in self.sim_events if e["type"] == kind]
            for n, (a, b) in enumerate(zip(real, sim, strict=False)):
                if a != b:
                    want = json.dumps(a, indent=1, sort_keys=True).splitlines()
                    got = json.dumps(b, indent=1, sort_keys=True).splitlines()
                    diff = difflib.unified_diff(want, got, "real Asterisk", "simulator", lineterm="", n=2)
                    self.report.mismatches.append(f"{kind} #{n + 1} payload differs:\n" + "\n".join(diff))

    def _gone(self, event: dict[str, Any]) -> bool:
        return any(
            isinstance(event.get(k), dict) and event[k].get("id") in self.gone for k in ("channel", "bridge")
        )


def _numbered(tokens: list[str]) -> list[str]:
    """Tokens made unique by their occurrence: the second 'ChannelDtmfReceived x *' gets '#2'."""
    seen: dict[str, int] = {}
    out = []
    for token in tokens:
        seen[token] = seen.get(token, 0) + 1
        out.append(token if seen[token] == 1 else f"{token} ({seen[token]})")
    return out


def audio_agreement(ours: bytes, real_wav: Path, scratch: Path) -> tuple[float, str]:
    """Share of 20 ms windows in which the simulator's file and Asterisk's hold the same parties
    (customer 440 Hz, agent 1000 Hz), over the length of the real file; and a side-by-side."""
    scratch.write_bytes(ours)
    theirs, mine = windows(real_wav, (440, 1000), 2000.0), windows(scratch, (440, 1000), 2000.0)
    same = sum(1 for a, b in zip(theirs, mine, strict=False) if a == b)
    lines = [
        f"{i * 0.02:5.2f}s real={sorted(a)} sim={sorted(b)}"
        for i, (a, b) in enumerate(zip(theirs, mine, strict=False))
        if a != b
    ]
    return same / max(len(theirs), 1), "\n".join(lines[:40])


def check(report: Report, recordings: Path, scratch: Path, say: Callable[[str], None]) -> None:
    """Print the match, then hold the simulator to it: answers, events, JSON, recordings."""
    say(f"\n[trace replay] {report.line()}")
    for race in report.races:
        say(f"[trace replay]   a race Asterisk itself has (within a 20 ms frame): {race}")
    for skipped in report.skipped:
        say(f"[trace replay]   skipped (an object from before the trace began): {skipped}")
    assert not report.mismatches, "\n".join(report.mismatches)
    assert not report.nonconformant, "\n".join(report.nonconformant)
    assert report.requests_matched == report.requests > 0
    assert report.events_matched == report.events
    for path, (real, ours) in report.files.items():
        say(f"[trace replay]   {path}: real {real} bytes, simulator {ours} bytes")
        # Same audio length within 5 %: the recordings follow the wall clock, in 20 ms frames, and
        # a loaded machine paces the replay late by a few frames (3 % seen in CI on a 2 s file);
        # who is heard when is held frame by frame below.
        assert abs(real - ours) <= 0.05 * real, f"{path}: {ours} bytes, real Asterisk wrote {real}"
    for name, ours in report.wavs.items():
        share, differences = audio_agreement(ours, recordings / f"{name}.wav", scratch / f"{name}.wav")
        say(f"[trace replay]   {name}.wav: same parties as Asterisk's file in {share:.1%} of 20 ms windows")
        assert share >= 0.95, differences
