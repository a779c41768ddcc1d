"""The ids the controller gives Asterisk: minted and read back by one module, safe by construction."""

from __future__ import annotations

import pytest

from ari_recorder.ari.naming import require_safe_name
from ari_recorder.domain import ids
from ari_recorder.domain.ids import Own, OwnStart

CALL = "1716968400.42"


def test_every_id_a_call_makes_leads_back_to_the_call() -> None:
    made = [
        ids.bridge(CALL),
        ids.announcement(CALL),
        ids.customer_leg(CALL),
        ids.agent_channel(CALL, 3),
        ids.consult_channel(CALL, 4),
        ids.snoop(CALL, 2),
        ids.snoop(CALL, 2, "c"),
        ids.recording(CALL, 2, "1001"),
        *ids.recording_legs(ids.recording(CALL, 2, "1001"), 2),
    ]
    assert len(set(made)) == len(made)
    assert {ids.call_of(made_id) for made_id in made} == {CALL}
    assert ids.is_call(CALL) and not any(ids.is_call(made_id) for made_id in made)
    assert ids.call_of(ids.new_call()) != CALL and ids.is_call(ids.new_call())


def test_each_kind_is_told_apart_from_the_others() -> None:
    assert ids.is_announcement(ids.announcement(CALL))
    assert not ids.is_announcement(ids.bridge(CALL))
    assert ids.is_agent_channel(ids.agent_channel(CALL, 1))
    assert not ids.is_agent_channel(ids.consult_channel(CALL, 1))
    assert ids.is_leg(ids.customer_leg(CALL)) and not ids.is_leg(ids.agent_channel(CALL, 1))


@pytest.mark.parametrize("agent", ["a/b", "../../etc/passwd", "Jane Doe", "..", "ü-1001", ""])
def test_a_recording_name_is_safe_whatever_the_agent_id(agent: str) -> None:
    name = ids.recording(CALL, 1, agent)
    require_safe_name(name)  # what the ARI client checks before anything reaches Asterisk
    assert "/" not in name and ".." not in name and " " not in name
    assert ids.call_of(name) == CALL
    for leg in ids.recording_legs(name, 2):
        require_safe_name(leg)


def test_two_unsafe_agent_ids_never_share_a_recording_name() -> None:
    assert ids.recording(CALL, 1, "a/b") != ids.recording(CALL, 1, "a b")


def test_a_safe_agent_id_is_kept_as_it_is() -> None:
    assert ids.recording(CALL, 2, "1001") == f"{CALL}-seg2-1001"


def test_the_controllers_own_stasis_arguments_read_back() -> None:
    assert ids.own_start(tuple(ids.agent_args("1001").split(","))) == OwnStart(Own.AGENT, "1001")
    assert ids.own_start(tuple(ids.customer_args().split(","))) == OwnStart(Own.CUSTOMER)
    name = ids.recording(CALL, 1, "1001")
    assert ids.own_start(tuple(ids.snoop_args(name).split(","))) == OwnStart(Own.SNOOP, name)
    assert ids.own_start(("queue=support", "lang=fr")) is None
    assert ids.own_start(("snoop",)) is None  # a snoop names its recording


def test_the_dialplans_arguments_read_back() -> None:
    outbound = tuple(ids.outbound_args("1001", "15550100", "sales"))
    assert ids.is_outbound(outbound) and not ids.is_queue_call(outbound[:1])
    assert ids.dialplan_args(outbound) == {"agent": "1001", "to": "15550100", "queue": "sales"}
    assert ids.dialplan_args(("queue=support", "lang=fr", "junk")) == {"queue": "support", "lang": "fr"}
    assert ids.is_queue_call(("queue=support",)) and ids.is_consult(("consult", "agent=1002"))
    assert ids.is_transfer(("transfer", "agent=3002"))
