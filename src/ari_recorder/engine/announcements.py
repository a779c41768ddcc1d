"""Every configured announcement checked against Asterisk (GET /sounds/{id}) before calls are
taken: a queue whose notice Asterisk cannot play would have its calls answered in silence.

A notice named for a language (`announcements = {fr = "..."}`, the queue's, or the company's
for a queue with no notice of its own) must be in Asterisk in that language: it is played in
it, from its folder. The notice for every other language is checked as Asterisk has it in any
language (the channel's language is only known when a call comes; Asterisk falls back on
another language's file when the channel's has none).
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


@dataclass(frozen=True)
class Wanted:
    queue: str
    sound: str
    language: str | None  # None: in any language


def announcements(settings: Settings) -> list[Wanted]:
    """Each queue's notice (the company's where it names none), and its notice in each language
    the queue or the company names one for."""
    wanted = []
    for queue in sorted(settings.queues):
        wanted.append(Wanted(queue, settings.sound_for(queue), None))
        own = settings.queues[queue]
        # The company's notice in a language stands for a queue with no notice of its own.
        named = set(own.announcements) | (set() if own.announcement else set(settings.company.announcements))
        wanted += [Wanted(queue, settings.sound_for(queue, language), language) for language in sorted(named)]
    return wanted


async def require_sounds(ari: AriClient, settings: Settings) -> Checked:
    """Each queue's announcements are in Asterisk, or MissingSounds names every one that is not.
    AriError (Asterisk unreachable, credentials refused) when it cannot be told."""
    problems, found = await _looked_up(ari, settings)
    if problems:
        raise MissingSounds("; ".join(problems))
    return Checked(found, len(settings.queues))


async def sound_problems(ari: AriClient, settings: Settings) -> list[str]:
    """What require_sounds would say, each problem naming its field ([] when all are there)."""
    problems, _ = await _looked_up(ari, settings)
    return problems


async def _looked_up(ari: AriClient, settings: Settings) -> tuple[list[str], tuple[str, ...]]:
    wanted = announcements(settings)
    languages: dict[str, frozenset[str] | None] = {}  # sound -> its languages (None: not there)
    for sound in dict.fromkeys(w.sound for w in wanted):
        try:
            languages[sound] = frozenset(f.language for f in (await ari.get_sound(sound)).formats)
        except AriNotFound:
            languages[sound] = None
    missing = [_missing(settings, w, languages[w.sound]) for w in wanted]
    problems = [problem for problem in dict.fromkeys(missing) if problem is not None]
    return problems, tuple(s for s, there in languages.items() if there is not None)


def _missing(settings: Settings, wanted: Wanted, languages: frozenset[str] | None) -> str | None:
    queue, sound, language = wanted.queue, wanted.sound, wanted.language
    if language is None:
        key = f"queues.{queue}.announcement"
        whose = "" if settings.queues[queue].announcement else " (the company's announcement)"
    else:
        key = f"queues.{queue}.announcements.{language}"
        own = language in settings.queues[queue].announcements
        whose = "" if own else f" (company.announcements.{language})"
    if languages is None:
        return f"{key}: Asterisk has no sound {sound!r} (GET /sounds/{sound}: 404){whose}"
    if language is not None and language not in languages:
        have = ", ".join(sorted(languages)) or "none"
        return f"{key}: Asterisk has the sound {sound!r} in {have}, not in {language!r}{whose}"
    return None
