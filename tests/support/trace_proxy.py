"""The reference traces' capture tool: a recording proxy between an ARI client and a real Asterisk.

A client (a scenario script, or the controller itself) talks to the proxy as it would to Asterisk's
ARI: REST under `/ari/...` and the event WebSocket at `/ari/events`. Everything is passed on to
Asterisk and one JSON line is written per thing said, in the format of `tests/reference/traces/`:

    {"kind": "request", "method", "path", "params", "t"}             (+ "body" when one was sent)
    {"kind": "response", "method", "path", "status", "body", "t"}    (body: JSON, null, or
                                                                      {"_binary_bytes", "_content_type"})
    {"kind": "event", "event", "t"}
    {"kind": "websocket", "action": "connected", "url", "t"} / {"kind": "websocket", "action": "closed", "t"}
    {"kind": "note", "text", "t"}

`t` is seconds since the proxy started; `path` and `url` are relative to `/ari`, as the client sent
them. Credentials are never written: no header is, and an `api_key` parameter is left out.
Notes come from `TraceProxy.note()` in process, or `POST /capture/note {"text": ...}`.

Not to be confused with tests/ari/capture.py, a fake ARI server for the client's tests.

    python -m tests.support.trace_proxy --asterisk http://127.0.0.1:8088/ari --listen 8090 \\
        --out trace.jsonl            # ARI_USER / ARI_PASSWORD from the environment
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import yarl
from aiohttp import web

from ari_recorder.ari.rest import basic_auth

SECRET_PARAMS = {"api_key"}
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}


@dataclass
class TraceProxy:
    asterisk: str  # Asterisk's ARI base URL, e.g. http://127.0.0.1:8088/ari
    out: IO[str]
    user: str = "asterisk"
    password: str = ""
    started: float = field(default_factory=time.monotonic)
    lines: int = 0
    _session: aiohttp.ClientSession | None = None
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)

    # ----- the trace -----
    def write(self, kind: str, **fields: Any) -> None:
        entry = {"kind": kind, "t": round(time.monotonic() - self.started, 4), **fields}
        self.out.write(json.dumps(entry, sort_keys=True) + "\n")
        self.out.flush()
        self.lines += 1

    def note(self, text: str) -> None:
        self.write("note", text=text)

    # ----- proxying -----
    def _auth(self, request: web.Request) -> dict[str, str]:
        given = request.headers.get("Authorization")
        if given or "api_key" in request.query:
            return {"Authorization": given} if given else {}
        return {"Authorization": basic_auth(self.user, self.password)}

    @staticmethod
    def _relative(request: web.Request) -> str:
        return request.raw_path.split("?", 1)[0].removeprefix("/ari")

    @staticmethod
    def _params(request: web.Request) -> dict[str, str]:
        return {k: v for k, v in request.query.items() if k not in SECRET_PARAMS}

    def _url(self, request: web.Request) -> str:
        query = request.raw_path.partition("?")[2]
        return self.asterisk + self._relative(request) + (f"?{query}" if query else "")

    async def rest(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        path = self._relative(request)
        raw = await request.read()
        entry: dict[str, Any] = {"method": request.method, "path": path, "params": self._params(request)}
        if raw:
            try:
                entry["body"] = json.loads(raw)
            except ValueError:
                entry["body"] = {"_binary_bytes": len(raw)}
        self.write("request", **entry)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers.pop("Authorization", None)
        headers.update(self._auth(request))
        try:
            async with self._session.request(
                request.method, yarl_url(self._url(request)), data=raw or None, headers=headers
            ) as upstream:
                content = await upstream.read()
                status, content_type = upstream.status, upstream.content_type
                passed = {
                    k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS | {"server"}
                }
        except aiohttp.ClientError as error:
            self.note(f"proxy: {request.method} {path} not answered: {error.__class__.__name__}")
            return web.json_response({"message": f"proxy: Asterisk not reachable ({error})"}, status=502)
        body: Any
        if not content:
            body = None
        elif content_type == "application/json":
            body = json.loads(content)
        else:
            body = {"_binary_bytes": len(content), "_content_type": content_type}
        self.write("response", method=request.method, path=path, status=status, body=body)
        passed.pop("Content-Encoding", None)
        return web.Response(status=status, body=content, headers=passed)

    async def events(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        url = self._url(request).replace("http", "ws", 1)
        query = "&".join(
            f"{k}={v}" for k, v in request.query.items() if k not in SECRET_PARAMS
        )  # as the client sent them, less any api_key
        try:
            upstream = await self._session.ws_connect(yarl_url(url), headers=self._auth(request))
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as error:
            status = getattr(error, "status", 502)
            self.note(f"proxy: event WebSocket refused by Asterisk: {error.__class__.__name__} {status}")
            refused = {"message": "proxy: Asterisk refused the WebSocket"}
            return web.json_response(refused, status=status or 502)
        client = web.WebSocketResponse(heartbeat=None)
        await client.prepare(request)
        self._sockets.add(client)
        self.write("websocket", action="connected", url=f"/events?{query}" if query else "/events")

        async def downstream() -> None:
            async for message in upstream:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.write("event", event=json.loads(message.data))
                    await client.send_str(message.data)

        async def from_client() -> None:
            async for message in client:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(message.data)

        tasks = [asyncio.create_task(downstream()), asyncio.create_task(from_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                    await task
            self.write("websocket", action="closed")
            await upstream.close()
            await client.close()
            self._sockets.discard(client)
        return client

    async def note_endpoint(self, request: web.Request) -> web.Response:
        self.note(str((await request.json())["text"]))
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/capture/note", self.note_endpoint)
        app.router.add_get("/ari/events", self.events)
        app.router.add_route("*", "/ari/{tail:.*}", self.rest)

        async def session(app: web.Application) -> AsyncIterator[None]:
            self._session = aiohttp.ClientSession(auto_decompress=False)
            yield
            for ws in list(self._sockets):
                await ws.close()
            await self._session.close()

        app.cleanup_ctx.append(session)
        return app


def yarl_url(text: str) -> yarl.URL:
    """The URL exactly as given: the client's encoding (a sound id's %2F) passed on unchanged."""
    return yarl.URL(text, encoded=True)


@contextlib.asynccontextmanager
async def recording_proxy(
    asterisk: str, out: Path, *, user: str = "asterisk", password: str = "", port: int = 0
) -> AsyncIterator[tuple[TraceProxy, str]]:
    """A proxy on 127.0.0.1 writing `out`; yields it and its ARI base URL (`http://.../ari`)."""
    with out.open("w") as handle:
        proxy = TraceProxy(asterisk.rstrip("/"), handle, user=user, password=password)
        runner = web.AppRunner(proxy.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = runner.addresses[0][1]
        try:
            yield proxy, f"http://127.0.0.1:{bound}/ari"
        finally:
            await runner.cleanup()


async def _main(args: argparse.Namespace) -> None:
    user = os.environ.get("ARI_USER", "asterisk")
    password = os.environ.get("ARI_PASSWORD", "")
    async with recording_proxy(args.asterisk, args.out, user=user, password=password, port=args.listen) as (
        _,
        url,
    ):
        print(f"recording {url} -> {args.asterisk} into {args.out}; Ctrl-C ends", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--asterisk", required=True, help="Asterisk's ARI base URL, e.g. http://127.0.0.1:8088/ari"
    )
    parser.add_argument("--listen", type=int, default=8090, help="port on 127.0.0.1 for the client")
    parser.add_argument("--out", type=Path, required=True, help="the trace file (JSON lines)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
