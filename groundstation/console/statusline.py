"""The status bar: broker and controller health, unacknowledged alerts, telemetry rate, user."""

from __future__ import annotations

from groundstation.console.model import FleetModel
from groundstation.console.qt import QLabel, QStatusBar, QWidget

GOOD, BAD, UNKNOWN = "#15803d", "#b91c1c", "#b45309"


class StatusLine:
    """The labels of the window's status bar; the window feeds them, they hold no state."""

    def __init__(self, status: QStatusBar, user: str, role: str, parent: QWidget) -> None:
        self.broker = QLabel("broker: connecting…", parent)
        self.broker.setObjectName("broker_status")
        self.controller = QLabel("controller: not seen", parent)
        self.controller.setObjectName("controller_status")
        self.alerts = QLabel("", parent)
        self.rate = QLabel("", parent)
        user_label = QLabel(f"{user} · {role}", parent)
        user_label.setStyleSheet("font-weight: bold; padding: 0 8px;")
        for label in (self.broker, self.controller, self.alerts):
            status.addWidget(label)
        status.addPermanentWidget(self.rate)
        status.addPermanentWidget(user_label)

    def set_broker(self, up: bool, text: str) -> None:
        colour = GOOD if up else BAD
        self.broker.setText(f"● broker: {text}")
        self.broker.setStyleSheet(f"color: {colour}; font-weight: bold; padding: 0 8px;")

    def set_controller(self, model: FleetModel, controller_id: str | None) -> None:
        ctrls = list(model.controllers.values())
        if controller_id:
            ctrls = [s for s in ctrls if s.controller_id == controller_id]
        online = [s for s in ctrls if s.status == "online"]
        if online:
            active = next((s for s in online if s.role == "active"), online[0])
            text = f"● controller {active.controller_id}: online, {active.drones} drones"
            if len(online) > 1:
                text += f" (+{len(online) - 1} standby)"
            colour = GOOD
        elif ctrls:
            text, colour = f"● controller {ctrls[0].controller_id}: OFFLINE", BAD
        else:
            text, colour = "● controller: not seen", UNKNOWN
        self.controller.setText(text)
        self.controller.setStyleSheet(f"color: {colour}; font-weight: bold; padding: 0 8px;")

    def set_alerts(self, unacked: int) -> None:
        self.alerts.setText(f"⚠ {unacked} unacknowledged alerts" if unacked else "")
        self.alerts.setStyleSheet("color: #b91c1c; font-weight: bold;" if unacked else "")

    def set_rate(self, telemetry_per_s: float, drones: int) -> None:
        self.rate.setText(f"{telemetry_per_s:.0f} telemetry/s · {drones} drones")
