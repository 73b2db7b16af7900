"""The browser view inside the controller: the scene of an incident from the controller's state,
and the operator methods ``incident_link_create`` / ``incident_link_revoke``.

    links = ShareLinks(controller)                       # the book, audited in the journal
    async with WebView(config, links.book, links, relay) as web:
        links.web = web                                  # now the methods answer with URLs
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from groundstation import contract as c
from groundstation.core import sortie as so
from groundstation.core.vehicle import VehicleSample
from groundstation.errors import Refused
from groundstation.web.links import LinkBook
from groundstation.web.server import DroneFix, Scene, WebView

if TYPE_CHECKING:
    from groundstation.adapters.journal import Journal
    from groundstation.control.sharing import Sharing

__all__ = ["METHODS", "ShareLinks"]

M = c.OperatorMethod
METHODS = frozenset({M.INCIDENT_LINK_CREATE, M.INCIDENT_LINK_REVOKE})
"""The operator methods this module answers (``OperatorServices`` hands them over)."""

FIX_MAX_AGE_S = 5.0
"""A position older than this is not shown (the link to the drone is down)."""


class LinksHost(Protocol):
    """What share links need of the controller: its incidents and sorties (read), the drones'
    samples, partner sharing and the journal."""

    @property
    def journal(self) -> Journal: ...

    @property
    def incidents(self) -> Mapping[str, c.Incident]: ...
    @property
    def sharing(self) -> Sharing: ...
    def sorties(self) -> dict[str, so.Sortie]: ...
    def sample(self, drone_id: str) -> VehicleSample: ...


class ShareLinks:
    """The controller's share links: :class:`SceneSource` and :class:`IncidentFacts` of the web
    view, and the operator methods."""

    def __init__(self, controller: LinksHost) -> None:
        self.ctl = controller
        self.book = LinkBook(self, controller.journal)
        self.web: WebView | None = None

    # --- IncidentFacts / SceneSource --------------------------------------------------------

    def incident(self, incident_id: str) -> c.Incident | None:
        return self.ctl.incidents.get(incident_id)

    def shared_with(self, incident_id: str) -> Collection[str]:
        return tuple(self.ctl.sharing.shares.get(incident_id, {}))

    def scene(self, incident_id: str) -> Scene | None:
        ctl = self.ctl
        inc = ctl.incidents.get(incident_id)
        if inc is None:
            return None
        drone = None
        for drone_id, s in ctl.sorties().items():
            if s.incident_id != incident_id:
                continue
            smp = ctl.sample(drone_id)
            fresh = smp.connected and time.monotonic() - smp.updated_s < FIX_MAX_AGE_S
            if fresh and math.isfinite(smp.lat_deg) and math.isfinite(smp.lon_deg):
                alt = smp.alt_rel_m if math.isfinite(smp.alt_rel_m) else 0.0
                drone = DroneFix(drone_id, smp.lat_deg, smp.lon_deg, alt, smp.heading_deg,
                                 c.now_ms())
            break
        return Scene(inc, ctl.sharing.methane.get(incident_id), drone,
                     tuple(self.shared_with(incident_id)))

    # --- operator methods -------------------------------------------------------------------

    async def handle(self, username: str, method: c.OperatorMethod, data: Any) -> dict[str, Any]:
        web = self.web
        if web is None:
            raise Refused(
                c.Result.INVALID_STATE,
                "no browser view on this controller: start it with --web-listen HOST:PORT",
            )
        match data:
            case c.IncidentLinkCreate():
                made = self.book.create(
                    username, data.incident_id, reason=data.reason, expires_s=data.expires_s,
                    max_viewers=data.max_viewers, agency=data.agency, pin=data.pin,
                )
                return {"link_id": made.link.link_id, "incident_id": data.incident_id,
                        "url": web.url_for(made.token), "pin": made.pin,
                        "expires_ms": made.link.expires_ms, "max_viewers": data.max_viewers,
                        "agency": data.agency}
            case c.IncidentLinkRevoke():
                link = self.book.revoke(username, data.link_id, data.reason)
                closed = await web.end_link(link.link_id)
                return {"link_id": link.link_id, "incident_id": link.incident_id,
                        "closed_viewers": closed}
        raise Refused(c.Result.UNKNOWN_METHOD, f"{method} is not a share-link method")
