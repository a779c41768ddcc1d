"""A small ARI stand-in that records every request and answers by api-docs' response class.

Its sample bodies are real Asterisk answers, taken from the traces.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.apidocs import ApiDocs
from tests.support.reference import load_trace, reference_dir


@dataclass
class Captured:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class CaptureServer:
    docs: ApiDocs
    samples: dict[str, Any]
    requests: list[Captured] = field(default_factory=list)
    fail_with: tuple[int, str] | None = None  # answer everything with this status and message
    file_bytes: bytes = b"RIFF" + bytes(4096)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # As sent: a sound id's slash stays %2F, one path segment (request.path would decode it).
        path = request.raw_path.partition("?")[0].removeprefix("/ari")
        body = await request.json() if request.can_read_body else None
        self.requests.append(Captured(request.method, path, dict(request.query), body))
        if self.fail_with:
            status, message = self.fail_with
            return web.json_response({"message": message}, status=status)
        op = self.docs.find_operation(request.method, path)
        if op is None:
            return web.json_response({"message": "Resource not found"}, status=404)
        response_class = _response_class(self.docs, request.method, path)
        if response_class == "binary":
            return web.Response(body=self.file_bytes, content_type="audio/wav")
        if response_class in ("void", None):
            return web.Response(status=204)
        if response_class.startswith("List["):
            return web.json_response([self.samples[response_class[5:-1]]])
        return web.json_response(self.samples[response_class])


def _response_class(docs: ApiDocs, method: str, path: str) -> str | None:
    op = docs.find_operation(method, path)
    assert op is not None
    return docs.response_classes.get((op.method, op.template))


def trace_samples() -> dict[str, Any]:
    """One real body per model, from the traces (plus the few no trace shows)."""
    samples: dict[str, Any] = {}
    for path in sorted((reference_dir() / "traces").glob("*.jsonl")):
        for entry in load_trace(path):
            if entry["kind"] != "response" or not isinstance(entry.get("body"), dict):
                continue
            body = entry["body"]
            if "dialplan" in body:
                samples.setdefault("Channel", body)
            elif "bridge_type" in body:
                samples.setdefault("Bridge", body)
            elif "target_uri" in body and "media_uri" in body:
                samples.setdefault("Playback", body)
            elif "target_uri" in body:
                samples.setdefault("LiveRecording", body)
            elif set(body) == {"format", "name"}:
                samples.setdefault("StoredRecording", body)
            elif "channel_ids" in body:
                samples.setdefault("Application", body)
    samples["Variable"] = {"value": "ari-only"}
    # As a real Asterisk 22 answered GET /sounds/sim%2Fannouncement (../asterisk/README.md).
    samples["Sound"] = {"id": "sim/announcement", "formats": [{"language": "en", "format": "slin"}]}
    samples["AsteriskPing"] = {
        "asterisk_id": "02:fc:00:00:00:01",
        "ping": "pong",
        "timestamp": "2026-11-22T11:33:49.436+0000",
    }
    samples["AsteriskInfo"] = {"system": {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"}}
    return samples


@contextlib.asynccontextmanager
async def capture_server(docs: ApiDocs) -> AsyncIterator[tuple[CaptureServer, str]]:
    server = CaptureServer(docs, trace_samples())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}/ari"
    finally:
        await runner.cleanup()


__all__ = ["CaptureServer", "capture_server", "json"]
