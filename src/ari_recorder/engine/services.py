"""The use cases the HTTP API calls: transfer a call, place a call for an agent, pause or resume
an agent's recording. Each is told to the call as an event, in its mailbox, as the phone's own
requests are; refusals are engine/errors.py's."""

from __future__ import annotations

import asyncio

from ari_recorder.ari.errors import AriError
from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import call as c
from ari_recorder.domain import ids
from ari_recorder.domain.pausing import Source
from ari_recorder.engine.calls import Calls
from ari_recorder.engine.errors import AsteriskRefused, Forbidden, NoSuchCall, NoSuchTarget, NotNow
from ari_recorder.engine.inbound import Where, agent_policy, pause_rules, queue_policy
from ari_recorder.engine.live_settings import LiveSettings, as_live
from ari_recorder.engine.mailbox import Asked
from ari_recorder.engine.outbound import check_outbound
from ari_recorder.settings import Settings

ANSWER_WITHIN = 10.0  # seconds the API waits for the call to act on a pause or resume


class Services:
    def __init__(
        self, ari: AriClient, settings: Settings | LiveSettings, calls: Calls, where: Where | None = None
    ) -> None:
        self.ari = ari
        self.live = as_live(settings)  # read at each use case: the settings in force then
        self.calls = calls
        # Where agents are logged in (engine/logins.py); without it, their default devices.
        self.where: Where = where or (lambda agent: self.settings.agents[agent].endpoint or None)

    @property
    def settings(self) -> Settings:
        return self.live.current

    def live_calls(self) -> list[c.Call]:
        return self.calls.live()

    def agent_call(self, agent: str) -> c.Call | None:
        """The live call the agent is on (with the customer, or dialling out), if any."""
        return self.calls.agent_call(agent)

    def transfer(self, call_id: str, agent: str | None = None, queue: str | None = None) -> str:
        """Hand a connected call, inbound or outbound, to an agent, or to the first free agent of a
        queue; the agent to be dialled. The old agent leaves when the new one answers; through a
        queue, the call is that queue's from then on (its segments decided by its settings)."""
        call = self.calls.get(call_id)
        if call is None or call.phase is c.Phase.ENDED:
            raise NoSuchCall(f"no live call {call_id!r}")
        if call.segment is None:
            raise NotNow(f"call {call_id} is {call.phase.value}: no agent to transfer from yet")
        if call.dialling is not None:
            raise NotNow(f"call {call_id} is already being transferred")
        if call.consultation is not None:
            raise NotNow(f"call {call_id}'s agent is consulting agent {call.consultation.to.policy.agent}")
        busy = self.calls.busy(call_id)
        through: c.Queue | None = None
        if agent is not None:
            if agent not in self.settings.agents:
                raise NoSuchTarget(f"no agent {agent!r}")
            if agent == call.segment.agent:
                raise NotNow(f"agent {agent} is already on call {call_id}")
            if agent in busy:
                raise NotNow(f"agent {agent} is on another call")
            if self.where(agent) is None:
                raise NotNow(f"agent {agent} is logged in nowhere")
            target = agent
        else:
            if queue not in self.settings.queues:
                raise NoSuchTarget(f"no queue {queue!r}")
            taken = busy | {call.segment.agent}
            free = [a for a in self.settings.queues[queue].agents if a not in taken and self.where(a)]
            if not free:
                raise NoSuchTarget(f"no free agent in queue {queue!r}")
            target = free[0]
            through = transfer_queue(self.settings, queue)
        to = agent_policy(self.settings, target, self.where)
        self.calls.tell(call_id, c.TransferRequested(target, to, through))
        return target

    async def place_call(self, agent: str, to: str, queue: str | None = None) -> str:
        """An outbound call for an agent: the agent's phone rings first; when the agent answers,
        the call enters the application as if dialled from the phone. Its id."""
        wrong = check_outbound(self.settings, agent, to, queue)
        if wrong is not None:
            raise NoSuchTarget(wrong)
        if agent in self.calls.busy(""):
            raise NotNow(f"agent {agent} is on another call")
        endpoint = self.where(agent)
        if endpoint is None:
            raise NotNow(f"agent {agent} is logged in nowhere")
        call_id = ids.new_call()
        await self.ari.originate(
            endpoint,
            app=self.settings.ari.app,
            app_args=",".join(ids.outbound_args(agent, to, queue)),
            channel_id=call_id,
            caller_id=to,
            timeout=self.settings.company.outbound_ring_timeout,
        )
        return call_id

    async def pause(self, agent: str, by: str) -> c.Call:
        """Pause the recording of the agent's segment (the agent desktop); the call after."""
        return await self._ask(agent, c.PauseRequested(by, Source.API))

    async def resume(self, agent: str, by: str) -> c.Call:
        return await self._ask(agent, c.ResumeRequested(by, Source.API))

    async def _ask(self, agent: str, event: c.PauseRequested | c.ResumeRequested) -> c.Call:
        call = self.calls.agent_call(agent)
        if call is None:
            raise NoSuchCall(f"agent {agent} is on no call")
        reply: asyncio.Future[c.Call] = asyncio.get_running_loop().create_future()
        self.calls.tell(call.id, Asked(event, reply))
        async with asyncio.timeout(ANSWER_WITHIN):
            return await reply


def transfer_queue(settings: Settings, name: str) -> c.Queue:
    """What a call transferred to the queue takes on from it when the new agent answers."""
    queue = settings.queues[name]
    return c.Queue(
        policy=queue_policy(name, queue),
        pausing=pause_rules(settings, queue),
        on_record_failure=settings.on_record_failure(name),
        moh_class=queue.music_on_hold,
        ring_timeout=queue.ring_timeout,
    )


def answer(asked: Asked, call: c.Call, failed: list[tuple[c.Action, AriError]]) -> None:
    """The call has acted on the request: the API's answer, or why not."""
    if asked.reply.done():
        return
    refusal = c.pause_refusal(call, resuming=isinstance(asked.event, c.ResumeRequested))
    asked_of_asterisk = c.PauseRecording | c.ResumeRecording
    refused = next((error for action, error in failed if isinstance(action, asked_of_asterisk)), None)
    if refusal is not None and refusal.forbidden:
        asked.reply.set_exception(Forbidden(refusal.why))
    elif refusal is not None:
        asked.reply.set_exception(NotNow(refusal.why))
    elif refused is not None:
        asked.reply.set_exception(AsteriskRefused(f"Asterisk refused: {refused}"))
    else:
        asked.reply.set_result(call)


def too_late(asked: Asked, call_id: str) -> None:
    """A request the call could not act on: it ended first."""
    if not asked.reply.done():
        asked.reply.set_exception(NoSuchCall(f"call {call_id} has ended"))
