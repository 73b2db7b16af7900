"""Partners see the crewed-aircraft picture (issue 19): the controller's picture goes to each
agency with an open shared incident, in its own namespace (the broker lets its logins read only
that, tests/security/test_partner_acl.py), and to no other agency."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import Any

import msgspec

from groundstation import contract as c
from groundstation.control.trafficctl import TrafficControl
from groundstation.core import sortie as so
from groundstation.core.traffic_rules import Aircraft, TrafficConfig
from groundstation.core.vehicle import Fleet, VehicleSample


class Host:
    """A controller as traffic sees it (groundstation.control.trafficctl.TrafficHost)."""

    def __init__(self, agencies: frozenset[str]) -> None:
        self.active = True
        self.fleet: Fleet = None  # type: ignore[assignment]  # not used by publish()
        self.agencies = agencies

    @property
    def drones(self) -> Mapping[str, object]:
        return {}

    def now_s(self) -> float:
        return 100.0

    def traffic_agencies(self) -> frozenset[str]:
        return self.agencies

    def sortie_of(self, drone_id: str) -> so.Sortie | None:
        return None

    def sample(self, drone_id: str) -> VehicleSample:
        raise KeyError(drone_id)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        coro.close()

    def alert(self, severity: c.Severity, code: str, message: str, *,
              drone_id: str | None = None, incident_id: str | None = None,
              dock_id: str | None = None) -> None:
        pass


class Published:
    def __init__(self) -> None:
        self.topics: dict[str, bytes] = {}

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0,
                      retain: bool = False, expiry_s: int | None = None) -> bool:
        self.topics[topic] = payload
        return True


HELICOPTER = Aircraft(icao="43c6f1", callsign="HLE01", lat_deg=51.51, lon_deg=-0.13,
                      alt_amsl_m=180.0, heading_deg=170.0, speed_m_s=60.0, climb_m_s=0.0,
                      seen_s=99.5, source="adsb-city-1", emitter_type=7)


async def test_the_picture_goes_to_agencies_with_an_open_share_and_no_other() -> None:
    bus = Published()
    traffic = TrafficControl(TrafficConfig(), "ctl-1", host=Host(frozenset({"lfb"})), bus=bus)
    traffic.picture = {HELICOPTER.icao: HELICOPTER}
    await traffic.publish()
    assert set(bus.topics) == {c.traffic_picture("ctl-1"), c.agency_traffic("lfb")}
    shared = msgspec.json.decode(bus.topics[c.agency_traffic("lfb")], type=c.TrafficPicture)
    assert [a.report.callsign for a in shared.aircraft] == ["HLE01"]


async def test_no_share_no_picture_for_partners() -> None:
    bus = Published()
    traffic = TrafficControl(TrafficConfig(), "ctl-1", host=Host(frozenset()), bus=bus)
    traffic.picture = {HELICOPTER.icao: HELICOPTER}
    await traffic.publish()
    assert set(bus.topics) == {c.traffic_picture("ctl-1")}
