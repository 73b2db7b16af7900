"""Console tests: a real window (offscreen) against a real mosquitto, in one qasync loop.

Async work runs through :func:`run_qt` (an ``asyncio.Runner`` over a qasync loop on pytest-qt's
QApplication), not pytest-asyncio: Qt and asyncio must share one loop, and ``qtbot.wait*`` would
re-enter it, so tests wait with :func:`until` instead.
"""

from __future__ import annotations

import os

# Before any Qt import: the offscreen tests always render offscreen (the Xvfb test runs the
# console in a subprocess with its own platform).
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import pytest

from groundstation.adapters.bus import BrokerConfig
from groundstation.console.bridge import Bridge
from groundstation.console.config import ConsoleConfig
from groundstation.console.qt import QAbstractItemView, QApplication, QGraphicsView, QWidget
from groundstation.console.window import MainWindow
from groundstation.contract import Role
from missions.sites import load_sites

import qasync  # isort: skip

T = TypeVar("T")


class QtRun(Protocol):
    """The ``qt_run`` fixture: runs a coroutine to its end on the Qt loop and returns its result."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> T: ...


def run_qt(app: QApplication, coro: Coroutine[Any, Any, T]) -> T:
    app.setQuitOnLastWindowClosed(False)  # closing a test's window must not stop the loop
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(coro)


async def until(pred: Callable[[], object], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def open_console(
    broker: BrokerConfig, *, user: str = "operator", role: Role = Role.OPERATOR
) -> AsyncIterator[MainWindow]:
    config = ConsoleConfig(
        broker=broker, user=user, role=role, frame_hz=30, table_hz=10, auto_select=False
    )
    bridge = Bridge(config.broker, user)
    window = MainWindow(config, bridge, load_sites("met-trial"))
    window.show()
    task = asyncio.create_task(bridge.run(), name="test:console-bus")
    try:
        await until(lambda: bridge.connected, what="console connected")
        yield window
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        window.close()
        window.deleteLater()


def viewport(view: QGraphicsView | QAbstractItemView) -> QWidget:
    """The widget a view draws on and takes clicks on (Qt types it optional: a view has one)."""
    widget = view.viewport()
    assert widget is not None, f"{view.objectName() or view} has no viewport"
    return widget


@pytest.fixture
def qt_run(qapp: QApplication) -> QtRun:
    def run(coro: Coroutine[Any, Any, T]) -> T:
        return run_qt(qapp, coro)

    return run
