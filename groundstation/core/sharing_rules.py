"""Sharing with partner services, the pure rules (I/O in ``groundstation.control.sharing``).

What a partner agency may see is a function of three things: the shares (incident -> agencies,
given by the force's operators), the incidents, and which incident each drone's sortie is on.
An agency sees a shared incident's record and, while a drone's sortie is on that incident, that
drone's telemetry and video; nothing else. :func:`view` computes it; the controller mirrors it
into ``agencies/{agency}/...`` (the only topics the broker lets the agency's logins read), and
:func:`mirror_diff` says what to publish and which retained messages to clear when it changes.

Partner requests: :func:`rate_refusal` (per agency, a sliding window) and a written policy
(:func:`parse_policy`, :func:`policy_rule_for`) that may approve a request without an operator.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundstation import contract as c
from groundstation.errors import ConfigError

__all__ = [
    "AgencyView",
    "PolicyRule",
    "Share",
    "View",
    "load_policy",
    "may_watch",
    "mirror_diff",
    "parse_policy",
    "policy_rule_for",
    "rate_refusal",
    "share_refusal",
    "unshare_refusal",
    "view",
]

OPEN = frozenset(
    {c.IncidentStatus.NEW, c.IncidentStatus.QUEUED, c.IncidentStatus.DISPATCHED,
     c.IncidentStatus.ON_SCENE}
)


@dataclass(frozen=True, slots=True)
class Share:
    """One incident shared with one agency: by whom, when and why (audited in the journal)."""

    incident_id: str
    agency: str
    by: str
    reason: str
    since_ms: int
    request_id: str | None = None


Shares = Mapping[str, Mapping[str, Share]]
"""incident id -> agency -> share."""


@dataclass(frozen=True, slots=True)
class AgencyView:
    """What one agency sees: its shared incidents and, per incident, the drone over it."""

    incidents: Mapping[str, Share] = field(default_factory=dict)
    drones: Mapping[str, str] = field(default_factory=dict)
    """drone id -> the shared incident its sortie is on."""


View = Mapping[str, AgencyView]
"""agency -> what it sees."""


def view(
    shares: Shares,
    incidents: Collection[str],
    drone_incident: Mapping[str, str | None],
) -> dict[str, AgencyView]:
    """Per agency, the shared incidents that still exist (``incidents``: the ids whose record is
    still published) and the drones whose sortie is on one of them."""
    on: dict[str, list[str]] = {}
    for drone_id, incident_id in drone_incident.items():
        if incident_id is not None:
            on.setdefault(incident_id, []).append(drone_id)
    out: dict[str, tuple[dict[str, Share], dict[str, str]]] = {}
    for incident_id, by_agency in shares.items():
        if incident_id not in incidents:
            continue
        for agency, share in by_agency.items():
            seen, drones = out.setdefault(agency, ({}, {}))
            seen[incident_id] = share
            for drone_id in on.get(incident_id, ()):
                drones[drone_id] = incident_id
    return {a: AgencyView(dict(i), dict(d)) for a, (i, d) in out.items()}


def may_watch(agency: str | None, drone_id: str, current: View) -> str | None:
    """Why a partner login may not watch a drone now (None: it may)."""
    if agency is None:
        return "not a user of this deployment"
    seen = current.get(agency)
    if seen is None or drone_id not in seen.drones:
        return f"drone {drone_id} is not over an incident shared with {agency}"
    return None


def share_refusal(
    incident: c.Incident | None,
    incident_id: str,
    agencies: Sequence[str],
    *,
    known: Collection[str],
    force: str,
) -> tuple[c.Result, str] | None:
    """Why ``incident_share`` is refused (None: it may go ahead)."""
    if incident is None:
        return c.Result.UNKNOWN_INCIDENT, f"unknown incident {incident_id!r}"
    for agency in agencies:
        if agency == force:
            return c.Result.MALFORMED, f"{agency} is the force's own agency: it sees everything"
        if agency not in known:
            names = ", ".join(sorted(known)) or "none (no partner users in the users file)"
            return c.Result.UNKNOWN_AGENCY, f"unknown agency {agency!r}: partners are {names}"
    if incident.status not in OPEN:
        return c.Result.INVALID_STATE, f"incident {incident_id} is {incident.status}"
    return None


def unshare_refusal(
    shares: Shares, incident_id: str, agencies: Sequence[str]
) -> tuple[c.Result, str] | None:
    """Why ``incident_unshare`` is refused (None: it may go ahead)."""
    current = shares.get(incident_id, {})
    for agency in agencies:
        if agency not in current:
            return c.Result.INVALID_STATE, f"incident {incident_id} is not shared with {agency}"
    return None


def rate_refusal(
    times_ms: Sequence[int], now_ms: int, *, limit: int, window_s: float
) -> str | None:
    """Why one more request is over the agency's rate (None: it is not): at most ``limit``
    requests in any ``window_s``; says when the next one will be accepted."""
    recent = sorted(t for t in times_ms if now_ms - t < window_s * 1000)
    if len(recent) < limit:
        return None
    wait_s = (recent[len(recent) - limit] + window_s * 1000 - now_ms) / 1000
    return (
        f"over the rate for partner requests: {limit} in {window_s:.0f} s; "
        f"try again in {max(wait_s, 1):.0f} s or call the force's control room"
    )


# --- the written policy --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """Requests from ``agency`` with priority ``max_priority`` or more urgent (1 is the most
    urgent) are approved without waiting for an operator."""

    agency: str
    max_priority: int
    note: str = ""

    def __str__(self) -> str:
        return f"priority {self.max_priority} or higher from {self.agency} is approved" + (
            f" ({self.note})" if self.note else ""
        )


def parse_policy(raw: Any, where: str = "policy") -> list[PolicyRule]:
    """``{"approve": [{"agency": "las", "max_priority": 1, "note": "..."}]}``."""
    if not isinstance(raw, dict) or set(raw) - {"approve", "description"}:
        raise ConfigError(f'{where}: expected {{"approve": [rules]}} (and an optional description)')
    rules = raw.get("approve", [])
    if not isinstance(rules, list):
        raise ConfigError(f"{where}: approve must be a list of rules")
    out: list[PolicyRule] = []
    for n, item in enumerate(rules):
        if not isinstance(item, dict) or set(item) - {"agency", "max_priority", "note"}:
            raise ConfigError(f"{where}: rule #{n}: expected agency, max_priority, note")
        agency, prio, note = item.get("agency"), item.get("max_priority"), item.get("note", "")
        if not isinstance(agency, str) or not agency:
            raise ConfigError(f"{where}: rule #{n}: agency must be a non-empty string")
        if not isinstance(prio, int) or isinstance(prio, bool) or not 1 <= prio <= 3:
            raise ConfigError(f"{where}: rule #{n}: max_priority must be 1, 2 or 3")
        if not isinstance(note, str):
            raise ConfigError(f"{where}: rule #{n}: note must be a string")
        out.append(PolicyRule(agency, prio, note))
    return out


def load_policy(path: Path) -> list[PolicyRule]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    return parse_policy(raw, str(path))


def policy_rule_for(rules: Sequence[PolicyRule], agency: str, priority: int) -> PolicyRule | None:
    """The first rule that approves this request, if any."""
    return next((r for r in rules if r.agency == agency and priority <= r.max_priority), None)


# --- the mirror ------------------------------------------------------------------------------


def mirror_diff(
    published: Mapping[str, bytes], wanted: Mapping[str, bytes]
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Retained messages to publish (new or changed) and topics to clear (no longer shared)."""
    publish = [(t, body) for t, body in wanted.items() if published.get(t) != body]
    clear = [t for t in published if t not in wanted]
    return publish, clear
