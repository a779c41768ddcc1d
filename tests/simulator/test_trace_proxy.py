"""The capture tool (tests/support/trace_proxy.py) in front of the simulator: what passes through
it is answered as without it, and written in the reference traces' format, with no credential."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from ari_recorder.ari.rest import basic_auth
from ari_simulator.server import serve
from tests.support.reference import load_trace
from tests.support.trace_proxy import recording_proxy

FIELDS = {
    "request": {"kind", "method", "path", "params", "t"},
    "response": {"kind", "method", "path", "status", "body", "t"},
    "event": {"kind", "event", "t"},
    "note": {"kind", "text", "t"},
}


async def test_the_proxy_writes_a_trace_in_the_reference_format(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with serve() as sim, recording_proxy(sim.ari_url, out, password="asterisk") as (proxy, url):
        headers = {"Authorization": basic_auth("asterisk", "asterisk")}
        async with aiohttp.ClientSession(headers=headers) as http:
            ws = await http.ws_connect(
                url.replace("http", "ws", 1) + "/events?app=ari-recorder&subscribeAll=false"
            )
            proxy.note("a customer calls")
            async with http.post(
                url + "/channels",
                params={
                    "endpoint": "Local/support@inbound",
                    "context": "customer-phone",
                    "extension": "talk",
                    "api_key": "asterisk:asterisk",
                },
            ) as response:
                assert response.status == 200
            start = json.loads((await ws.receive()).data)
            assert start["type"] == "StasisStart"
            async with http.get(url + f"/channels/{start['channel']['id']}/no-such-thing") as response:
                assert response.status == 404
            async with http.get(url + "/channels/no-such-channel") as response:
                assert (await response.json()) == {"message": "Channel not found"}
            await ws.close()
    trace = load_trace(out)
    kinds = [e["kind"] for e in trace]
    assert kinds[0] == "websocket" and trace[0]["url"] == "/events?app=ari-recorder&subscribeAll=false"
    assert kinds[-1] == "websocket" and trace[-1]["action"] == "closed"
    for entry in trace:
        if entry["kind"] in FIELDS:
            assert set(entry) == FIELDS[entry["kind"]], entry
    [originate] = [e for e in trace if e["kind"] == "request" and e["path"] == "/channels"]
    assert originate["params"] == {
        "endpoint": "Local/support@inbound",
        "context": "customer-phone",
        "extension": "talk",
    }
    assert [e["event"]["type"] for e in trace if e["kind"] == "event"][:1] == ["StasisStart"]
    assert {"kind": "note", "text": "a customer calls"}.items() <= trace[1].items()
    assert [e["status"] for e in trace if e["kind"] == "response"] == [200, 404, 404]
    assert [e["t"] for e in trace] == sorted(e["t"] for e in trace)
    assert "asterisk:asterisk" not in out.read_text() and "Basic" not in out.read_text()
