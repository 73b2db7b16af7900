"""groundstation.control.trackctl with fakes of its Protocols (the vehicle's Follow Target and
camera tracker, the bus, the journal, the controller): what it sends the vehicle, in which order,
what it publishes and journals. No sockets; the real sortie machine and rules."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundstation import contract as c
from groundstation.control.trackctl import TrackControl
from groundstation.core import sortie as so
from groundstation.core import tracking_rules as rules
from groundstation.core.dispatch import AirspaceCheck, FlightModel
from groundstation.core.vehicle import (
    CameraTrack,
    FlightMode,
    FollowConfig,
    FollowLink,
    FollowTarget,
    TrackerLink,
    VehicleLink,
    VehicleSample,
)
from groundstation.errors import Refused
from missions.geo import offset

pytestmark = pytest.mark.unit

DOCK = so.Target(51.5095, -0.1252)
HERE = offset(DOCK.lat_deg, DOCK.lon_deg, 300.0, 0.0)


@dataclass
class FakeVehicle:
    """Follow Target, the camera tracker and the few vehicle commands tracking uses."""

    drone_id: str = "d1"
    system_id: int = 1
    calls: list[tuple[str, Any]] = field(default_factory=list)
    mode: FlightMode = FlightMode.HOLD
    track: CameraTrack | None = None

    async def follow_start(self, config: FollowConfig) -> None:
        self.calls.append(("follow_start", config))
        self.mode = FlightMode.FOLLOW_ME

    async def follow_target(self, target: FollowTarget) -> None:
        self.calls.append(("follow_target", target))

    async def follow_stop(self) -> None:
        self.calls.append(("follow_stop", None))
        self.mode = FlightMode.HOLD

    async def track_point(self, x: float, y: float, radius: float) -> None:
        self.calls.append(("track_point", (x, y)))

    async def track_stop(self) -> None:
        self.calls.append(("track_stop", None))

    def track_status(self) -> CameraTrack | None:
        return self.track

    async def orbit(self, lat: float, lon: float, alt: float, radius: float, speed: float) -> None:
        self.calls.append(("orbit", (lat, lon)))
        self.mode = FlightMode.UNKNOWN

    async def set_params(self, params: Any) -> None:
        self.calls.append(("set_params", dict(params)))

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]


@dataclass
class FakeFleet:
    v: FakeVehicle

    def follow(self, drone_id: str) -> FollowLink | None:
        return self.v

    def tracker(self, drone_id: str) -> TrackerLink | None:
        return self.v


@dataclass
class FakeHost:
    """The controller as tracking sees it: the real sortie machine, a fixed sample."""

    v: FakeVehicle
    sortie: so.Sortie
    active: bool = True
    airspace: AirspaceCheck | None = None
    alerts: list[tuple[str, str]] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    battery_pct: float = 90.0

    def sortie_of(self, drone_id: str) -> so.Sortie | None:
        return self.sortie

    def sample(self, drone_id: str) -> VehicleSample:
        return VehicleSample(lat_deg=HERE.lat_deg, lon_deg=HERE.lon_deg,
                             battery_pct=self.battery_pct, connected=True,
                             flight_mode=self.v.mode, home_alt_amsl_m=30.0)

    def link(self, drone_id: str) -> VehicleLink | None:
        return self.v  # type: ignore[return-value]  # the fake has what tracking calls

    def amsl(self, drone_id: str, alt_rel_m: float) -> float:
        return 30.0 + alt_rel_m

    def apply(self, drone_id: str, event: so.Event) -> None:
        before = self.sortie
        self.sortie, _ = so.step(before, event)
        self.ctl.sortie_changed(drone_id, before, self.sortie)

    def now_s(self) -> float:
        return 100.0

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    def alert(self, severity: c.Severity, code: str, message: str, **kw: Any) -> None:
        self.alerts.append((code, message))

    ctl: Any = None


@dataclass
class FakeBus:
    published: list[tuple[str, bytes]] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False,
                      expiry_s: int | None = None) -> bool:
        self.published.append((topic, payload))
        return True


@dataclass
class FakeJournal:
    events: list[tuple[str, str]] = field(default_factory=list)

    def event(self, severity: str, code: str, message: str, *, drone_id: str | None = None,
              incident_id: str | None = None) -> None:
        self.events.append((code, message))


def make(**cfg: Any) -> tuple[TrackControl, FakeHost, FakeVehicle, FakeBus, FakeJournal]:
    v = FakeVehicle()
    s = so.Sortie(drone_id="d1", dock_id="k1", dock=DOCK, phase=c.Phase.ON_SCENE,
                  incident_id="i1", target=so.Target(HERE.lat_deg, HERE.lon_deg))
    host = FakeHost(v, s)
    bus, journal = FakeBus(), FakeJournal()
    ctl = TrackControl(rules.TrackConfig(**cfg), FlightModel(), host=host, follow=FakeFleet(v),
                       bus=bus, journal=journal)
    host.ctl = ctl
    return ctl, host, v, bus, journal


def position(lat: float, lon: float, vn: float = 0.0, ve: float = 4.0) -> bytes:
    return c.encode(c.TargetPosition(id="car-7", ts_ms=c.now_ms(), lat_deg=lat, lon_deg=lon,
                                     vel_n_m_s=vn, vel_e_m_s=ve))


UNIT = c.DroneTrack(drone_id="d1", source=c.TrackSource.UNIT, unit_id="car-7",
                    reason="pursuit, s.17")


async def settle(host: FakeHost) -> None:
    while host.tasks:
        task = host.tasks.pop(0)
        await task


def track_state(ctl: TrackControl, drone_id: str = "d1") -> c.TrackState:
    """A drone's tracking state, read afresh (awaits and updates change it between reads)."""
    return ctl.runs[drone_id].run.state


def is_tracking(host: FakeHost) -> bool:
    """Whether the host's sortie is tracking now, read afresh (as ``track_state``)."""
    return host.sortie.tracking


async def test_a_unit_is_followed_with_its_velocity_and_the_stop_is_audited() -> None:
    ctl, host, v, bus, journal = make()
    with pytest.raises(Refused) as refused:
        await ctl.start("alice", UNIT)
    assert refused.value.result == c.Result.UNKNOWN_TARGET
    assert ctl.handle(c.unit_position("car-7"), position(HERE.lat_deg, HERE.lon_deg + 0.001))
    out = await ctl.start("alice", UNIT)
    assert out["state"] == "acquiring" and 60 < out["distance_m"] < 80
    assert is_tracking(host)
    # The mode, with PX4's limits; the speed limits raised alongside (not waited for).
    assert v.names()[0] == "follow_start"
    config = v.calls[0][1]
    assert config.max_vel_m_s == 20.0 and config.height_m == 20.0
    await settle(host)
    assert ("set_params", {"MPC_XY_VEL_MAX": 20.0, "MPC_XY_CRUISE": 20.0,
                           "MPC_TILTMAX_AIR": 60.0}) in v.calls
    ctl._update(ctl.runs["d1"], asyncio.get_running_loop().time())
    await settle(host)
    feed = next(x for n, x in v.calls if n == "follow_target")
    assert feed.vel_e_m_s == 4.0 and feed.vel_d_m_s == 0.0 and feed.alt_amsl_m == 30.0
    assert feed.lon_deg > HERE.lon_deg + 0.001  # led along its velocity
    assert track_state(ctl) == c.TrackState.FOLLOWING

    await ctl.stop("alice", c.DroneTrackStop(drone_id="d1", reason="lost sight"))
    await settle(host)
    # Out of Follow Target (the sortie's orbit must not be overridden by its HOLD), and the
    # sortie's speed limits back.
    names = v.names()
    assert "follow_stop" in names and names.index("follow_stop") > names.index("follow_target")
    assert v.calls[-1] == (
        "set_params", {"MPC_XY_VEL_MAX": 15.0, "MPC_XY_CRUISE": 15.0, "MPC_TILTMAX_AIR": 45.0})
    assert not is_tracking(host) and host.sortie.phase == c.Phase.ON_SCENE
    assert host.sortie.target is not None
    assert math.isclose(host.sortie.target.lon_deg, HERE.lon_deg + 0.001, abs_tol=1e-6)
    codes = [code for code, _ in journal.events]
    assert codes == ["tracking_started", "tracking_stopped"]
    assert "alice" in journal.events[0][1] and "pursuit, s.17" in journal.events[0][1]
    assert "alice" in journal.events[1][1] and "lost sight" in journal.events[1][1]
    last = c.decode(bus.published[-1][1], c.TrackingStatus)
    assert last.state == c.TrackState.STOPPED and last.stopped_by == "alice"
    with pytest.raises(Refused):
        await ctl.stop("alice", c.DroneTrackStop(drone_id="d1"))


async def test_a_pilot_who_grabs_the_drone_ends_the_tracking() -> None:
    ctl, host, v, _, journal = make()
    ctl.handle(c.unit_position("car-7"), position(HERE.lat_deg, HERE.lon_deg + 0.001))
    await ctl.start("alice", UNIT)
    host.apply("d1", so.PilotGrab("bob"))
    ctl._update(ctl.runs["d1"], 0.0)
    await settle(host)
    assert not is_tracking(host) and host.sortie.pilot == "bob"
    assert "bob took control" in journal.events[-1][1]
    assert "follow_target" not in v.names()


async def test_a_failsafe_ends_the_tracking_and_the_sortie_flies_home() -> None:
    ctl, host, v, _, journal = make()
    ctl.handle(c.unit_position("car-7"), position(HERE.lat_deg, HERE.lon_deg + 0.001))
    await ctl.start("alice", UNIT)
    host.apply("d1", so.FailsafeRaised(so.Failsafe.BATTERY_LOW, "29%"))
    await settle(host)
    assert host.sortie.phase == c.Phase.RETURNING
    assert "d1" not in ctl.runs  # ended and its STOPPED status published
    assert "battery_low" in journal.events[-1][1]
    assert "follow_target" not in v.names()  # the sortie flies it home, not the tracker


async def test_video_tracking_locks_the_camera_and_reports_its_box() -> None:
    ctl, host, v, _, _ = make()
    req = c.DroneTrack(drone_id="d1", source=c.TrackSource.VIDEO, reason="suspect on foot",
                       x=0.4, y=0.6)
    await ctl.start("alice", req)
    assert v.calls[0] == ("track_point", (0.4, 0.6))

    v.track = CameraTrack(active=True, lat_deg=HERE.lat_deg, lon_deg=HERE.lon_deg,
                          vel_n_m_s=3.0, vel_e_m_s=0.0, geo_updated_s=time.monotonic(),
                          box=(0.35, 0.55, 0.45, 0.65))
    ctl._update(ctl.runs["d1"], time.monotonic())
    await settle(host)
    assert track_state(ctl) == c.TrackState.FOLLOWING
    st = ctl.status(ctl.runs["d1"])
    assert st.box == c.ImageBox(left=0.35, top=0.55, right=0.45, bottom=0.65)
    # The camera loses it: lost at once, orbiting the last point.
    v.track = replace(v.track, active=False)
    ctl._update(ctl.runs["d1"], time.monotonic())
    await settle(host)
    assert track_state(ctl) == c.TrackState.LOST
    assert "orbit" in v.names() and any(code == "tracking_lost" for code, _ in host.alerts)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    payload=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda d: json.dumps(d).encode(),
            st.dictionaries(
                st.sampled_from(["id", "ts_ms", "lat_deg", "lon_deg", "vel_n_m_s", "x"]),
                st.one_of(st.floats(allow_nan=True), st.text(max_size=8), st.integers()),
            ),
        ),
    ),
    ident=st.sampled_from(["car-7", "bad/id", ""]),
)
def test_bad_positions_are_ignored_never_raised(payload: bytes, ident: str) -> None:
    """Fuzzed AVL and CAD positions: ``handle`` never raises, and keeps only sound fixes."""
    ctl, *_ = make()
    for topic in (c.unit_position(ident), c.target_position(ident)):
        assert ctl.handle(topic, payload) is (c.parse_topic(topic) is not None)
    for known in ctl.targets.fixes.values():
        f = known.last
        assert -90 <= f.lat_deg <= 90 and -180 <= f.lon_deg <= 180
