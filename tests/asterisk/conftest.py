"""The real-Asterisk tier: each test has an Asterisk of its own (marker `asterisk`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.asterisk.harness import Asterisk, running_asterisk


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture
async def asterisk(tmp_path: Path) -> AsyncIterator[Asterisk]:
    """An Asterisk with Local-channel handsets (customer 440 Hz, agents 1000 Hz) and no SIP agents."""
    async with running_asterisk(tmp_path / "asterisk") as instance:
        yield instance
