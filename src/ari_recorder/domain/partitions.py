"""Partitions (002's GRECORD_PARTITIONS): the named groups an interaction's recordings belong to.

Given by the call (`Stasis(...,partitions=emea;vip)`, a chat's attached data) or else by its queue
(`queues.<name>.partitions`); kept in the attached data as `emea;vip`, delivered in each sidecar
as a list, and the unit a supervisor's scope is made of.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

KEY = "partitions"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SEPARATORS = re.compile(r"[;|\s]+")  # `,` separates Stasis's own arguments


def split(text: str) -> list[str]:
    """`emea;vip` (or `emea|vip`, `emea vip`) as its names, in order, once each."""
    return list(dict.fromkeys(name for name in _SEPARATORS.split(text) if name))


def invalid(names: Iterable[str]) -> list[str]:
    return [name for name in names if not NAME.fullmatch(name)]


def join(names: Iterable[str]) -> str:
    return ";".join(dict.fromkeys(names))


def attach(metadata: Mapping[str, str], of_queue: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The attached data with its partitions settled: the call's own if it names any, else its
    queue's; and the names it gave that are not partition names (left out)."""
    settled = dict(metadata)
    given = split(metadata.get(KEY, ""))
    wrong = invalid(given)
    names = [name for name in given if name not in wrong] or list(of_queue)
    settled.pop(KEY, None)
    if names:
        settled[KEY] = join(names)
    return settled, wrong


def of(attached: Mapping[str, str]) -> list[str]:
    """An interaction's partitions, from its attached data."""
    return split(attached.get(KEY, ""))
