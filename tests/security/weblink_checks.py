"""Share links to the browser view, checked against the running controller of
test_partners_live.py: the page's scene comes from the controller (its incident, the drone
flying it, the M/ETHANE record), a wrong PIN is refused, revoking and unsharing end links."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp


def page(url: str) -> tuple[int, str]:
    """GET the page (the tests' own plain HTTP on loopback)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def viewer_messages(url: str, pin: str | None, until_drone: bool,
                          timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """What a browser's socket is told: the JSON messages up to the first scene that shows the
    drone (``until_drone``) or up to the refusal."""
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(
        url.replace("http://", "ws://", 1) + "/ws"
    ) as ws:
        await ws.send_str(json.dumps({"pin": pin}))
        async with asyncio.timeout(timeout_s):
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                body = json.loads(msg.data)
                out.append(body)
                if body["type"] in ("refused", "gone"):
                    break
                if body["type"] == "scene" and (body["drone"] or not until_drone):
                    break
    return out
