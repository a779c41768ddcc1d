"""The SIPp phones and their wrapper on their own: a customer's phone calling a customer's
answering phone directly, SIPp to SIPp, no Asterisk (the scenarios against a real Asterisk are
exercised by the tier's own tests)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.asterisk.harness import free_udp_port
from tests.asterisk.sipp import Phone

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp is not installed (sip-tester)")


async def test_a_call_from_phone_to_phone_ends_well_on_both_sides(tmp_path: Path) -> None:
    answering = free_udp_port()
    async with Phone(
        "customer-answer.xml",
        port=answering,
        asterisk="127.0.0.1:9",
        logs=tmp_path,
        params={"answer_delay_ms": 300},
    ) as callee:
        started = time.monotonic()
        async with Phone(
            "customer-call.xml",
            port=free_udp_port(),
            asterisk=f"127.0.0.1:{answering}",
            logs=tmp_path,
            params={"queue": "support", "hangup_after_ms": 1000},
        ) as caller:
            await caller.check(timeout=10)
            await callee.check(timeout=5)
        assert 1.2 < time.monotonic() - started < 5
        messages = (tmp_path / f"customer-call-{caller.port}-messages.log").read_text()
        assert "INVITE sip:support@" in messages and "BYE sip:" in messages


async def test_a_phone_nobody_calls_is_stopped_and_says_so(tmp_path: Path) -> None:
    phone = await Phone(
        "agent-answer.xml", port=free_udp_port(), asterisk="127.0.0.1:9", logs=tmp_path
    ).start()
    with pytest.raises(TimeoutError, match="still running"):
        await phone.wait(0.5)
    status = await phone.stop()
    assert status is not None and phone.process is not None and phone.process.returncode is not None
