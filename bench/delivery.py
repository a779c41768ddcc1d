"""Benchmark: encrypt + upload of N recordings of each size to a local OpenSSH sshd, beside
OpenSSH's own `sftp` client uploading the same plaintext files (one batch) in the same run.

Ours is the delivery stage's own parts: each file encrypted into the spool (crypto.Encryptor, its
process started by the first file, as the fetch stage does) while the previous ones upload
(SftpTarget, as the upload workers do), over one SSH connection. Each size runs in a process of
its own, so that its peak memory (ru_maxrss) is its own: it must not grow with the file size.
Reported per size: our time and sftp's (median of --repeat runs, connection set-up included on
both sides), the throughput ratio ours/sftp (aim: at least 0.9), our peak memory and the
encryption process's ("enc MB"). --files 1 shows one file's latency instead, where encryption
and upload cannot overlap.

Fairness: before each timed run the page cache is written back (sync), so that neither side pays
for the other's (or the test files') dirty pages, and what landed is removed, so that every run
uploads everything. "cpu s" is the whole machine's busy CPU time during each side's run (sshd and
the kernel included, and whatever else runs on the machine), to tell a CPU-bound gap (near
cores x seconds) from a waiting one. Below the table: the cipher and compression each side
negotiated (sftp keeps OpenSSH's defaults unless --sftp-cipher names one, e.g. ours, for a
like-for-like transport). On a VM that hands freed memory back to its host, each page newly
written costs much more CPU (seen here: about 4 s per GB): the spool copy, which sftp has no
counterpart of, shows in "ours cpu s".
--phases prints when each of our files was encrypted and uploaded (to see them overlap), and
where each side's CPU time went: our upload process, our encryption process, sftp with its ssh,
and sshd's sessions on each side.

    .venv/bin/python bench/delivery.py --sizes 1,10,100,500 --files 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test suite's sshd fixture, reused

from tests.delivery.support import Sshd, require  # noqa: E402

from ari_recorder.delivery import DeliverySettings, generate_keypair  # noqa: E402
from ari_recorder.delivery.crypto import Encryptor  # noqa: E402
from ari_recorder.delivery.targets import SftpTarget  # noqa: E402

MB = 1024 * 1024


async def deliver_all(config: dict[str, str]) -> None:
    """The child: encrypt each file into the spool while earlier ones upload, as the stages do."""
    settings = DeliverySettings(
        spool_dir=config["spool"],
        sftp_host="127.0.0.1",
        sftp_port=int(config["port"]),
        sftp_username=config["user"],
        sftp_private_key=config["key"],
        sftp_known_hosts=config["known_hosts"],
        sftp_remote_dir=config["remote_dir"],
        age_recipients=[config["recipient"]],
    )
    encryptor = Encryptor(settings.age_recipients)
    target = SftpTarget(settings)
    sealed_files: asyncio.Queue[tuple[Path, int] | None] = asyncio.Queue(maxsize=2)

    phases: list[str] = []

    def phase(what: str, since: float) -> None:
        phases.append(f"{what} {since - started:.2f}-{time.perf_counter() - started:.2f} s")

    async def encrypt() -> None:
        for n, name in enumerate(config["files"].split(",")):
            sealed_path = settings.spool / f"{n}-{Path(name).name}.age"
            since = time.perf_counter()
            sealed = await encryptor.encrypt(Path(name), sealed_path)
            phase(f"encrypt {n}", since)
            await sealed_files.put((sealed_path, sealed.size))
        await sealed_files.put(None)

    async def upload() -> None:
        while (item := await sealed_files.get()) is not None:
            since = time.perf_counter()
            if await target.deliver(item[0], item[0].name, item[1]):
                raise RuntimeError(f"{item[0].name} was already there: nothing was uploaded")
            phase(f"upload  {item[0].name.split('-')[0]}", since)
            item[0].unlink()

    started, cpu = time.perf_counter(), busy_cpu()
    async with asyncio.TaskGroup() as group:
        group.create_task(encrypt())
        group.create_task(upload())
    elapsed, cpu = time.perf_counter() - started, busy_cpu() - cpu
    connection = target._connection
    assert connection is not None
    info = connection.get_extra_info
    cipher = f"{info('send_cipher')}, compression {info('send_compression')}"
    await target.aclose()
    encryptor_mb = child_peak_mb()
    await encryptor.aclose()
    mine, encryption = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    result = {
        "seconds": elapsed,
        "cpu": cpu,
        "cpu_split": f"upload process {mine.ru_utime + mine.ru_stime:.1f}, "
        f"encryption process {encryption.ru_utime + encryption.ru_stime:.1f}",
        "peak_mb": mine.ru_maxrss / 1024,
        "encryptor_mb": encryptor_mb,
        "cipher": cipher,
        "phases": phases,
    }
    print(json.dumps(result))


def child_peak_mb() -> float:
    """The peak memory (VmHWM) of this process's child, the encryption process. Not RUSAGE_CHILDREN's:
    Linux counts there the memory of the process it was forked from, before its exec."""
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError, KeyError, ValueError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["PPid"]) == os.getpid():
                return int(fields["VmHWM"].split()[0]) / 1024
    return math.nan


def ours(config: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def openssh(sshd: Sshd, files: list[Path], remote_dir: Path, cipher: str | None) -> tuple[float, str]:
    batch = files[0].with_suffix(".batch")
    batch.write_text(
        "".join(f"put {file} {remote_dir / f'{n}-{file.name}'}\n" for n, file in enumerate(files))
    )
    command = [
        require("sftp"),
        "-v",  # for the negotiated cipher (sftp -b shows no progress meter anyway)
        *(["-c", cipher] if cipher else []),
        "-b",
        str(batch),
        "-i",
        str(sshd.client_key),
        "-P",
        str(sshd.port),
        "-o",
        f"UserKnownHostsFile={sshd.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-F",
        "/dev/null",
        f"{sshd.user}@127.0.0.1",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    found = re.search(r"kex: client->server cipher: (\S+) MAC: \S+ compression: (\S+)", done.stderr)
    return elapsed, f"{found[1]}, compression {found[2]}" if found else "?"


def busy_cpu() -> float:
    """CPU seconds the whole machine has been busy since boot (Linux; NaN elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = stat.readline().split()[1:8]
    except OSError:
        return math.nan
    return (int(user) + int(nice) + int(system) + int(irq) + int(softirq)) / os.sysconf("SC_CLK_TCK")


class Spent:
    """CPU seconds from now on of the client side (our processes, or sftp and its ssh) and of
    sshd's sessions, the server side (reaped: their time is in sshd's children's)."""

    def __init__(self, sshd: Sshd) -> None:
        assert sshd.process is not None
        self.stat = Path(f"/proc/{sshd.process.pid}/stat")
        self.client, self.server = self.clients(), self.sessions()

    def split(self) -> tuple[float, float]:
        time.sleep(0.2)  # for sshd to reap the session
        return self.clients() - self.client, self.sessions() - self.server

    def clients(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def sessions(self) -> float:
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime


def clean(*folders: Path) -> None:
    """What the previous run landed, so that the next uploads everything again."""
    for folder in folders:
        for landed in folder.iterdir():
            landed.unlink()


def make_file(path: Path, size_mb: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(MB))  # incompressible, as audio nearly is


async def main(sizes: list[int], repeat: int, count: int, sftp_cipher: str | None, show_phases: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as folder:
        tmp = Path(folder)
        sshd = Sshd(tmp / "sshd")
        await sshd.start()
        recipient = generate_keypair(tmp / "platform.key")
        (tmp / "spool").mkdir()
        landed_ours, landed_sftp = sshd.remote / "ours", sshd.remote / "sftp"
        landed_ours.mkdir()
        landed_sftp.mkdir()
        ciphers = ""
        print(
            f"{'size':>7} {'ours s':>8} {'sftp s':>8} {'ours MB/s':>10} {'sftp MB/s':>10} "
            f"{'ratio':>6} {'peak MB':>8} {'enc MB':>7} {'ours cpu s':>10} {'sftp cpu s':>10}"
        )
        try:
            for size in sizes:
                files = [tmp / f"recording-{size}mb-{n}.wav" for n in range(count)]
                for file in files:
                    make_file(file, size)
                config = {
                    "spool": str(tmp / "spool"),
                    "port": str(sshd.port),
                    "user": sshd.user,
                    "key": str(sshd.client_key),
                    "known_hosts": str(sshd.known_hosts),
                    "remote_dir": str(landed_ours),
                    "recipient": recipient,
                    "files": ",".join(str(file) for file in files),
                }
                our_runs, sftp_runs, peaks, encryptor_peaks, our_cpu, sftp_cpu = [], [], [], [], [], []
                for _ in range(repeat):
                    os.sync()
                    spent = Spent(sshd)
                    result = await asyncio.to_thread(ours, config)
                    our_split = spent.split()
                    our_cpu.append(result["cpu"])
                    our_runs.append(result["seconds"])
                    peaks.append(result["peak_mb"])
                    encryptor_peaks.append(result["encryptor_mb"])
                    os.sync()
                    before, spent = busy_cpu(), Spent(sshd)
                    seconds, theirs_cipher = await asyncio.to_thread(
                        openssh, sshd, files, landed_sftp, sftp_cipher
                    )
                    sftp_cpu.append(busy_cpu() - before)
                    if show_phases:
                        sftp_split = spent.split()
                        lines = [
                            *result["phases"],
                            f"cpu s: ours: {result['cpu_split']}; sshd {our_split[1]:.1f}",
                            f"cpu s: sftp: sftp and ssh {sftp_split[0]:.1f}; sshd {sftp_split[1]:.1f}",
                        ]
                        print("\n".join(f"    {line}" for line in lines), flush=True)
                    sftp_runs.append(seconds)
                    clean(landed_ours, landed_sftp)
                    ciphers = f"ciphers: ours {result['cipher']}; sftp {theirs_cipher}"
                mine, theirs = statistics.median(our_runs), statistics.median(sftp_runs)
                total = size * count
                print(
                    f"{size:>5}MB {mine:>8.2f} {theirs:>8.2f} {total / mine:>10.1f} {total / theirs:>10.1f} "
                    f"{theirs / mine:>6.2f} {max(peaks):>8.1f} {max(encryptor_peaks):>7.1f} "
                    f"{statistics.median(our_cpu):>10.1f} {statistics.median(sftp_cpu):>10.1f}",
                    flush=True,
                )
                for file in files:
                    file.unlink()
            print(ciphers)
        finally:
            await sshd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,100", help="file sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=4, help="recordings of each size")
    parser.add_argument("--sftp-cipher", help="make sftp use this cipher (default: OpenSSH's choice)")
    parser.add_argument("--phases", action="store_true", help="when each file was encrypted, uploaded")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(deliver_all(json.loads(args.child)))
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        asyncio.run(main(sizes, args.repeat, args.files, args.sftp_cipher, args.phases))
