"""The REST client against the simulator and against failures: typed errors, streamed files."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from ari_recorder.ari.errors import (
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
    AriUnavailable,
    AriUnprocessable,
)
from ari_recorder.ari.naming import MAX_LENGTH, safe_recording_name
from ari_recorder.ari.rest import AriClient
from ari_simulator.server import serve
from tests.ari.capture import capture_server
from tests.support import apidocs
from tests.support.sim import sim_app


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AriBadRequest),
        (401, AriUnauthorized),
        (404, AriNotFound),
        (409, AriConflict),
        (422, AriUnprocessable),
        (500, AriServerError),
    ],
)
async def test_each_error_status_is_its_own_exception(status: int, cls: type[AriError]) -> None:
    async with capture_server(apidocs.load()) as (server, url), AriClient(url, "u", "p") as ari:
        server.fail_with = (status, "what Asterisk said")
        with pytest.raises(cls) as caught:
            await ari.answer("c1")
    assert caught.value.status == status and caught.value.message == "what Asterisk said"
    assert str(caught.value) == f"ARI POST /channels/c1/answer: {status} what Asterisk said"


async def test_a_404_that_is_not_aris_answer_is_asterisk_still_starting() -> None:
    """While Asterisk boots its HTTP server answers before ARI's resources exist, with an HTML
    404 page (seen on 22.10.1): that is not "no such recording", or a recording still to delete
    in Asterisk would be taken as deleted and stay there for good."""

    async def html_404(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html><h1>Not Found</h1></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", html_404)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AriClient(f"http://127.0.0.1:{port}/ari", "u", "p") as ari:
            with pytest.raises(AriUnavailable, match="still starting"):
                await ari.delete_stored("rec-1")
    finally:
        await runner.cleanup()


async def test_the_real_error_answers_through_the_simulator() -> None:
    """The answers of errors.jsonl, as the project's typed errors."""
    async with serve() as sim, AriClient(sim.ari_url, "asterisk", "asterisk") as ari:
        with pytest.raises(AriNotFound, match="Channel not found"):
            await ari.answer("no-such-channel")
        with pytest.raises(AriNotFound, match="Recording not found"):
            await ari.pause_recording("no-such-recording")
        with pytest.raises(AriServerError, match="Unable to create bridge"):
            await ari.create_bridge(type="no-such-type")
        with pytest.raises(AriBadRequest, match="Application name is required"):
            await ari._call("POST", "/channels/x/snoop", {"spy": "both"})


async def test_unreachable_and_silent_asterisk_are_unavailable_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with AriClient("http://127.0.0.1:9/ari", "asterisk", "s3cret") as ari:
        with pytest.raises(AriUnavailable) as refused:
            await ari.ping()
    assert "cannot reach Asterisk at http://127.0.0.1:9/ari" in str(refused.value)

    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accepts, reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}/ari", "asterisk", "s3cret", timeout=0.2) as ari:
        with pytest.raises(AriUnavailable) as timed_out:
            await ari.ping()
    for writer in writers:
        writer.close()
        await writer.wait_closed()
    server.close()
    await server.wait_closed()
    assert "no answer from Asterisk" in str(timed_out.value)
    for text in (str(refused.value), str(timed_out.value), caplog.text):
        assert "s3cret" not in text


async def test_wrong_password_is_unauthorized() -> None:
    async with serve() as sim, AriClient(sim.ari_url, "asterisk", "wrong") as ari:
        with pytest.raises(AriUnauthorized):
            await ari.list_channels()


async def test_stored_file_is_streamed_in_chunks(tmp_path: Path) -> None:
    async with capture_server(apidocs.load()) as (server, url), AriClient(url, "u", "p") as ari:
        server.file_bytes = bytes(range(256)) * 16384  # 4 MiB
        sizes = []
        async with ari.open_stored_file("rec-1") as stored:
            assert stored.content_type == "audio/wav"
            async for chunk in stored.iter_chunks():
                sizes.append(len(chunk))
        written = await ari.download_stored("rec-1", tmp_path / "rec.wav")
        server.fail_with = (404, "Recording not found")
        with pytest.raises(AriNotFound):
            await ari.download_stored("gone", tmp_path / "gone.wav")
    assert sum(sizes) == written == len(server.file_bytes)
    assert len(sizes) > 1 and max(sizes) <= 64 * 1024
    assert (tmp_path / "rec.wav").read_bytes() == server.file_bytes


@given(st.text(max_size=300))
def test_safe_names_are_always_safe(raw: str) -> None:
    name = safe_recording_name(raw)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert not name.startswith(".") and ".." not in name and 0 < len(name) <= MAX_LENGTH


@given(st.text(max_size=200), st.text(max_size=200))
def test_different_names_stay_different(a: str, b: str) -> None:
    if a != b:
        assert safe_recording_name(a) != safe_recording_name(b)


def test_safe_names_keep_what_was_safe() -> None:
    assert safe_recording_name("rec-agent-2001") == "rec-agent-2001"
    assert safe_recording_name("../escape").startswith("escape-")
    assert "/" not in safe_recording_name("2026/11/22/call")


async def test_a_safe_name_is_accepted_by_the_simulator_where_the_raw_one_is_not() -> None:
    async with sim_app() as sim, AriClient(sim.sim.ari_url, "asterisk", "asterisk") as ari:
        call = await sim.call()
        await sim.wait_for("StasisStart", channel__id=call)
        await ari.answer(call)
        with pytest.raises(AriServerError, match="Error parsing request"):  # what Asterisk does
            await ari._call("POST", f"/channels/{call}/record", {"name": "../escape", "format": "wav"})
        with pytest.raises(ValueError, match="not safe"):  # what the client does first
            await ari.record(call, "../escape")
        recording = await ari.record(call, safe_recording_name("../escape"))
        assert recording.state == "queued"
        await ari.hangup(call)
