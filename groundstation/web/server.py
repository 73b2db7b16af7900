"""The browser view of a shared incident, over HTTPS (aiohttp; docs/partners.md section 9).

    async with WebView(config, links, scenes, video) as web:
        web.url_for(token)                   # https://HOST:PORT/s/<token>

``GET /s/{token}`` serves one static page (no external script, font or map tile: a partner's
browser needs nothing but this server), or, for a link that does not open, a page with the
reason and nothing else. The page opens ``/s/{token}/ws``, a WebSocket that carries:

- the viewer's first message, ``{"pin": "123456"}`` (or null): checked with the viewer cap;
- the scene as JSON twice a second: the incident, its M/ETHANE record, the drone over it (its
  position) and the path it flew since the viewer came;
- the drone's live video as fragmented MP4 (binary messages) for Media Source Extensions:
  the relay's H.264 remuxed, never re-encoded (``groundstation.video.fmp4``);
- ``{"type": "gone", ...}`` when the link is revoked, expires or its incident closes or is
  unshared, checked every ``recheck_s``; then the socket closes and the page clears itself.

Why a WebSocket into MSE, not WebRTC: the relay already holds each frame as H.264; fMP4 over the
same TLS connection as the page reaches a browser through any proxy that lets HTTPS through,
needs no STUN/TURN/ICE nor a second server, and is quick enough: a frame per WebSocket message,
the page's player kept near the newest frame; camera to Chromium's screen measured 0.22-0.32 s
(tests/video/test_webview.py). WebRTC (aiortc) would need the H.264 repacketised per RTP
session and DTLS-SRTP per viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from importlib import resources
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec
from aiohttp import WSMsgType, web

from groundstation import contract as c
from groundstation.core import weblink_rules as rules
from groundstation.errors import GroundStationError
from groundstation.video.fmp4 import Fmp4Remuxer
from groundstation.video.hub import Viewer
from groundstation.web.links import LinkBook

__all__ = ["DroneFix", "NoVideo", "Scene", "SceneSource", "VideoSource", "WebConfig", "WebView"]

log = logging.getLogger(__name__)


class WebError(GroundStationError):
    """The browser view cannot start (address in use, unreadable certificate...)."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 0
    public_host: str | None = None
    cert_file: str | None = None
    """PEM certificate (chain) and key: the deployment's, as for the broker. None: plain HTTP,
    for loopback tests only."""
    key_file: str | None = None
    scene_s: float = 0.5
    """How often the scene goes to each viewer."""
    recheck_s: float = 0.5
    """How often an open viewer's link is checked (revocation, expiry, unsharing)."""
    path_points: int = 1200
    video_queue: int = 120
    """Fragments waiting for one viewer's socket; over it the viewer's video restarts at the
    next keyframe."""


@dataclass(frozen=True, slots=True)
class DroneFix:
    drone_id: str
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    heading_deg: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Scene:
    """What the page shows of an incident now."""

    incident: c.Incident
    methane: c.Methane | None = None
    drone: DroneFix | None = None
    shared_with: tuple[str, ...] = field(default_factory=tuple)


class SceneSource(Protocol):
    """The incident as the controller knows it now (``groundstation.web.bridge``)."""

    def scene(self, incident_id: str) -> Scene | None: ...


class VideoSource(Protocol):
    """The relay's fan-out of a drone's stream (``groundstation.video.relay.VideoRelay``)."""

    def add_web_viewer(self, drone_id: str, user: str) -> Viewer | None: ...

    def remove_web_viewer(self, drone_id: str, viewer: Viewer) -> None: ...


_PAGE = "view.html"


def _page() -> str:
    return resources.files("groundstation.web").joinpath(_PAGE).read_text(encoding="utf-8")


def refusal_page(why: rules.Refusal) -> str:
    """A page that says why and shows nothing of the incident."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Share link</title></head>"
        "<body style='font-family:sans-serif'><p id='refused' data-reason='"
        f"{why.value}'>{rules.MESSAGES[why]}</p></body></html>"
    )


class _Session:
    """One open viewer: its socket, its video pipeline and its path."""

    def __init__(self, web: WebView, ws: web.WebSocketResponse, link: rules.Link, remote: str):
        self.web = web
        self.ws = ws
        self.link = link
        self.remote = remote
        self.path: deque[tuple[float, float]] = deque(maxlen=web.config.path_points)
        self.drone_id: str | None = None
        self.viewer: Viewer | None = None
        self.remux: Fmp4Remuxer | None = None
        self.out: asyncio.Queue[bytes | str] = asyncio.Queue(web.config.video_queue)
        self.overflow = False
        self.gone: rules.Refusal | None = None

    async def run(self) -> None:
        name = self.link.link_id
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._guard(self._scene_loop()), name=f"web-scene-{name}"),
                tg.create_task(self._guard(self._video_feed()), name=f"web-feed-{name}"),
                tg.create_task(self._guard(self._send_loop()), name=f"web-send-{name}"),
            ]
            async for msg in self.ws:  # the page says nothing more; this ends when it leaves
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
            for task in tasks:
                task.cancel()

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """A task of the session: the viewer leaving (a send fails) closes the socket."""
        try:
            await work
        except ConnectionError as exc:
            log.info("share link %s: viewer %s gone: %s", self.link.link_id, self.remote, exc)
            await self.ws.close()

    async def _scene_loop(self) -> None:
        cfg = self.web.config
        last_check = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() - last_check >= cfg.recheck_s:
                last_check = loop.time()
                why = self.web.links.still_valid(self.link)
                if why is not None:
                    await self.end(why)
                    return
            scene = self.web.scenes.scene(self.link.incident_id)
            if scene is not None:
                await self._send_scene(scene)
            await asyncio.sleep(min(cfg.scene_s, cfg.recheck_s))

    async def _send_scene(self, scene: Scene) -> None:
        drone = scene.drone
        if drone is not None:
            if drone.drone_id != self.drone_id:
                self.path.clear()
                await self._switch_video(drone.drone_id)
            if not self.path or self.path[-1] != (drone.lat_deg, drone.lon_deg):
                self.path.append((drone.lat_deg, drone.lon_deg))
        elif self.drone_id is not None:
            await self._switch_video(None)
        inc = scene.incident
        body = {
            "type": "scene",
            "ts_ms": c.now_ms(),
            "expires_ms": self.link.expires_ms,
            "incident": {"incident_id": inc.incident_id, "status": str(inc.status),
                         "lat_deg": inc.lat_deg, "lon_deg": inc.lon_deg,
                         "priority": inc.priority, "summary": inc.summary},
            "methane": msgspec.to_builtins(scene.methane) if scene.methane else None,
            "drone": None if drone is None else {
                "drone_id": drone.drone_id, "lat_deg": drone.lat_deg, "lon_deg": drone.lon_deg,
                "alt_rel_m": drone.alt_rel_m, "heading_deg": drone.heading_deg,
                "ts_ms": drone.ts_ms},
            "path": list(self.path),
        }
        await self.ws.send_str(json.dumps(body))

    # --- video ------------------------------------------------------------------------------

    async def _switch_video(self, drone_id: str | None) -> None:
        await self._stop_video()
        self.drone_id = drone_id
        if drone_id is None:
            await self.ws.send_str(json.dumps({"type": "video", "codec": None}))
            return
        viewer = self.web.video.add_web_viewer(drone_id, f"link:{self.link.link_id}")
        if viewer is None:
            await self.ws.send_str(json.dumps({"type": "video", "codec": None,
                                               "reason": f"no video from {drone_id}"}))
            return
        loop = asyncio.get_running_loop()
        self.viewer = viewer
        self.overflow = False
        self.remux = Fmp4Remuxer(
            f"{self.link.link_id}-{drone_id}",
            lambda data: loop.call_soon_threadsafe(self._put, data),
            lambda codec: loop.call_soon_threadsafe(
                self._put, json.dumps({"type": "video", "codec": codec, "drone_id": drone_id})),
        )
        self.remux.start()

    def _put(self, item: bytes | str) -> None:
        try:
            self.out.put_nowait(item)
        except asyncio.QueueFull:
            self.overflow = True

    async def _video_feed(self) -> None:
        while True:
            viewer, remux = self.viewer, self.remux
            if viewer is None or remux is None:
                await asyncio.sleep(0.1)
                continue
            chunk = await viewer.next()
            if chunk is None or self.viewer is not viewer:
                await asyncio.sleep(0.1)
                continue
            if not remux.feed(chunk.data) or self.overflow:
                log.info("share link %s: viewer %s too slow, video restarted",
                         self.link.link_id, self.remote)
                await self._switch_video(self.drone_id)

    async def _send_loop(self) -> None:
        while True:
            item = await self.out.get()
            if isinstance(item, str):
                await self.ws.send_str(item)
            else:
                await self.ws.send_bytes(item)

    async def _stop_video(self) -> None:
        viewer, remux, drone_id = self.viewer, self.remux, self.drone_id
        self.viewer = self.remux = None
        if viewer is not None and drone_id is not None:
            self.web.video.remove_web_viewer(drone_id, viewer)
        if remux is not None:
            await asyncio.to_thread(remux.stop)
        while not self.out.empty():
            self.out.get_nowait()

    async def end(self, why: rules.Refusal) -> None:
        self.gone = why
        await self._stop_video()
        with contextlib.suppress(ConnectionError):
            await self.ws.send_str(json.dumps(
                {"type": "gone", "reason": why.value, "message": rules.MESSAGES[why]}))
        await self.ws.close(code=4000, message=why.value.encode())

    async def cleanup(self) -> None:
        await self._stop_video()


class WebView:
    """The HTTPS server as an async context manager."""

    def __init__(
        self, config: WebConfig, links: LinkBook, scenes: SceneSource, video: VideoSource
    ) -> None:
        self.config = config
        self.links = links
        self.scenes = scenes
        self.video = video
        self._runner: web.AppRunner | None = None
        self._port = config.port
        self._page = _page()
        self.sessions: set[_Session] = set()

    @property
    def port(self) -> int:
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self.config.cert_file else "http"

    def url_for(self, token: str) -> str:
        host = self.config.public_host or self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"{self.scheme}://{host}:{self._port}/s/{token}"

    async def __aenter__(self) -> Self:
        cfg = self.config
        ctx: ssl.SSLContext | None = None
        if cfg.cert_file:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
            except (OSError, ssl.SSLError) as exc:
                raise WebError(f"browser view: certificate {cfg.cert_file}: {exc}") from exc
        app = web.Application()
        app.router.add_get("/s/{token}", self._serve_page)
        app.router.add_get("/s/{token}/ws", self._serve_ws)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=ctx)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise WebError(f"browser view cannot listen on {cfg.host}:{cfg.port}: {exc}") from exc
        if self._runner.addresses:
            self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                await session.ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    async def end_link(self, link_id: str) -> int:
        """Close every open viewer of a link now (it was revoked); how many there were."""
        ending = [s for s in self.sessions if s.link.link_id == link_id]
        for session in ending:
            why = self.links.still_valid(session.link) or rules.Refusal.REVOKED
            with contextlib.suppress(ConnectionError):
                await session.end(why)
        return len(ending)

    @staticmethod
    def _headers() -> dict[str, str]:
        return {
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the token is in the URL: never pass it on
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; media-src blob:; connect-src 'self'; img-src 'self' data:",
        }

    async def _serve_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        _, why = self.links.peek(token)
        if why is not None:
            log.info("share link page refused to %s: %s", request.remote, why)
            return web.Response(status=403 if why != rules.Refusal.UNKNOWN else 404,
                                text=refusal_page(why), content_type="text/html",
                                headers=self._headers())
        return web.Response(text=self._page, content_type="text/html", headers=self._headers())

    async def _serve_ws(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        remote = request.remote or "?"
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=4096)
        await ws.prepare(request)
        pin: str | None = None
        try:
            first = await ws.receive(timeout=30.0)
            if first.type == WSMsgType.TEXT:
                hello: Any = json.loads(first.data)
                if isinstance(hello, dict) and isinstance(hello.get("pin"), str):
                    pin = hello["pin"][:32]
        except (TimeoutError, ValueError):
            pass
        link, why = self.links.open(token, pin, remote)
        if link is None or why is not None:
            reason = why or rules.Refusal.UNKNOWN
            await ws.send_str(json.dumps({"type": "refused", "reason": reason.value,
                                          "message": rules.MESSAGES[reason]}))
            await ws.close(code=4000, message=reason.value.encode())
            return ws
        session = _Session(self, ws, link, remote)
        self.sessions.add(session)
        try:
            await ws.send_str(json.dumps({"type": "hello", "link_id": link.link_id,
                                          "expires_ms": link.expires_ms}))
            await session.run()
        except ConnectionError as exc:
            log.info("share link %s: viewer %s gone: %s", link.link_id, remote, exc)
        finally:
            self.sessions.discard(session)
            await session.cleanup()
            self.links.close(link, remote, session.gone)
            if not ws.closed:
                await ws.close()
        return ws


class NoVideo:
    """A controller without a video relay: the page shows the map and the record, no video."""

    def add_web_viewer(self, drone_id: str, user: str) -> Viewer | None:
        return None

    def remove_web_viewer(self, drone_id: str, viewer: Viewer) -> None:
        viewer.close()
