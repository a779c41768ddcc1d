"""The API's bodies: what each endpoint takes and answers, as msgspec Structs (the OpenAPI
document is generated from them, api/openapi.py), and the reading of a request's body.

A request's body is JSON, checked before it is decoded: no body a client can send raises past
the API. Its charset must be UTF-8, its nesting at most MAX_DEPTH deep and its numbers at most
MAX_DIGITS digits long (Python's int refuses over 4,300, and recursion has its own limit); a large
body (a whole chat) is checked and decoded in a thread, off the event loop. An answer is converted
to its Struct before it is sent: what the document says of it is checked on every answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from aiohttp import web

from ari_recorder.domain.call import Phase
from ari_recorder.domain.pausing import Ending, Source
from ari_recorder.domain.policy import Direction, Level
from ari_recorder.engine.outbound import NUMBER
from ari_recorder.errors import AppError, Invalid, Unprocessable, Unsupported
from ari_recorder.health import Role
from ari_recorder.storage.deliveries import Kind
from ari_recorder.storage.deliveries import State as DeliveryState
from ari_recorder.storage.recordings import RecordingState

MAX_DEPTH = 64
MAX_DIGITS = 100
OFF_LOOP = 64 * 1024  # bytes: a body larger is decoded in a thread
UTF8 = ("utf-8", "utf8")
T = TypeVar("T")

_LONG_NUMBER = re.compile(rb"[0-9]{%d,}" % (MAX_DIGITS + 1))
_DIGITS_AS_0 = bytes.maketrans(b"0123456789", b"0" * 10)
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


def _outside_strings(raw: bytes, brackets_only: bool) -> bytes:
    """`raw`'s bytes that are not within a JSON string (only its brackets, if so asked).
    The two escapes that could end a string early, \\\\ and \\", go first; every other escape's
    second byte is not a quote. Each step a pass in C: a 16 MiB chat takes some 20 ms."""
    kept = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    if brackets_only:
        kept = kept.translate(None, _NOT_STRUCTURE)
    return _STRING.sub(b"", kept)


def check_shape(raw: bytes) -> None:
    """Invalid (not-json) for a body nested too deep or with too long a number (outside strings:
    their text does not count)."""
    # A long run of digits anywhere is rare: only then are the strings taken out to look again.
    long_run = b"0" * (MAX_DIGITS + 1) in raw.translate(_DIGITS_AS_0)
    if long_run and _LONG_NUMBER.search(_outside_strings(raw, False)):
        raise NotJson(f"a number of more than {MAX_DIGITS} digits")
    depth = 0
    for byte in _outside_strings(raw, True):
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            raise NotJson(f"nested more than {MAX_DEPTH} deep")


class NotJson(Invalid):
    id = "not-json"

    def __init__(self, detail: str) -> None:
        super().__init__("the body is not JSON", detail)


class WrongBody(Unprocessable):
    """JSON, of another shape than the endpoint's (msgspec names the field)."""

    id = "invalid-body"

    def __init__(self, detail: str) -> None:
        super().__init__("the body is not what this endpoint takes", detail)


class WrongBodyForm(Invalid):
    """WrongBody where the endpoint answers a body of another shape as not well formed: the
    calls' (and their transfers') bodies always have (so that schemathesis, which expects a 422
    for an unknown agent, tells a document allowing what the server refuses by its 400); the
    chats' not."""

    id = "malformed-body"

    def __init__(self, detail: str | None, message: str = "the body is not what this endpoint takes") -> None:
        super().__init__(message, detail)


class NotUtf8(Unsupported):
    id = "not-utf-8"


def decode(raw: bytes, shape: type[T], wrong: Callable[[str], AppError] = WrongBody) -> T:
    """The body as `shape` (a msgspec type): NotJson when it is not JSON, `wrong` when it is JSON
    of another shape."""
    check_shape(raw)
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as e:
        raise wrong(str(e)) from None
    except (msgspec.DecodeError, RecursionError) as e:  # recursion: a thread's smaller stack
        raise NotJson(str(e)) from None


async def read_body(request: web.Request) -> bytes:
    """The request's body, once its charset is known to be UTF-8 (Unsupported otherwise)."""
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8:
        raise NotUtf8("the body must be JSON in UTF-8", f"charset {charset[:40]!r}")
    return await request.read()


async def read_as(request: web.Request, shape: type[T], wrong: Callable[[str], AppError] = WrongBody) -> T:
    """The request's body as `shape`, checked and decoded in a thread when it is large."""
    raw = await read_body(request)
    if len(raw) > OFF_LOOP:
        return await asyncio.to_thread(decode, raw, shape, wrong)
    return decode(raw, shape, wrong)


def answer(shape: type[T], data: Any) -> T:
    """`data` (builtins, as the use cases give them) as the answer's Struct: a field missing, of
    another type or beyond the document's values is a fault of ours, found here."""
    return msgspec.convert(data, shape)


# ----- what the endpoints take -----

OFFSET_MOST = 100_000  # .../recording/pauses?offset=
LIMIT_DEFAULT, LIMIT_MOST = 50, 100  # .../recording/pauses?limit=

Number = Annotated[
    str,
    msgspec.Meta(
        description="digits, * and #, perhaps after a +",
        # engine/outbound.py's check, said in the document: a number it refuses is a 422.
        extra_json_schema={"pattern": f"^{NUMBER.pattern}$"},
    ),
]


class PlaceCall(msgspec.Struct, frozen=True):
    """A call for an agent: the agent's phone rings first."""

    agent: str
    to: Number
    queue: str | None = None


class Transfer(msgspec.Struct, frozen=True):
    """Exactly one of agent or queue."""

    agent: str | msgspec.UnsetType = msgspec.UNSET
    queue: str | msgspec.UnsetType = msgspec.UNSET


Reason = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=1000,
        pattern=r"\S",  # not blank
        description="why: kept with the hold and in the audit trail",
    ),
]


class HoldReason(msgspec.Struct, frozen=True):
    """Why a hold is put on an interaction, or released."""

    reason: Reason


class AgentLogin(msgspec.Struct, frozen=True):
    """Where the agent logs in: its device."""

    endpoint: Annotated[
        str,
        msgspec.Meta(
            max_length=255, description="PJSIP/<name>, SIP/<name>, IAX2/<name> or Local/<ext>@<context>"
        ),
    ]


# ----- what they answer -----


class AgentDevice(msgspec.Struct, frozen=True):
    """Where the agent is logged in after the change (endpoint null: nowhere), where it was, and
    the agent logged out because it was logged in on that endpoint (null: nobody)."""

    agent: str
    endpoint: str | None
    before: str | None
    displaced: str | None


class Error(msgspec.Struct, frozen=True):
    """Every error's body: what went wrong for a person, its stable id for a program, and more of
    it (null when the error says it all)."""

    error: str
    id: str
    detail: Any


class Call(msgspec.Struct, frozen=True):
    id: str
    direction: Direction
    queue: str | None
    phase: Phase
    agent: str | None
    segment: int | None
    recording: str | None
    transferring_to: str | None


class Calls(msgspec.Struct, frozen=True):
    calls: list[Call]


class Placed(msgspec.Struct, frozen=True):
    """The call placed: its agent's phone is being dialled."""

    call: str
    agent: str
    to: str


class Dialling(msgspec.Struct, frozen=True):
    """The agent being dialled for the transfer."""

    call: str
    dialling: str


Moment = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class Pause(msgspec.Struct, frozen=True):
    number: int
    segment: int
    agent: str
    by: Annotated[str, msgspec.Meta(description="who paused: the agent's id, or admin")]
    source: Source
    behavior: Literal["silence", "skip"]
    started_at: Moment
    offset_seconds: Annotated[float | None, msgspec.Meta(description="where in the file")]
    ended_at: Moment | None
    seconds: float | None
    ended_by: Ending | None
    resumed_by: str | None


class CurrentPause(Pause, frozen=True):
    """The pause in force, with how long it has lasted and has left."""

    elapsed_seconds: float
    resumes_in_seconds: Annotated[float, msgspec.Meta(description="max_pause_seconds left")]


class AgentRecording(msgspec.Struct, frozen=True):
    """The agent desktop's view: the agent's call, segment, recording and pause (idle: no call)."""

    agent: str
    call: str | None
    segment: int | None
    recording: str | None
    state: Literal["idle", "not-recorded", "recording", "paused", "muted"]
    pause_allowed: bool | None
    pause: CurrentPause | None
    pause_count: Annotated[int, msgspec.Meta(description="the recording's pauses so far")]
    max_pauses: Annotated[
        int | None, msgspec.Meta(description="company.max_pauses_per_segment: the next pause is refused")
    ]


class Pauses(msgspec.Struct, frozen=True):
    agent: str
    recording: str | None
    total: int
    offset: int
    limit: int
    pauses: list[Pause]


class Selection(msgspec.Struct, frozen=True):
    level: Level
    by: str


class ChatSegmentOutcome(msgspec.Struct, frozen=True):
    segment: int
    agent: str
    recorded: Annotated[bool, msgspec.Meta(description="whether a transcript was produced")]
    levels: list[Selection]
    reason: str
    transcript: str | None


class ChatOutcome(msgspec.Struct, frozen=True):
    chat: str
    already_received: bool
    segments: list[ChatSegmentOutcome]


class Alive(msgspec.Struct, frozen=True):
    status: Literal["alive"]


class Check(msgspec.Struct, frozen=True):
    ok: bool
    detail: str


CheckName = Literal["ari", "database", "role"]  # Checks' fields


class Checks(msgspec.Struct, frozen=True):
    ari: Check
    database: Check
    role: Check


class Unencrypted(msgspec.Struct, frozen=True):
    """With no age recipient, by delivery.keep_unencrypted = true: how many recordings were left
    unencrypted in Asterisk."""

    recordings: Annotated[int, msgspec.Meta(ge=0)] | None
    detail: str


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    not_ready: Annotated[list[CheckName], msgspec.Meta(description="the checks that failed")]
    role: Role
    checks: Checks
    unencrypted: Annotated[Unencrypted | None, msgspec.Meta(description="null when recordings are encrypted")]


class Hold(msgspec.Struct, frozen=True):
    """A legal hold: while active, retention purges nothing of the interaction."""

    id: str
    interaction: Annotated[str, msgspec.Meta(description="a call's or a webchat's id")]
    reason: str
    by: str
    placed_at: Moment
    active: bool
    released_at: Moment | None
    released_by: str | None
    release_reason: str | None


class Holds(msgspec.Struct, frozen=True):
    holds: list[Hold]


# ----- the audit trail and the interactions (api/reads.py) -----

Cursor = Annotated[
    str | None,
    msgspec.Meta(
        description="the next page's cursor, as the `cursor` parameter; null: this page is the last"
    ),
]


class AuditItem(msgspec.Struct, frozen=True):
    """One row of the audit trail: who did what to which subject, when, and the rest of the facts."""

    id: str
    at: Moment
    actor: Annotated[str, msgspec.Meta(description="an agent's id, admin, controller, cli:<os user>")]
    action: Annotated[str, msgspec.Meta(description="pause, decision, delivered, audit-read...")]
    subject: Annotated[str, msgspec.Meta(description="a recording, an interaction, agent/<id>...")]
    interaction: Annotated[
        str | None, msgspec.Meta(description="the interaction it is about, if one; kept after its purge")
    ]
    detail: dict[str, Any]


class AuditPage(msgspec.Struct, frozen=True):
    """Rows newest first."""

    items: list[AuditItem]
    next: Cursor


class InteractionSummary(msgspec.Struct, frozen=True):
    id: str
    media: Literal["voice", "webchat"]
    direction: Direction
    queue: str | None
    phase: Phase
    started_at: Moment
    ended_at: Moment | None
    agents: Annotated[list[str], msgspec.Meta(description="its segments' agents, in order, once each")]
    recorded: Annotated[bool, msgspec.Meta(description="whether any segment was recorded")]
    customer: Annotated[str | None, msgspec.Meta(description="the attached data's customer")]
    partitions: list[str]


class InteractionPage(msgspec.Struct, frozen=True):
    """Interactions newest first (by their start)."""

    items: list[InteractionSummary]
    next: Cursor


class SegmentDecision(msgspec.Struct, frozen=True):
    """A segment and what was decided for it: the levels that selected it and why."""

    number: int
    agent: str
    recorded: bool
    levels: list[Selection]
    reason: str
    recording: str | None
    started_at: Moment


class StoredPause(msgspec.Struct, frozen=True):
    """A pause of a recording, as its timeline keeps it (see Pause)."""

    number: int | None = None
    agent: str | None = None
    by: str | None = None
    source: str | None = None
    behavior: str | None = None
    started_at: Moment | None = None
    offset_seconds: float | None = None
    ended_at: Moment | None = None
    seconds: float | None = None
    ended_by: str | None = None
    resumed_by: str | None = None


class DeliveredFile(msgspec.Struct, frozen=True):
    """A file of a recording on its way to the recording platform (the delivery queue's row)."""

    id: str
    kind: Kind
    state: DeliveryState
    attempts: int
    last_error: str | None
    remote_path: str
    size: int | None
    sha256: str | None
    created_at: Moment
    delivered_at: Moment | None


class StoredRecording(msgspec.Struct, frozen=True):
    name: str
    segment: int
    side: Literal["agent", "customer", "chat"]
    channels: int
    state: RecordingState
    levels: list[Selection]
    started_at: Moment
    finished_at: Moment | None
    failure: Annotated[str | None, msgspec.Meta(description="selected, not recorded: why")]
    kept_unencrypted: bool
    pauses: list[StoredPause]
    files: list[DeliveredFile]


class InteractionDetail(msgspec.Struct, frozen=True):
    """An interaction whole: its attached data, its segments' decisions, its recordings, their
    pauses and files."""

    id: str
    media: Literal["voice", "webchat"]
    direction: Direction
    queue: str | None
    phase: Phase
    started_at: Moment
    ended_at: Moment | None
    announcement: Annotated[str | None, msgspec.Meta(description="played, or why the notice was not")]
    attached: dict[str, str]
    segments: list[SegmentDecision]
    recordings: list[StoredRecording]
