"""Waiting on a state, not on time: the one polling helper the tests use."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


async def until(
    predicate: Callable[[], Awaitable[T] | T],
    *,
    what: str,
    timeout: float = 15.0,
    every: float = 0.01,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call `predicate` (plain or async) until it returns something true, and return that; after
    `timeout` seconds fail, naming `what` was awaited (and `explain()`, when given). The timeout
    bounds a wait so that a broken run fails instead of hanging: it is never a claim about speed.
    `every`: the pause between two looks (another process's doing, seen through HTTP or files,
    can only be polled)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                found: Any = predicate()
                if inspect.isawaitable(found):
                    found = await found
                if found:
                    return found  # type: ignore[no-any-return]
                await asyncio.sleep(every)
    except TimeoutError:
        detail = f"\n{explain()}" if explain is not None else ""
        pytest.fail(f"still waiting after {timeout:g} s for {what}{detail}", pytrace=False)
