"""Who waits to hear that an agent's call changed: the agent pages' live streams; and who waits
to hear that any call changed: the supervisor pages' (`listen_all`).

The controller tells the notifier every new state of a call (where it saves it); the notifier
wakes whoever listens for that call's agents, and for the agents it woke for that call before
(an agent a transfer took off the call learns it is off). Nothing is polled: a listener sleeps
on an asyncio.Event until a call of its agent changes or the notifier closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from ari_recorder.domain.call import Call, Phase
from ari_recorder.domain.policy import Direction


class Listener:
    """One listener's wake-up: set when a call of its agent changed, since it last looked."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.closed = False
        self._changed = asyncio.Event()

    def wake(self) -> None:
        self._changed.set()

    @property
    def woken(self) -> bool:
        """Something changed that the listener has not waited for yet."""
        return self._changed.is_set()

    async def wait(self, timeout: float) -> bool:
        """True when something changed (or the notifier closed) within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        self._changed.clear()
        return True


def agents_of(call: Call) -> frozenset[str]:
    """The agents whose desktop shows this call: the connected segment's, or the agent an
    outbound call rings first."""
    agents = set()
    if call.segment is not None:
        agents.add(call.segment.agent)
    if call.interaction.direction is Direction.OUTBOUND and call.agents:
        agents.add(call.agents[0].policy.agent)
    return frozenset(agents)


class Notifier:
    def __init__(self) -> None:
        self._listening: dict[str, set[Listener]] = {}
        self._everyone: set[Listener] = set()  # woken by every call's change
        self._told: dict[str, frozenset[str]] = {}  # call id -> the agents last woken for it
        self.closed = False

    def changed(self, call: Call) -> None:
        """A call's new state (the controller's hook): its agents' listeners woken."""
        agents = agents_of(call) if call.phase is not Phase.ENDED else frozenset()
        woken = agents | self._told.pop(call.id, frozenset())
        if agents:
            self._told[call.id] = agents
        for agent in woken:
            for listener in self._listening.get(agent, ()):
                listener.wake()
        for listener in self._everyone:
            listener.wake()

    @contextmanager
    def listen(self, agent: str) -> Iterator[Listener]:
        """A listener for `agent`'s calls until the block ends."""
        listener = Listener(agent)
        listener.closed = self.closed
        self._listening.setdefault(agent, set()).add(listener)
        try:
            yield listener
        finally:
            listening = self._listening.get(agent)
            if listening is not None:
                listening.discard(listener)
                if not listening:
                    del self._listening[agent]

    @contextmanager
    def listen_all(self) -> Iterator[Listener]:
        """A listener for every call's changes until the block ends (who may see which call is
        the listener's to judge)."""
        listener = Listener("*")
        listener.closed = self.closed
        self._everyone.add(listener)
        try:
            yield listener
        finally:
            self._everyone.discard(listener)

    def listeners(self, agent: str | None = None) -> int:
        """How many listen (for `agent`, or for anyone, the listeners to every call too)."""
        if agent is not None:
            return len(self._listening.get(agent, ()))
        return sum(len(listeners) for listeners in self._listening.values()) + len(self._everyone)

    def close(self) -> None:
        """Every listener woken, told to stop (the server shuts down)."""
        self.closed = True
        for listener in {*self._everyone, *(one for group in self._listening.values() for one in group)}:
            listener.closed = True
            listener.wake()
