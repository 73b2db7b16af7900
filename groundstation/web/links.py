"""The share links of one ground station: made and revoked by operators, audited in the journal.

Rules (expiry, PIN, cap, revocation, what ends a link) are pure, in ``core.weblink_rules``;
this keeps the links and tells the web server (``groundstation.web.server``) what changed.
Links live in memory: a restarted ground station has forgotten them, and every open link stops
(a link failing closed is the safe side; the operator makes a new one). The token is given once,
in the operator's reply; the journal knows the link by its id, never by its token, and the PIN
is chosen by the ground station (the request, journaled as it is, never carries it).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Protocol

from groundstation import contract as c
from groundstation.control.videoctl import EventLog
from groundstation.core import weblink_rules as rules
from groundstation.errors import Refused

__all__ = ["Audit", "IncidentFacts", "LinkBook", "NewLink"]

log = logging.getLogger(__name__)


Audit = EventLog
"""Where links are audited: the journal's events (the Protocol video and tracking use too)."""


class IncidentFacts(Protocol):
    """What the link rules need to know of an incident (the controller and its sharing)."""

    def incident(self, incident_id: str) -> c.Incident | None: ...

    def shared_with(self, incident_id: str) -> Collection[str]: ...


@dataclass(frozen=True, slots=True)
class NewLink:
    link: rules.Link
    token: str
    pin: str | None


class LinkBook:
    """Links by token digest, their states, and how many viewers each has open now."""

    def __init__(
        self, facts: IncidentFacts, audit: Audit, *, now_ms: Callable[[], int] = c.now_ms
    ) -> None:
        self.facts = facts
        self.audit = audit
        self.now_ms = now_ms
        self.links: dict[str, rules.Link] = {}
        """token digest -> link."""
        self.states: dict[str, rules.LinkState] = {}
        """link id -> state."""
        self.viewers: dict[str, int] = {}
        """link id -> viewers open now."""

    # --- operators --------------------------------------------------------------------------

    def create(
        self,
        who: str,
        incident_id: str,
        *,
        reason: str,
        expires_s: float,
        max_viewers: int,
        agency: str | None,
        pin: bool,
    ) -> NewLink:
        """A new link, or :class:`Refused` with the reason."""
        refusal = rules.create_refusal(
            self.facts.incident(incident_id),
            incident_id,
            agency=agency,
            shared_with=self.facts.shared_with(incident_id),
            expires_s=expires_s,
            max_viewers=max_viewers,
        )
        if refusal is not None:
            raise Refused(*refusal)
        now = self.now_ms()
        token = rules.new_token()
        link_id = rules.new_link_id(now)
        code = f"{secrets.randbelow(10**6):06d}" if pin else None
        link = rules.Link(
            link_id=link_id,
            incident_id=incident_id,
            token_sha256=rules.token_digest(token),
            created_by=who,
            created_ms=now,
            expires_ms=now + int(expires_s * 1000),
            reason=reason,
            max_viewers=max_viewers,
            agency=agency,
            pin_sha256=rules.pin_digest(link_id, code) if code else None,
        )
        self.links[link.token_sha256] = link
        self.states[link_id] = rules.LinkState()
        for_whom = f"for {agency}" if agency else "as the force's own decision"
        self._audit(
            c.Severity.INFO, "share_link_created", link,
            f"{who} made share link {link_id} of {incident_id} {for_whom}, "
            f"{expires_s:.0f} s, at most {max_viewers} viewers"
            f"{', with a PIN' if code else ''}: {reason}",
        )
        return NewLink(link, token, code)

    def revoke(self, who: str, link_id: str, reason: str) -> rules.Link:
        link = self.by_id(link_id)
        if link is None:
            raise Refused(c.Result.INVALID_STATE, f"no share link {link_id!r}")
        state = self.states[link_id]
        if state.revoked_ms is not None:
            raise Refused(
                c.Result.INVALID_STATE,
                f"share link {link_id} was already revoked by {state.revoked_by}",
            )
        self.states[link_id] = replace(
            state, revoked_ms=self.now_ms(), revoked_by=who, revoke_reason=reason
        )
        self._audit(c.Severity.INFO, "share_link_revoked", link,
                    f"{who} revoked share link {link_id}: {reason}")
        return link

    def by_id(self, link_id: str) -> rules.Link | None:
        return next((k for k in self.links.values() if k.link_id == link_id), None)

    def listing(self) -> list[dict[str, object]]:
        """The links and their state, for an operator (never the token)."""
        now = self.now_ms()
        out: list[dict[str, object]] = []
        for link in self.links.values():
            why = self.still_valid(link)
            out.append({
                "link_id": link.link_id, "incident_id": link.incident_id,
                "agency": link.agency, "created_by": link.created_by,
                "expires_in_s": max(0, (link.expires_ms - now) // 1000),
                "viewers": self.viewers.get(link.link_id, 0), "max_viewers": link.max_viewers,
                "state": "open" if why is None else str(why),
            })
        return out

    # --- viewers (the web server) -----------------------------------------------------------

    def find(self, token: str) -> rules.Link | None:
        return self.links.get(rules.token_digest(token))

    def still_valid(self, link: rules.Link) -> rules.Refusal | None:
        return rules.still_valid(
            link,
            self.states[link.link_id],
            self.now_ms(),
            incident=self.facts.incident(link.incident_id),
            shared_with=self.facts.shared_with(link.incident_id),
        )

    def peek(self, token: str) -> tuple[rules.Link | None, rules.Refusal | None]:
        """Whether a token opens a page at all (before the PIN and the cap)."""
        link = self.find(token)
        if link is None:
            return None, rules.Refusal.UNKNOWN
        return link, self.still_valid(link)

    def open(
        self, token: str, pin: str | None, remote: str
    ) -> tuple[rules.Link | None, rules.Refusal | None]:
        """A viewer opens the link: counted (call :meth:`close` after) unless refused."""
        link = self.find(token)
        if link is None:
            log.info("share link: unknown token from %s", remote)
            return None, rules.Refusal.UNKNOWN
        state = self.states[link.link_id]
        why = rules.open_refusal(
            link,
            state,
            self.now_ms(),
            incident=self.facts.incident(link.incident_id),
            shared_with=self.facts.shared_with(link.incident_id),
            viewers=self.viewers.get(link.link_id, 0),
            pin=pin,
        )
        if why == rules.Refusal.WRONG_PIN:
            self.states[link.link_id] = replace(state, wrong_pins=state.wrong_pins + 1)
        if why is None:
            self.viewers[link.link_id] = self.viewers.get(link.link_id, 0) + 1
            self._audit(c.Severity.INFO, "share_link_opened", link,
                        f"share link {link.link_id} opened from {remote} "
                        f"({self.viewers[link.link_id]} of {link.max_viewers} viewers)")
        elif why != rules.Refusal.PIN_REQUIRED:
            self._audit(c.Severity.WARNING, "share_link_refused", link,
                        f"share link {link.link_id} refused to {remote}: {why}")
        return link, why

    def close(self, link: rules.Link, remote: str, why: rules.Refusal | None) -> None:
        n = max(0, self.viewers.get(link.link_id, 0) - 1)
        self.viewers[link.link_id] = n
        ended = f"cut off: {why}" if why is not None else "left"
        self._audit(c.Severity.INFO, "share_link_closed", link,
                    f"share link {link.link_id}: viewer from {remote} {ended}")

    def _audit(self, severity: c.Severity, code: str, link: rules.Link, message: str) -> None:
        log.info("%s", message)
        self.audit.event(severity, code, message, incident_id=link.incident_id)
