"""Share links to the browser view of an incident, the pure rules (I/O in ``groundstation.web``).

A share link (docs/partners.md, "A view in any browser") is what DFR programmes hand a partner's
incident commander who has no client of ours: a URL with a random, unguessable token that opens
a view-only page of one incident (map, the drone's position and path, its live video, the
M/ETHANE record). The practice of such links, and so the rules here:

- **an expiry**, always (at most :data:`MAX_EXPIRY_S`): a forgotten link dies by itself;
- **an optional PIN**, told by phone, for a link that may be forwarded;
- **a viewer cap**: the next viewer over it is refused with a page saying why;
- **revocation** by an operator, at once: open viewers are closed, not only new ones refused;
- a link lives only as long as its reason: when the incident closes, or (for a link made for a
  partner agency) when the incident is no longer shared with that agency, the link stops.

Who made it, when, why and every opening or refusal are in the journal (sharing video is
audited). :func:`create_refusal` says whether a link may be made, :func:`open_refusal` whether a
viewer may open it now (checked again every second while it watches, by :func:`still_valid`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from groundstation import contract as c

__all__ = [
    "MAX_EXPIRY_S",
    "MAX_VIEWERS",
    "Link",
    "LinkState",
    "Refusal",
    "create_refusal",
    "new_link_id",
    "new_token",
    "open_refusal",
    "pin_ok",
    "still_valid",
    "token_digest",
]

MAX_EXPIRY_S = 24 * 3600
"""A link lives at most a day; make a new one for a longer incident."""
MAX_VIEWERS = 50
PIN_MAX_TRIES = 5
"""Wrong PINs in a row before the link is locked (an operator makes a new one)."""

OPEN = frozenset(
    {c.IncidentStatus.NEW, c.IncidentStatus.QUEUED, c.IncidentStatus.DISPATCHED,
     c.IncidentStatus.ON_SCENE}
)


class Refusal(enum.StrEnum):
    """Why a link does not open (or no longer shows): each has its own page in the browser."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CLOSED = "closed"
    """The incident is closed."""
    UNSHARED = "unshared"
    """No longer shared with the agency the link was made for."""
    PIN_REQUIRED = "pin_required"
    WRONG_PIN = "wrong_pin"
    LOCKED = "locked"
    """Too many wrong PINs."""
    FULL = "full"
    """The viewer cap is reached."""


@dataclass(frozen=True, slots=True)
class Link:
    """One share link. The token itself is never stored: only its digest (a journal or a memory
    dump does not give the link away)."""

    link_id: str
    incident_id: str
    token_sha256: str
    created_by: str
    created_ms: int
    expires_ms: int
    reason: str
    max_viewers: int
    agency: str | None = None
    """The partner agency it was made for (None: the force's own decision)."""
    pin_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class LinkState:
    """What changes in a link's life."""

    revoked_ms: int | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    wrong_pins: int = 0


def new_token() -> str:
    """192 random bits, URL-safe: unguessable."""
    return secrets.token_urlsafe(24)


def new_link_id(now_ms: int) -> str:
    return f"lnk-{now_ms}-{secrets.token_hex(3)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pin_digest(link_id: str, pin: str) -> str:
    return hashlib.sha256(f"{link_id}\0{pin}".encode()).hexdigest()


def pin_ok(link: Link, pin: str | None) -> bool:
    if link.pin_sha256 is None:
        return True
    return pin is not None and hmac.compare_digest(pin_digest(link.link_id, pin), link.pin_sha256)


def create_refusal(
    incident: c.Incident | None,
    incident_id: str,
    *,
    agency: str | None,
    shared_with: Collection[str],
    expires_s: float,
    max_viewers: int,
) -> tuple[c.Result, str] | None:
    """Why ``incident_link_create`` is refused (None: the link may be made)."""
    if incident is None:
        return c.Result.UNKNOWN_INCIDENT, f"unknown incident {incident_id!r}"
    if incident.status not in OPEN:
        return c.Result.INVALID_STATE, f"incident {incident_id} is {incident.status}"
    if agency is not None and agency not in shared_with:
        return (
            c.Result.INVALID_STATE,
            f"incident {incident_id} is not shared with {agency}: share it first "
            "(incident_share), or make the link without an agency as the force's own decision",
        )
    if not 60 <= expires_s <= MAX_EXPIRY_S:
        return c.Result.OUT_OF_RANGE, f"expires_s {expires_s:.0f}: 60 s to {MAX_EXPIRY_S} s"
    if not 1 <= max_viewers <= MAX_VIEWERS:
        return c.Result.OUT_OF_RANGE, f"max_viewers {max_viewers}: 1 to {MAX_VIEWERS}"
    return None


def still_valid(
    link: Link,
    state: LinkState,
    now_ms: int,
    *,
    incident: c.Incident | None,
    shared_with: Collection[str],
) -> Refusal | None:
    """Why a link shows nothing now, whoever asks (None: it still shows the incident)."""
    if state.revoked_ms is not None:
        return Refusal.REVOKED
    if now_ms >= link.expires_ms:
        return Refusal.EXPIRED
    if incident is None or incident.status not in OPEN:
        return Refusal.CLOSED
    if link.agency is not None and link.agency not in shared_with:
        return Refusal.UNSHARED
    if state.wrong_pins >= PIN_MAX_TRIES:
        return Refusal.LOCKED
    return None


def open_refusal(
    link: Link | None,
    state: LinkState,
    now_ms: int,
    *,
    incident: c.Incident | None,
    shared_with: Collection[str],
    viewers: int,
    pin: str | None,
) -> Refusal | None:
    """Why a new viewer may not open the link now (None: it may). The PIN is checked after the
    link's own validity (an expired link does not tell whether a PIN was right) and before the
    cap (a wrong PIN does not learn how many watch)."""
    if link is None:
        return Refusal.UNKNOWN
    why = still_valid(link, state, now_ms, incident=incident, shared_with=shared_with)
    if why is not None:
        return why
    if link.pin_sha256 is not None:
        if not pin:
            return Refusal.PIN_REQUIRED
        if not pin_ok(link, pin):
            return Refusal.WRONG_PIN
    if viewers >= link.max_viewers:
        return Refusal.FULL
    return None


MESSAGES: dict[Refusal, str] = {
    Refusal.UNKNOWN: "This link is not valid.",
    Refusal.EXPIRED: "This link has expired.",
    Refusal.REVOKED: "This link was withdrawn by the force.",
    Refusal.CLOSED: "The incident is closed.",
    Refusal.UNSHARED: "The incident is no longer shared with your service.",
    Refusal.PIN_REQUIRED: "Enter the PIN you were given with the link.",
    Refusal.WRONG_PIN: "Wrong PIN.",
    Refusal.LOCKED: "Too many wrong PINs: ask the force for a new link.",
    Refusal.FULL: "Too many people are watching this link now: try again later, or ask the "
    "force for a link of your own.",
}
"""What the page says for each refusal (and nothing else: no incident, no video)."""
