"""Crewed traffic on the controller: the I/O half of ``groundstation.core.traffic_rules``.

:class:`TrafficControl`

- takes ADS-B from the drones' own receivers (ADSB_VEHICLE, ``vehicle.TrafficReceivers``) and
  from ground feeds (``traffic/feeds/{feed_id}``, e.g. a dump1090 receiver) and merges them into
  one picture (newest report per ICAO address; forgotten after ``stale_s``);
- publishes the picture at 1 Hz on ``traffic/picture/{controller_id}`` for consoles (and
  partners);
- raises an alert (``traffic_conflict``) once per drone and aircraft when a flying drone has an
  aircraft predicted near it, and ``traffic_clear`` when it has passed;
- gives the dispatcher a route check (:meth:`route_check`) that holds a launch into predicted
  traffic with the reason;
- sets every drone's NAV_TRAFF_* parameters when it connects (``TrafficConfig.avoid_action``).

A bad feed message is logged with its reason and dropped; everything else keeps going.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol

from groundstation import contract as c
from groundstation.core import sortie as so
from groundstation.core import traffic_rules as rules
from groundstation.core.dispatch import AirspaceCheck, FlightModel
from groundstation.core.ports import Alerts, Publisher
from groundstation.core.vehicle import AdsbReport, Fleet, TrafficReceivers, VehicleSample
from groundstation.errors import GroundStationError

log = logging.getLogger(__name__)

PUBLISH_PERIOD_S = 1.0


class Message(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


class TrafficHost(Alerts, Protocol):
    """What traffic needs of the controller."""

    active: bool
    fleet: Fleet

    @property
    def drones(self) -> Mapping[str, object]: ...
    def now_s(self) -> float: ...
    def traffic_agencies(self) -> frozenset[str]:
        """Partner agencies shown the traffic picture: those with an open incident shared."""
        ...
    def sortie_of(self, drone_id: str) -> so.Sortie | None: ...
    def sample(self, drone_id: str) -> VehicleSample: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


def launch_model(m: FlightModel) -> rules.LaunchModel:
    return rules.LaunchModel(m.dock_open_s, m.arm_takeoff_s, m.safe_alt_rel_m / m.climb_rate_m_s,
                             m.cruise_speed_m_s, m.cruise_alt_rel_m, m.on_scene_s)


class TrafficControl:
    def __init__(self, config: rules.TrafficConfig, controller_id: str, *, host: TrafficHost,
                 bus: Publisher, receivers: TrafficReceivers | None = None,
                 speedup: float = 1.0) -> None:
        self.config = config
        self.cid = controller_id
        self.host = host
        self.bus = bus
        self.receivers = receivers
        self.speedup = speedup  # controller seconds per wall second (feeds stamp wall time)
        self.picture: dict[str, rules.Aircraft] = {}
        self.alerted: set[tuple[str, str]] = set()  # (drone, icao) with an open alert
        self.configured: set[str] = set()  # drones whose NAV_TRAFF_* are set this connection
        self.bad_feeds = 0

    # --- input --------------------------------------------------------------------------------

    def handle(self, msg: Message) -> bool:
        """A ground feed's message: merged (True), or not a feed topic (False)."""
        prefix = c.traffic_feed("")
        if not msg.topic.startswith(prefix):
            return False
        feed_id = msg.topic[len(prefix):]
        if not c.valid_id(feed_id):
            self.bad_feeds += 1
            log.warning("traffic feed topic %s: not a valid feed id", msg.topic)
            return True
        self.feed(feed_id, msg.payload)
        return True

    def feed(self, feed_id: str, payload: bytes) -> None:
        try:
            batch = c.decode(payload, c.TrafficFeed)
        except c.ContractError as exc:
            self.bad_feeds += 1
            log.warning("traffic feed %s: dropped: %s", feed_id, exc)
            return
        now = self.host.now_s()
        wall_ms = c.now_ms()
        reports = []
        for r in batch.aircraft:
            # Reports are aged by their own timestamp (a feed may lag), in controller seconds.
            age_s = max(0.0, (wall_ms - r.ts_ms) / 1000.0) * self.speedup
            reports.append(rules.Aircraft(
                r.icao, r.callsign, r.lat_deg, r.lon_deg, r.alt_amsl_m, r.heading_deg,
                r.speed_m_s, r.climb_m_s, now - age_s, feed_id, r.emitter_type))
        self.picture = rules.merge(self.picture, reports)

    def vehicle_reports(self, drone_id: str, reports: list[AdsbReport]) -> None:
        now = self.host.now_s()
        merged = []
        for r in reports:
            try:
                icao = rules.icao_hex(r.icao_address)
            except ValueError as exc:
                log.warning("%s: ADSB_VEHICLE dropped: %s", drone_id, exc)
                continue
            merged.append(rules.Aircraft(
                icao, r.callsign, r.lat_deg, r.lon_deg, r.alt_amsl_m, r.heading_deg,
                r.speed_m_s, r.climb_m_s, now, drone_id, r.emitter_type))
        self.picture = rules.merge(self.picture, merged)

    # --- the dispatcher's hook ----------------------------------------------------------------

    def route_check(self, model: FlightModel, airspace: AirspaceCheck | None) -> AirspaceCheck:
        return rules.RouteCheck(self.picture, self.host.now_s(), launch_model(model),
                                self.config, airspace)

    # --- periodic -----------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                self.step()
                await self.publish()
            except (GroundStationError, OSError) as exc:
                log.warning("traffic: %s", exc)
            await asyncio.sleep(PUBLISH_PERIOD_S)

    def step(self) -> None:
        host = self.host
        for drone_id in list(host.drones):
            if self.receivers is not None:
                got = self.receivers.adsb_reports(drone_id)
                if got:
                    self.vehicle_reports(drone_id, got)
            self._configure_if_new(drone_id)
        now = host.now_s()
        self.picture = rules.expire(self.picture, now, self.config.stale_s)
        self._alerts(now)

    def _configure_if_new(self, drone_id: str) -> None:
        params = self.config.vehicle_params()
        smp = self.host.sample(drone_id)
        if not smp.connected:
            self.configured.discard(drone_id)
            return
        if not params or drone_id in self.configured or not self.host.active:
            return
        v = self.host.fleet.get(drone_id)
        if v is None:
            return
        self.configured.add(drone_id)

        async def configure() -> None:
            try:
                await v.set_params(params)
                log.info("%s: traffic avoidance set: %s", drone_id, params)
            except GroundStationError as exc:
                self.configured.discard(drone_id)  # tried again next second
                log.warning("%s: traffic avoidance not set: %s", drone_id, exc)

        self.host.spawn(configure(), f"traffic-params:{drone_id}")

    def _alerts(self, now: float) -> None:
        cfg = self.config
        still: set[tuple[str, str]] = set()
        for drone_id in list(self.host.drones):
            s = self.host.sortie_of(drone_id)
            smp = self.host.sample(drone_id)
            if s is None or not (s.airborne and smp.in_air and smp.has_position):
                continue
            route = rules.airborne_route(smp.lat_deg, smp.lon_deg, smp.alt_amsl_m,
                                         smp.heading_deg, smp.ground_speed_m_s,
                                         cfg.alert_lookahead_s)
            conflict = rules.route_conflict(route, self.picture, now, cfg.alert_lookahead_s, cfg)
            if conflict is None:
                continue
            key = (drone_id, conflict.aircraft.icao)
            still.add(key)
            if key not in self.alerted:
                self.host.alert(
                    c.Severity.WARNING, "traffic_conflict",
                    f"{drone_id}: crewed aircraft {conflict.aircraft.label} predicted "
                    f"{conflict.hor_m:.0f} m away ({conflict.ver_m:.0f} m vertically) in "
                    f"{conflict.in_s:.0f} s", drone_id=drone_id)
        for drone_id, icao in self.alerted - still:
            self.host.alert(c.Severity.INFO, "traffic_clear",
                            f"{drone_id}: crewed aircraft {icao} no longer predicted near",
                            drone_id=drone_id)
        self.alerted = still

    def picture_message(self) -> c.TrafficPicture:
        now = self.host.now_s()
        conflicts: dict[str, list[str]] = {}
        for drone_id, icao in self.alerted:
            conflicts.setdefault(icao, []).append(drone_id)
        aircraft = []
        for a in sorted(self.picture.values(), key=lambda x: x.icao):
            age_s = max(0.0, now - a.seen_s)
            aircraft.append(c.TrafficAircraft(
                report=c.TrafficReport(
                    icao=a.icao, callsign=a.callsign, lat_deg=a.lat_deg, lon_deg=a.lon_deg,
                    alt_amsl_m=round(a.alt_amsl_m, 1), heading_deg=a.heading_deg % 360.0,
                    speed_m_s=max(0.0, a.speed_m_s), climb_m_s=a.climb_m_s,
                    emitter_type=a.emitter_type if 0 <= a.emitter_type <= 19 else 0,
                    ts_ms=c.now_ms() - round(age_s * 1000)),
                source=a.source, age_s=round(age_s, 1),
                conflict_drones=sorted(conflicts.get(a.icao, []))))
        return c.TrafficPicture(controller_id=self.cid, ts_ms=c.now_ms(), aircraft=aircraft)

    async def publish(self) -> None:
        if not self.host.active or not self.picture:
            return
        body = c.encode(self.picture_message())
        await self.bus.publish(c.traffic_picture(self.cid), body)
        # Partners see crewed aircraft near what is shared with them (issue 19): the same
        # picture in each such agency's namespace, which its logins may read.
        for agency in sorted(self.host.traffic_agencies()):
            await self.bus.publish(c.agency_traffic(agency), body)
