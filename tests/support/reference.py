"""Where the ARI reference material is (tests/reference, a copy of the project's), and reading its traces."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# ARI_REFERENCE_DIR: another copy with the same layout (say, a newer recording).
REFERENCE = Path(os.environ.get("ARI_REFERENCE_DIR", REPO / "tests" / "reference"))
FOLDERS = ("traces", "traces-sip", "recordings", "api-docs")


def reference_dir() -> Path:
    """The reference folder. It is part of the repository: a test needing it fails when it is absent."""
    missing = [name for name in FOLDERS if not (REFERENCE / name).is_dir()]
    if missing:
        pytest.fail(
            f"ARI reference material missing at {REFERENCE}: no {', '.join(missing)}"
            " (tests/reference is part of the repository; ARI_REFERENCE_DIR overrides it)",
            pytrace=False,
        )
    return REFERENCE


def load_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trace_paths(folder: str = "traces") -> list[Path]:
    return sorted((reference_dir() / folder).glob("*.jsonl"))
