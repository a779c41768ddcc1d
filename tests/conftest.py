"""Fixtures shared across the suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_recorder.storage.store import Store
from tests.support.stores import postgres_store, sqlite_store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store on SQLite, then on a real PostgreSQL (./dev test provides one)."""
    if request.param == "postgresql":
        async with postgres_store() as store:
            yield store
    else:
        async with sqlite_store(tmp_path) as store:
            yield store
