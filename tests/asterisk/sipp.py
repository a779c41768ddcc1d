"""SIPp phones for the real-Asterisk tests: one scenario of tests/sipp/ per phone, each its own
process, on its own SIP port (Asterisk knows a phone by address and port) and RTP ports.

    async with Phone("agent-answer.xml", port=agent_port, asterisk=f"127.0.0.1:{sip_port}",
                     logs=tmp_path, params={"keys1": "*7", "keys1_at_ms": 2000}) as agent:
        ...
        await agent.check(timeout=20)   # exit status 0: every call went as the scenario says

A phone is listening when start() returns; stop() (and leaving the block) ends it: SIGTERM to its
process group, SIGKILL after a grace. It runs with default signal dispositions (a test runner that
ignores SIGINT does not pass that on) and dies with the test process (parent-death signal)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
# Each talking loop times out every 100 ms on purpose and SIPp logs every one as an error, with
# no newline between entries: "<date>\t<time>\t<epoch>: Call-Id: ..., jumping to label 11<date>...".
_STAMP = r"\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: "
_TICK = re.compile(
    _STAMP + r"Call-Id: \S+, receive timeout on message \S+, jumping to label \d+?(?=\d{4}-\d\d-\d\d\t|\s|$)"
)


def _free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_media_port(host: str = "127.0.0.1") -> int:
    """A UDP port p with p + 2 free too: SIPp binds both (audio and video) at its start, and sends
    its voice from p (its RFC 4733 keys come from p as well, through a raw socket)."""
    while True:
        port = free_udp_port(host)
        if port < 65000 and _free(port + 2, host):
            return port


def _listening(pid: int, port: int) -> bool:
    """Whether the process has a UDP socket bound to `port` (Linux /proc)."""
    inodes = set()
    try:  # its descriptors change while setpriv and env exec into SIPp
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        udp = Path(f"/proc/{pid}/net/udp").read_text()
    except OSError:
        return False
    for line in udp.splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
            return True
    return False


class PortTaken(RuntimeError):
    """SIPp could not bind a port it was given (errno 98, EADDRINUSE)."""


class Phone:
    """One SIPp scenario run as a phone: `params` are its -set values (see the scenario's header)."""

    def __init__(
        self,
        scenario: str,
        *,
        port: int,
        asterisk: str,
        params: Mapping[str, str | int] | None = None,
        calls: int | None = 1,
        logs: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.scenario, self.port, self.asterisk, self.host = scenario, port, asterisk, host
        self.params, self.calls = dict(params or {}), calls
        self.logs = Path(tempfile.mkdtemp(prefix="sipp-")) if logs is None else logs
        self.name = f"{Path(scenario).stem}-{port}"
        self.rtp_port = 0
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, ready_timeout: float = 5.0, attempts: int = 3) -> Phone:
        """Starts the phone and returns once it listens on its SIP port. Its media and control
        ports are free ports of the moment, which another process may take before SIPp binds them
        (seen in CI: errno 98 on the control port): then it starts again on others."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._start(ready_timeout)
            except PortTaken:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    async def _start(self, ready_timeout: float) -> Phone:
        self.logs.mkdir(parents=True, exist_ok=True)
        for kind in ("errors", "messages", "logs", "screen"):
            (self.logs / f"{self.name}-{kind}.log").unlink(missing_ok=True)
        self.rtp_port = free_media_port(self.host)
        # -cp: SIPp's UDP control port (8888 by default, on every address): one of its own.
        args = ["-sf", str(SCENARIOS / self.scenario), "-i", self.host, "-p", str(self.port),
                "-mi", self.host, "-mp", str(self.rtp_port), "-cp", str(free_udp_port(self.host)),
                "-nostdin", "-trace_err", "-error_file", str(self.logs / f"{self.name}-errors.log"),
                "-trace_msg", "-message_file", str(self.logs / f"{self.name}-messages.log"),
                "-trace_logs", "-log_file", str(self.logs / f"{self.name}-logs.log")]  # fmt: skip
        if self.calls is not None:
            args += ["-m", str(self.calls)]
        for name, value in self.params.items():
            args += ["-set", name, str(value)]
        with (self.logs / f"{self.name}-screen.log").open("wb") as screen:
            self.process = await asyncio.create_subprocess_exec(
                "setpriv", "--pdeathsig", "KILL", "env", "--default-signal", SIPP, *args, self.asterisk,
                cwd=SCENARIOS,  # the voice files are named relative to it
                stdin=asyncio.subprocess.DEVNULL, stdout=screen, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        async with asyncio.timeout(ready_timeout):
            while not _listening(self.process.pid, self.port):
                if self.process.returncode is not None:
                    trace = self.trace()
                    taken = PortTaken if "errno = 98" in trace else RuntimeError
                    raise taken(f"{self.name} ended at its start ({self.process.returncode})\n{trace}")
                await asyncio.sleep(0.02)
        return self

    async def wait(self, timeout: float) -> int:
        """Its exit status once it has ended by itself: 0 when every call went as the scenario
        says, 1 when one failed, 99 when it ended with no call; TimeoutError (with the trace)."""
        assert self.process is not None, "not started"
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            raise TimeoutError(f"{self.name} still running after {timeout} s\n{self.trace()}") from None

    async def check(self, timeout: float) -> None:
        """Waits for the phone's end and fails the test, with its trace, unless every call succeeded."""
        status = await self.wait(timeout)
        assert status == 0, f"{self.name} exited {status}\n{self.trace()}"

    async def stop(self, grace: float = 2.0) -> int | None:
        """Ends it (SIGTERM to its process group, SIGKILL after `grace` s); its exit status."""
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                async with asyncio.timeout(grace):
                    return await process.wait()
            except TimeoutError:
                continue
        return await process.wait()

    def trace(self, tail: int = 6000) -> str:
        """What went wrong, for an assertion's message: the error log (without the loops' own
        timeouts), the end of the SIP message trace and of SIPp's screen."""
        parts = []
        for kind in ("errors", "messages", "screen"):
            path = self.logs / f"{self.name}-{kind}.log"
            text = path.read_text(errors="replace") if path.is_file() else ""
            if kind == "errors":
                text = _TICK.sub("", text).replace("The following events occurred:", "").strip()
            if text.strip():
                parts.append(f"--- {path.name} ---\n{text[-tail:]}")
        return "\n".join(parts) or f"{self.name}: no logs in {self.logs}"

    async def __aenter__(self) -> Phone:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
