"""Every test is in exactly one tier, so that `pytest -m unit` (or simulator, or asterisk) runs
one and the three together run them all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import tier_of

ROOT = Path(__file__).parent.parent


def collected(*args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args, "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: none collected
    found = re.search(r"(\d+)(?:/\d+)? tests? collected", done.stdout)
    return int(found.group(1)) if found else 0


def test_no_test_is_left_without_a_tier() -> None:
    # tests/conftest.py refuses a test with no tier or two (a usage error, exit status 4).
    assert collected("-m", "not unit and not simulator and not asterisk") == 0


def test_a_module_takes_its_tier_from_where_it_lives() -> None:
    tests = ROOT / "tests"
    assert tier_of(tests / "domain" / "test_call.py") == "unit"
    assert tier_of(tests / "asterisk" / "test_faults.py") == "asterisk"
    assert tier_of(tests / "engine" / "test_pausing.py") == "simulator"
