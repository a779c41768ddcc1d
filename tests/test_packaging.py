"""What the controller's wheel ships, and that the controller stands without the simulator."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_the_controller_and_not_the_simulator(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ari_recorder-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ari_recorder/engine/controller.py" in names
    assert "ari_recorder/py.typed" in names
    assert {
        f"ari_recorder/api/pages/static/{n}" for n in ("agent.html", "login.html", "agent.css", "agent.js")
    } <= set(names)
    assert not [name for name in names if name.startswith("ari_simulator/")]


BLOCK_AND_IMPORT_ALL = """
import importlib, pkgutil, sys

class NoSimulator:
    def find_spec(self, name, path=None, target=None):
        if name == "ari_simulator" or name.startswith("ari_simulator."):
            raise ImportError(f"the controller imported {name}")
        return None

sys.meta_path.insert(0, NoSimulator())
import ari_recorder
for module in pkgutil.walk_packages(ari_recorder.__path__, "ari_recorder."):
    if not module.name.endswith("__main__"):  # it would run the CLI
        importlib.import_module(module.name)
from ari_recorder.cli import main
try:
    main(["demo"])
except SystemExit as stop:
    print(stop.code)
"""


def test_the_controller_imports_nothing_from_the_simulator(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_AND_IMPORT_ALL],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # Only the demo reaches for it, and without it says what to do instead of a traceback.
    assert "need the Asterisk simulator" in done.stdout
