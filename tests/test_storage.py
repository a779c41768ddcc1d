"""The store on SQLite and on a real PostgreSQL: migrations, seeding, a call's lasting state."""

from __future__ import annotations

from ari_recorder.domain import call as c
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Interaction,
    InteractionId,
    QueueId,
    QueuePolicy,
)
from ari_recorder.settings import AgentSettings, QueueSettings, Settings
from ari_recorder.storage.store import Store
from tests.support.stores import postgres_store


def a_call() -> c.Call:
    q = QueueId("support")
    agent = c.Agent(AgentPolicy(AgentId("1001"), True, 100), "PJSIP/1001")
    return c.Call(
        id="9.1",
        customer="9.1",
        interaction=Interaction(
            InteractionId("9.1"), queue=q, metadata={"lang": "fr", "customer": "15550001"}
        ),
        company=CompanyPolicy(),
        queue=QueuePolicy(q),
        agents=(agent,),
        announcement="sound:notice",
        ring_timeout=15,
    )


async def test_a_call_is_written_as_it_goes(store: Store) -> None:
    call, _ = c.start(a_call())
    await store.save_call(call)
    call, _ = c.step(call, c.AnnouncementFinished())
    call, _ = c.step(call, c.AgentAnswered("9.1-agent-1"))
    await store.save_call(call)
    assert [(r.name, r.state) for r in await store.recordings()] == [("9.1-seg1-1001", "recording")]
    call, _ = c.step(call, c.CustomerLeft())
    await store.save_call(call)
    call, _ = c.step(call, c.RecordingEnded("9.1-seg1-1001"))
    await store.save_call(call)
    await store.save_call(call)  # idempotent
    (recording,) = await store.recordings("ready")
    assert recording.levels == [{"level": "agent", "by": "1001"}]
    assert recording.finished_at is not None
    (segment,) = await store.segments("9.1")
    assert (segment.agent, segment.recorded, segment.reason) == ("1001", True, "selected by agent 1001")


async def test_the_settings_seed_the_agents_logins_once(store: Store) -> None:
    """The managed settings themselves: tests/storage/test_managed_settings.py."""
    from ari_recorder.storage import logins

    settings = Settings(
        queues={"support": QueueSettings(agents=["1001"], record_percent=20)},
        agents={"1001": AgentSettings(endpoint="PJSIP/1001", permit_recordings=True)},
    )
    await store.seed(settings)
    await logins.logout(store, "1001", by="test")
    await store.seed(settings)  # seeding again changes nothing: the agent logged out stays out
    assert (await logins.logins(store))["1001"].endpoint is None


async def test_postgresql_tables_live_in_the_configured_schema() -> None:
    from sqlalchemy import text

    async with postgres_store() as store, store.engine.connect() as connection:
        tables = set(
            (
                await connection.execute(
                    text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                    {"s": store.schema},
                )
            ).scalars()
        )
    assert {"interactions", "segments", "recordings", "alembic_version"} <= tables
