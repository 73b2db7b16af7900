"""High availability and partitioned dispatch (``groundstation.control.ha``,
``groundstation.control.partition``): the lease of a hot-standby pair and the offers of partitioned
controllers."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from groundstation.contract._base import PREFIX, Id, Lat, Lon


def controller_lease(cluster_id: str) -> str:
    """``controllers/{cluster_id}/lease``: who is the active controller of a hot-standby pair."""
    return f"{PREFIX}/controllers/{cluster_id}/lease"


def incident_offers(incident_id: str) -> str:
    """``incidents/{incident_id}/offers``: each partitioned controller's best ETA for it."""
    return f"{PREFIX}/incidents/{incident_id}/offers"


ALL_INCIDENT_OFFERS: Final = f"{PREFIX}/incidents/+/offers"


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """``controllers/{cluster_id}/lease``: retained, QoS 1, renewed every second by the active.

    ``holder`` None means released (a clean stop). A claim and a renewal look the same; the
    greatest ``(epoch, holder)`` wins. ``ttl_ms`` is the validity the holder promises to renew
    within; receivers time it on their own clock from receipt (no clock sync needed)."""

    cluster_id: Id
    holder: Id | None
    epoch: Annotated[int, msgspec.Meta(ge=0)]
    ttl_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 3000
    ts_ms: int = 0


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """``incidents/{incident_id}/offers``: QoS 1, not retained. One per controller per round.

    ``eta_s`` None: this controller has no drone that can go (``reason`` says why). The award is
    the least ``eta_s``, ties to the least ``controller_id``; every controller computes it."""

    incident_id: Id
    controller_id: Id
    round: Annotated[int, msgspec.Meta(ge=0)] = 0
    eta_s: float | None = None
    drone_id: Id | None = None
    reason: str | None = None
    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)] = 2
    summary: str = ""
    created_by: str | None = None
    created_ms: int = 0
    ts_ms: int = 0
