"""Benchmark: encrypt + upload of N recordings of each size to a local OpenSSH sshd, beside
OpenSSH's own `sftp` client uploading the same plaintext files (one batch) in the same run.

Ours is the delivery stage's own parts: each file encrypted into the spool (crypto.encrypt_file,
as the fetch stage does) while the previous ones upload (SftpTarget, as the upload workers do),
over one SSH connection. Each size runs in a process of its own, so that its peak memory
(ru_maxrss) is its own: it must not grow with the file size. Reported per size: our time and
sftp's (median of --repeat runs, connection set-up included on both sides), the throughput ratio
ours/sftp (aim: at least 0.9), our peak memory. --files 1 shows one file's latency instead, where
encryption and upload cannot overlap.

    .venv/bin/python bench/delivery.py --sizes 1,10,100,500 --files 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test suite's sshd fixture, reused

from tests.delivery.support import Sshd, require  # noqa: E402

from ari_recorder.delivery import DeliverySettings, generate_keypair  # noqa: E402
from ari_recorder.delivery.crypto import encrypt_file, recipients  # noqa: E402
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
    keys = recipients(settings.age_recipients)
    target = SftpTarget(settings)
    sealed_files: asyncio.Queue[tuple[Path, int] | None] = asyncio.Queue(maxsize=2)

    async def encrypt() -> None:
        for n, name in enumerate(config["files"].split(",")):
            sealed_path = settings.spool / f"{n}-{Path(name).name}.age"
            sealed = await asyncio.to_thread(encrypt_file, Path(name), sealed_path, keys)
            await sealed_files.put((sealed_path, sealed.size))
        await sealed_files.put(None)

    async def upload() -> None:
        while (item := await sealed_files.get()) is not None:
            await target.deliver(item[0], item[0].name, item[1])
            item[0].unlink()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        group.create_task(encrypt())
        group.create_task(upload())
    elapsed = time.perf_counter() - started
    await target.aclose()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_kb / 1024}))


def ours(config: dict[str, str]) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)], check=True, capture_output=True, text=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), float(result["peak_mb"])


def openssh(sshd: Sshd, files: list[Path], remote_dir: Path) -> float:
    batch = files[0].with_suffix(".batch")
    batch.write_text(
        "".join(f"put {file} {remote_dir / f'{n}-{file.name}'}\n" for n, file in enumerate(files))
    )
    command = [
        require("sftp"),
        "-q",
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
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def make_file(path: Path, size_mb: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(MB))  # incompressible, as audio nearly is


async def main(sizes: list[int], repeat: int, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as folder:
        tmp = Path(folder)
        sshd = Sshd(tmp / "sshd")
        await sshd.start()
        recipient = generate_keypair(tmp / "platform.key")
        (tmp / "spool").mkdir()
        (sshd.remote / "ours").mkdir()
        (sshd.remote / "sftp").mkdir()
        print(
            f"{'size':>7} {'ours s':>8} {'sftp s':>8} {'ours MB/s':>10} {'sftp MB/s':>10} "
            f"{'ratio':>6} {'peak MB':>8}"
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
                    "remote_dir": str(sshd.remote / "ours"),
                    "recipient": recipient,
                    "files": ",".join(str(file) for file in files),
                }
                our_runs, sftp_runs, peaks = [], [], []
                for _ in range(repeat):
                    seconds, peak = await asyncio.to_thread(ours, config)
                    our_runs.append(seconds)
                    peaks.append(peak)
                    sftp_runs.append(await asyncio.to_thread(openssh, sshd, files, sshd.remote / "sftp"))
                mine, theirs = statistics.median(our_runs), statistics.median(sftp_runs)
                total = size * count
                print(
                    f"{size:>5}MB {mine:>8.2f} {theirs:>8.2f} {total / mine:>10.1f} {total / theirs:>10.1f} "
                    f"{theirs / mine:>6.2f} {max(peaks):>8.1f}",
                    flush=True,
                )
                for file in files:
                    file.unlink()
                for landed in sshd.remote.rglob("recording-*"):
                    landed.unlink()
        finally:
            await sshd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,100", help="file sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=4, help="recordings of each size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(deliver_all(json.loads(args.child)))
    else:
        asyncio.run(main([int(s) for s in args.sizes.split(",")], args.repeat, args.files))
