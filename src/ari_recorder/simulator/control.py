"""The simulator's own control API under /sim/ (not ARI): what the people on the phones do."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from ari_recorder.simulator.ari_http import ASTERISK, DIALPLAN, SOCKETS
from ari_recorder.simulator.consult import consult, refer_replaces
from ari_recorder.simulator.dialplan import CONSULT_SECONDS, Dialplan, Phone
from ari_recorder.simulator.state import Channel, Json, Kind, SimError


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


def routes() -> web.RouteTableDef:
    r = web.RouteTableDef()

    @r.post("/sim/calls")
    async def place_call(request: web.Request) -> web.Response:
        """A customer calls a queue: {"queue", "caller"?, "name"?, "args"?, "via": local|sip}."""
        body = await _body(request)
        queue = str(body.get("queue") or "")
        if not queue:
            raise SimError(400, "queue is required")
        dialplan: Dialplan = request.app[DIALPLAN]
        caller = (str(body.get("name", "Customer")), str(body.get("caller", "15550001")))
        args = [f"queue={queue}", *[str(a) for a in body.get("args", [])]]
        if body.get("via", "local") == "sip":
            call = dialplan.inbound_sip(caller, args)
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
        from ari_recorder.simulator.audio import dtmf_tones

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
        transfer (REFER with Replaces). Answers at once, with the consultation's two channels."""
        body = await _body(request)
        ch = _party(request, body)
        to = str(body.get("to") or "")
        if not to:
            raise SimError(400, "to is required")
        try:
            consult = float(body.get("consult", CONSULT_SECONDS))
        except (TypeError, ValueError) as error:
            raise SimError(400, "consult: expected a number of seconds") from error
        second, target = request.app[DIALPLAN].attended_transfer(ch, to, consult)
        return web.json_response({"channel": ch.id, "to": to, "consultation": second.id, "target": target.id})

    @r.post("/sim/consult")
    async def consult_call(request: web.Request) -> web.Response:
        """The agent's SIP phone holds the call and dials 7<ext> for {"to": <ext>}: a consultation
        call into Stasis(app,consult,agent=<ext>) (the kit's dialplan, application mode)."""
        body = await _body(request)
        ch = _party(request, _first_call(request, body))
        to = str(body.get("to") or "")
        if not to:
            raise SimError(400, "to is required")
        second = consult(request.app[DIALPLAN], ch, to)
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
