"""Where ../shared/ari-reference is, and reading its traces."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("ARI_REFERENCE_DIR", REPO.parent / "shared" / "ari-reference"))


def reference_dir() -> Path:
    """The reference folder; a test needing it is skipped, saying why, when it is absent."""
    if not (REFERENCE / "traces").is_dir():
        pytest.skip(f"ARI reference material not found at {REFERENCE} (set ARI_REFERENCE_DIR)")
    return REFERENCE


def load_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trace_paths(folder: str = "traces") -> list[Path]:
    return sorted((REFERENCE / folder).glob("*.jsonl"))
