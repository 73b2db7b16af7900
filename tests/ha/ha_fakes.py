"""A fake fleet for the partition tests: vehicles that are always healthy and get where they are
sent at once (the dispatch protocol is under test here, not the flying)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from groundstation.core.vehicle import FlightMode, GeofencePolygon, VehicleLink, VehicleSample
from missions.plan import MavlinkItem
from missions.sites import SiteSet


@dataclass
class FakeVehicle:
    drone_id: str
    system_id: int
    home: tuple[float, float, float]
    state: VehicleSample = field(default_factory=VehicleSample)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        lat, lon, alt = self.home
        self.state = VehicleSample(
            lat_deg=lat, lon_deg=lon, alt_rel_m=0.0, alt_amsl_m=alt, battery_pct=100.0,
            battery_v=16.0, flight_mode=FlightMode.HOLD, gps_fix=3, satellites=14,
            global_position_ok=True, home_position_ok=True, armable=True, home_lat_deg=lat,
            home_lon_deg=lon, home_alt_amsl_m=alt, connected=True, state_known=True,
        )

    def sample(self) -> VehicleSample:
        return replace(self.state, updated_s=time.monotonic())

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Never called back: these vehicles are read on the controller's tick."""

    async def set_position_rate(self, rate_hz: float) -> None:
        pass

    def _set(self, what: str, **kw: object) -> None:
        self.commands.append(what)
        self.state = replace(self.state, **kw)  # type: ignore[arg-type]

    async def arm(self) -> None:
        self._set("arm", armed=True)

    async def takeoff(self, alt_rel_m: float) -> None:
        self._set("takeoff", in_air=True, alt_rel_m=alt_rel_m,
                  alt_amsl_m=self.home[2] + alt_rel_m)

    async def goto(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        self._set("goto", lat_deg=lat_deg, lon_deg=lon_deg, alt_amsl_m=alt_amsl_m,
                  alt_rel_m=alt_amsl_m - self.home[2])

    async def orbit(self, lat_deg: float, lon_deg: float, alt_amsl_m: float, radius_m: float,
                    speed_m_s: float) -> None:
        self._set("orbit")

    async def hold(self) -> None:
        self._set("hold")

    async def land(self) -> None:
        self._set("land", in_air=False, armed=False, alt_rel_m=0.0, alt_amsl_m=self.home[2])

    async def return_to_launch(self) -> None:
        self._set("rtl")

    async def set_speed(self, speed_m_s: float) -> None:
        self._set("speed")

    async def set_params(self, params: Mapping[str, float | int]) -> None:
        self._set("params")

    async def upload_geofence(self, polygons: list[GeofencePolygon]) -> None:
        self._set("geofence")

    async def fly_mission(self, items: list[MavlinkItem]) -> None:
        self._set("mission")


class FakeFleet:
    def __init__(self, sites: SiteSet) -> None:
        self.vehicles = {
            d.drone_id: FakeVehicle(d.drone_id, d.system_id, (d.lat_deg, d.lon_deg, d.alt_amsl_m))
            for d in sites.docks
        }

    def get(self, drone_id: str) -> VehicleLink | None:
        return self.vehicles.get(drone_id)

    def links(self) -> list[VehicleLink]:
        return list(self.vehicles.values())
