"""Fixtures shared across the suite, and the tiers: every test has exactly one of `unit`,
`simulator` and `asterisk`, given here by where it lives (pytest -m unit runs one tier)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_recorder.storage.store import Store
from tests.support.stores import postgres_store, sqlite_store

HERE = Path(__file__).parent
TIERS = ("unit", "simulator", "asterisk")
# Pure tests: no socket, no process, no database; the rules, the settings, parsing.
UNIT = (
    HERE / "domain",
    HERE / "test_settings.py",
    HERE / "test_logs.py",
    HERE / "test_clock.py",
    HERE / "test_sounds.py",
    HERE / "delivery" / "test_units.py",
)
ASTERISK = HERE / "asterisk"  # each test has a real Asterisk 22 of its own, and SIPp phones


def tier_of(path: Path) -> str:
    """The tier of a test module: `simulator` unless it is pure or needs a real Asterisk (the
    simulator tier is the app over real sockets: the simulator, SQLite, PostgreSQL, sshd)."""
    if path == ASTERISK or ASTERISK in path.parents:
        return "asterisk"
    if any(path == unit or unit in path.parents for unit in UNIT):
        return "unit"
    return "simulator"


def long(item: pytest.Item) -> bool:
    """A test that says it may take longer than [tool.pytest.ini_options] timeout (a schemathesis
    run, thirty SIPp calls): it starts first, so that a run of several at a time (./dev test's
    -n 3) does not end waiting on one of them begun last."""
    marker = item.get_closest_marker("timeout")
    return marker is not None and bool(marker.args) and marker.args[0] > config_timeout(item)


def config_timeout(item: pytest.Item) -> float:
    return float(item.config.getini("timeout") or 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not long(item))  # stable: the others keep their order
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(getattr(pytest.mark, tier_of(item.path)))
    untiered = [
        f"{item.nodeid}: {tiers or 'none'}"
        for item in items
        if len(tiers := [tier for tier in TIERS if item.get_closest_marker(tier)]) != 1
    ]
    if untiered:
        raise pytest.UsageError(
            "each test takes exactly one tier of " + ", ".join(TIERS) + ":\n" + "\n".join(untiered)
        )


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store on SQLite, then on a real PostgreSQL (./dev test provides one)."""
    if request.param == "postgresql":
        async with postgres_store() as store:
            yield store
    else:
        async with sqlite_store(tmp_path) as store:
            yield store
