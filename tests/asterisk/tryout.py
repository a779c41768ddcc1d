"""`./dev try-asterisk`: a newcomer's first recording of a SIP call on a real Asterisk 22.

Starts Asterisk from asterisk/ (rendered into var/try/asterisk), `ari-recorder run` with its own
settings, agent 3001's SIPp phone (1000 Hz) and a customer's SIPp phone (440 Hz) calling queue
`support`; once the recording is delivered, decrypts it with the age CLI into var/try/ and says
where everything is. Everything it starts is stopped before it returns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from pathlib import Path

from tests.asterisk.controller import Controller
from tests.asterisk.harness import REPO, Asterisk, asterisk_prefix, free_udp_port
from tests.asterisk.sipp import Phone
from tests.support.audio import duration, summary, tone_runs


def say(text: str) -> None:
    print(f"try-asterisk: {text}", flush=True)


async def main(seconds: float, keep: Path) -> int:
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)  # noqa: ASYNC240 (before anything runs)
    asterisk = Asterisk(root=keep / "asterisk", prefix=asterisk_prefix(), agents={"3001": free_udp_port()})
    say(f"Asterisk 22 from {asterisk.prefix}, configured from asterisk/ into {asterisk.root}")
    await asterisk.start()
    controller = Controller(
        home=keep / "controller",
        ari_url=asterisk.url,
        ari_password=asterisk.password,
        agents={"3001": {"endpoint": "PJSIP/3001", "permit_recordings": True, "record_percent": 100}},
        queues={"support": {"agents": ["3001"], "announcement": "recording-notice"}},
    )
    try:
        await controller.start()
        say(f"ari-recorder run --config {controller.settings()} (its log: {controller.home}/controller.log)")
        sip, phones = f"127.0.0.1:{asterisk.sip_port}", keep / "phones"
        async with Phone(
            "agent-answer.xml", port=asterisk.agents["3001"], asterisk=sip, logs=phones
        ) as agent:
            say(f"agent 3001's phone (SIPp, 1000 Hz) answers on 127.0.0.1:{agent.port}")
            customer = Phone(
                "customer-call.xml",
                port=asterisk.trunk_port,
                asterisk=sip,
                logs=phones,
                params={"queue": "support", "hangup_after_ms": int(seconds * 1000)},
            )
            async with customer:
                say(f"a customer (SIPp, 440 Hz) calls queue support and hangs up after {seconds:.0f} s")
                await customer.check(seconds + 30)
            await agent.check(10)
        [delivered] = await controller.deliveries(1, seconds=60)
        audio, sidecar = keep / "call.wav", keep / "call.json"
        shutil.copyfile(delivered.audio, audio)
        sidecar.write_text(json.dumps(delivered.sidecar, indent=2) + "\n")
        [encrypted] = controller.delivered_files()
        say(f"delivered, encrypted: {encrypted}")
        say(f"decrypted with: age -d -i {controller.key} -o {audio} {encrypted}")
        say(f"{audio}: {duration(audio):.1f} s; who is heard when (440 Hz customer, 1000 Hz agent):")
        print(summary(tone_runs(audio)))
        say(f"its metadata: {sidecar}")
        await asterisk.wait_empty()
        say("Asterisk holds nothing more (channels, bridges, recordings): done")
        return 0
    finally:
        await controller.stop()
        await asterisk.stop()
        asterisk.release()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="how long the customer stays on the line")
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "try", help="where everything is kept")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.seconds, args.dir)))
