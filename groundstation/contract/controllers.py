"""Payloads of a controller's status and events channels."""

from __future__ import annotations

from typing import Literal

import msgspec

from groundstation.contract._base import Id
from groundstation.contract.enums import Severity


class ControllerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``controllers/{controller_id}/status``: retained; Last Will ``offline``."""

    controller_id: Id
    status: Literal["online", "offline"]
    ts_ms: int = 0
    drones: int = 0
    role: Literal["active", "standby"] = "active"


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """``controllers/{controller_id}/events``: alerts and failsafes with a severity."""

    ts_ms: int
    severity: Severity
    code: str
    message: str
    drone_id: Id | None = None
    incident_id: Id | None = None
    dock_id: Id | None = None
