"""ARI's REST resources and event WebSocket, served by the simulator under /ari."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from ari_simulator.asterisk import Asterisk
from ari_simulator.dialplan import Dialplan
from ari_simulator.state import Bridge, Channel, Json, SimError, Subscriber

ASTERISK = web.AppKey("asterisk", Asterisk)
DIALPLAN = web.AppKey("dialplan", Dialplan)
CREDENTIALS: web.AppKey[tuple[str, str]] = web.AppKey("credentials")
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HANGUP_CAUSES = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


def _reply(body: Any, status: int = 200) -> web.Response:
    if body is None:
        return web.Response(status=204)
    return web.json_response(body, status=status)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


@web.middleware
async def ari_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Asterisk's error shape, {"message": ...}, for every failure under /ari."""
    try:
        return await handler(request)
    except SimError as error:
        return _error(error.status, error.message)
    except web.HTTPException as error:
        if not request.path.startswith("/ari/") or error.status < 400:
            raise
        return _error(error.status, error.reason)


@web.middleware
async def ari_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/ari/"):
        return await handler(request)
    user, password = request.app[CREDENTIALS]
    expected = base64.b64encode(f"{user}:{password}".encode()).decode()
    given = request.headers.get("Authorization", "").removeprefix("Basic ").strip()
    api_key = request.query.get("api_key", "")
    if hmac.compare_digest(given, expected) or (
        api_key and hmac.compare_digest(api_key, f"{user}:{password}")
    ):
        return await handler(request)
    return _error(401, "Authentication required")


async def _params(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """Query parameters, plus those given in a JSON body (ARI takes both); and `variables`."""
    params = {k: v for k, v in request.query.items() if k != "api_key"}
    variables: dict[str, str] = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError) as error:
            raise SimError(400, "Error parsing request body") from error
        if isinstance(body, dict):
            variables = {str(k): str(v) for k, v in (body.pop("variables", None) or {}).items()}
            params.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in body.items()})
    return params, variables


def _flag(params: dict[str, str], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise SimError(400, f"{name}: expected true or false")
    return value.lower() == "true"


def _number(params: dict[str, str], name: str) -> float | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError as error:
        raise SimError(400, f"{name}: expected a number") from error


def routes() -> web.RouteTableDef:
    r = web.RouteTableDef()

    def core(request: web.Request) -> Asterisk:
        return request.app[ASTERISK]

    # ----- channels -----
    @r.get("/ari/channels")
    async def list_channels(request: web.Request) -> web.Response:
        return _reply([c.json() for c in core(request).channels.values() if not c.hungup])

    @r.post("/ari/channels")
    async def originate(request: web.Request) -> web.Response:
        params, variables = await _params(request)
        return _reply(request.app[DIALPLAN].originate(params, variables, params.get("channelId")))

    @r.get("/ari/channels/{id}")
    async def get_channel(request: web.Request) -> web.Response:
        return _reply(core(request).channel(request.match_info["id"]).json())

    @r.post("/ari/channels/{id}")
    async def originate_with_id(request: web.Request) -> web.Response:
        params, variables = await _params(request)
        return _reply(request.app[DIALPLAN].originate(params, variables, request.match_info["id"]))

    @r.delete("/ari/channels/{id}")
    async def hangup(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ch = core(request).channel(request.match_info["id"])
        reason = params.get("reason")
        if reason is not None and reason not in HANGUP_CAUSES:
            raise SimError(400, "Invalid reason for hangup provided")
        cause = int(params.get("reason_code") or HANGUP_CAUSES.get(reason or "", 32))
        core(request).hangup(ch, cause=cause, soft=True)
        return _reply(None)

    @r.post("/ari/channels/{id}/answer")
    async def answer(request: web.Request) -> web.Response:
        ast = core(request)
        ch = ast.channel(request.match_info["id"])
        ast.in_stasis(ch)
        if ch.state != "Up":
            ast.set_state(ch, "Up")
            if ch.peer is not None:
                ch.peer.state = "Up"
            ch.talking = ch.talk_hz is not None
            ast.audio_changed(ch)
        return _reply(None)

    @r.post("/ari/channels/{id}/continue")
    async def continue_in_dialplan(request: web.Request) -> web.Response:
        ast = core(request)
        ch = ast.channel(request.match_info["id"])
        ast.in_stasis(ch)
        ast.stasis_end(ch)
        # The simulated dialplan has nothing after Stasis() but Hangup().
        ast.later(0.05, lambda: ast.hangup(ch, cause=16, soft=False), ch)
        return _reply(None)

    @r.post("/ari/channels/{id}/play")
    @r.post("/ari/channels/{id}/play/{playback}")
    async def play_on_channel(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ch = core(request).channel(request.match_info["id"])
        pid = request.match_info.get("playback") or params.get("playbackId")
        return _reply(core(request).media.play(ch, media=params.get("media"), playback_id=pid), 201)

    @r.post("/ari/channels/{id}/record")
    async def record_channel(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ch = core(request).channel(request.match_info["id"])
        return _reply(_record(core(request), ch, params), 201)

    @r.post("/ari/channels/{id}/snoop")
    @r.post("/ari/channels/{id}/snoop/{snoop}")
    async def snoop(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        return _reply(
            core(request).media.snoop(
                request.match_info["id"],
                spy=params.get("spy", "none"),
                whisper=params.get("whisper", "none"),
                app=params.get("app"),
                app_args=params.get("appArgs", ""),
                snoop_id=request.match_info.get("snoop") or params.get("snoopId"),
            )
        )

    @r.post("/ari/channels/{id}/mute")
    @r.delete("/ari/channels/{id}/mute")
    async def mute(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ast = core(request)
        ch = ast.channel(request.match_info["id"])
        direction = params.get("direction", "both")
        if direction not in ("both", "in", "out"):
            raise SimError(400, "Invalid direction specified")
        on = request.method == "POST"
        if direction in ("in", "both"):
            ch.muted_in = on
        if direction in ("out", "both"):
            ch.muted_out = on
        ast.audio_changed(ch)
        return _reply(None)

    @r.post("/ari/channels/{id}/dtmf")
    async def send_dtmf(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ast = core(request)
        ast.in_stasis(ast.channel(request.match_info["id"]))
        if not params.get("dtmf"):
            raise SimError(400, "DTMF is required")
        # Keys go out as RFC 4733 events, not audio: no recording hears them, and the simulated
        # phones do not act on keys sent to them. Nothing else to change.
        return _reply(None)

    @r.get("/ari/channels/{id}/variable")
    async def get_variable(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ch = core(request).channel(request.match_info["id"])
        name = params.get("variable")
        if not name:
            raise SimError(400, "Variable name is required")
        if name not in ch.variables:
            raise SimError(404, "Provided variable was not found")
        return _reply({"value": ch.variables[name]})

    @r.post("/ari/channels/{id}/variable")
    async def set_variable(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ch = core(request).channel(request.match_info["id"])
        name = params.get("variable")
        if not name:
            raise SimError(400, "Variable name is required")
        ch.variables[name] = params.get("value", "")
        return _reply(None)

    # ----- bridges -----
    @r.get("/ari/bridges")
    async def list_bridges(request: web.Request) -> web.Response:
        return _reply([b.json() for b in core(request).bridges.values()])

    @r.post("/ari/bridges")
    @r.post("/ari/bridges/{id}")
    async def create_bridge(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        bridge_id = request.match_info.get("id") or params.get("bridgeId")
        br = core(request).create_bridge(params.get("type", "mixing"), params.get("name", ""), bridge_id)
        return _reply(br.json())

    @r.get("/ari/bridges/{id}")
    async def get_bridge(request: web.Request) -> web.Response:
        return _reply(core(request).bridge(request.match_info["id"]).json())

    @r.delete("/ari/bridges/{id}")
    async def destroy_bridge(request: web.Request) -> web.Response:
        core(request).destroy_bridge(core(request).bridge(request.match_info["id"]))
        return _reply(None)

    @r.post("/ari/bridges/{id}/addChannel")
    async def add_channel(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ast = core(request)
        br = ast.bridge(request.match_info["id"])
        channels = _bridge_members(ast, params)
        for ch in channels:
            if ch.stasis_app is None:
                raise SimError(422, "Channel not in Stasis application")
        for ch in channels:
            ast.move_into(br, ch, absorb_dtmf=_flag(params, "absorbDTMF"), mute=_flag(params, "mute"))
        return _reply(None)

    @r.post("/ari/bridges/{id}/removeChannel")
    async def remove_channel(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        ast = core(request)
        br = ast.bridge(request.match_info["id"])
        channels = _bridge_members(ast, params)
        if any(ch.bridge is not br for ch in channels):
            raise SimError(422, "Channel not in this bridge")
        for ch in channels:
            ast.leave_bridge(ch)
        return _reply(None)

    @r.post("/ari/channels/{id}/moh")
    @r.delete("/ari/channels/{id}/moh")
    async def channel_moh(request: web.Request) -> web.Response:
        ast = core(request)
        ch = ast.channel(request.match_info["id"])
        ch.moh = request.method == "POST"
        ast.audio_changed(ch.bridge if ch.bridge is not None else ch)
        return _reply(None)

    @r.post("/ari/bridges/{id}/moh")
    @r.delete("/ari/bridges/{id}/moh")
    async def bridge_moh(request: web.Request) -> web.Response:
        ast = core(request)
        br = ast.bridge(request.match_info["id"])
        br.moh = request.method == "POST"
        ast.audio_changed(br)
        return _reply(None)

    @r.post("/ari/bridges/{id}/play")
    @r.post("/ari/bridges/{id}/play/{playback}")
    async def play_on_bridge(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        br = core(request).bridge(request.match_info["id"])
        pid = request.match_info.get("playback") or params.get("playbackId")
        return _reply(core(request).media.play(br, media=params.get("media"), playback_id=pid), 201)

    @r.post("/ari/bridges/{id}/record")
    async def record_bridge(request: web.Request) -> web.Response:
        params, _ = await _params(request)
        br = core(request).bridge(request.match_info["id"])
        return _reply(_record(core(request), br, params), 201)

    # ----- recordings -----
    @r.get("/ari/recordings/live/{name}")
    async def get_live(request: web.Request) -> web.Response:
        return _reply(core(request).media.live_recording(request.match_info["name"]).json())

    live_ops = {
        ("POST", "stop"): "stop",
        ("POST", "pause"): "pause",
        ("DELETE", "pause"): "unpause",
        ("POST", "mute"): "mute",
        ("DELETE", "mute"): "unmute",
    }

    @r.post("/ari/recordings/live/{name}/{op:stop|pause|mute}")
    @r.delete("/ari/recordings/live/{name}/{op:pause|mute}")
    async def control_live(request: web.Request) -> web.Response:
        operation = live_ops[(request.method, request.match_info["op"])]
        core(request).media.control(request.match_info["name"], operation)
        return _reply(None)

    @r.delete("/ari/recordings/live/{name}")
    async def cancel_live(request: web.Request) -> web.Response:
        core(request).media.control(request.match_info["name"], "cancel")
        return _reply(None)

    @r.get("/ari/recordings/stored")
    async def list_stored(request: web.Request) -> web.Response:
        # Asterisk lists the files in its recording folder, among them those still being written
        # (seen: a live recording listed; tests/asterisk/test_lagging_takeover.py).
        media = core(request).media
        listed = {name: stored.json() for name, stored in media.stored.items()}
        for name, live in media.live.items():
            listed.setdefault(name, {"format": live.format, "name": name})
        return _reply([listed[name] for name in sorted(listed)])

    @r.get("/ari/recordings/stored/{name}")
    async def get_stored(request: web.Request) -> web.Response:
        return _reply(core(request).media.stored_recording(request.match_info["name"]).json())

    @r.delete("/ari/recordings/stored/{name}")
    async def delete_stored(request: web.Request) -> web.Response:
        await core(request).media.delete_stored(request.match_info["name"])
        return _reply(None)

    @r.get("/ari/recordings/stored/{name}/file")
    async def stored_file(request: web.Request) -> web.StreamResponse:
        path = await core(request).media.stored_file(request.match_info["name"])
        return web.FileResponse(path, headers={"Content-Type": "audio/wav"})

    # ----- playbacks, applications, asterisk -----
    @r.get("/ari/playbacks/{id}")
    async def get_playback(request: web.Request) -> web.Response:
        return _reply(core(request).media.playback(request.match_info["id"]).json())

    @r.delete("/ari/playbacks/{id}")
    async def stop_playback(request: web.Request) -> web.Response:
        media = core(request).media
        media.stop_playback(media.playback(request.match_info["id"]))
        return _reply(None)

    @r.get("/ari/applications")
    async def list_applications(request: web.Request) -> web.Response:
        ast = core(request)
        return _reply([_application(ast, name) for name in sorted(ast.apps) if ast.registered(name)])

    @r.get("/ari/sounds/{id:.+}")
    async def get_sound(request: web.Request) -> web.Response:
        return _reply(core(request).media.sound(request.match_info["id"]))

    @r.get("/ari/applications/{name}")
    async def get_application(request: web.Request) -> web.Response:
        ast = core(request)
        if not ast.registered(request.match_info["name"]):
            raise SimError(404, "Application not found")
        return _reply(_application(ast, request.match_info["name"]))

    @r.get("/ari/asterisk/ping")
    async def ping(request: web.Request) -> web.Response:
        from ari_simulator.state import ASTERISK_ID, ari_timestamp

        return _reply({"asterisk_id": ASTERISK_ID, "ping": "pong", "timestamp": ari_timestamp()})

    @r.get("/ari/asterisk/info")
    async def info(request: web.Request) -> web.Response:
        return _reply(
            {
                "build": {
                    "os": "Linux",
                    "kernel": "",
                    "machine": "x86_64",
                    "options": "",
                    "date": "",
                    "user": "ari-recorder-simulator",
                },
                "system": {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"},
                "config": {
                    "name": "ari-recorder-simulator",
                    "default_language": "en",
                    "setid": {"user": "asterisk", "group": "asterisk"},
                },
                "status": {"startup_time": "", "last_reload_time": ""},
            }
        )

    @r.get("/ari/events")
    async def events(request: web.Request) -> web.StreamResponse:
        return await _event_socket(request)

    return r


def _bridge_members(ast: Asterisk, params: dict[str, str]) -> list[Channel]:
    ids = [i for i in params.get("channel", "").split(",") if i]
    if not ids:
        raise SimError(400, "Missing parameter channel")
    found = [ast.channels.get(i) for i in ids]
    if any(ch is None or ch.hungup for ch in found):
        raise SimError(400, "Channel not found")
    return [ch for ch in found if ch is not None]


def _record(ast: Asterisk, target: Channel | Bridge, params: dict[str, str]) -> Json:
    return ast.media.record(
        target,
        name=params.get("name"),
        fmt=params.get("format"),
        if_exists=params.get("ifExists", "fail"),
        terminate_on=params.get("terminateOn", "none"),
        max_duration=_number(params, "maxDurationSeconds"),
    )


def _application(ast: Asterisk, name: str) -> Json:
    channels = [c.id for c in ast.channels.values() if not c.hungup and name in c.apps()]
    bridges = [b.id for b in ast.bridges.values() if name in b.subscribed]
    return ast.apps[name].json(channels, bridges)


async def _event_socket(request: web.Request) -> web.StreamResponse:
    names = [a for a in request.query.get("app", "").split(",") if a]
    if not names:
        return _error(400, "Invalid application provided in param [app].")
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    ast = request.app[ASTERISK]
    outbox: asyncio.Queue[str | None] = asyncio.Queue()
    subscriber = Subscriber(outbox, request.transport)
    apps = [ast.register_app(name) for name in names]
    for app in apps:
        app.sockets.append(subscriber)
    request.app[SOCKETS].add(ws)

    async def pump() -> None:
        while (text := await outbox.get()) is not None:
            await ws.send_str(text)

    writer = asyncio.create_task(pump())
    try:
        async for message in ws:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
    finally:
        for app in apps:
            with contextlib.suppress(ValueError):
                app.sockets.remove(subscriber)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await writer
        request.app[SOCKETS].discard(ws)
    return ws
