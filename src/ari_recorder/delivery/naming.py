"""Remote names from the template: every value made safe for any filesystem before it is used."""

from __future__ import annotations

import re

UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]+")
MAX_COMPONENT = 120


def safe(value: object) -> str:
    """A value as one path component: no separators, no leading dot, nothing a shell or Windows
    would trip on, bounded in length."""
    text = UNSAFE.sub("_", str(value)).lstrip(".")
    return text[:MAX_COMPONENT] or "_"


def render(template: str, **fields: object) -> str:
    """The relative remote path; `ext` as given, other values made safe."""
    values = {key: value if key == "ext" else safe(value) for key, value in fields.items()}
    path = template.format(**values)
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"name template {template!r} gives an unusable path {path!r}")
    return "/".join(part[:MAX_COMPONENT] for part in parts)
