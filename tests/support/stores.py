"""Stores for tests: SQLite in a temporary file, or a schema of its own on a real PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_recorder.settings import DatabaseSettings
from ari_recorder.storage.store import Store


@contextlib.asynccontextmanager
async def sqlite_store(directory: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{directory / 'store.sqlite'}")
    await store.migrate()
    try:
        yield store
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[DatabaseSettings]:
    """The database section of a controller's settings for a schema of its own (the store creates
    it, this drops it) on the PostgreSQL ./dev test provides."""
    base = _pg_url()
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield DatabaseSettings(url=base.replace("postgresql://", "postgresql+asyncpg://"), schema=schema)
    finally:
        admin = await asyncpg.connect(base.replace("postgresql://", "postgres://"))
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def _pg_url() -> str:
    base = os.environ.get("PG_TEST_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("PG_TEST_URL is not set: ./dev test provides a PostgreSQL")
        pytest.skip("no PostgreSQL: run through ./dev test, which provides one")
    return base


@contextlib.asynccontextmanager
async def postgres_store() -> AsyncIterator[Store]:
    """A store in a schema of its own (the store creates it), on the PostgreSQL ./dev test provides."""
    base = os.environ.get("PG_TEST_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("PG_TEST_URL is not set: ./dev test provides a PostgreSQL")
        pytest.skip("no PostgreSQL: run through ./dev test, which provides one")
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base.replace("postgresql://", "postgres://"))
    store = Store(base.replace("postgresql://", "postgresql+asyncpg://"), schema=schema)
    try:
        await store.migrate()
        yield store
    finally:
        await store.aclose()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
