"""``groundstation console``: the operator console, and :func:`run_console` for the demo.

The QApplication is created first (PyQt6 before qasync), then one qasync loop runs both Qt and
asyncio: the console's bus session, and optionally a ``background`` coroutine (the demo's whole
embedded stack) started *before* the console connects; the bridge retries until the broker is up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from groundstation.cli import configure_logging
from groundstation.console.qt import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
)

import qasync  # isort: skip  (after PyQt6, always)

from groundstation.adapters.bus import BrokerConfig
from groundstation.console.bridge import Bridge
from groundstation.console.config import ConsoleConfig
from groundstation.console.tiles import resolve_url
from groundstation.console.window import MainWindow
from groundstation.contract import Role
from groundstation.errors import ConfigError
from groundstation.tasks import cancel_until_done, freeze_heap
from missions.sites import SiteSet, SiteSetError, load_sites

__all__ = ["ConsoleConfig", "main", "run_console"]

log = logging.getLogger(__name__)

Background = Callable[[], Awaitable[int]]


def _application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "groundstation"])
    app.setApplicationName("dfr-console")
    app.setQuitOnLastWindowClosed(False)
    return app


def run_console(
    config: ConsoleConfig,
    *,
    background: Background | None = None,
    screenshot: Path | None = None,
    exit_after_s: float | None = None,
) -> int:
    """Open the console and run until its window closes (or ``exit_after_s`` passes).

    Returns the exit code of ``background`` when one is given (0 if it was stopped), else 0.
    """
    app = _application()
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(_serve(config, background, screenshot, exit_after_s))


def _load_sites(name: str | None) -> SiteSet | None:
    if not name:
        return None
    try:
        return load_sites(name)
    except SiteSetError as exc:
        log.warning("no dock sites drawn: %s", exc)
        return None


async def _serve(
    config: ConsoleConfig,
    background: Background | None,
    screenshot: Path | None,
    exit_after_s: float | None,
) -> int:
    bg = (
        asyncio.create_task(_run_background(background), name="console:background")
        if (background is not None)
        else None
    )
    bridge = Bridge(config.broker, config.user)
    window = MainWindow(config, bridge, _load_sites(config.sites))
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.show()
    freeze_heap()  # the window, the map's static layers and the site set: kept for good
    bus = asyncio.create_task(bridge.run(), name="console:bus")
    timer = (
        asyncio.create_task(_close_after(window, exit_after_s, screenshot), name="console:timer")
        if exit_after_s is not None
        else None
    )
    closing = asyncio.create_task(closed.wait(), name="console:closed")
    rc = 0
    try:
        waiting: set[asyncio.Task[Any]] = {closing}
        if bg is not None:
            waiting.add(bg)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if bg is not None and bg.done():
            rc = bg.result()
            log.info("background stack ended with %s; closing the console", rc)
    finally:
        for task in (closing, bus, timer, bg):
            if task is not None:
                await cancel_until_done(task)
        if bg is not None and not bg.cancelled() and bg.exception() is None:
            result = bg.result()
            if isinstance(result, int):
                rc = result
        if window.isVisible():
            window.close()
        window.deleteLater()
    return rc


async def _run_background(background: Background) -> int:
    try:
        return await background()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the background stack failed")
        return 1


async def _close_after(window: MainWindow, delay_s: float, screenshot: Path | None) -> None:
    await asyncio.sleep(delay_s)
    if screenshot is not None:
        save_screenshot(window, screenshot)
    window.close()


def save_screenshot(window: MainWindow, path: Path) -> bool:
    """Grab the main window into a PNG; True when written."""
    window._refresh_tables()
    window._frame()
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path), "PNG")
    if ok:
        log.info("screenshot saved to %s", path)
    else:
        log.error("could not save the screenshot to %s", path)
    return ok


# --- command line ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="groundstation console", description=__doc__.split("\n")[0])
    p.add_argument(
        "--broker",
        default=os.environ.get("GS_BROKER", "mqtt://127.0.0.1:1883"),
        help="mqtt://host:port or mqtts://host:port (env GS_BROKER)",
    )
    p.add_argument("--ca-file", help="CA certificate for mqtts://")
    p.add_argument("--user", help="broker user name, also the operator's name")
    p.add_argument("--password", help="broker password (else env GS_PASSWORD, else a login box)")
    p.add_argument(
        "--role",
        choices=[r.value for r in (Role.OPERATOR, Role.VIEWER, Role.CAD)],
        help="what this login may do (default: the user name if it is a role, "
        "else operator); viewer disables every command",
    )
    p.add_argument("--sites", default="met-trial", help="site set name or JSON file ('' for none)")
    p.add_argument(
        "--tiles",
        default="none",
        help="tile URL template with {z}/{x}/{y}, 'osm' for OpenStreetMap, "
        "or 'none' for the offline base (default)",
    )
    p.add_argument("--tile-cache", type=Path, help="tile cache directory")
    p.add_argument("--controller", help="the controller id to watch (default: any)")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window before exiting")
    p.add_argument("--exit-after", type=float, metavar="S", help="close after S seconds")
    p.add_argument("--login", action="store_true", help="ask for user and password in a dialog")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def infer_role(user: str, role: str | None) -> Role:
    if role:
        return Role(role)
    with contextlib.suppress(ValueError):
        r = Role(user.lower())
        if r in (Role.VIEWER, Role.CAD, Role.OPERATOR):
            return r
    return Role.OPERATOR


def login_dialog(user: str | None) -> tuple[str, str] | None:
    """Ask for broker credentials (before the event loop starts). None when cancelled."""
    _application()
    dlg = QDialog()
    dlg.setWindowTitle("DFR console: log in")
    form = QFormLayout(dlg)
    user_edit = QLineEdit(user or "", dlg)
    pw_edit = QLineEdit(dlg)
    pw_edit.setEchoMode(QLineEdit.EchoMode.Password)
    form.addRow("User", user_edit)
    form.addRow("Password", pw_edit)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dlg
    )
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    form.addRow(buttons)
    if dlg.exec() != QDialog.DialogCode.Accepted.value:
        return None
    return user_edit.text().strip(), pw_edit.text()


def config_from_args(args: argparse.Namespace) -> ConsoleConfig:
    broker = BrokerConfig.from_url(args.broker, ca_file=args.ca_file)
    user = args.user or broker.username or "operator"
    password = args.password or os.environ.get("GS_PASSWORD") or broker.password
    if args.login or (args.user and password is None and sys.stdin.isatty()):
        creds = login_dialog(user)
        if creds is None:
            raise ConfigError("login cancelled")
        user, password = creds
    return ConsoleConfig(
        broker=broker.with_login(
            user if (args.user or broker.username or args.login) else None, password
        ),
        user=user,
        role=infer_role(user, args.role),
        sites=args.sites or None,
        tiles_url=resolve_url(args.tiles),
        tile_cache=args.tile_cache,
        controller_id=args.controller,
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING)
    if args.screenshot is not None and args.exit_after is None:
        print("groundstation console: --screenshot needs --exit-after", file=sys.stderr)
        return 2
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"groundstation console: {exc}", file=sys.stderr)
        return 2
    return run_console(config, screenshot=args.screenshot, exit_after_s=args.exit_after)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
