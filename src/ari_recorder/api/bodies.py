"""Request bodies as JSON, checked before they are decoded: no body a client can send raises
past the API. Its charset must be UTF-8, its nesting at most MAX_DEPTH deep and its numbers at
most MAX_DIGITS digits long (Python's int refuses over 4,300, and recursion has its own limit);
a large body (a whole chat) is checked and decoded in a thread, off the event loop."""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from ari_recorder.api.errors import ApiError

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
    """ApiError 400 for a body nested too deep or with too long a number (outside strings:
    their text does not count)."""
    # A long run of digits anywhere is rare: only then are the strings taken out to look again.
    long_run = b"0" * (MAX_DIGITS + 1) in raw.translate(_DIGITS_AS_0)
    if long_run and _LONG_NUMBER.search(_outside_strings(raw, False)):
        raise ApiError(400, "the body is not JSON", f"a number of more than {MAX_DIGITS} digits")
    depth = 0
    for byte in _outside_strings(raw, True):
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            raise ApiError(400, "the body is not JSON", f"nested more than {MAX_DEPTH} deep")


def decode(raw: bytes, shape: type[T]) -> T:
    """The body as `shape` (a msgspec type): ApiError 400 when it is not JSON, 422 when it is JSON
    of another shape (msgspec names the field)."""
    check_shape(raw)
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as e:
        raise ApiError(422, "the body is not what this endpoint takes", str(e)) from None
    except (msgspec.DecodeError, RecursionError) as e:  # recursion: a thread's smaller stack
        raise ApiError(400, "the body is not JSON", str(e)) from None


def decode_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object of any contents; ApiError 400 for anything else."""
    check_shape(raw)
    try:
        body = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as e:  # ValidationError: a number out of range
        raise ApiError(400, "the body is not JSON", str(e)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


async def read_body(request: web.Request) -> bytes:
    """The request's body, once its charset is known to be UTF-8 (415 otherwise)."""
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8:
        raise ApiError(415, "the body must be JSON in UTF-8", f"charset {charset[:40]!r}")
    return await request.read()


async def read_object(request: web.Request) -> dict[str, Any]:
    return decode_object(await read_body(request))


async def read_as(request: web.Request, shape: type[T]) -> T:
    """The request's body as `shape`, checked and decoded in a thread when it is large."""
    raw = await read_body(request)
    if len(raw) > OFF_LOOP:
        return await asyncio.to_thread(decode, raw, shape)
    return decode(raw, shape)
