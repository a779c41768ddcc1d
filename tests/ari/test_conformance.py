"""The client against Asterisk's own API description: every request a real operation, every
model and event the declared fields and types, every real payload of the traces readable."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ari_recorder.ari import events, models
from ari_recorder.ari.events import TYPED, UntypedEvent, parse_event
from ari_recorder.ari.rest import AriClient
from tests.ari.capture import capture_server
from tests.support import apidocs
from tests.support.reference import load_trace, reference_dir

Call = Callable[[AriClient], Awaitable[Any]]


async def _download(ari: AriClient, tmp: Path) -> int:
    return await ari.download_stored("rec-1", tmp / "rec-1.wav")


async def _open_file(ari: AriClient) -> int:
    async with ari.open_stored_file("rec-1") as stored:
        return sum([len(c) async for c in stored.iter_chunks()])


def calls(tmp: Path) -> dict[str, list[Call]]:
    """Each public method, called as the project calls it (several ways where it has options)."""
    return {
        "list_channels": [lambda a: a.list_channels()],
        "get_channel": [lambda a: a.get_channel("1795347229.3")],
        "originate": [
            lambda a: a.originate(
                "Local/2001@agent-phone",
                app="ari-recorder",
                app_args="agent,2001",
                caller_id="Agent 2001 <2001>",
                timeout=30,
            ),
            lambda a: a.originate(
                "Local/support@inbound",
                context="customer-phone",
                extension="talk",
                priority=1,
                caller_id="Customer <15550001>",
            ),
            lambda a: a.originate(
                "PJSIP/3001",
                app="ari-recorder",
                channel_id="call-1-agent",
                other_channel_id="call-1-agent-2",
                variables={"PJSIP_TRANSFER_HANDLING()": "ari-only"},
            ),
        ],
        "hangup": [lambda a: a.hangup("1795347229.3"), lambda a: a.hangup("x", reason="busy")],
        "answer": [lambda a: a.answer("1795347229.3")],
        "continue_in_dialplan": [
            lambda a: a.continue_in_dialplan("c1"),
            lambda a: a.continue_in_dialplan("c1", context="voicemail", extension="s", priority=1),
        ],
        "move": [lambda a: a.move("c1", "other-app", app_args="x,y")],
        "play": [
            lambda a: a.play("c1", "sound:sim/announcement"),
            lambda a: a.play("c1", "sound:sim/announcement", playback_id="ann-c1", lang="en"),
        ],
        "record": [
            lambda a: a.record("c1", "rec-1"),
            lambda a: a.record(
                "c1",
                "rec-1",
                format="wav",
                if_exists="overwrite",
                beep=True,
                terminate_on="#",
                max_duration_seconds=60,
                max_silence_seconds=5,
            ),
        ],
        "snoop": [
            lambda a: a.snoop("c1", "ari-recorder", spy="both", app_args="snoop,rec-1"),
            lambda a: a.snoop("c1", "ari-recorder", spy="in", snoop_id="snoop-c1-in"),
        ],
        "mute": [lambda a: a.mute("c1", direction="in")],
        "unmute": [lambda a: a.unmute("c1")],
        "send_dtmf": [lambda a: a.send_dtmf("c1", "*7", between=100, duration=120)],
        "get_variable": [lambda a: a.get_variable("c1", "PJSIP_TRANSFER_HANDLING()")],
        "set_variable": [lambda a: a.set_variable("c1", "PJSIP_TRANSFER_HANDLING()", "ari-only")],
        "list_bridges": [lambda a: a.list_bridges()],
        "get_bridge": [lambda a: a.get_bridge("b1")],
        "create_bridge": [
            lambda a: a.create_bridge(name="call-1"),
            lambda a: a.create_bridge(type="mixing,dtmf_events", bridge_id="call-1"),
        ],
        "destroy_bridge": [lambda a: a.destroy_bridge("b1")],
        "add_channel": [
            lambda a: a.add_channel("b1", "c1", absorb_dtmf=True, mute=False),
            lambda a: a.add_channel("b1", ["c1", "c2"], role="agent", inhibit_connected_line_updates=True),
        ],
        "remove_channel": [lambda a: a.remove_channel("b1", "c1")],
        "start_moh": [lambda a: a.start_moh("b1"), lambda a: a.start_moh("b1", moh_class="default")],
        "stop_moh": [lambda a: a.stop_moh("b1")],
        "play_on_bridge": [
            lambda a: a.play_on_bridge("b1", "sound:beep"),
            lambda a: a.play_on_bridge("b1", "sound:beep", playback_id="p1"),
        ],
        "record_bridge": [lambda a: a.record_bridge("b1", "rec-b1")],
        "get_live": [lambda a: a.get_live("rec-1")],
        "stop_recording": [lambda a: a.stop_recording("rec-1")],
        "pause_recording": [lambda a: a.pause_recording("rec-1")],
        "unpause_recording": [lambda a: a.unpause_recording("rec-1")],
        "mute_recording": [lambda a: a.mute_recording("rec-1")],
        "unmute_recording": [lambda a: a.unmute_recording("rec-1")],
        "cancel_recording": [lambda a: a.cancel_recording("rec-1")],
        "list_stored": [lambda a: a.list_stored()],
        "get_stored": [lambda a: a.get_stored("rec-1")],
        "delete_stored": [lambda a: a.delete_stored("rec-1")],
        "open_stored_file": [_open_file],
        "download_stored": [lambda a: _download(a, tmp)],
        "get_playback": [lambda a: a.get_playback("p1")],
        "stop_playback": [lambda a: a.stop_playback("p1")],
        "get_sound": [lambda a: a.get_sound("sim/announcement"), lambda a: a.get_sound("recording-notice")],
        "list_applications": [lambda a: a.list_applications()],
        "get_application": [lambda a: a.get_application("ari-recorder")],
        "ping": [lambda a: a.ping()],
        "info": [lambda a: a.info()],
    }


def public_methods() -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(AriClient, inspect.isfunction)
        if not name.startswith("_") and name != "aclose"
    }


async def test_every_request_is_a_real_operation_with_valid_parameters(tmp_path: Path) -> None:
    docs = apidocs.load()
    table = calls(tmp_path)
    assert set(table) == public_methods(), "every public method must be checked here"
    async with capture_server(docs) as (server, url), AriClient(url, "asterisk", "secret") as ari:
        for name, variants in table.items():
            for call in variants:
                before = len(server.requests)
                await call(ari)
                assert len(server.requests) == before + 1, f"{name} made no request"
                req = server.requests[-1]
                problems = docs.request_problems(req.method, req.path, req.query, req.body)
                assert not problems, f"{name}: {req.method} {req.path} {req.query}: {problems}"


API_TYPES = {
    "string": "str",
    "Date": "str",
    "int": "int",
    "long": "int",
    "boolean": "bool",
    "object": "dict",
}  # a List[object] is a tuple of dicts here


def _python_type(api_type: str) -> str:
    if api_type.startswith("List["):
        return f"tuple[{_python_type(api_type[5:-1])}, ...]"
    return API_TYPES.get(api_type, api_type)


def _type_name(annotation: Any) -> tuple[str, bool]:
    """A field's type as the names api-docs' types map to, and whether it may be None."""
    args = typing.get_args(annotation)
    if type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return _type_name(inner[0])[0], True
    supertype = getattr(annotation, "__supertype__", None)  # the NewType ids
    if supertype is not None:
        return _type_name(supertype)
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return f"tuple[{_type_name(args[0])[0]}, ...]", False
    if origin is dict or annotation is dict:
        return "dict", False
    return annotation.__name__, False


TYPED_MODELS = [
    models.CallerID,
    models.DialplanCEP,
    models.Channel,
    models.Bridge,
    models.LiveRecording,
    models.StoredRecording,
    models.Playback,
    models.Application,
    models.Sound,
    models.FormatLangPair,
    models.AsteriskInfo,
    models.AsteriskPing,
    models.Variable,
    events.ReferTo,
    events.ReferredBy,
    events.RequiredDestination,
    *TYPED.values(),
]

# Sections the project does not read, kept as the objects Asterisk sent.
KEPT_RAW = {
    ("AsteriskInfo", "build"),
    ("AsteriskInfo", "system"),
    ("AsteriskInfo", "config"),
    ("AsteriskInfo", "status"),
}


@pytest.mark.parametrize("cls", TYPED_MODELS, ids=lambda c: c.__name__)
def test_typed_model_matches_api_docs(cls: type) -> None:
    """Each field is declared, with its declared type; a required one has no default."""
    docs = apidocs.load()
    declared = apidocs._properties(docs.models, cls.__name__)
    for f in msgspec.structs.fields(cls):
        assert f.name in declared, f"{cls.__name__}.{f.name} is not declared in api-docs"
        api_type = declared[f.name]["type"]
        got, optional = _type_name(f.type)
        if (cls.__name__, f.name) in KEPT_RAW:
            assert got == "dict" and api_type in docs.models
            continue
        assert got == _python_type(api_type), f"{cls.__name__}.{f.name}: {got}, api-docs: {api_type}"
        # asterisk_id is declared required on Message, yet Asterisk's older events lack it.
        if declared[f.name].get("required") and f.name != "asterisk_id":
            assert not optional and f.required, f"{cls.__name__}.{f.name} is required"
    if issubclass(cls, events.Message):
        assert cls.__struct_config__.tag == cls.__name__, "events are told apart by their type"


def test_every_event_of_every_trace_is_read() -> None:
    reference_dir()
    docs = apidocs.load()
    seen: set[str] = set()
    for folder in ("traces", "traces-sip"):
        for path in sorted((reference_dir() / folder).glob("*.jsonl")):
            for entry in load_trace(path):
                if entry["kind"] != "event":
                    continue
                raw = entry["event"]
                assert docs.event_problems(raw) == [], raw["type"]
                event = parse_event(raw)
                if raw["type"] in TYPED:
                    assert isinstance(event, TYPED[raw["type"]]), (path.name, event)
                    seen.add(raw["type"])
                else:
                    assert isinstance(event, UntypedEvent) and event.problem is None
    # The events the traces show and the project acts on are all typed.
    assert {
        "StasisStart",
        "StasisEnd",
        "ChannelDtmfReceived",
        "ChannelTransfer",
        "BridgeBlindTransfer",
        "RecordingFinished",
        "PlaybackFinished",
    } <= seen


def test_every_response_of_every_trace_is_read() -> None:
    docs = apidocs.load()
    readers = {
        "Channel": models.Channel,
        "Bridge": models.Bridge,
        "LiveRecording": models.LiveRecording,
        "StoredRecording": models.StoredRecording,
        "Playback": models.Playback,
        "Application": models.Application,
    }
    read = 0
    for folder in ("traces", "traces-sip"):
        for path in sorted((reference_dir() / folder).glob("*.jsonl")):
            trace = load_trace(path)
            for i, entry in enumerate(trace):
                if entry["kind"] != "request":
                    continue
                response = next(e for e in trace[i + 1 :] if e["kind"] == "response")
                op = docs.find_operation(entry["method"], entry["path"])
                klass = docs.response_classes.get((op.method, op.template)) if op else None
                if response["status"] >= 300 or klass is None:
                    continue
                name = klass[5:-1] if klass.startswith("List[") else klass
                if name not in readers:
                    continue
                bodies = response["body"] if klass.startswith("List[") else [response["body"]]
                for body in bodies:
                    assert docs.model_problems(name, body) == []
                    readers[name].from_json(body)
                    read += 1
    assert read > 50
