"""Every configured announcement checked against Asterisk (GET /sounds/{id}) before calls are
taken: a queue whose notice Asterisk cannot play would have its calls answered in silence.

The settings have no language per queue, so each sound is checked as Asterisk has it in any
language (a sound present only in another language than the channel's still plays nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_recorder.ari.errors import AriNotFound
from ari_recorder.ari.rest import AriClient
from ari_recorder.settings import Settings, SettingsError


class MissingSounds(SettingsError):
    """Announcements Asterisk does not have; the message names each queue and sound."""


@dataclass(frozen=True)
class Checked:
    sounds: tuple[str, ...]  # the sounds found, each once
    queues: int


def announcements(settings: Settings) -> dict[str, str]:
    """Queue -> the sound its calls are announced with (the company's where it names none)."""
    return {queue: settings.sound_for(queue) for queue in sorted(settings.queues)}


async def require_sounds(ari: AriClient, settings: Settings) -> Checked:
    """Each queue's announcement is in Asterisk, or MissingSounds names every one that is not.
    AriError (Asterisk unreachable, credentials refused) when it cannot be told."""
    wanted = announcements(settings)
    found: dict[str, bool] = {}
    for sound in dict.fromkeys(wanted.values()):
        try:
            await ari.get_sound(sound)
            found[sound] = True
        except AriNotFound:
            found[sound] = False
    missing = [
        f"queues.{queue}.announcement: Asterisk has no sound {sound!r} (GET /sounds/{sound}: 404)"
        + ("" if settings.queues[queue].announcement else " (the company's announcement)")
        for queue, sound in wanted.items()
        if not found[sound]
    ]
    if missing:
        raise MissingSounds("; ".join(missing))
    return Checked(tuple(found), len(wanted))
