"""The managed settings (agents, queues, the company's settings, the rules) as versioned
documents, and the revision every controller polls to see a change within a second.

Each object is a row: its kind and name, its document (the settings' Struct as builtins), its
version (1 when created, one more on every change). The revision (one row) is one more on every
change of any of them. A change is one transaction: the revision's row is updated first (PostgreSQL
holds its row lock, SQLite its write lock, until the end: changes take turns), then the versions
are compared with those the caller expects (VersionConflict: nothing written), the whole resulting
set of documents is checked by the caller's `check` (it raises: nothing written), the rows are
written and each change is audited (storage/audit.py) with its actor, before and after, and reason.

The documents are plain JSON here: what they must hold is the settings' business
(engine/managed.py), which checks them before and after every change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder import errors
from ari_recorder.storage import audit
from ari_recorder.storage.tables import ManagedSettingRow, SettingsRevisionRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

Key = tuple[str, str]  # (kind, name): ("agent", "1001"), ("company", "company")
Documents = Mapping[Key, dict[str, Any]]
REVISION_ROW = 1


class VersionConflict(errors.Conflict):
    """The object's version is not the one the change was made against (another change came
    first): nothing is changed; the detail has the version now."""

    id = "version-conflict"


class NoSuchSetting(errors.NotFound):
    """No such agent or queue in the managed settings."""

    id = "no-such-setting"


class NotSeeded(errors.Unavailable):
    """The database holds no managed settings yet: a controller seeds them at its first start."""

    id = "settings-not-seeded"


@dataclass(frozen=True)
class Stored:
    """One object as stored: its document, version, and who changed it last, when."""

    kind: str
    name: str
    version: int
    document: dict[str, Any]
    changed_at: datetime
    changed_by: str


@dataclass(frozen=True)
class Managed:
    """Every managed object at one revision."""

    revision: int
    objects: dict[Key, Stored]

    def of(self, kind: str) -> dict[str, Stored]:
        return {name: s for (k, name), s in sorted(self.objects.items()) if k == kind}

    def documents(self) -> dict[Key, dict[str, Any]]:
        return {key: stored.document for key, stored in self.objects.items()}


@dataclass(frozen=True)
class Change:
    """Put `document` as (kind, name), or delete it (`document` None). `expected`: the version
    the change is made against (0: the object must not exist yet; None: whatever it is)."""

    kind: str
    name: str
    document: dict[str, Any] | None
    expected: int | None = None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite: naive, UTC


def _stored(row: ManagedSettingRow) -> Stored:
    return Stored(row.kind, row.name, row.version, dict(row.document), _utc(row.changed_at), row.changed_by)


async def _objects(session: AsyncSession) -> dict[Key, Stored]:
    rows = (await session.scalars(select(ManagedSettingRow))).all()
    return {(row.kind, row.name): _stored(row) for row in rows}


async def revision(store: Store) -> int | None:
    """The revision now; None when nothing was seeded yet."""
    async with store.sessions() as session:
        return await session.scalar(
            select(SettingsRevisionRow.revision).where(SettingsRevisionRow.id == REVISION_ROW)
        )


async def load(store: Store) -> Managed | None:
    """Every object and the revision they are at (one read transaction); None: not seeded."""
    async with store.sessions() as session, session.begin():
        found = await session.scalar(
            select(SettingsRevisionRow.revision).where(SettingsRevisionRow.id == REVISION_ROW)
        )
        if found is None:
            return None
        return Managed(found, await _objects(session))


async def seed(store: Store, documents: Documents, *, by: str = "seed", now: datetime | None = None) -> bool:
    """At first start only: the documents as version 1, revision 1, audited. False (nothing
    written) when the settings were seeded before, whatever `documents` holds now."""
    at = now or datetime.now(UTC)
    async with store.sessions.begin() as session:
        await store.one_at_a_time(await session.connection())  # controllers starting together
        if await session.get(SettingsRevisionRow, REVISION_ROW) is not None:
            return False
        session.add(SettingsRevisionRow(id=REVISION_ROW, revision=1))
        for (kind, name), document in sorted(documents.items()):
            session.add(
                ManagedSettingRow(
                    kind=kind, name=name, version=1, document=document, changed_at=at, changed_by=by
                )
            )
        detail = {"revision": 1, "objects": [f"{kind}/{name}" for kind, name in sorted(documents)]}
        entry = audit.Entry(
            audit.audit_id("settings", "seeded"), at, "settings-seeded", "settings", detail, by
        )
        await audit.write(session, entry)
        return True


@dataclass(frozen=True)
class Applied:
    """What a change did: the settings after it, and each object's before and after (None:
    absent) for the objects it changed."""

    after: Managed
    changed: dict[Key, tuple[Stored | None, Stored | None]]


async def apply(
    store: Store,
    changes: list[Change],
    check: Callable[[dict[Key, dict[str, Any]]], None],
    *,
    actor: str,
    reason: str | None = None,
    action: str = "settings-changed",
    now: datetime | None = None,
) -> Applied:
    """The changes, in one transaction, if every expected version holds and `check` passes on
    the whole resulting documents (it raises otherwise: nothing written). An object whose document
    is the same as before is left as it is (same version, no audit row; nothing changed at all:
    the revision stays too)."""
    at = now or datetime.now(UTC)
    async with store.sessions.begin() as session:
        bumped = await session.execute(
            update(SettingsRevisionRow)
            .where(SettingsRevisionRow.id == REVISION_ROW)
            .values(revision=SettingsRevisionRow.revision + 1)
        )
        if bumped.rowcount != 1:  # type: ignore[attr-defined]
            raise NotSeeded("the managed settings were never seeded: start the controller once first")
        new_revision = await session.scalar(
            select(SettingsRevisionRow.revision).where(SettingsRevisionRow.id == REVISION_ROW)
        )
        assert new_revision is not None
        before = await _objects(session)
        documents = {key: stored.document for key, stored in before.items()}
        for change in changes:
            key = (change.kind, change.name)
            current = before.get(key)
            now_at = current.version if current is not None else 0
            if change.expected is not None and now_at != change.expected:
                raise VersionConflict(
                    f"{change.kind} {change.name!r} is at version {now_at or '0 (absent)'}, "
                    f"not {change.expected}: changed meanwhile; read it again and redo the change",
                    {
                        "kind": change.kind,
                        "name": change.name,
                        "version": now_at,
                        "expected": change.expected,
                    },
                )
            if change.document is None and current is None:
                raise NoSuchSetting(
                    f"no {change.kind} {change.name!r}", {"kind": change.kind, "name": change.name}
                )
            if change.document is None:
                documents.pop(key, None)
            else:
                documents[key] = change.document
        check(documents)
        changed: dict[Key, tuple[Stored | None, Stored | None]] = {}
        for key in sorted({(c.kind, c.name) for c in changes}):
            old, document = before.get(key), documents.get(key)
            if old is not None and document == old.document:
                continue
            kind, name = key
            if document is None:
                await session.execute(
                    delete(ManagedSettingRow).where(
                        ManagedSettingRow.kind == kind, ManagedSettingRow.name == name
                    )
                )
                changed[key] = (old, None)
            else:
                version = old.version + 1 if old is not None else 1
                row = await session.get(ManagedSettingRow, key)
                if row is None:
                    session.add(
                        ManagedSettingRow(
                            kind=kind,
                            name=name,
                            version=version,
                            document=document,
                            changed_at=at,
                            changed_by=actor,
                        )
                    )
                else:
                    row.version, row.document, row.changed_at, row.changed_by = version, document, at, actor
                changed[key] = (old, Stored(kind, name, version, document, at, actor))
            await _audit(session, key, changed[key], actor, reason, action, new_revision, at)
        if not changed:  # the same documents again: the revision stays where it was
            new_revision -= 1
            await session.execute(
                update(SettingsRevisionRow)
                .where(SettingsRevisionRow.id == REVISION_ROW)
                .values(revision=new_revision)
            )
        after = {key: stored for key, stored in before.items() if key not in changed}
        after.update({key: new for key, (_, new) in changed.items() if new is not None})
        return Applied(Managed(new_revision, after), changed)


async def _audit(
    session: AsyncSession,
    key: Key,
    change: tuple[Stored | None, Stored | None],
    actor: str,
    reason: str | None,
    action: str,
    revision_: int,
    at: datetime,
) -> None:
    old, new = change
    kind, name = key
    detail = {
        "kind": kind,
        "name": name,
        "before": old.document if old is not None else None,
        "after": new.document if new is not None else None,
        "version_before": old.version if old is not None else None,
        "version_after": new.version if new is not None else None,
        "revision": revision_,
        "reason": reason,
    }
    what = action if new is not None else "settings-deleted"
    entry = audit.Entry(
        audit.audit_id("settings", kind, name, "revision", revision_),
        at,
        what,
        f"settings/{kind}/{name}",
        detail,
        actor,
    )
    await audit.write(session, entry)
