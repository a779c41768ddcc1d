"""The notifier: whose listeners a call's new state wakes (its agents', and those it had)."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import call as c
from ari_recorder.engine.notifier import Notifier, agents_of
from tests.domain.test_call import agent, connected, transfer


async def test_a_call_wakes_its_agents_listeners_only() -> None:
    notifier = Notifier()
    call = connected(agent("1001"), agent("1002"))
    assert agents_of(call) == {"1001"}
    with notifier.listen("1001") as first, notifier.listen("1001") as tab, notifier.listen("1002") as other:
        notifier.changed(call)
        assert (first.woken, tab.woken, other.woken) == (True, True, False)
        assert await first.wait(1) and not first.woken
    assert notifier.listeners() == 0


async def test_a_transfer_wakes_the_agent_it_took_off_the_call_once() -> None:
    notifier = Notifier()
    call = connected(agent("1001"))
    with notifier.listen("1001") as first, notifier.listen("1002") as second:
        notifier.changed(call)
        await first.wait(1)
        moved, _ = transfer(call, agent("1002"))
        notifier.changed(moved)
        assert (first.woken, second.woken) == (True, True), "1001 learns it is off the call"
        await first.wait(1)
        await second.wait(1)
        notifier.changed(moved)
        assert (first.woken, second.woken) == (False, True)


async def test_an_ended_call_wakes_its_agent_and_is_forgotten() -> None:
    notifier = Notifier()
    call = connected(agent("1001"))
    with notifier.listen("1001") as first:
        notifier.changed(call)
        await first.wait(1)
        notifier.changed(replace(call, phase=c.Phase.ENDED))
        assert first.woken
        await first.wait(1)
        notifier.changed(replace(call, phase=c.Phase.ENDED))
        assert not first.woken


async def test_closing_wakes_every_listener_and_tells_it_to_stop() -> None:
    notifier = Notifier()
    with notifier.listen("1001") as first, notifier.listen("1002") as second:
        assert not await first.wait(0.01)
        notifier.close()
        assert await first.wait(1) and await second.wait(1)
        assert first.closed and second.closed
        with notifier.listen("1003") as late:
            assert late.closed


async def test_a_listener_to_every_call_is_woken_by_each_and_closed_with_the_notifier() -> None:
    notifier = Notifier()
    with notifier.listen_all() as everything, notifier.listen("1002") as other:
        assert notifier.listeners() == 2
        notifier.changed(connected(agent("1001")))
        assert (everything.woken, other.woken) == (True, False)
        assert await everything.wait(1) and not everything.woken
        notifier.close()
        assert everything.closed and other.closed and everything.woken
    assert notifier.listeners() == 0
