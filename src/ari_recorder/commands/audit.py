"""`ari-recorder audit`: the audit trail, filtered, newest first, as JSON lines or CSV on stdout.

Streamed a page at a time (storage/audit_reads.py's pages): an export of the whole trail holds
one page in memory. The read is itself audited, once per command, as `cli:<os user>`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from ari_recorder.settings import Settings

if TYPE_CHECKING:
    from ari_recorder.storage.audit_reads import AuditFilters
    from ari_recorder.storage.store import Store

COLUMNS = ("at", "actor", "action", "subject", "interaction", "id", "detail")


def moment(text: str) -> datetime:
    """An ISO 8601 time (`2026-12-01`, `2026-12-01T09:30:00+01:00`); without an offset, UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def add_audit(commands: Any) -> None:
    """The command's parser, among `commands` (argparse's subparsers)."""
    audit = commands.add_parser("audit", help="the audit trail, newest first, as JSON lines (or --csv)")
    audit.add_argument(
        "--actor", help="only rows by this actor (an agent's id, admin, controller, cli:<user>)"
    )
    audit.add_argument(
        "--action", help="only rows of this action (pause, decision, delivered, audit-read...)"
    )
    audit.add_argument("--subject", help="only rows about this subject (a recording, agent/<id>...)")
    audit.add_argument("--interaction", help="only rows about this interaction or one of its recordings")
    audit.add_argument("--since", type=moment, help="from this time on (ISO 8601; no offset: UTC)")
    audit.add_argument("--until", type=moment, help="before this time (ISO 8601; no offset: UTC)")
    audit.add_argument("--limit", type=int, default=None, help="at most this many rows (default: all)")
    audit.add_argument("--cursor", default=None, help="go on after a previous --limit's last row")
    audit.add_argument("--csv", action="store_true", help=f"CSV with a header ({', '.join(COLUMNS)})")
    audit.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")


def reader() -> str:
    """Who reads, for the audit trail: the OS user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for the uid (a container's)
        return f"cli:uid-{os.getuid()}"


def run_audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit is not None and args.limit < 1:
        print(f"ari-recorder: --limit: expected at least 1, got {args.limit}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_export(args, settings, sys.stdout))
    except BrokenPipeError:  # `| head`: the reader has had enough; no traceback, no flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


async def _export(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ari_recorder.cli import _database
    from ari_recorder.storage.audit_reads import EXPORT_PAGE, AuditFilters, InvalidCursor, decode_cursor

    filters = AuditFilters(args.actor, args.action, args.subject, args.interaction, args.since, args.until)
    try:
        if args.cursor is not None:
            decode_cursor(args.cursor)
    except InvalidCursor as error:
        print(f"ari-recorder: --cursor: {error.message}", file=sys.stderr)
        return 2
    async with _database(settings) as store:
        return await _stream(store, args, filters, out, EXPORT_PAGE)


async def _stream(
    store: Store, args: argparse.Namespace, filters: AuditFilters, out: TextIO, size: int
) -> int:
    from ari_recorder.storage import audit_reads

    detail = {"filters": filters.as_detail(), "cursor": args.cursor, "limit": args.limit, "csv": args.csv}
    await audit_reads.record_read(store, reader(), "audit-read", "audit", detail)
    writer = csv.writer(out, lineterminator="\n") if args.csv else None
    if writer is not None:
        writer.writerow(COLUMNS)
    left, cursor = args.limit, args.cursor
    while left is None or left > 0:
        wanted = size if left is None else min(size, left)
        page = await audit_reads.page(store, filters, cursor, wanted)
        for item in page.items:
            if writer is not None:
                writer.writerow(
                    [*(item[c] for c in COLUMNS[:-1]), msgspec.json.encode(item["detail"]).decode()]
                )
            else:
                out.write(msgspec.json.encode(item).decode() + "\n")
        out.flush()
        if left is not None:
            left -= len(page.items)
        cursor = page.next
        if cursor is None:
            return 0
    print(f"ari-recorder: more rows: --cursor {cursor}", file=sys.stderr)
    return 0
