"""Operator requests: publish a Request envelope, match the Reply by tid, report the outcome.

Requests go to ``operators/{user}/services`` (QoS 1, MQTT 5 expiry of the contract's command TTL);
replies come back on ``operators/{user}/services_reply``. Every request ends in exactly one
:class:`CommandOutcome`: the controller's reply, a send failure, a local refusal (the role may not
call the method), or a timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from groundstation import contract as c
from groundstation.console.bridge import Bridge
from groundstation.console.qt import QObject, QTimer, pyqtSignal

REPLY_TIMEOUT_S = 15.0

_LABELS: dict[str, str] = {
    c.OperatorMethod.INCIDENT_CREATE: "create incident",
    c.OperatorMethod.INCIDENT_CLOSE: "close incident",
    c.OperatorMethod.AUTHORITY_GRAB: "take control",
    c.OperatorMethod.AUTHORITY_RELEASE: "release control",
    c.OperatorMethod.DRONE_GOTO: "go to",
    c.OperatorMethod.DRONE_ORBIT: "orbit",
    c.OperatorMethod.DRONE_HOLD: "hold",
    c.OperatorMethod.DRONE_ALTITUDE: "set altitude",
    c.OperatorMethod.DRONE_RETURN: "return to dock",
    c.OperatorMethod.DRONE_LAND: "land now",
    c.OperatorMethod.SORTIE_RESUME: "resume sortie",
    c.OperatorMethod.DRONE_MISSION: "fly plan",
    c.OperatorMethod.DRONE_CAMERA: "camera",
}


def label(method: str) -> str:
    return _LABELS.get(method, method)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How one request ended. ``result`` is a contract Result code (TIMEOUT when none came)."""

    tid: str
    method: str
    subject: str
    ok: bool
    result: int
    reason: str = ""
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        head = f"{label(self.method)} {self.subject}".strip()
        if self.ok:
            return f"{head}: done"
        try:
            name = c.Result(self.result).name.lower().replace("_", " ")
        except ValueError:
            name = f"result {self.result}"
        return f"{head}: refused ({name}): {self.reason or 'no reason given'}"


@dataclass(slots=True)
class _Pending:
    method: str
    subject: str
    sent_mono: float


class Commands(QObject):
    """Sends operator requests for one user and role; emits ``finished(CommandOutcome)``."""

    sent = pyqtSignal(str, str)  # tid, description
    finished = pyqtSignal(object)  # CommandOutcome

    def __init__(
        self,
        bridge: Bridge,
        user: str,
        role: c.Role,
        *,
        timeout_s: float = REPLY_TIMEOUT_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.user = user
        self.role = role
        self.timeout_s = timeout_s
        self.pending: dict[str, _Pending] = {}
        bridge.reply.connect(self._on_reply)
        bridge.send_failed.connect(self._on_send_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._expire)
        self._timer.start()

    def allowed(self, method: c.OperatorMethod) -> bool:
        return method in c.ROLE_METHODS.get(self.role, frozenset())

    def request(self, method: c.OperatorMethod, data: msgspec.Struct) -> str:
        """Send one request; returns its tid. The outcome arrives later on ``finished``."""
        subject = str(getattr(data, "drone_id", "") or getattr(data, "incident_id", "") or "")
        req = msgspec.structs.replace(c.make_request(method, data), need_reply=1)
        if not self.allowed(method):
            self.finished.emit(
                CommandOutcome(
                    req.tid,
                    method,
                    subject,
                    ok=False,
                    result=int(c.Result.FORBIDDEN),
                    reason=f"role {self.role} may not {label(method)}",
                )
            )
            return req.tid
        self.pending[req.tid] = _Pending(method, subject, time.monotonic())
        self.bridge.send(
            c.operator_services(self.user), c.encode(req), expiry_s=c.COMMAND_TTL_S, tag=req.tid
        )
        self.sent.emit(req.tid, f"{label(method)} {subject}: sent".strip())
        return req.tid

    def _on_reply(self, reply: c.Reply) -> None:
        pending = self.pending.pop(reply.tid, None)
        if pending is None:
            return  # another console of the same user, or a late reply we already timed out
        ok = reply.data.result == int(c.Result.OK)
        reason = str(reply.data.output.get("reason", "")) if not ok else ""
        self.finished.emit(
            CommandOutcome(
                reply.tid,
                pending.method,
                pending.subject,
                ok=ok,
                result=reply.data.result,
                reason=reason,
                output=dict(reply.data.output),
            )
        )

    def _on_send_failed(self, tid: str, reason: str) -> None:
        pending = self.pending.pop(tid, None)
        if pending is not None:
            self.finished.emit(
                CommandOutcome(
                    tid,
                    pending.method,
                    pending.subject,
                    ok=False,
                    result=int(c.Result.TIMEOUT),
                    reason=f"not sent: {reason}",
                )
            )

    def _expire(self) -> None:
        now = time.monotonic()
        for tid, p in list(self.pending.items()):
            if now - p.sent_mono > self.timeout_s:
                del self.pending[tid]
                self.finished.emit(
                    CommandOutcome(
                        tid,
                        p.method,
                        p.subject,
                        ok=False,
                        result=int(c.Result.TIMEOUT),
                        reason=f"no reply from the controller in {self.timeout_s:.0f} s",
                    )
                )
