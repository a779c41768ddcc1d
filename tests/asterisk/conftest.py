"""The real-Asterisk tier: each test has an Asterisk of its own (marker `asterisk`, given by
tests/conftest.py to everything under this directory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.asterisk.harness import Asterisk, running_asterisk


@pytest.fixture
async def asterisk(tmp_path: Path) -> AsyncIterator[Asterisk]:
    """An Asterisk with Local-channel handsets (customer 440 Hz, agents 1000 Hz) and no SIP agents."""
    async with running_asterisk(tmp_path / "asterisk") as instance:
        yield instance
