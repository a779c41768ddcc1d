"""Files and directories only the controller's user may read: the database, the spool, the outbox.

Modes are set explicitly (a directory's mode given to mkdir is reduced by the umask, and
`mkdir(parents=True)` gives the parents the umask's default).
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY = 0o700
FILE = 0o600


def private_dir(path: Path) -> None:
    """`path` and its missing parents created 0700; directories already there are left as they are."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIRECTORY)
        except FileExistsError:  # made meanwhile by another task or process
            continue
        os.chmod(folder, DIRECTORY)


def private_file(path: Path) -> None:
    """`path` created empty if missing, and made 0600 either way."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE))
    os.chmod(path, FILE)
