"""The layout's rules, read from the source: storage/ owns the schema (nobody else imports
SQLAlchemy), and the modules it and delivery/ hold stay small."""

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


def test_storage_and_delivery_modules_stay_under_500_lines() -> None:
    long = {
        str(path.relative_to(SOURCE)): n
        for folder in (STORAGE, SOURCE / "delivery")
        for path in folder.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 500
    }
    assert long == {}
