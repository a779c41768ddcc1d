"""A delivery worker in a process of its own (the multi-process test): drains the shared queue once
told to go, then prints what it did as JSON.

    python -m tests.delivery.worker '<json: url, schema, ari_url, settings>'
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys

import msgspec

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery, DeliverySettings
from ari_recorder.storage.store import Store


async def main(config: dict[str, str]) -> None:
    settings = msgspec.json.decode(config["settings"], type=DeliverySettings)
    store = Store(config["url"], schema=config["schema"])
    async with AriClient(config["ari_url"], "asterisk", "asterisk") as ari:
        delivery = Delivery(store, ari, settings)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # both processes start together
        try:
            counters = await delivery.drain()
        finally:
            await delivery.aclose()
            await store.aclose()
    print(json.dumps({"worker": delivery.worker, **dataclasses.asdict(counters)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
