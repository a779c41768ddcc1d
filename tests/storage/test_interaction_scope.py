"""A supervisor's reach over the interactions, on SQLite and PostgreSQL: in the query itself, so
that pages (some interactions sharing a start, paged across the ones out of reach) hold exactly
the interactions of its teams' agents and of its partitions, the detail of one out of reach
reads as none, and each read is audited with the reach it was made within."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from ari_recorder.domain import call as c
from ari_recorder.domain import partitions
from ari_recorder.domain.policy import AgentId, AgentPolicy, Interaction, InteractionId, QueueId
from ari_recorder.storage import interaction_reads
from ari_recorder.storage.audit_reads import LIMIT_MOST
from ari_recorder.storage.interaction_reads import InteractionFilters, Within
from ari_recorder.storage.store import Store
from tests.test_storage import a_call

BLUE = Within(frozenset({"1001", "1003"}), frozenset({"emea"}), frozenset({"blue"}))
# id: (the agent answering, or None: never answered; its partitions as attached, or None)
INTERACTIONS: dict[str, tuple[str | None, str | None]] = {
    "i01": ("1001", None),  # blue's agent
    "i02": ("1002", None),  # green's
    "i03": ("1002", "emea"),  # green's, in blue's partition
    "i04": ("1003", "apac"),  # blue's, in another partition
    "i05": ("1002", "emea_x"),  # not emea (LIKE's `_` would take it)
    "i06": ("1002", "xemea;apac"),  # not emea either
    "i07": (None, "apac;emea"),  # no agent yet, in emea
    "i08": ("1002", "EMEA"),  # another name: partitions are names, case and all
    "i09": ("1001", "apac"),
    "i10": ("1002", "apac"),
    "i11": ("1003", None),
    "i12": ("1002", None),
}
IN_BLUE = {"i01", "i03", "i04", "i07", "i09", "i11"}


def the_call(interaction: str, agent: str | None, of: str | None) -> c.Call:
    """`interaction`'s call, with `agent` answered (and recorded), in partitions `of`."""
    metadata = {"customer": f"cust-{interaction}", **({partitions.KEY: of} if of else {})}
    call = dataclasses.replace(
        a_call(),
        id=interaction,
        customer=interaction,
        interaction=Interaction(InteractionId(interaction), queue=QueueId("support"), metadata=metadata),
        agents=(c.Agent(AgentPolicy(AgentId(agent or "1001"), True, 100), "PJSIP/x"),),
    )
    call, _ = c.start(call)
    if agent is not None:
        call, _ = c.step(call, c.AnnouncementFinished())
        call, _ = c.step(call, c.AgentAnswered(f"{interaction}-agent-1"))
    return call


async def saved(store: Store) -> None:
    """Three interactions at a time, in one transaction each: every three share their start."""
    calls = [the_call(i, agent, of) for i, (agent, of) in INTERACTIONS.items()]
    for n in range(0, len(calls), 3):
        await store.save_calls(calls[n : n + 3])


async def every_page(
    store: Store, reach: Within | None, limit: int, filters: InteractionFilters | None = None
) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        got = await interaction_reads.page(store, filters or InteractionFilters(), cursor, limit, reach)
        pages.append([item["id"] for item in got.items])
        if got.next is None:
            return pages
        cursor = got.next


async def test_a_supervisor_pages_through_its_teams_and_partitions_interactions_only(store: Store) -> None:
    await saved(store)
    (everything,) = await every_page(store, None, LIMIT_MOST)
    assert sorted(everything) == sorted(INTERACTIONS)
    newest_first = [i for i in everything if i in IN_BLUE]
    for limit in (1, 2, 4, 5, LIMIT_MOST):
        pages = await every_page(store, BLUE, limit)
        assert [i for page in pages for i in page] == newest_first, limit
        assert all(len(page) == limit for page in pages[:-1]) and len(pages[-1]) <= limit, pages
    assert len(await every_page(store, BLUE, 2)) == 3, "full pages across the ones out of reach"

    by_filters = await every_page(store, BLUE, 2, InteractionFilters(agent="1002"))
    assert [i for page in by_filters for i in page] == ["i03"], "a filter narrows the reach, never widens it"
    by_partition = await every_page(store, BLUE, 2, InteractionFilters(partition="apac"))
    assert {i for page in by_partition for i in page} == {"i04", "i07", "i09"}
    teams_only = Within(frozenset({"1001", "1003"}), frozenset())
    assert {i for page in await every_page(store, teams_only, 3) for i in page} == {
        "i01",
        "i04",
        "i09",
        "i11",
    }
    partitions_only = Within(frozenset(), frozenset({"emea", "apac"}))
    assert {i for page in await every_page(store, partitions_only, 3) for i in page} == {
        "i03",
        "i04",
        "i06",
        "i07",
        "i09",
        "i10",
    }
    assert await every_page(store, Within(frozenset(), frozenset()), 5) == [[]], "no reach, nothing"
    listed = (await interaction_reads.page(store, InteractionFilters(), None, 1, BLUE)).items[0]
    assert listed["id"] == newest_first[0] and "agents" in listed, "the same items as anyone's"


async def test_an_interaction_out_of_reach_reads_as_none_and_each_read_is_audited(store: Store) -> None:
    await saved(store)
    for interaction in INTERACTIONS:
        whole = await interaction_reads.one(store, interaction, BLUE)
        assert (whole is not None) == (interaction in IN_BLUE), interaction
    assert await interaction_reads.one(store, "i02") is not None, "anyone else's reach: all"
    mine = await interaction_reads.read_one(store, "supervisor/abc", "i03", BLUE)
    assert mine == await interaction_reads.one(store, "i03")
    assert await interaction_reads.read_one(store, "supervisor/abc", "i02", BLUE) is None
    assert await interaction_reads.read_one(store, "supervisor/abc", "nope", BLUE) is None
    since = datetime.now(UTC) - timedelta(hours=1)
    await interaction_reads.read(store, "supervisor/abc", InteractionFilters(since=since), None, 5, BLUE)

    rows = {row.subject: row for row in await store.audit() if row.actor == "supervisor/abc"}
    within = {"teams": ["blue"], "partitions": ["emea"]}
    assert rows["i03"].action == "interaction-read"
    assert rows["i03"].detail == {"found": True, "recordings": ["i03-seg1-1002"], "within": within}
    assert rows["i02"].detail == {"found": False, "recordings": [], "within": within, "outside_reach": True}
    assert rows["nope"].detail == {"found": False, "recordings": [], "within": within, "outside_reach": False}
    assert rows["interactions"].action == "interactions-read"
    assert rows["interactions"].detail == {
        "filters": {"since": since.isoformat()},
        "cursor": None,
        "limit": 5,
        "within": within,
    }
