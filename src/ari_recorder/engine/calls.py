"""The live calls: their mailboxes by id, the channels Asterisk made that joined them, and what
the calls' latest states say (who is busy, which call an agent is on)."""

from __future__ import annotations

from ari_recorder.domain import call as c
from ari_recorder.domain import ids
from ari_recorder.domain.derived import aliases
from ari_recorder.domain.policy import Direction
from ari_recorder.engine.mailbox import Item, Mailbox


class Calls:
    def __init__(self) -> None:
        self._mailboxes: dict[str, Mailbox] = {}
        # Channels Asterisk made that joined a call (a consultation, an attended transfer's
        # Local ;1) -> the call: their ids do not name it.
        self._aliases: dict[str, str] = {}

    def open(self, call: c.Call, resumed: bool = False) -> Mailbox:
        """A mailbox for the call, new or resumed; the channels its state says joined it aliased."""
        mailbox = Mailbox(call)
        mailbox.timers.unreconciled = mailbox.resumed = resumed
        self._mailboxes[call.id] = mailbox
        for channel in aliases(call):
            self._aliases[channel] = call.id
        return mailbox

    def close(self, call_id: str) -> None:
        self._mailboxes.pop(call_id, None)
        for channel in [a for a, owner in self._aliases.items() if owner == call_id]:
            del self._aliases[channel]

    def alias(self, channel: str, call_id: str) -> None:
        self._aliases[channel] = call_id

    def is_alias(self, channel: str) -> bool:
        return channel in self._aliases

    def call_id(self, owner: str) -> str:
        # Every id a call creates starts with the call's id (domain/ids.py); others that joined
        # it are aliased.
        return self._aliases.get(owner) or ids.call_of(owner)

    def owner(self, channel: str) -> str | None:
        """The live call a channel belongs to, if any."""
        call_id = self.call_id(channel)
        return call_id if call_id in self._mailboxes else None

    def tell(self, owner: str, item: Item) -> None:
        """Put the item in the mailbox of the call `owner` (any id of the call's) belongs to."""
        mailbox = self._mailboxes.get(self.call_id(owner))
        if mailbox is not None:
            mailbox.put(item)

    def mailboxes(self) -> list[Mailbox]:
        return list(self._mailboxes.values())

    def get(self, call_id: str) -> c.Call | None:
        mailbox = self._mailboxes.get(call_id)
        return mailbox.call if mailbox is not None else None

    def live(self) -> list[c.Call]:
        return sorted((m.call for m in self._mailboxes.values()), key=lambda call: call.id)

    def __bool__(self) -> bool:
        return bool(self._mailboxes)

    def agent_call(self, agent: str) -> c.Call | None:
        """The live call the agent is on (with the customer, or dialling out), if any."""
        for call in (m.call for m in self._mailboxes.values()):
            if call.phase is c.Phase.ENDED:
                continue
            if call.segment is not None and call.segment.agent == agent:
                return call
            if _placing(call) and call.agents[0].policy.agent == agent:
                return call
        return None

    def busy(self, caller: str) -> frozenset[str]:
        """Agents on another call than `caller`, or being dialled for one."""
        busy = set()
        for other in (m.call for m in self._mailboxes.values()):
            if other.id == caller or other.phase is c.Phase.ENDED:
                continue
            if other.segment is not None:
                busy.add(other.segment.agent)
            if other.consultation is not None:  # talking with the agent who consults them
                busy.add(other.consultation.to.policy.agent)
            if other.dialling is not None and other.transfer_to is not None:  # ringing for a transfer
                busy.add(other.transfer_to.policy.agent)
            elif other.dialling is not None and other.tried:
                busy.add(other.agents[other.tried - 1].policy.agent)
            if _placing(other):  # the agent is on the phone
                busy.add(other.agents[0].policy.agent)
        return frozenset(busy)


def _placing(call: c.Call) -> bool:
    """An outbound call its agent is on: dialling the customer, or with them (not handed on)."""
    return call.interaction.direction is Direction.OUTBOUND and not c.handed_on(call)
