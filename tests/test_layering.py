"""The layout's rules, read from the source: storage/ owns the schema (nobody else imports
SQLAlchemy), and every module of the controller and the simulator stays small."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "ari_recorder"
STORAGE = SOURCE / "storage"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
    return found


def test_only_storage_imports_sqlalchemy() -> None:
    offenders = sorted(
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if not path.is_relative_to(STORAGE)
        and any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in _imports(path))
    )
    assert offenders == [], f"SQL belongs in storage/ (a repository there): {offenders}"


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(SOURCE.parent)): n
        for path in SOURCE.parent.rglob("*.py")  # src/ari_recorder and src/ari_simulator
        if (n := len(path.read_text().splitlines())) > 500
    }
    assert long == {}, f"split these by role: {long}"
