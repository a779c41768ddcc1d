"""The migrations make the schema tables.py declares, no more and no less, on either database:
a column or index added to one and not the other fails here, not in production."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import Base


async def drift(url: str, **engine_args: Any) -> list[object]:
    """What autogenerate would change to make the database the declared schema."""
    engine = create_async_engine(url, **engine_args)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: list(compare_metadata(MigrationContext.configure(sync), Base.metadata))
            )
    finally:
        await engine.dispose()


async def migrate(url: str, schema: str | None = None) -> None:
    store = Store(url, schema=schema)
    try:
        await store.migrate()
    finally:
        await store.aclose()


async def test_sqlite_migrations_make_the_declared_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrate(url)
    assert await drift(url) == []


async def test_postgresql_migrations_make_the_declared_schema() -> None:
    base = os.environ.get("PG_TEST_URL")
    if base is None:
        pytest.fail("PG_TEST_URL is not set: ./dev test provides a PostgreSQL")
    url, schema = base.replace("postgresql://", "postgresql+asyncpg://"), f"t_{uuid.uuid4().hex[:12]}"
    await migrate(url, schema)
    try:
        assert await drift(url, connect_args={"server_settings": {"search_path": schema}}) == []
    finally:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()
