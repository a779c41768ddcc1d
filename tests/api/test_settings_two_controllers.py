"""Two controllers on one PostgreSQL database, the leader and the standby: a change made through
the leader's API is in force in the standby within seconds (its next decision, once it leads, is
made with it), and the standby changes nothing itself."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import msgspec

from ari_recorder.app import running
from ari_recorder.settings import ApiSettings, QueueSettings, Settings
from tests.support.stores import postgres_database
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, world

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_the_standby_takes_the_leaders_change_and_makes_none(tmp_path: Path) -> None:
    async with (
        postgres_database() as db,
        world(tmp_path, {"support": QueueSettings(agents=["1001"])}, database=db) as w,
    ):
        assert w.controller is not None
        # The same file, another API port: the second controller waits as the standby.
        file = msgspec.structs.replace(
            w.controller.live.base, api=ApiSettings(port=0, admin_token=ADMIN_TOKEN)
        )
        async with running(file) as standby, aiohttp.ClientSession() as http:
            assert isinstance(standby.controller.settings, Settings) and not standby.controller.leading
            url = f"{w.api_url}/api/v1/settings/queues/support"
            async with http.get(url, headers=ADMIN) as r:
                queue, etag = await r.json(), r.headers["ETag"]
            changed = {"settings": {**queue["settings"], "record_percent": 7}, "reason": "sampling"}
            async with http.put(url, json=changed, headers={**ADMIN, "If-Match": etag}) as r:
                assert r.status == 200, await r.text()

            await until(
                lambda: standby.controller.settings.queues["support"].record_percent == 7,
                what="the standby to take the leader's change",
            )
            other = f"{standby.api_url}/api/v1/settings/queues/support"
            async with http.get(other, headers=ADMIN) as r:
                assert (r.status, r.headers["ETag"]) == (200, '"2"')
            async with http.put(other, json=changed, headers={**ADMIN, "If-Match": '"2"'}) as r:
                assert (r.status, (await r.json())["id"]) == (503, "standby")
            assert w.controller.settings.queues["support"].record_percent == 7
