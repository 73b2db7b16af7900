"""The browser view of a shared incident in Debian's headless Chromium: a real relay taking a
real H.264 RTP stream, the HTTPS server with a self-signed certificate, a real journal.

The page must show moving video (frames presented by the video element keep coming and its
clock advances) and the drone moving on the map; a PIN link shows nothing before the right
PIN; a link that expires or is revoked clears the open page at once and refuses a fresh load; a
viewer over the cap is refused with a reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import subprocess
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from groundstation import contract as c
from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.journal import Journal
from groundstation.video import clockcode
from groundstation.video.auth import DemoUsers
from groundstation.video.relay import RelayConfig, VideoRelay
from groundstation.web.links import LinkBook
from groundstation.web.server import DroneFix, Scene, WebConfig, WebView
from tests.video.chromium import Chromium, Page
from tests.video.video_helpers import rtp_source

pytestmark = pytest.mark.integration

LAT, LON = 51.5416, -0.1466


class Incident:
    """One shared incident and its drone circling it at 10 m/s, radius 120 m (the scene the
    controller would give; implements the web view's SceneSource and the links' IncidentFacts)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.record = c.Incident(
            incident_id="inc-0042", status=c.IncidentStatus.ON_SCENE, lat_deg=LAT, lon_deg=LON,
            priority=1, summary="Fire at Camden Lock", created_ms=c.now_ms(),
        )
        self.methane = c.Methane(exact_location="Camden Lock Market", incident_type="Fire",
                                 hazards="smoke", casualties=2, services_present=["met", "lfb"])

    def incident(self, incident_id: str) -> c.Incident | None:
        return self.record if incident_id == self.record.incident_id else None

    def shared_with(self, incident_id: str) -> Collection[str]:
        return ("lfb",)

    def scene(self, incident_id: str) -> Scene | None:
        a = (time.monotonic() - self.t0) * 10 / 120
        lat = LAT + 120 * math.sin(a) / 110_540
        lon = LON + 120 * math.cos(a) / (111_320 * math.cos(math.radians(LAT)))
        drone = DroneFix("d1", lat, lon, 60.0, math.degrees(a) % 360, c.now_ms())
        return Scene(self.record, self.methane, drone, ("lfb",))


def self_signed(tmp: Path) -> tuple[str, str]:
    cert, key = tmp / "web.crt", tmp / "web.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


async def wait_for(page: Page, expression: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await page.evaluate(f"(() => {{ try {{ return {expression}; }} "
                                    "catch (e) { return null; } })()")
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def glass_to_glass_ms(page: Page, samples: int = 5) -> list[int]:
    """The camera's clock code read off Chromium's screen: from the picture's rendering to
    its display (encoding, RTP, relay, remux, WebSocket, MSE, decoding, the screenshot)."""
    await page.evaluate("(() => { const v = document.querySelector('video');"
                        " v.style.width = v.videoWidth + 'px'; v.style.maxWidth = 'none'; })()")
    rect = await page.evaluate("(() => { const r = document.querySelector('video')"
                               ".getBoundingClientRect(); return [r.x, r.y, r.width, r.height];"
                               " })()")
    out: list[int] = []
    for _ in range(samples):
        before = c.now_ms()
        shot = await page.call("Page.captureScreenshot", format="png", clip={
            "x": rect[0], "y": rect[1], "width": rect[2], "height": rect[3], "scale": 1})
        png = np.frombuffer(base64.b64decode(shot["data"]), np.uint8)
        frame = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)
        assert frame is not None, "Chromium's screenshot is not a PNG"
        shown = clockcode.decode_ms(frame, now_ms=before)
        if shown is not None:
            out.append(before - shown)
        await asyncio.sleep(0.3)
    return out


async def test_browser_shows_video_and_drone_and_a_revoked_link_shows_nothing(
    tmp_path: Path,
) -> None:
    cert, key = self_signed(tmp_path)
    journal = Journal(tmp_path / "journal.db")
    scene = Incident()
    skew_ms = [0]  # the links' clock runs ahead by this much (time passing, for expiry)
    book = LinkBook(scene, journal, now_ms=lambda: c.now_ms() + skew_ms[0])
    link = book.create("alice", "inc-0042", reason="LFB commander asked", expires_s=3600,
                       max_viewers=1, agency="lfb", pin=False)
    old = book.create("alice", "inc-0042", reason="Met gold commander", expires_s=600,
                      max_viewers=5, agency=None, pin=True)

    port = free_udp_range(2)
    cfg = RelayConfig(port=0, evidence_dir=tmp_path / "ev")
    async with VideoRelay(cfg, DemoUsers({"pilot": c.Role.OPERATOR})) as relay:
        await relay.watch("d1", rtp_port=port)
        web_cfg = WebConfig(cert_file=cert, key_file=key, recheck_s=0.25)
        with rtp_source(port, 60, 848, 480):
            async with WebView(web_cfg, book, scene, relay) as web, Chromium() as browser:
                url = web.url_for(link.token)
                assert url.startswith("https://")
                page = await browser.open(url)
                status = "window.viewStatus"
                assert await wait_for(page, f"{status}.frames > 10", 20), await page.evaluate(
                    f"JSON.stringify([{status}, document.getElementById('videostate')"
                    ".textContent, document.querySelector('video').error?.message])")
                first = await page.evaluate(f"JSON.stringify({status})")
                await asyncio.sleep(2.0)
                second = await page.evaluate(f"JSON.stringify({status})")
                s1, s2 = (json.loads(x) for x in (first, second))
                print("browser view:", s1, s2)
                assert s2["codec"].startswith("avc1."), s2
                assert s2["frames"] - s1["frames"] >= 25, (s1, s2)  # 25 fps: >= 12.5/s shown
                assert s2["currentTime"] - s1["currentTime"] >= 1.0, (s1, s2)
                moved = math.dist(s1["marker"], s2["marker"])
                assert moved > 3, (s1["marker"], s2["marker"])  # pixels on the map
                assert await page.evaluate(
                    "document.getElementById('methane').textContent.includes('Camden Lock')")
                print("browser view: camera to screen", await glass_to_glass_ms(page), "ms")

                # the cap: a second viewer of a one-viewer link gets a page saying why
                other = await browser.open(url)
                why = await wait_for(other, "window.viewStatus.reason", 10)
                assert why == "full"
                assert await other.evaluate("document.getElementById('view') === null")

                # expired while watched: the page clears itself within a recheck, a fresh load
                # is refused
                await other.navigate(web.url_for(old.token))
                assert await wait_for(other, f"{status}.state === 'pin_required'", 10)
                assert await other.evaluate(  # nothing of the incident before the PIN
                    "document.getElementById('view').classList.contains('hidden') && "
                    "window.viewStatus.scenes === 0")
                for pin, then in (("000000" if old.pin != "000000" else "111111", "wrong_pin"),
                                  (old.pin, "open")):
                    await other.evaluate(f"document.getElementById('pin').value = '{pin}';"
                                         "document.getElementById('pinform').requestSubmit()")
                    assert await wait_for(other, f"{status}.state === '{then}'", 10), then
                assert await wait_for(other, f"{status}.frames > 0", 20)
                skew_ms[0] = 601_000  # ten minutes later: the 600 s link has expired
                assert await wait_for(other, f"{status}.reason === 'expired'", 2)
                assert await other.evaluate("document.querySelector('video') === null")
                await other.navigate(web.url_for(old.token))
                reason = await wait_for(
                    other, "document.getElementById('refused')?.dataset.reason", 10)
                assert reason == "expired"

                # revoked (as incident_link_revoke does): the open page clears itself at once,
                # a fresh load shows nothing
                t0 = time.monotonic()
                book.revoke("alice", link.link.link_id, "LFB left the scene")
                assert await web.end_link(link.link.link_id) == 1
                gone = await wait_for(page, "window.viewStatus.state === 'gone'", 5)
                took_s = time.monotonic() - t0
                assert gone, await page.evaluate(f"JSON.stringify({status})")
                print(f"browser view: revoked page cleared in {took_s:.2f} s")
                assert took_s < 1.0, took_s
                assert await page.evaluate(
                    "document.getElementById('view') === null && "
                    "document.querySelector('video') === null && "
                    "document.getElementById('message').dataset.reason === 'revoked'")
                frames = await page.evaluate(f"{status}.frames")
                await page.navigate(url)
                reason = await wait_for(
                    page, "document.getElementById('refused')?.dataset.reason", 10)
                assert reason == "revoked"
                assert await page.evaluate("document.querySelector('video') === null")
                assert frames > 0
    codes = [e[2] for e in journal.events()]
    for code in ("share_link_created", "share_link_opened", "share_link_refused",
                 "share_link_revoked", "share_link_closed"):
        assert code in codes, codes
    journal.close()
