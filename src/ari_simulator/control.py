"""The simulator's own control API under /sim/ (not ARI): what the people on the phones do."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from aiohttp import web

from ari_simulator.ari_http import ASTERISK, DIALPLAN, SOCKETS
from ari_simulator.asterisk import Asterisk
from ari_simulator.consult import consult, refer_replaces
from ari_simulator.dialplan import Dialplan
from ari_simulator.phones import CONSULT_SECONDS, Phone
from ari_simulator.state import Channel, Json, Kind, SimError


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except SimError as error:
        if not request.path.startswith("/sim/"):
            raise
        return web.json_response({"error": error.message}, status=error.status)
    return response


async def _body(request: web.Request) -> Json:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as error:
        raise SimError(400, "the body must be a JSON object") from error
    if not isinstance(body, dict):
        raise SimError(400, "the body must be a JSON object")
    return body


def _party(request: web.Request, body: Json) -> Channel:
    """A channel by `channel` id, or the live call leg of `agent` <ext> or `customer` <number>."""
    ast = request.app[ASTERISK]
    if "channel" in body:
        return ast.channel(str(body["channel"]))
    for key, kinds in (("agent", {Kind.AGENT, Kind.PJSIP}), ("customer", {Kind.INBOUND, Kind.PJSIP})):
        if key in body:
            wanted = str(body[key])
            found = [
                c for c in ast.channels.values() if c.endpoint == wanted and c.kind in kinds and not c.hungup
            ]
            if not found:
                raise SimError(404, f"no live call for {key} {wanted}")
            return found[-1]
    raise SimError(400, "name the party: channel, agent or customer")


def _first_call(request: web.Request, body: Json) -> Json:
    """An agent's phone on a consultation refers on its first call, the one held (its last call
    is the consultation): named by that call's channel."""
    consults = request.app[DIALPLAN].consults
    if "agent" in body and "channel" not in body:
        for first, k in consults.items():
            if k.channel.endpoint == str(body["agent"]) and not k.channel.hungup:
                return {**body, "channel": first}
    return body


def _text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        head = bytes([0x81, size])
    elif size < 65536:
        head = bytes([0x81, 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + size.to_bytes(8, "big")
    return head + payload


def _config(ast: Asterisk) -> Json:
    delay = ast.snoop_stasis_delay
    return {
        "snoop_stasis_delay_ms": None if delay is None else round(delay * 1000, 3),
        "refuse_records": ast.refuse_records,
        "sounds": sorted(ast.media.sounds),
        "stasis_retry_seconds": ast.stasis_retry_seconds,
    }


def routes() -> web.RouteTableDef:
    r = web.RouteTableDef()

    @r.post("/sim/calls")
    async def place_call(request: web.Request) -> web.Response:
        """A customer calls a queue: {"queue", "caller"?, "name"?, "args"?, "via": local|sip,
        "endpoint"?: the SIP trunk's endpoint name (`customer` in the shared reference's
        configuration, `trunk` in the kit's)}."""
        body = await _body(request)
        queue = str(body.get("queue") or "")
        if not queue:
            raise SimError(400, "queue is required")
        dialplan: Dialplan = request.app[DIALPLAN]
        caller = (str(body.get("name", "Customer")), str(body.get("caller", "15550001")))
        args = [f"queue={queue}", *[str(a) for a in body.get("args", [])]]
        if body.get("via", "local") == "sip":
            call = dialplan.inbound_sip(caller, args, str(body.get("endpoint") or "customer"))
            return web.json_response({"channel": call.id, "handset": None})
        handset = dialplan.inbound_local(queue, caller, args)
        assert handset.peer is not None
        return web.json_response({"channel": handset.peer.id, "handset": handset.id})

    @r.post("/sim/outbound")
    async def dial_out(request: web.Request) -> web.Response:
        """An agent's SIP phone calls a customer: {"agent": <ext>, "to": <number>}."""
        body = await _body(request)
        agent, to = str(body.get("agent") or ""), str(body.get("to") or "")
        if not agent or not to:
            raise SimError(400, "agent and to are required")
        call = request.app[DIALPLAN].outbound_sip(agent, to)
        return web.json_response({"channel": call.id})

    @r.post("/sim/dtmf")
    async def press(request: web.Request) -> web.Response:
        """The party presses keys: {"digits", "duration_ms"?: 120, "gap_ms"?: 250}."""
        body = await _body(request)
        ch = _party(request, body)
        digits = str(body.get("digits", ""))
        duration_ms, gap_ms = int(body.get("duration_ms", 120)), int(body.get("gap_ms", 250))
        dialplan: Dialplan = request.app[DIALPLAN]
        from ari_simulator.audio import dtmf_tones

        for digit in digits:
            dtmf_tones(digit)  # ValueError for a key no phone has
        for i, digit in enumerate(digits):
            delay = i * (duration_ms + gap_ms) / 1000
            dialplan.core.later(delay, functools.partial(dialplan.key, ch, digit, duration_ms), ch)
        return web.json_response({"channel": ch.id, "digits": digits})

    @r.post("/sim/talk")
    async def talk(request: web.Request) -> web.Response:
        """The party starts or stops talking: {"talking": bool}."""
        body = await _body(request)
        ch = _party(request, body)
        request.app[DIALPLAN].talk(ch, bool(body.get("talking", True)))
        return web.json_response({"channel": ch.id, "talking": ch.talking})

    @r.post("/sim/hangup")
    async def hang_up(request: web.Request) -> web.Response:
        """The party puts the phone down (a hangup from the far end, cause 16)."""
        body = await _body(request)
        ch = _party(request, body)
        request.app[ASTERISK].hangup(ch, cause=16, soft=False)
        return web.json_response({"channel": ch.id})

    @r.post("/sim/transfer")
    async def transfer(request: web.Request) -> web.Response:
        """The agent's SIP phone blind-transfers the call (REFER) to {"to": <extension>}, or with
        {"replaces": true} completes the attended transfer to its consultation (/sim/consult)."""
        body = await _body(request)
        ch = _party(request, _first_call(request, body))
        if body.get("replaces"):
            second = refer_replaces(request.app[DIALPLAN], ch)
            return web.json_response({"channel": ch.id, "replaces": second.id})
        destination = str(body.get("to") or "")
        if not destination:
            raise SimError(400, "to is required")
        request.app[DIALPLAN].blind_transfer(ch, destination)
        return web.json_response({"channel": ch.id, "to": destination})

    @r.post("/sim/attended_transfer")
    async def attended_transfer(request: web.Request) -> web.Response:
        """The agent's SIP phone (its leg in a Stasis bridge) holds the call, calls {"to": <ext>}
        outside Stasis and, `consult` s (default 1) after the answer, completes an attended
        transfer (REFER with Replaces). Answers at once, with the consultation's two channels.
        {"hold": false}: a phone that sends no hold re-INVITE first (no ChannelHold), as the
        tests' SIPp phone."""
        body = await _body(request)
        ch = _party(request, body)
        to = str(body.get("to") or "")
        if not to:
            raise SimError(400, "to is required")
        try:
            consult = float(body.get("consult", CONSULT_SECONDS))
        except (TypeError, ValueError) as error:
            raise SimError(400, "consult: expected a number of seconds") from error
        hold = bool(body.get("hold", True))
        second, target = request.app[DIALPLAN].attended_transfer(ch, to, consult, hold)
        return web.json_response({"channel": ch.id, "to": to, "consultation": second.id, "target": target.id})

    @r.post("/sim/consult")
    async def consult_call(request: web.Request) -> web.Response:
        """The agent's SIP phone holds the call and dials 7<ext> for {"to": <ext>}: a consultation
        call into Stasis(app,consult,agent=<ext>) (the kit's dialplan, application mode).
        {"hold": false}: no hold re-INVITE first (no ChannelHold), as the tests' SIPp phone."""
        body = await _body(request)
        ch = _party(request, _first_call(request, body))
        to = str(body.get("to") or "")
        if not to:
            raise SimError(400, "to is required")
        second = consult(request.app[DIALPLAN], ch, to, bool(body.get("hold", True)))
        return web.json_response({"channel": ch.id, "to": to, "consultation": second.id})

    @r.put("/sim/phones/{ext}")
    async def set_phone(request: web.Request) -> web.Response:
        """How the phone behind an extension answers: {"answer": auto|never|busy, "delay", "keys"}."""
        body = await _body(request)
        answer = str(body.get("answer", "auto"))
        if answer not in ("auto", "never", "busy"):
            raise SimError(400, "answer must be auto, never or busy")
        keys = tuple((float(at), str(d)) for at, d in body.get("keys", []))
        phone = Phone(
            answer=answer, delay=float(body.get("delay", 0.0)), keys=keys, key_ms=int(body.get("key_ms", 120))
        )
        request.app[DIALPLAN].phones[request.match_info["ext"]] = phone
        return web.json_response({"ext": request.match_info["ext"], "answer": answer})

    @r.get("/sim/config")
    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(_config(request.app[ASTERISK]))

    @r.put("/sim/config")
    async def set_config(request: web.Request) -> web.Response:
        """How this Asterisk misbehaves, as a real one does now and then:
        {"snoop_stasis_delay_ms": 50 (a snoop enters Stasis 50 ms after its POST's answer; 0, the
        default: before it; null: never), "refuse_records": 2 (the next 2 record requests are
        refused; -1: all), "sounds": ["sim/announcement", ...] (the sound files it has),
        "stasis_retry_seconds": 30 (the kit's STASIS_RETRY_SECONDS: how long a call whose Stasis()
        fails, no WebSocket connected, is tried again every second before its fallback hangs it up;
        0: at once)}."""
        body = await _body(request)
        ast = request.app[ASTERISK]
        unknown = set(body) - {"snoop_stasis_delay_ms", "refuse_records", "sounds", "stasis_retry_seconds"}
        if unknown:
            raise SimError(400, f"unknown settings: {', '.join(sorted(unknown))}")
        if "snoop_stasis_delay_ms" in body:
            delay = body["snoop_stasis_delay_ms"]
            if delay is not None and (not isinstance(delay, int | float) or delay < 0):
                raise SimError(400, "snoop_stasis_delay_ms: expected milliseconds >= 0, or null for never")
            ast.snoop_stasis_delay = None if delay is None else delay / 1000
        if "refuse_records" in body:
            refuse = body["refuse_records"]
            if not isinstance(refuse, int) or refuse < -1:
                raise SimError(400, "refuse_records: expected a count, or -1 for all")
            ast.refuse_records = refuse
        if "sounds" in body:
            sounds = body["sounds"]
            if not isinstance(sounds, list) or not all(isinstance(x, str) and x for x in sounds):
                raise SimError(400, "sounds: expected a list of sound names")
            ast.media.sounds = set(sounds)
        if "stasis_retry_seconds" in body:
            retry = body["stasis_retry_seconds"]
            if not isinstance(retry, int) or retry < 0:
                raise SimError(400, "stasis_retry_seconds: expected whole seconds >= 0")
            ast.stasis_retry_seconds = retry
        return web.json_response(_config(ast))

    @r.get("/sim/state")
    async def state(request: web.Request) -> web.Response:
        ast = request.app[ASTERISK]
        return web.json_response(
            {
                "channels": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "state": c.state,
                        "app": c.stasis_app,
                        "bridge": c.bridge.id if c.bridge else None,
                    }
                    for c in ast.channels.values()
                    if not c.hungup
                ],
                "bridges": [b.json() for b in ast.bridges.values()],
                "live_recordings": [r.json() for r in ast.media.live.values()],
                "stored_recordings": sorted(ast.media.stored),
                "applications": {name: len(app.sockets) for name, app in ast.apps.items()},
            }
        )

    @r.post("/sim/drop-websockets")
    async def drop(request: web.Request) -> web.Response:
        """Close every event WebSocket, as a network failure would."""
        sockets = request.app[SOCKETS].copy()
        for ws in sockets:
            await ws.close()
        return web.json_response({"closed": len(sockets)})

    @r.post("/sim/restart")
    async def restart(request: web.Request) -> web.Response:
        """Asterisk restarted (`core stop now`, then started): every channel hung up with its
        events, the event WebSockets closed as the process exits (`exit_seconds`, 1.1 s as in
        asterisk_restart.jsonl), then nothing held, ids started again; stored recordings stay.
        Answered once it is up again."""
        body = await _body(request) if request.can_read_body else {}
        ast = request.app[ASTERISK]
        ast.stop_now()
        await asyncio.sleep(float(body.get("exit_seconds", 1.1)))
        for ws in request.app[SOCKETS].copy():
            await ws.close()
        ast.start_again()
        return web.json_response({"restarted": True})

    @r.post("/sim/replay-events")
    async def replay(request: web.Request) -> web.Response:
        """Push given events, `count` times over, to an application's sockets (for benchmarks).

        With "burst": true the frames are encoded up front and written in one go, so that what is
        measured downstream is the reader alone, not this sender's pace.
        """
        body = await _body(request)
        app = request.app[ASTERISK].apps.get(str(body.get("app", "")))
        if app is None or not app.sockets:
            raise SimError(409, "no WebSocket is connected for that application")
        texts = [json.dumps(e) for e in body.get("events", [])]
        count = int(body.get("count", 1))
        if body.get("burst"):
            frames = b"".join(_text_frame(t.encode()) for t in texts) * count
            for subscriber in app.sockets:
                subscriber.transport.write(frames)
        else:
            for _ in range(count):
                for text in texts:
                    for subscriber in app.sockets:
                        subscriber.outbox.put_nowait(text)
        return web.json_response({"queued": count * len(texts)})

    return r
