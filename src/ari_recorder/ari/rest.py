"""The ARI REST client: one typed method per operation the project uses, on aiohttp.

Paths, verbs and parameter names are api-docs' own (tests/ari/test_conformance.py checks each).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp

from ari_recorder.ari.errors import AriUnavailable, error_for
from ari_recorder.ari.models import (
    Application,
    AsteriskInfo,
    AsteriskPing,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    Sound,
    StoredRecording,
    Variable,
)
from ari_recorder.ari.naming import require_safe_name

Params = Mapping[str, str | int | float | bool | None]
CHUNK = 64 * 1024


def basic_auth(username: str, password: str) -> str:
    """The Authorization header value (built by hand: aiohttp's BasicAuth now warns)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _query(params: Params) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _seg(value: str) -> str:
    return quote(value, safe="")


class StoredFile:
    """A stored recording's bytes as they arrive; never held whole in memory."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.content_type = response.content_type
        self.content_length = response.content_length

    async def iter_chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_chunked(size):
            yield chunk


class AriClient:
    """ARI over HTTP. Use as `async with AriClient(url, user, password) as ari:`."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = basic_auth(username, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(headers={"Authorization": self._auth}, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----- transport -----
    @contextlib.asynccontextmanager
    async def _open(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if self._session is None:
            raise RuntimeError("AriClient used outside `async with`")
        url = self.base_url + path
        try:
            async with self._session.request(method, url, params=_query(params or {}), json=body) as response:
                if response.status >= 400:
                    message = ""
                    with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
                        answer = await response.json()
                        if isinstance(answer, dict):
                            message = str(answer.get("message") or answer.get("error") or "")
                    if response.status == 404 and not message:
                        # Not ARI's answer (always {"message": ...}) but the HTTP server's own page:
                        # Asterisk is starting and ARI's resources are not registered yet. Taking
                        # it for "no such recording" would forget a recording still to delete.
                        raise AriUnavailable(method, path, "404 from Asterisk without ARI: still starting?")
                    raise error_for(method, path, response.status, message or response.reason or "")
                yield response
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise AriUnavailable(
                method, path, f"cannot reach Asterisk at {self._where()}: {type(error).__name__}"
            ) from None
        except TimeoutError:
            raise AriUnavailable(
                method, path, f"no answer from Asterisk at {self._where()} within {self._timeout.total} s"
            ) from None

    def _where(self) -> str:
        return self.base_url  # never carries credentials: they go in the Authorization header

    async def _call(self, method: str, path: str, params: Params | None = None, body: Any = None) -> Any:
        async with self._open(method, path, params, body) as response:
            if response.status == 204:
                return None
            return await response.json()

    # ----- channels -----
    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self._call("GET", "/channels")]

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self._call("GET", f"/channels/{_seg(channel_id)}"))

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Dial `endpoint` into `app` (or into the dialplan at context/extension/priority)."""
        params: Params = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": app_args,
            "context": context,
            "extension": extension,
            "priority": priority,
            "callerId": caller_id,
            "timeout": timeout,
            "otherChannelId": other_channel_id,
        }
        path = f"/channels/{_seg(channel_id)}" if channel_id else "/channels"
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self._call("POST", path, params, body))

    async def hangup(self, channel_id: str, *, reason: str | None = None) -> None:
        await self._call("DELETE", f"/channels/{_seg(channel_id)}", {"reason": reason})

    async def answer(self, channel_id: str) -> None:
        await self._call("POST", f"/channels/{_seg(channel_id)}/answer")

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self._call(
            "POST",
            f"/channels/{_seg(channel_id)}/continue",
            {"context": context, "extension": extension, "priority": priority, "label": label},
        )

    async def move(self, channel_id: str, app: str, *, app_args: str | None = None) -> None:
        await self._call("POST", f"/channels/{_seg(channel_id)}/move", {"app": app, "appArgs": app_args})

    async def play(
        self, channel_id: str, media: str, *, playback_id: str | None = None, lang: str | None = None
    ) -> Playback:
        return await self._play(f"/channels/{_seg(channel_id)}", media, playback_id, lang)

    async def _play(self, target: str, media: str, playback_id: str | None, lang: str | None) -> Playback:
        path = f"{target}/play/{_seg(playback_id)}" if playback_id else f"{target}/play"
        return Playback.from_json(await self._call("POST", path, {"media": media, "lang": lang}))

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        format: str = "wav",
        if_exists: str = "fail",
        beep: bool = False,
        terminate_on: str = "none",
        max_duration_seconds: int | None = None,
        max_silence_seconds: int | None = None,
    ) -> LiveRecording:
        params: Params = {
            "maxDurationSeconds": max_duration_seconds,
            "maxSilenceSeconds": max_silence_seconds,
        }
        return await self._record(
            f"/channels/{_seg(channel_id)}", name, format, if_exists, beep, terminate_on, params
        )

    async def _record(
        self,
        target: str,
        name: str,
        format: str,
        if_exists: str,
        beep: bool,
        terminate_on: str,
        extra: Params,
    ) -> LiveRecording:
        require_safe_name(name)
        params: Params = {
            "name": name,
            "format": format,
            "ifExists": if_exists,
            "beep": beep,
            "terminateOn": terminate_on,
            **extra,
        }
        return LiveRecording.from_json(await self._call("POST", f"{target}/record", params))

    async def snoop(
        self,
        channel_id: str,
        app: str,
        *,
        spy: str = "both",
        whisper: str = "none",
        app_args: str | None = None,
        snoop_id: str | None = None,
    ) -> Channel:
        path = f"/channels/{_seg(channel_id)}/snoop"
        if snoop_id:
            path += f"/{_seg(snoop_id)}"
        params: Params = {"app": app, "spy": spy, "whisper": whisper, "appArgs": app_args}
        return Channel.from_json(await self._call("POST", path, params))

    async def mute(self, channel_id: str, *, direction: str = "both") -> None:
        await self._call("POST", f"/channels/{_seg(channel_id)}/mute", {"direction": direction})

    async def unmute(self, channel_id: str, *, direction: str = "both") -> None:
        await self._call("DELETE", f"/channels/{_seg(channel_id)}/mute", {"direction": direction})

    async def send_dtmf(
        self, channel_id: str, dtmf: str, *, between: int | None = None, duration: int | None = None
    ) -> None:
        await self._call(
            "POST",
            f"/channels/{_seg(channel_id)}/dtmf",
            {"dtmf": dtmf, "between": between, "duration": duration},
        )

    async def get_variable(self, channel_id: str, variable: str) -> str:
        answer = await self._call("GET", f"/channels/{_seg(channel_id)}/variable", {"variable": variable})
        return Variable.from_json(answer).value

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._call(
            "POST", f"/channels/{_seg(channel_id)}/variable", {"variable": variable, "value": value}
        )

    # ----- bridges -----
    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self._call("GET", "/bridges")]

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return Bridge.from_json(await self._call("GET", f"/bridges/{_seg(bridge_id)}"))

    async def create_bridge(
        self, *, type: str = "mixing", name: str | None = None, bridge_id: str | None = None
    ) -> Bridge:
        path = f"/bridges/{_seg(bridge_id)}" if bridge_id else "/bridges"
        return Bridge.from_json(await self._call("POST", path, {"type": type, "name": name}))

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._call("DELETE", f"/bridges/{_seg(bridge_id)}")

    async def add_channel(
        self,
        bridge_id: str,
        channels: str | Iterable[str],
        *,
        role: str | None = None,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        ids = channels if isinstance(channels, str) else ",".join(channels)
        await self._call(
            "POST",
            f"/bridges/{_seg(bridge_id)}/addChannel",
            {
                "channel": ids,
                "role": role,
                "absorbDTMF": absorb_dtmf,
                "mute": mute,
                "inhibitConnectedLineUpdates": inhibit_connected_line_updates,
            },
        )

    async def remove_channel(self, bridge_id: str, channels: str | Iterable[str]) -> None:
        ids = channels if isinstance(channels, str) else ",".join(channels)
        await self._call("POST", f"/bridges/{_seg(bridge_id)}/removeChannel", {"channel": ids})

    async def start_moh(self, bridge_id: str, *, moh_class: str | None = None) -> None:
        await self._call("POST", f"/bridges/{_seg(bridge_id)}/moh", {"mohClass": moh_class})

    async def stop_moh(self, bridge_id: str) -> None:
        await self._call("DELETE", f"/bridges/{_seg(bridge_id)}/moh")

    async def play_on_bridge(
        self, bridge_id: str, media: str, *, playback_id: str | None = None, lang: str | None = None
    ) -> Playback:
        return await self._play(f"/bridges/{_seg(bridge_id)}", media, playback_id, lang)

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        format: str = "wav",
        if_exists: str = "fail",
        beep: bool = False,
        terminate_on: str = "none",
    ) -> LiveRecording:
        return await self._record(
            f"/bridges/{_seg(bridge_id)}", name, format, if_exists, beep, terminate_on, {}
        )

    # ----- live recordings -----
    async def get_live(self, name: str) -> LiveRecording:
        return LiveRecording.from_json(await self._call("GET", f"/recordings/live/{_seg(name)}"))

    async def stop_recording(self, name: str) -> None:
        await self._call("POST", f"/recordings/live/{_seg(name)}/stop")

    async def pause_recording(self, name: str) -> None:
        await self._call("POST", f"/recordings/live/{_seg(name)}/pause")

    async def unpause_recording(self, name: str) -> None:
        await self._call("DELETE", f"/recordings/live/{_seg(name)}/pause")

    async def mute_recording(self, name: str) -> None:
        await self._call("POST", f"/recordings/live/{_seg(name)}/mute")

    async def unmute_recording(self, name: str) -> None:
        await self._call("DELETE", f"/recordings/live/{_seg(name)}/mute")

    async def cancel_recording(self, name: str) -> None:
        await self._call("DELETE", f"/recordings/live/{_seg(name)}")

    # ----- stored recordings -----
    async def list_stored(self) -> list[StoredRecording]:
        return [StoredRecording.from_json(r) for r in await self._call("GET", "/recordings/stored")]

    async def get_stored(self, name: str) -> StoredRecording:
        return StoredRecording.from_json(await self._call("GET", f"/recordings/stored/{_seg(name)}"))

    async def delete_stored(self, name: str) -> None:
        await self._call("DELETE", f"/recordings/stored/{_seg(name)}")

    @contextlib.asynccontextmanager
    async def open_stored_file(self, name: str) -> AsyncIterator[StoredFile]:
        """The recording's file, streamed: `async for chunk in f.iter_chunks(): ...`."""
        async with self._open("GET", f"/recordings/stored/{_seg(name)}/file") as response:
            yield StoredFile(response)

    async def download_stored(self, name: str, dest: Path) -> int:
        """Write the stored file to `dest` chunk by chunk; the number of bytes written."""
        written = 0
        async with self.open_stored_file(name) as stored:
            with open(dest, "wb") as out:  # noqa: ASYNC230 - small writes of 64 KiB chunks
                async for chunk in stored.iter_chunks():
                    await asyncio.to_thread(out.write, chunk)
                    written += len(chunk)
        return written

    # ----- playbacks, applications, asterisk -----
    async def get_playback(self, playback_id: str) -> Playback:
        return Playback.from_json(await self._call("GET", f"/playbacks/{_seg(playback_id)}"))

    async def stop_playback(self, playback_id: str) -> None:
        await self._call("DELETE", f"/playbacks/{_seg(playback_id)}")

    async def get_sound(self, sound_id: str) -> Sound:
        """A sound Asterisk has (`sim/announcement`: its slash URL-encoded); AriNotFound if none."""
        return Sound.from_json(await self._call("GET", f"/sounds/{_seg(sound_id)}"))

    async def list_applications(self) -> list[Application]:
        return [Application.from_json(a) for a in await self._call("GET", "/applications")]

    async def get_application(self, name: str) -> Application:
        return Application.from_json(await self._call("GET", f"/applications/{_seg(name)}"))

    async def ping(self) -> AsteriskPing:
        return AsteriskPing.from_json(await self._call("GET", "/asterisk/ping"))

    async def info(self) -> AsteriskInfo:
        return AsteriskInfo.from_json(await self._call("GET", "/asterisk/info"))
