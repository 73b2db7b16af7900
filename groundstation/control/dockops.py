"""Dock maintenance by an operator: the ``dock_command`` operator method.

An operator may reboot a dock (``device_reboot``, which clears a fault such as a stuck cover) or
open or close its cover. The controller refuses while a drone of that dock is out (its cover must
stay as the sortie needs it) or the dock runs another job, then calls the dock as it does for a
sortie (``DockLink.call``). The operator's reply relays the dock's answer: accepted (result 0,
with the job's ``bid``), or the dock's refusal code and reason. The job's end is an alert on
``controllers/{id}/events`` carrying the ``dock_id`` (``dock_command_done`` or
``dock_command_failed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from groundstation import contract as c
from groundstation.core import sortie as so
from groundstation.core.config import ControllerConfig
from groundstation.core.ports import Alerts, DockPort
from groundstation.errors import DockError, Refused

log = logging.getLogger(__name__)
R = c.Result


def _code(result: int | None) -> R:
    """The dock's own refusal code when it is one of the contract's, else DOCK_FAULT."""
    try:
        return R(result) if result else R.DOCK_FAULT
    except ValueError:
        return R.DOCK_FAULT


class DockOpsHost(Alerts, Protocol):
    """What a dock command needs of the controller: its docks, its sorties, the dock jobs in
    flight, alerts and its tasks."""

    @property
    def config(self) -> ControllerConfig: ...
    @property
    def docks(self) -> DockPort | None: ...

    def sorties(self) -> dict[str, so.Sortie]: ...
    def dock_job_method(self, dock_id: str) -> c.DockMethod | None: ...
    def dock_job_started(self, dock_id: str, method: c.DockMethod) -> None: ...
    def dock_job_ended(self, dock_id: str) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


def check_dock_command(
    d: c.DockCommand,
    config: ControllerConfig,
    has_docks: bool,
    busy: c.DockMethod | None,
    sorties: dict[str, so.Sortie],
) -> None:
    """Refused (with its code and reason) unless the dock exists, is driven by a dock
    controller, has no job in flight and its drone is at home (or in fault)."""
    if config.site_set.dock(d.dock_id) is None:
        raise Refused(R.UNKNOWN_DOCK, f"unknown dock {d.dock_id!r}")
    if not has_docks:
        raise Refused(R.INVALID_STATE, "this controller runs without dock controllers")
    if busy is not None:
        raise Refused(R.BUSY, f"{d.dock_id} is busy with {busy}")
    for drone_id, s in sorties.items():
        if s.dock_id == d.dock_id and s.busy and s.phase != c.Phase.FAULT:
            raise Refused(
                R.INVALID_STATE,
                f"{drone_id} of {d.dock_id} is {s.phase}: dock maintenance waits until it is "
                "back in the dock",
            )


def start_dock_command(
    ctl: DockOpsHost, username: str, d: c.DockCommand
) -> Coroutine[Any, Any, dict[str, Any]]:
    """Check the request (Refused at once), start the dock job, and return what waits for the
    dock's answer: the reply's output once it accepted, Refused with its code if it refused.
    The caller awaits it off the bus reader (the dock's answer comes through that reader)."""
    check_dock_command(
        d, ctl.config, ctl.docks is not None, ctl.dock_job_method(d.dock_id), ctl.sorties()
    )
    docks = ctl.docks
    assert docks is not None
    method = c.DockMethod(d.method)
    bid = c.new_tid()
    accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def progress(out: c.JobEventOutput) -> None:
        if not accepted.done():
            accepted.set_result(None)

    async def job() -> None:
        try:
            await docks.call(
                d.dock_id, method, timeout_s=ctl.config.dock_timeout_s,
                on_progress=progress, bid=bid,
            )
        except DockError as exc:
            if not accepted.done():
                accepted.set_exception(exc)
                return
            ctl.alert(c.Severity.WARNING, "dock_command_failed",
                      f"{d.dock_id}: {method} for {username} failed: {exc.reason}",
                      dock_id=d.dock_id)
            return
        finally:
            ctl.dock_job_ended(d.dock_id)
        if not accepted.done():
            accepted.set_result(None)
        ctl.alert(c.Severity.INFO, "dock_command_done",
                  f"{d.dock_id}: {method} for {username} done", dock_id=d.dock_id)

    ctl.dock_job_started(d.dock_id, method)  # a launch from this dock waits until the job ends
    ctl.spawn(job(), f"dock_command:{d.dock_id}")
    return _answer(ctl, d, method, bid, accepted, username)


async def _answer(
    ctl: DockOpsHost,
    d: c.DockCommand,
    method: c.DockMethod,
    bid: str,
    accepted: asyncio.Future[None],
    username: str,
) -> dict[str, Any]:
    try:
        await asyncio.wait_for(asyncio.shield(accepted), ctl.config.dock_timeout_s)
    except DockError as exc:
        raise Refused(_code(exc.result), f"{d.dock_id}: {exc.reason}",
                      dock_id=d.dock_id, bid=bid) from exc
    except TimeoutError:
        raise Refused(R.TIMEOUT, f"{d.dock_id} did not answer {method}",
                      dock_id=d.dock_id, bid=bid) from None
    log.info("%s: %s by %s accepted (bid %s)", d.dock_id, method, username, bid)
    return {"dock_id": d.dock_id, "method": str(method), "bid": bid, "status": "in_progress"}
