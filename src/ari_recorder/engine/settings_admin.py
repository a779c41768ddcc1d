"""Changing the managed settings: the one service the HTTP API (api/settings_routes.py) and the CLI
(`ari-recorder settings`) both use.

Every change is checked as a whole: the object's own fields (every wrong one named), then the
complete settings it would give, as the file is checked (engine/managed.py); then written with its
audit row in one transaction (storage/settings_store.py), or not at all. Optimistic concurrency:
each object has a version; a change names the version it was made against (`expected`), and a
change made against another version is a VersionConflict that changes nothing. `require_version`
(the API's rule): changing or deleting an object that exists without naming its version is
refused (PreconditionRequired); a new object is created only if it is still absent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ari_recorder import errors
from ari_recorder.engine.live_settings import LiveSettings
from ari_recorder.engine.managed import (
    AGENT,
    COMPANY,
    NAMED,
    QUEUE,
    RULES,
    InvalidSettings,
    Key,
    compose,
    documents,
    key,
    normalized,
)
from ari_recorder.settings import Settings
from ari_recorder.storage import settings_store
from ari_recorder.storage.settings_store import Applied, Change, Managed, NoSuchSetting, Stored
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.engine")
NAME_MOST = 64  # characters (the column's)
ABSENT = 0  # the version a change expects of an object that must not exist yet


class VersionRequired(errors.PreconditionRequired):
    id = "if-match-required"


class NotDeletable(errors.Unprocessable):
    id = "not-deletable"


# The announcements' problems of some settings, each naming its field (engine/announcements.py).
SoundCheck = Callable[[Settings], Awaitable[list[str]]]


class SettingsAdmin:
    """`sounds`: where Asterisk can be asked (the controller's API), a change that names a sound
    Asterisk does not have (in the language named) is refused as any wrong value is."""

    def __init__(self, store: Store, live: LiveSettings, sounds: SoundCheck | None = None) -> None:
        self.store, self.live, self.sounds = store, live, sounds

    async def whole(self) -> Managed:
        managed = await settings_store.load(self.store)
        if managed is None:
            raise settings_store.NotSeeded(
                "the managed settings were never seeded: start the controller once"
            )
        return managed

    async def get(self, kind: str, name: str | None = None) -> Stored:
        _named_rightly(kind, name)
        found = (await self.whole()).objects.get(key(kind, name))
        if found is None:
            raise NoSuchSetting(f"no {kind} {name!r}", {"kind": kind, "name": name})
        return found

    async def put(
        self,
        kind: str,
        name: str | None,
        raw: Any,
        *,
        actor: str,
        expected: int | None = None,
        require_version: bool = False,
        reason: str | None = None,
    ) -> tuple[Stored, bool]:
        """The object's document replaced by `raw` (created if new); the object as stored now,
        and whether it was created."""
        kind, name = key(kind, name)
        document = normalized(kind, name, raw)
        if expected is None and require_version:
            expected = await self._required(kind, name, creating=True)
        applied = await self._apply([Change(kind, name, document, expected)], actor, reason)
        before, after = applied.changed.get((kind, name), (None, None))
        stored = after or applied.after.objects[(kind, name)]
        log.info(
            "settings: %s %s version %d by %s (revision %d)",
            kind,
            name,
            stored.version,
            actor,
            applied.after.revision,
        )
        return stored, before is None and after is not None

    async def delete(
        self,
        kind: str,
        name: str,
        *,
        actor: str,
        expected: int | None = None,
        require_version: bool = False,
        reason: str | None = None,
    ) -> Stored:
        """An agent or a queue deleted (refused while anything names it); the object as it was."""
        if kind not in NAMED:
            raise NotDeletable(f"{kind}: only agents and queues are deleted", {"kind": kind})
        _named_rightly(kind, name)
        if expected is None and require_version:
            expected = await self._required(kind, name, creating=False)
        applied = await self._apply([Change(kind, name, None, expected)], actor, reason)
        before, _ = applied.changed[(kind, name)]
        assert before is not None
        log.info("settings: %s %s deleted by %s (revision %d)", kind, name, actor, applied.after.revision)
        return before

    async def import_file(self, file: Settings, *, actor: str, reason: str | None = None) -> Applied:
        """The managed sections of `file` (loaded and checked) in force in place of the database's:
        each object changed, created or deleted, audited, in one change."""
        wanted = documents(file)
        present = (await self.whole()).objects
        changes = [Change(kind, name, document) for (kind, name), document in sorted(wanted.items())]
        changes += [
            Change(kind, name, None) for (kind, name) in sorted(present) if (kind, name) not in wanted
        ]
        applied = await self._apply(changes, actor, reason, action="settings-imported")
        log.info(
            "settings: imported by %s: %d object(s) changed (revision %d)",
            actor,
            len(applied.changed),
            applied.after.revision,
        )
        return applied

    async def _required(self, kind: str, name: str, *, creating: bool) -> int:
        """No version named: allowed only to create an object still absent."""
        exists = key(kind, name) in (await self.whole()).objects
        if exists or not creating:
            if not exists:
                raise NoSuchSetting(f"no {kind} {name!r}", {"kind": kind, "name": name})
            raise VersionRequired(
                f"{kind} {name!r} exists: say which version the change is made against (If-Match: "
                'the ETag a GET answered, e.g. "3")',
                {"kind": kind, "name": name},
            )
        return ABSENT

    async def _apply(
        self, changes: list[Change], actor: str, reason: str | None, action: str = "settings-changed"
    ) -> Applied:
        def check(found: dict[Key, dict[str, Any]]) -> None:
            compose(self.live.base, found)  # InvalidSettings naming every problem: nothing written

        if self.sounds is not None:
            await self._sounds_hold(self.sounds, changes)

        applied = await settings_store.apply(
            self.store, changes, check, actor=actor, reason=reason or None, action=action
        )
        try:
            self.live.take(applied.after)  # this controller's own change: in force at once
        except InvalidSettings as error:  # checked above; a fault of ours if it happens
            log.error("settings: revision %d not taken: %s", applied.after.revision, error)
        return applied

    async def _sounds_hold(self, sounds: SoundCheck, changes: list[Change]) -> None:
        """The announcements the changes would give are in Asterisk: InvalidSettings naming each
        one they would make missing (one missing before them is not theirs to answer for)."""
        documents_now = {k: stored.document for k, stored in (await self.whole()).objects.items()}
        documents_then = dict(documents_now)
        for change in changes:
            if change.document is None:
                documents_then.pop((change.kind, change.name), None)
            else:
                documents_then[(change.kind, change.name)] = change.document
        try:
            then = compose(self.live.base, documents_then)
        except InvalidSettings:
            return  # the change is wrong anyway: the store's check names how
        already = set(await sounds(compose(self.live.base, documents_now)))
        new = [problem for problem in await sounds(then) if problem not in already]
        if new:
            raise InvalidSettings(new)


def _named_rightly(kind: str, name: str | None) -> None:
    """A name no agent or queue can have is none of them (its text kept out of the detail)."""
    if kind in NAMED and (name is None or not name.isprintable() or len(name) > NAME_MOST):
        raise NoSuchSetting(f"no {kind} {name!r}", {"kind": kind})


def object_json(stored: Stored) -> dict[str, Any]:
    """One object as the API and the CLI show it: version, who changed it last, when, its document."""
    found: dict[str, Any] = {
        "version": stored.version,
        "changed_at": stored.changed_at,
        "changed_by": stored.changed_by,
        "settings": stored.document,
    }
    if stored.kind in (AGENT, QUEUE):
        found["id"] = stored.name
    return found


def whole_json(managed: Managed) -> dict[str, Any]:
    """Every object, by kind, and the revision."""
    return {
        "revision": managed.revision,
        "agents": {name: object_json(s) for name, s in managed.of(AGENT).items()},
        "queues": {name: object_json(s) for name, s in managed.of(QUEUE).items()},
        "company": object_json(managed.objects[(COMPANY, COMPANY)]),
        "rules": object_json(managed.objects[(RULES, RULES)]),
    }
