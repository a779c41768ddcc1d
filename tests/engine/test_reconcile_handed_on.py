"""Reconciliation of an outbound call its agent handed on: the agent's own channel (the call's
id) is gone for good, so the customer's leg and the new agent's are the ones looked at."""

from __future__ import annotations

from typing import Any, cast

from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import call as c
from ari_recorder.engine.reconcile import missed_events
from tests.domain.test_transfers import agent, outbound, through


class Recordings:
    """An ARI stand-in: every recording asked about is live."""

    async def get_live(self, name: str) -> dict[str, Any]:
        return {"name": name}


def handed_on() -> c.Call:
    call, _ = through(outbound(), agent("B", percent=0), None, leg=1)
    call, _ = c.step(call, c.RecordingEnded("9.9-seg1-A"))
    assert c.handed_on(call) and not call.recordings_open
    return call


async def test_the_first_agents_channel_gone_is_nothing_missed() -> None:
    ari = cast(AriClient, Recordings())
    assert await missed_events(ari, handed_on(), {"9.9-customer", "9.9-agent-1"}) == []


async def test_the_customer_gone_is_missed_and_so_is_the_new_agent() -> None:
    ari = cast(AriClient, Recordings())
    assert await missed_events(ari, handed_on(), {"9.9-agent-1"}) == [c.CustomerLeft("9.9-customer")]
    assert await missed_events(ari, handed_on(), {"9.9-customer"}) == [c.AgentLeft("9.9-agent-1")]
