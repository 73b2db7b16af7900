"""Debian's headless Chromium driven over its DevTools protocol (aiohttp's WebSocket client).

    async with Chromium() as browser:
        page = await browser.open(url)
        value = await page.evaluate("window.viewStatus")

The browser runs in its own process group (stopped, with its helpers, on exit), with a
throwaway profile, as root (``--no-sandbox``), accepting the tests' self-signed certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")


def chromium_binary() -> str | None:
    for name in CANDIDATES:
        path = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
        if path:
            return path
    return None


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self._ids)
        await self.ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = await self.ws.receive(timeout=30)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools socket: {msg.type}")
            body = json.loads(msg.data)
            if body.get("id") == n:
                if "error" in body:
                    raise RuntimeError(f"{method}: {body['error']}")
                result: dict[str, Any] = body["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        res = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)


class Chromium:
    def __init__(self) -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed (scripts/setup installs it)")
        self.binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="dfr-chromium-")
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self._session = aiohttp.ClientSession()
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def __aenter__(self) -> Self:
        self.proc = await asyncio.create_subprocess_exec(
                self.binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--ignore-certificate-errors", "--autoplay-policy=no-user-gesture-required",
                "--no-first-run", "--no-default-browser-check", "--mute-audio",
                "--window-size=1400,1000",
                "--disable-background-networking", "--disable-extensions",
                f"--user-data-dir={self._tmp.name}", "--remote-debugging-port=0",
                "about:blank",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = Path(self._tmp.name) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text().split()[0])
                break
            if self.proc.returncode is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("chromium did not open its DevTools port in 30 s")
        return self

    async def open(self, url: str) -> Page:
        """A new tab at ``url``."""
        async with self._session.put(f"http://127.0.0.1:{self.port}/json/new?{url}") as resp:
            target = await resp.json()
        ws = await self._session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        self._sockets.append(ws)
        page = Page(ws)
        await page.call("Runtime.enable")
        return page

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for ws in self._sockets:
            await ws.close()
        await self._session.close()
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        self._tmp.cleanup()


def version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return re.sub(r"\s+", " ", out.stdout).strip()
