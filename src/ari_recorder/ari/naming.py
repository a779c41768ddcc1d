"""Recording names Asterisk accepts: a name with `/` or `..` makes it answer 500 (errors.jsonl)."""

from __future__ import annotations

import hashlib
import re

from ari_recorder.ari.models import RecordingName

MAX_LENGTH = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_recording_name(raw: str) -> RecordingName:
    """Only [A-Za-z0-9._-], no leading dot, no `..`, at most MAX_LENGTH characters, never empty.

    A name that had to change gets a short hash of the original appended, so that two different
    names never become the same one.
    """
    cleaned = _UNSAFE.sub("-", raw)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).lstrip(".-")
    if cleaned == raw and 0 < len(raw) <= MAX_LENGTH:
        return RecordingName(raw)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    head = cleaned[: MAX_LENGTH - len(digest) - 1].rstrip(".")
    return RecordingName(f"{head}-{digest}" if head else f"rec-{digest}")


def require_safe_name(name: str) -> None:
    """Refuse, before it reaches Asterisk, a recording name Asterisk would choke on."""
    if safe_recording_name(name) != name:
        raise ValueError(f"recording name {name!r} is not safe for Asterisk; use safe_recording_name()")
