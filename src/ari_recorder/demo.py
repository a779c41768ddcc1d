"""`ari-recorder demo`: the simulator and the controller on embedded defaults, a few calls, a report."""

from __future__ import annotations

import asyncio
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from ari_recorder.app import running
from ari_recorder.delivery import DeliverySettings, generate_keypair
from ari_recorder.domain.policy import RecordSide
from ari_recorder.engine.controller import CallReport
from ari_recorder.files import private_dir
from ari_recorder.settings import (
    AgentSettings,
    ApiSettings,
    AriSettings,
    CompanySettings,
    DatabaseSettings,
    QueueSettings,
    Settings,
)
from ari_recorder.storage.deliveries import delivered_files
from ari_recorder.storage.recordings import pause_timelines
from ari_recorder.storage.tokens import issue_token

# Queues and agents with different consent and percentages. Agents 1xxx live in the simulator's
# dialplan as Local/<ext>@agent-phone; 3xxx are SIP phones that can transfer (REFER).
DEMO_SETTINGS = Settings(
    company=CompanySettings(announcement="sim/announcement"),
    queues={
        "support": QueueSettings(agents=["1001"]),
        "sales": QueueSettings(agents=["1003"], record_percent=100),
        "billing": QueueSettings(agents=["1004"], record_percent=100, record_side=RecordSide.CUSTOMER),
        "claims": QueueSettings(agents=["3001"]),
        "vip": QueueSettings(agents=["3004"], record_side=RecordSide.CUSTOMER),
        "payments": QueueSettings(agents=["2001"]),
    },
    agents={
        "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
        "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True),
        "1003": AgentSettings(endpoint="Local/1003@agent-phone", permit_recordings=False),
        "1004": AgentSettings(endpoint="Local/1004@agent-phone", permit_recordings=True),
        # The simulator's 2xxx handsets press *7 (pause) 2.6 s after answering and *8 (resume) ~3 s later.
        "2001": AgentSettings(endpoint="Local/2001@agent-phone", permit_recordings=True, record_percent=100),
        "3001": AgentSettings(endpoint="PJSIP/3001", permit_recordings=True, record_percent=100),
        "3002": AgentSettings(endpoint="PJSIP/3002", permit_recordings=True, record_percent=30),
        "3003": AgentSettings(endpoint="PJSIP/3003", permit_recordings=False),
        "3004": AgentSettings(endpoint="PJSIP/3004", permit_recordings=True, record_percent=100),
        "3005": AgentSettings(endpoint="PJSIP/3005", permit_recordings=True, record_percent=100),
    },
)
CALLS = [
    ("support", "15550001"),
    ("sales", "15550002"),
    ("billing", "15550003"),
    ("claims", "15550004"),
    ("vip", "15550005"),
    ("payments", "15550006"),
]
# Mid-call, the agent on these calls transfers from the phone (SIP REFER) to another agent.
TRANSFERS = {"15550004": ("3001", "3002"), "15550005": ("3004", "3003")}
# ...and a supervisor transfers this one through the HTTP API.
API_TRANSFERS = {"15550001": "1002"}
# Agent 3005 calls a customer from the phone: Stasis(ari-recorder,outbound,agent=3005,to=...).
OUTBOUND = [("3005", "15550100")]
# Agent 1001 pauses its recording from the agent desktop (its own token) before the transfer.
DESKTOP_PAUSES = {"15550001": "1001"}
TALK_SECONDS = 6.5  # long enough for the 2xxx handset's *7 ... *8
SETTLE_SECONDS = 20.0  # at most, for the last snoops and recordings to end after their calls
# Webchats the chat platform reports once they ended: (id, the agents it went through, in order).
# 1001 records all of its conversations, 1002 none at agent level; 1003 has not consented, so a
# chat that reached 1003 has no transcript at all.
WEBCHATS = [("webchat-1", ("1001", "1002")), ("webchat-2", ("1001", "1003"))]


async def run_demo(var: Path) -> int:
    simulator = simulator_package()
    await asyncio.to_thread(private_dir, var)
    reports: list[CallReport] = []
    done = asyncio.Event()

    def collect(report: CallReport) -> None:
        reports.append(report)
        if len(reports) == len(CALLS) + len(OUTBOUND):
            done.set()

    admin_token = secrets.token_urlsafe(24)  # this run's only: the demo's API is on loopback
    key = var / "keys" / "demo.key"  # in real life the platform's, never on the controller
    recipient = await asyncio.to_thread(_demo_recipient, key)
    async with simulator.serve(simulator.SimulatorConfig(recordings_dir=var / "asterisk-recordings")) as sim:
        print(f"simulator: ARI on {sim.ari_url}, control API on {sim.base_url}/sim/")
        settings = Settings(
            ari=AriSettings(url=sim.ari_url),
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{var / 'ari-recorder.db'}"),
            api=ApiSettings(port=0, admin_token=admin_token),
            delivery=DeliverySettings(
                spool_dir=str(var / "spool"), outbox_dir=str(var / "outbox"), age_recipients=[recipient]
            ),
            company=DEMO_SETTINGS.company,
            queues=DEMO_SETTINGS.queues,
            agents=DEMO_SETTINGS.agents,
        )
        async with running(settings, collect) as app, aiohttp.ClientSession() as http:
            await asyncio.wait_for(app.controller.connected.wait(), 10)
            print(f"controller: connected as Stasis application '{settings.ari.app}'")
            for queue, caller in CALLS:
                # The 3xxx phones are SIP, and so are the customers calling those queues.
                via = "sip" if caller in TRANSFERS else "local"
                async with http.post(
                    f"{sim.base_url}/sim/calls", json={"queue": queue, "caller": caller, "via": via}
                ) as r:
                    r.raise_for_status()
                print(f"call placed: customer {caller} -> queue {queue}")
            for agent, number in OUTBOUND:
                dial_out = {"agent": agent, "to": number}
                async with http.post(f"{sim.base_url}/sim/outbound", json=dial_out) as r:
                    r.raise_for_status()
                print(f"call placed: agent {agent} -> customer {number} (outbound)")
            # The announcement (1.5 s), an agent answers, they talk; then each customer hangs up.
            await asyncio.sleep(1.5 + 1.0)
            for caller, agent in DESKTOP_PAUSES.items():
                token = await issue_token(app.store, agent, days=1, actor="demo")
                async with http.post(
                    f"{app.api_url}/api/v1/agents/{agent}/recording/pause",
                    headers={"Authorization": f"Bearer {token.token}"},
                ) as r:
                    r.raise_for_status()
                    state = (await r.json())["state"]
                print(f"agent {agent} (customer {caller}): POST .../agents/{agent}/recording/pause: {state}")
            await asyncio.sleep(TALK_SECONDS / 2 - 1.0)
            for caller, (agent, to) in TRANSFERS.items():
                async with http.post(f"{sim.base_url}/sim/transfer", json={"agent": agent, "to": to}) as r:
                    r.raise_for_status()
                print(f"agent {agent} (customer {caller}) transfers the call to agent {to} from the phone")
            live = app.controller.live_calls()
            by_customer = {call.interaction.metadata.get("customer"): call for call in live}
            for caller, to in API_TRANSFERS.items():
                async with http.post(
                    f"{app.api_url}/api/v1/calls/{by_customer[caller].id}/transfer",
                    json={"agent": to},
                    headers={"Authorization": f"Bearer {admin_token}"},
                ) as r:
                    r.raise_for_status()
                print(f"supervisor: POST {app.api_url}/api/v1/calls/<call of {caller}>/transfer agent={to}")
            await asyncio.sleep(TALK_SECONDS / 2)
            for caller in [c for _, c in CALLS] + [number for _, number in OUTBOUND]:
                async with http.post(f"{sim.base_url}/sim/hangup", json={"customer": caller}) as r:
                    r.raise_for_status()
            await asyncio.wait_for(done.wait(), 30)
            run = secrets.token_hex(3)  # a chat's id is received once: each run's chats are new ones
            chats = [
                await _report_chat(http, app.api_url, admin_token, f"{name}-{run}", agents)
                for name, agents in WEBCHATS
            ]
            # Every finished recording: fetched, encrypted with its metadata, delivered (with no
            # SFTP server configured, into the local outbox), deleted in Asterisk. The last
            # snoops and recordings end a moment after their calls: on a busy machine, later.
            assert app.delivery is not None
            settled = asyncio.get_running_loop().time() + SETTLE_SECONDS
            while True:
                channels, bridges = await app.ari.list_channels(), await app.ari.list_bridges()
                await app.delivery.drain()
                stored = await app.ari.list_stored()
                if not (channels or bridges or stored) or asyncio.get_running_loop().time() > settled:
                    break
                await asyncio.sleep(0.5)
            delivered = await delivered_files(app.store)
            pauses = await pause_timelines(app.store)
    print()
    ok = True
    for report in sorted(reports, key=lambda r: (r.call.interaction.direction.value, str(r.queue))):
        call = report.call
        print(
            f"call {call.id}  {call.interaction.direction.value}  queue {report.queue or '-'}  "
            f"customer {call.interaction.metadata.get('customer')}"
        )
        if not call.segments:
            print("  no agent answered")
            ok = False
        for seg in call.segments:
            path = delivered.get(seg.recording or "")
            where = f"  -> {var / 'outbox' / path}" if path else ""
            ok = ok and (seg.recording is None or path is not None)
            print(
                f"  segment {seg.number}: agent {seg.agent}  recorded={'yes' if seg.recording else 'no'}"
                f"  ({seg.decision.reason}){where}"
            )
            for pause in [p for p in pauses.get(seg.recording or "", []) if p["segment"] == seg.number]:
                print(
                    f"    pause {pause['number']}: {pause['offset_seconds']:.2f} s into the file, "
                    f"{pause['seconds']:.2f} s long, by {pause['by']} ({pause['source']}, "
                    f"{pause['behavior']}), ended by {pause['ended_by']}"
                )
    for chat in chats:
        print(f"webchat {chat['chat']}")
        for seg in chat["segments"]:
            path = delivered.get(seg["transcript"] or "")
            ok = ok and (seg["transcript"] is None or path is not None)
            where = f"  -> {var / 'outbox' / path}" if path else ""
            print(
                f"  segment {seg['segment']}: agent {seg['agent']}  "
                f"transcript={'yes' if seg['recorded'] else 'no'}  ({seg['reason']}){where}"
            )
    print(
        f"\n{len(reports)} calls and {len(chats)} webchats handled; {len(delivered)} recordings and "
        f"transcripts delivered, encrypted, to {var / 'outbox'}; left in Asterisk: {len(channels)} "
        f"channels, {len(bridges)} bridges, {len(stored)} recordings.\n"
        f"read one: age -d -i {key} <file>.wav.age > call.wav (a transcript: <file>.txt.age; "
        "the metadata: <file>.json.age)"
    )
    expected = len(CALLS) + len(OUTBOUND)
    handled = len(reports) == expected and len(chats) == len(WEBCHATS)
    if ok and handled and not channels and not bridges and not stored:
        return 0
    print(
        f"demo: not all went as it should: {len(reports)} of {expected} calls and {len(chats)} of "
        f"{len(WEBCHATS)} webchats handled, every chosen segment delivered: {'yes' if ok else 'no'}; "
        f"left in Asterisk after {SETTLE_SECONDS:.0f} s: {len(channels)} channels, {len(bridges)} "
        f"bridges, {len(stored)} recordings",
        file=sys.stderr,
    )
    return 1


def simulator_package() -> Any:
    """The Asterisk simulator, a package of its own that the controller's wheel does not ship."""
    try:
        from ari_simulator import server
    except ImportError as error:  # a controller installed from its wheel, without the simulator
        raise SystemExit(
            "the demo and the simulator command need the Asterisk simulator (package ari_simulator), "
            "which comes with a checkout of the repository: run ./dev demo there"
        ) from error
    return server


def _demo_recipient(key: Path) -> str:
    """The demo's key pair: made on the first run, kept for the next (it reads var/outbox)."""
    if not key.exists():
        return generate_keypair(key)
    for line in key.read_text().splitlines():
        if line.startswith("# public key: "):
            return line.removeprefix("# public key: ").strip()
    raise ValueError(f"{key}: no '# public key:' line; remove the file to make a new pair")


async def _report_chat(
    http: aiohttp.ClientSession, api_url: str, token: str, chat_id: str, agents: tuple[str, ...]
) -> dict[str, Any]:
    """The chat platform's report of an ended chat: two minutes with each agent in turn."""
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=2 * len(agents) + 1)
    segments: list[dict[str, str]] = []
    messages = [{"at": start.isoformat(), "from": "system", "text": "Welcome! An agent will join."}]
    for n, agent in enumerate(agents):
        joined = start + timedelta(minutes=1 + 2 * n)
        segments.append({"agent": agent, "started_at": joined.isoformat()})
        messages += [
            {
                "at": (joined + timedelta(seconds=5)).isoformat(),
                "from": "agent",
                "text": f"Hello, {agent} here.",
            },
            {
                "at": (joined + timedelta(seconds=30)).isoformat(),
                "from": "customer",
                "text": "My order is late.",
            },
        ]
    report = {
        "id": chat_id,
        "queue": "support",
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        "customer": "chat-customer-7",
        "segments": segments,
        "messages": messages,
    }
    async with http.post(
        f"{api_url}/api/v1/chats", json=report, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        r.raise_for_status()
        outcome: dict[str, Any] = await r.json()
    print(f"chat platform: POST {api_url}/api/v1/chats ({chat_id}, agents {', '.join(agents)}): {r.status}")
    return outcome
