"""Carries out a call's actions through ARI, in order. The only place a call touches Asterisk.
Timers (StartTimer, StartPauseTimer, Later) are not its: the call's mailbox keeps them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ari_recorder.ari.errors import AriError, AriNotFound, exists
from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import call as c
from ari_recorder.domain import ids
from ari_recorder.domain.notes import Note, Severity, Value

log = logging.getLogger("ari_recorder.engine")
LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.ERROR: logging.ERROR}


class Executor:
    def __init__(self, ari: AriClient, app: str, feedback: Callable[[str, c.CallEvent], None]) -> None:
        self.ari = ari
        self.app = app
        self.feedback = feedback  # an action's failure, told to the call as an event

    async def run(
        self, call_id: str, actions: list[c.Action], resumed: bool = False
    ) -> list[tuple[c.Action, AriError]]:
        """Carry out the actions in order; those Asterisk refused, with its answers. `resumed`:
        the call was taken from the store, and what it makes may be there already."""
        failed: list[tuple[c.Action, AriError]] = []
        for action in actions:
            try:
                if resumed and await self._made_already(call_id, action):
                    continue
                await self._do(call_id, action)
            except AriNotFound as error:
                if isinstance(action, c.Hangup | c.DestroyBridge):
                    continue  # already gone: cleaning up is idempotent
                self._failed(call_id, action, error)
                failed.append((action, error))
            except AriError as error:
                self._failed(call_id, action, error)
                failed.append((action, error))
            except Exception:  # a bug: say so loudly, and let the call go on to its end
                log.exception("call=%s action=%s failed unexpectedly", call_id, type(action).__name__)
        return failed

    async def _made_already(self, call_id: str, action: c.Action) -> bool:
        """Whether a resumed call's action would make what Asterisk has already: made by the
        controller before this one, whose stored state lagged behind what it had asked. Not
        asked again: Asterisk refuses ids in use, and after refusing a Local channel and a snoop
        so it could not be stopped (seen: `core stop now` hung). A snoop made already is as if
        it had just entered the application: recorded, unless its recording is live
        (reconciliation then says so)."""
        match action:
            case c.DialAgent(channel) | c.DialCustomer(channel):
                there = await exists(self.ari.get_channel(channel))
            case c.CreateBridge(bridge):
                there = await exists(self.ari.get_bridge(bridge))
            case c.StartRecording(_, snoop, name):
                there = await exists(self.ari.get_channel(snoop))
                if there and not await exists(self.ari.get_live(name)):
                    self.feedback(call_id, c.SnoopEntered(snoop, name))
            case _:
                return False
        if there:
            log.warning("call=%s action=%s: made already, not asked again", call_id, type(action).__name__)
        return there

    def _failed(self, call_id: str, action: c.Action, error: AriError) -> None:
        """Tell the call what did not happen, where it must know."""
        match action:
            case c.StartRecording(_, _, name):
                # Asterisk says no more than "could not be created" (500), also for a snoop of an id
                # in use (one made by a controller before this one: reconciliation finds its
                # recording live). The call retries until its deadline.
                self.feedback(call_id, c.RecordRefused(name, error.message or str(error), snoop=True))
                return
            case c.Record(_, name) if not _in_progress(error):
                self.feedback(call_id, c.RecordRefused(name, error.message or str(error)))
                return
            case c.Record():
                return  # a retried record Asterisk had taken after all: RecordingStarted follows
            case c.Play(_, _, playback_id) if ids.is_announcement(playback_id):
                why = f"Asterisk refused to play it: {error.message or error}"
                self.feedback(call_id, c.AnnouncementFinished(failed=why))
            case c.DialAgent(channel):
                self.feedback(call_id, c.AgentFailed(channel, 0))
            case c.DialCustomer(channel):
                self.feedback(call_id, c.CustomerLeft(channel))
            case c.PauseRecording(name, _, number):
                # The recording never stopped: whatever is said now is in the file.
                log.error("call=%s recording=%s action=pause failed, recording on: %s", call_id, name, error)
                self.feedback(call_id, c.PauseFailed(number))
                return
            case c.ResumeRecording(name):
                log.error("call=%s recording=%s action=resume failed: %s", call_id, name, error)
                return
        log.warning("call=%s action=%s failed: %s", call_id, type(action).__name__, error)

    async def _do(self, call_id: str, action: c.Action) -> None:
        ari = self.ari
        match action:
            case Note():
                log.log(LEVELS.get(action.level, logging.INFO), line(action))
            case c.Answer(channel):
                await ari.answer(channel)
            case c.Play(channel, media, playback_id, lang):
                await ari.play(channel, media, playback_id=playback_id, lang=lang)
            case c.CreateBridge(bridge):
                await ari.create_bridge(bridge_id=bridge, name=bridge)
            case c.AddToBridge(bridge, channel, absorb):
                await ari.add_channel(bridge, channel, absorb_dtmf=absorb or None)
            case c.StartMoh(channel, moh_class):
                await ari.start_channel_moh(channel, moh_class=moh_class)
            case c.StopMoh(channel):
                await ari.stop_channel_moh(channel)
            case c.DialAgent(channel, agent, endpoint, timeout):
                args, app = ids.agent_args(agent), self.app
                await ari.originate(endpoint, app=app, app_args=args, channel_id=channel, timeout=timeout)
            case c.DialCustomer(channel, endpoint, timeout, caller_id):
                await ari.originate(
                    endpoint,
                    app=self.app,
                    app_args=ids.customer_args(),
                    channel_id=channel,
                    timeout=timeout,
                    caller_id=caller_id,
                )
            case c.StartRecording(target, snoop, name, spy):
                # Recorded once it is in the application (SnoopEntered): Asterisk answers this
                # POST before the snoop's StasisStart, and refuses a record sent before it.
                args = ids.snoop_args(name)
                await ari.snoop(target, self.app, spy=spy.value, app_args=args, snoop_id=snoop)
            case c.Record(snoop, name):
                await ari.record(snoop, name, format="wav", if_exists="fail")
            case c.Hangup(channel):
                await ari.hangup(channel)
            case c.DestroyBridge(bridge):
                await ari.destroy_bridge(bridge)
            case c.ContinueInDialplan(channel, context, extension, priority):
                await ari.continue_in_dialplan(
                    channel, context=context, extension=extension, priority=priority
                )
            case c.SetVariable(channel, name, value):
                await ari.set_variable(channel, name, value)
            case c.StopRecording(name):
                await ari.stop_recording(name)
            case c.PauseRecording(name, mute):
                await (ari.mute_recording(name) if mute else ari.pause_recording(name))
            case c.ResumeRecording(name, mute):
                await (ari.unmute_recording(name) if mute else ari.unpause_recording(name))


def line(note: Note) -> str:
    """A note as one line: `call=... [segment=...] [agent=...] [recording=...] action=... key=value...`.
    A reason (why) is always quoted, so it reads the same whether one word or many; any other
    value only when it holds a space, a quote or an = (or nothing)."""
    words = [f"{k}={_value(k, v)}" for k, v in note.subject()]
    words.append(f"action={note.action}")
    words += [f"{k}={_value(k, v)}" for k, v in note.fields]
    return " ".join(words)


def _value(key: str, value: Value) -> str:
    text = str(value)
    if key != "why" and text and not any(ch in text for ch in ' "=\n\t\\'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _in_progress(error: AriError) -> bool:
    return error.status == 409 and "already in progress" in (error.message or "")
