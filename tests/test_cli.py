"""The `ari-recorder` command as a user runs it: separate processes, real ports, clear errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from ari_recorder.ari.rest import basic_auth
from ari_simulator.server import free_port
from tests.support.waiting import until


@asynccontextmanager
async def command(
    *args: str, env: dict[str, str] | None = None, sigint_ignored: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`ari-recorder <args>` in a process of its own; `sigint_ignored`: started as a shell's
    background job or some CI runners start it, with SIGINT ignored (which a process inherits)."""
    # exec keeps the shell's pid, so that a signal sent to the process reaches the command.
    shell = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"] if sigint_ignored else []
    process = await asyncio.create_subprocess_exec(
        *shell,
        sys.executable,
        "-m",
        "ari_recorder",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Only the settings the test gives: none inherited from whoever runs the tests. No age
        # recipient: recordings stay in the simulator, by the explicit opt-out, unless a test says.
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("ARI_RECORDER_")},
            "ARI_RECORDER_DELIVERY__KEEP_UNENCRYPTED": "true",
            **(env or {}),
        },
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def said(process: asyncio.subprocess.Process, text: str, seconds: float = 30.0) -> str:
    """What the process wrote to stderr, up to and including the first line holding `text`."""
    assert process.stderr is not None
    heard: list[str] = []
    async with asyncio.timeout(seconds):
        while not heard or text not in heard[-1]:
            line = await process.stderr.readline()
            assert line, f"the process ended without saying {text!r}: {''.join(heard)}"
            heard.append(line.decode())
    return "".join(heard)


async def wait_until_up(url: str, process: asyncio.subprocess.Process | None = None) -> None:
    """Until `url` answers; a process that exits meanwhile (its port taken, say) fails at once,
    with what it said. The bound is for a hang: a loaded machine may take a while to import."""
    async with aiohttp.ClientSession() as http:

        async def answers() -> bool:
            if process is not None and process.returncode is not None:
                said = await process.stderr.read() if process.stderr is not None else b""
                pytest.fail(f"the command exited {process.returncode} before {url} answered: {said.decode()}")
            try:
                async with http.get(url):
                    return True
            except aiohttp.ClientConnectionError:
                return False

        await until(answers, what=f"an answer on {url}", timeout=60)


async def test_the_simulator_command_serves_ari_on_its_port() -> None:
    port = free_port()
    async with command("simulator", "--port", str(port)) as sim:
        await wait_until_up(f"http://127.0.0.1:{port}/sim/state")
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": basic_auth("asterisk", "asterisk")}
            async with http.get(f"http://127.0.0.1:{port}/ari/asterisk/ping", headers=headers) as r:
                assert (await r.json())["ping"] == "pong"
            async with http.get(f"http://127.0.0.1:{port}/ari/channels") as r:
                assert r.status == 401
        code, err = await stop(sim, signal.SIGINT)
    assert code == 0  # stopped, as asked
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_the_simulator_and_run_stop_on_either_signal_though_started_with_sigint_ignored(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    env = {
        "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{port}/ari",
        "ARI_RECORDER_ARI__PASSWORD": "asterisk",
        "ARI_RECORDER_API__PORT": "0",
    }
    async with command("simulator", "--port", str(port), sigint_ignored=True) as sim:
        await wait_until_up(f"http://127.0.0.1:{port}/sim/state", sim)
        async with (
            command("run", env=env, sigint_ignored=True) as controller,
            aiohttp.ClientSession() as http,
        ):

            async def connected() -> bool:
                async with http.get(f"http://127.0.0.1:{port}/sim/state") as r:
                    return bool((await r.json())["applications"].get("ari-recorder"))

            await until(connected, what="the controller's event WebSocket on the simulator", timeout=30)
            run_code, run_err = await stop(controller, signum)
        sim_code, sim_err = await stop(sim, signum)
    assert (run_code, sim_code) == (0, 0), run_err + sim_err
    assert "Traceback" not in run_err + sim_err


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
async def test_the_demo_stopped_midway_cleans_up_and_says_by_what(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    async with command("demo", "--var", str(tmp_path / "var"), sigint_ignored=True) as demo:
        assert demo.stdout is not None
        first = await asyncio.wait_for(demo.stdout.readline(), 30)
        assert first.startswith(b"simulator: ARI on"), first
        code, err = await stop(demo, signum)
    assert code == status, err  # 128 + the signal: stopped before it was done
    assert "Traceback" not in err


async def test_run_with_asterisk_down_warns_and_keeps_trying(tmp_path: Path) -> None:
    env = {
        "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{free_port()}/ari",
        "ARI_RECORDER_ARI__PASSWORD": "s3cret",
        "ARI_RECORDER_API__PORT": "0",
    }
    async with command("run", env=env) as controller:
        before = await said(controller, "ARI events: cannot reach")
        code, err = await stop(controller)
        err = before + err
    assert code == 0
    assert "ARI events: cannot reach" in err
    assert "Traceback" not in err
    assert "s3cret" not in err


async def test_run_with_a_wrong_password_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    async with command("simulator", "--port", str(port)) as sim:
        await wait_until_up(f"http://127.0.0.1:{port}/sim/state")
        env = {
            "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{port}/ari",
            "ARI_RECORDER_ARI__PASSWORD": "not-the-password",
            "ARI_RECORDER_API__PORT": "0",
        }
        async with command("run", env=env) as controller:
            before = await said(controller, "Asterisk refused the user name or password (401)")
            code, err = await stop(controller)
            err = before + err
        await stop(sim, signal.SIGINT)
    assert code == 0
    assert "Asterisk refused the user name or password (401)" in err
    assert "Traceback" not in err
    assert "not-the-password" not in err


async def test_a_bad_setting_is_one_line_naming_it() -> None:
    async with command("run", env={"ARI_RECORDER_ARI__URL": "ftp://asterisk"}) as controller:
        _, err = await asyncio.wait_for(controller.communicate(), 10)
    assert controller.returncode == 2
    assert err.decode().strip().splitlines() == [
        "ari-recorder: ari.url: expected http(s)://host:port/ari, got 'ftp://asterisk'"
    ]


async def test_demo_runs_on_embedded_defaults_and_exits_0(tmp_path: Path) -> None:
    async with command("demo", "--var", str(tmp_path / "var")) as demo:
        out, err = await asyncio.wait_for(demo.communicate(), 60)
    assert demo.returncode == 0, f"{out.decode()}\n{err.decode()[-3000:]}"
    text = out.decode()
    assert "agent 1001  recorded=yes  (selected by agent 1001)" in text
    assert "agent 1003  recorded=no  (agent 1003 has not consented to recording)" in text
    assert "agent 1004  recorded=yes  (selected by queue billing)" in text
    assert "segment 2: agent 3003  recorded=no  (agent 3003 has not consented to recording)" in text
    assert "segment 2: agent 1002  recorded=no  (not drawn: agent 1002 at 0%, queue support at 0%)" in text
    assert re.search(r"outbound  queue -  customer 15550100\n  segment 1: agent 3005  recorded=yes", text)
    # The pause timelines: agent 2001's keys (*7 ... *8), agent 1001's desktop until the transfer.
    keys = r"agent 2001 .*\n    pause 1: [\d.]+ s into the file, [\d.]+ s long, by 2001 \(keys, silence\)"
    assert re.search(keys + ", ended by resume", text), text
    assert re.search(r"by 1001 \(api, silence\), ended by transfer", text)
    # Agent 3002 is drawn at 30 %: six recordings, or seven when the draw picks the transfer.
    # Webchats: 1001's segment has a transcript, 1002's not; a chat that reached 1003 has none.
    assert re.search(
        r"webchat webchat-1-[0-9a-f]{6}\n  segment 1: agent 1001  transcript=yes  \(selected by agent 1001\)",
        text,
    )
    assert "segment 2: agent 1002  transcript=no  (not drawn: agent 1002 at 0%, queue support at 0%)" in text
    assert re.search(
        r"webchat webchat-2-[0-9a-f]{6}\n  segment 1: agent 1001  transcript=no  "
        r"\(no transcript for this chat",
        text,
    )
    found = re.search(
        r"7 calls and 2 webchats handled; (\d) recordings and transcripts delivered, encrypted, to (\S+); "
        r"left in Asterisk: 0 channels, 0 bridges, 0 recordings.",
        text,
    )
    assert found is not None, text
    delivered = int(found.group(1)) - 1  # the transcript
    assert delivered in (6, 7)
    outbox = tmp_path / "var" / "outbox"
    audio = sorted(outbox.rglob("*.wav.age"))
    assert len(audio) == delivered and len(list(outbox.rglob("*.json.age"))) == delivered + 1
    (transcript,) = outbox.rglob("*.txt.age")
    # The standard age CLI reads what was delivered, with the demo's key.
    key = tmp_path / "var" / "keys" / "demo.key"
    age = await asyncio.create_subprocess_exec(
        "age", "-d", "-i", str(key), str(audio[0]), stdout=asyncio.subprocess.PIPE
    )
    plain, _ = await age.communicate()
    assert age.returncode == 0 and plain[:4] == b"RIFF" and plain[8:12] == b"WAVE"
    assert b"RIFF" not in audio[0].read_bytes(), "nothing in the clear"
    # The paused call's metadata, as the platform reads it, holds its pause.
    (sidecar,) = outbox.rglob("payments/*.json.age")
    age = await asyncio.create_subprocess_exec(
        "age", "-d", "-i", str(key), str(sidecar), stdout=asyncio.subprocess.PIPE
    )
    plain, _ = await age.communicate()
    (pause,) = json.loads(plain)["pauses"]
    assert (pause["by"], pause["source"], pause["ended_by"]) == ("2001", "keys", "resume")
    age = await asyncio.create_subprocess_exec(
        "age", "-d", "-i", str(key), str(transcript), stdout=asyncio.subprocess.PIPE
    )
    plain, _ = await age.communicate()
    lines = plain.decode().splitlines()
    assert re.fullmatch(r"# webchat webchat-1-[0-9a-f]{6}, segment 1: agent 1001, queue support", lines[0]), (
        lines
    )
    assert [line.split(" ", 1)[1] for line in lines[2:]] == [
        "agent 1001: Hello, 1001 here.",
        "customer: My order is late.",
    ], "1001's stretch only: not the welcome before it, not 1002's after it"
    assert "Traceback" not in err.decode()


MISSING = (
    "ari-recorder: queues.support.announcement: Asterisk has no sound 'sim/no-such-notice' "
    "(GET /sounds/sim/no-such-notice: 404)"
)


NOT_IN_FRENCH = (
    "ari-recorder: queues.sales.announcements.fr: Asterisk has the sound 'sim/announcement' in en, "
    "not in 'fr' (company.announcements.fr)"
)


async def test_check_and_run_refuse_an_announcement_asterisk_does_not_have(tmp_path: Path) -> None:
    port = free_port()
    async with command("simulator", "--port", str(port)) as sim:
        await wait_until_up(f"http://127.0.0.1:{port}/sim/state")
        env = {
            "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{port}/ari",
            "ARI_RECORDER_API__PORT": "0",
            "ARI_RECORDER_AGENTS__1001__ENDPOINT": "Local/1001@agent-phone",
            "ARI_RECORDER_QUEUES__SUPPORT__AGENTS": "1001",
            "ARI_RECORDER_QUEUES__SUPPORT__ANNOUNCEMENT": "sim/announcement",
            "ARI_RECORDER_QUEUES__SALES__AGENTS": "1001",  # the company's: recording-notice
        }
        async with command("check", env=env) as check:
            out, err = await asyncio.wait_for(check.communicate(), 30)
        assert (check.returncode, err.decode()) == (0, "")
        assert out.decode().splitlines() == [
            "ok: the settings, and the announcements of 2 queue(s) in Asterisk: "
            "recording-notice, sim/announcement"
        ]
        # A notice named for a language must be in Asterisk in that language (sim/announcement
        # is only in en): the company's stands for sales, which names none of its own.
        french = {**env, "ARI_RECORDER_COMPANY__ANNOUNCEMENTS__FR": "sim/announcement"}
        async with command("check", env=french) as check:
            _, err = await asyncio.wait_for(check.communicate(), 30)
        assert (check.returncode, err.decode().splitlines()) == (2, [NOT_IN_FRENCH])
        fixed = {**french, "ARI_RECORDER_QUEUES__SALES__ANNOUNCEMENTS__FR": "sim/annonce"}  # in fr
        async with command("check", env=fixed) as check:
            out, err = await asyncio.wait_for(check.communicate(), 30)
        assert (check.returncode, err.decode()) == (0, ""), err.decode()
        wrong = {**env, "ARI_RECORDER_QUEUES__SUPPORT__ANNOUNCEMENT": "sim/no-such-notice"}
        async with command("check", env=wrong) as check:
            _, err = await asyncio.wait_for(check.communicate(), 30)
        assert (check.returncode, err.decode().splitlines()) == (2, [MISSING])
        async with command("run", env=wrong) as controller:
            _, err = await asyncio.wait_for(controller.communicate(), 30)
        assert controller.returncode == 2
        lines = err.decode().splitlines()
        assert lines[-1] == MISSING and "Traceback" not in err.decode()
        assert not any("ari connected" in line for line in lines), "stopped before taking any call"
        await stop(sim, signal.SIGINT)


async def test_check_with_asterisk_down_says_so(tmp_path: Path) -> None:
    env = {
        "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{free_port()}/ari",
        "ARI_RECORDER_QUEUES__SUPPORT__AGENTS": "",
    }
    async with command("check", env=env) as check:
        _, err = await asyncio.wait_for(check.communicate(), 30)
    assert check.returncode == 1
    assert err.decode().startswith(
        "ari-recorder: cannot check the announcements: ARI GET /sounds/recording-notice"
    )


REFUSED_PLAINTEXT = (
    "ari-recorder: delivery.age_recipients: none, and recordings are not kept unencrypted unless told: "
    "make a key pair with `ari-recorder keys generate --out platform.key` and put the public key it "
    "prints in delivery.age_recipients, or set delivery.keep_unencrypted = true "
    "(ARI_RECORDER_DELIVERY__KEEP_UNENCRYPTED=true) where recordings are encrypted at rest by other means"
)


@pytest.mark.parametrize("subcommand", ["run", "check"])
async def test_no_age_recipient_refuses_to_start_in_one_line(tmp_path: Path, subcommand: str) -> None:
    env = {
        "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{free_port()}/ari",
        "ARI_RECORDER_API__PORT": "0",
        "ARI_RECORDER_DELIVERY__KEEP_UNENCRYPTED": "false",  # the default, which the helper overrides
    }
    async with command(subcommand, env=env) as controller:
        _, err = await asyncio.wait_for(controller.communicate(), 30)
    assert (controller.returncode, err.decode().splitlines()) == (2, [REFUSED_PLAINTEXT])
    assert not (tmp_path / "db.sqlite").exists(), "refused before anything was opened"


async def test_run_raises_its_descriptor_soft_limit_to_the_hard_limit(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    env = {
        "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{free_port()}/ari",
        "ARI_RECORDER_API__PORT": "0",
        "ARI_RECORDER_DELIVERY__KEEP_UNENCRYPTED": "true",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_recorder",
        "run",
        stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ARI_RECORDER_")}, **env},
        # As many a system starts a service: 1,024 however high the hard limit.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard)),
    )
    try:
        await said(process, "api listening")
        limits = (await asyncio.to_thread(Path(f"/proc/{process.pid}/limits").read_text)).splitlines()
        (files,) = [line.split()[3:5] for line in limits if line.startswith("Max open files")]
        code, _ = await stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert files == [str(hard), str(hard)]
    assert code == 0
