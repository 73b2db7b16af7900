"""The rules of tracking a moving target, as pure functions (no I/O, no clock): which
``drone_track`` requests are refused and why, where PX4's Follow Target is told the target is
(led by the known latency, with its velocity as feed-forward), when the drone holds at the edge
of airspace it may not enter, when the target counts as lost, and when the battery ends it.

``groundstation.control.trackctl`` carries out what these rules decide (MAVSDK follow_me, orbits,
the camera's tracker, the bus, the journal); ``tests/unit/test_tracking_rules.py`` exercises each
rule alone.

Times: ``now_s`` is the controller's monotonic clock (when a fix arrived, how long ago);
``ts_ms`` are wall-clock stamps for people. ``time_scale`` is the simulation speed-up: a fix
``dt`` seconds old has moved ``dt * time_scale`` seconds of target time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from groundstation import contract as c
from groundstation.core.dispatch import AirspaceCheck, FlightModel
from groundstation.core.vehicle import FollowConfig, FollowTarget
from missions.airspace import DEFAULT_MARGIN_M
from missions.airspace import Refusal as AirspaceRefusal
from missions.geo import distance_m, offset, to_local_m

MAX_ALT_REL_M = 120.0
PX4_MAX_FOLLOW_VEL_M_S = 20.0
"""FLW_TGT_MAX_VEL's upper limit in PX4."""
PX4_MIN_FOLLOW_HEIGHT_M = 8.0
"""FLW_TGT_HT's lower limit in PX4."""
TRACKABLE_PHASES = frozenset({c.Phase.TRANSIT, c.Phase.ON_SCENE})


@dataclass(frozen=True, slots=True)
class TrackConfig:
    """How the controller tracks. Built once at the edge (CLI, tests)."""

    follow_height_m: float = 20.0
    """Above home (FLW_TGT_HT; FLW_TGT_ALT_M 0: a constant height, so the 120 m ceiling holds
    whatever the target's altitude)."""
    follow_distance_m: float = 10.0
    follow_angle_deg: float = 180.0
    """Where the drone keeps itself relative to the target's heading (180: behind)."""
    responsiveness: float = 0.0
    """FLW_TGT_RS (PX4's default 0.1 smooths the target's position; with the lead and velocity
    fed from here, 0 lets PX4 use them as sent)."""
    max_vel_m_s: float = PX4_MAX_FOLLOW_VEL_M_S
    """FLW_TGT_MAX_VEL (PX4's default 5 m/s cannot keep up with a car)."""
    update_hz: float = 2.0
    """Target positions sent to the vehicle (PX4 uses one at most every 0.5 s)."""
    latency_s: float = 0.25
    """Link and vehicle latency the position is led by, on top of the fix's own age."""
    max_lead_s: float = 3.0
    """A position is never extrapolated further than this (a stale fix is not a prediction)."""
    lost_after_s: float = 5.0
    """No position for this long: the target is lost (the drone orbits its last known point)."""
    zone_lookahead_s: float = 3.0
    """The target's position this far ahead (along its velocity) is checked against the
    airspace too: the drone stops short of a zone instead of braking inside it."""
    zone_margin_m: float = DEFAULT_MARGIN_M + 10.0
    """The target is held this far from a zone or the area's edge: the vehicle's own geofence
    is each zone grown by the airspace margin (``missions.airspace.Airspace.geofence``), and a
    drone following into it is taken home by its geofence failsafe (measured on the
    simulator)."""
    edge_standoff_m: float = 30.0
    """At a zone's edge the drone orbits this far inside allowed airspace (plus the radius)."""
    orbit_radius_m: float = 40.0
    orbit_speed_m_s: float = 5.0
    follow_reserve_s: float = 120.0
    """Starting needs the battery for this long following plus the way home."""
    stop_margin_s: float = 30.0
    """Tracking stops (and the drone returns) when the battery leaves less than the way home
    plus this."""
    time_scale: float = 1.0
    speed_params: Mapping[str, float] = field(
        default_factory=lambda: {
            "MPC_XY_VEL_MAX": 20.0,
            "MPC_XY_CRUISE": 20.0,
            "MPC_TILTMAX_AIR": 60.0,
        }
    )
    """Set on the vehicle while it tracks, restored when tracking ends: a drone limited to a
    car's speed never closes the gap it starts with. Measured on PX4 SIH: at PX4's default
    45 degrees of tilt the drone tops out at 9.9 m/s whatever MPC_XY_VEL_MAX says; at 60
    degrees it flies 13.5 m/s and catches a 12 m/s car."""
    restore_params: Mapping[str, float] = field(
        default_factory=lambda: {"MPC_TILTMAX_AIR": 45.0}
    )
    """What ``speed_params`` go back to (MPC_XY_VEL_MAX and MPC_XY_CRUISE: the sortie's, as
    set before launch)."""

    def follow_config(self) -> FollowConfig:
        return FollowConfig(
            height_m=self.follow_height_m,
            distance_m=self.follow_distance_m,
            angle_deg=self.follow_angle_deg,
            responsiveness=self.responsiveness,
            max_vel_m_s=self.max_vel_m_s,
        )

    def problems(self) -> list[str]:
        out = []
        if not PX4_MIN_FOLLOW_HEIGHT_M <= self.follow_height_m <= MAX_ALT_REL_M:
            out.append(
                f"follow height {self.follow_height_m} m outside "
                f"{PX4_MIN_FOLLOW_HEIGHT_M:.0f}..{MAX_ALT_REL_M:.0f} m"
            )
        if not 0 < self.max_vel_m_s <= PX4_MAX_FOLLOW_VEL_M_S:
            out.append(f"max follow velocity {self.max_vel_m_s} m/s outside 0..20")
        if self.update_hz <= 0 or self.lost_after_s <= 0:
            out.append("update_hz and lost_after_s must be positive")
        return out


# --- what is known ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fix:
    """One position of the target. ``received_s``: when it arrived (controller clock);
    velocities north/east/down in m/s, None when unknown."""

    lat_deg: float
    lon_deg: float
    received_s: float
    ts_ms: int = 0
    alt_amsl_m: float | None = None
    vel_n_m_s: float | None = None
    vel_e_m_s: float | None = None
    vel_d_m_s: float | None = None

    @property
    def has_velocity(self) -> bool:
        return self.vel_n_m_s is not None and self.vel_e_m_s is not None


def fix_from_position(p: c.TargetPosition, received_s: float) -> Fix:
    return Fix(
        lat_deg=p.lat_deg,
        lon_deg=p.lon_deg,
        received_s=received_s,
        ts_ms=p.ts_ms,
        alt_amsl_m=p.alt_amsl_m,
        vel_n_m_s=_finite(p.vel_n_m_s),
        vel_e_m_s=_finite(p.vel_e_m_s),
        vel_d_m_s=_finite(p.vel_d_m_s),
    )


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def with_velocity(fix: Fix, previous: Fix | None, time_scale: float = 1.0) -> Fix:
    """A fix without velocity gets one from the previous fix (a unit whose AVL sends none)."""
    if fix.has_velocity or previous is None:
        return fix
    dt = (fix.received_s - previous.received_s) * time_scale
    if fix.ts_ms and previous.ts_ms and fix.ts_ms > previous.ts_ms:
        dt = (fix.ts_ms - previous.ts_ms) / 1000.0
    if not 0.2 <= dt <= 10.0:
        return fix
    n, e = to_local_m(previous.lat_deg, previous.lon_deg, fix.lat_deg, fix.lon_deg)
    return replace(fix, vel_n_m_s=n / dt, vel_e_m_s=e / dt)


@dataclass(frozen=True, slots=True)
class DroneView:
    """What the controller knows of the drone when tracking is asked for or updated."""

    drone_id: str
    phase: c.Phase
    pilot: str | None
    connected: bool
    lat_deg: float
    lon_deg: float
    battery_pct: float
    dock_lat_deg: float
    dock_lon_deg: float

    @property
    def has_position(self) -> bool:
        return math.isfinite(self.lat_deg) and math.isfinite(self.lon_deg)


@dataclass(frozen=True, slots=True)
class Refusal:
    result: c.Result
    reason: str


# --- starting ---------------------------------------------------------------------------------


def request_problem(username: str, d: c.DroneTrack, view: DroneView) -> Refusal | None:
    """Check a ``drone_track`` request before its target is looked up (the caller's role has
    been checked: operators only). If a pilot holds the drone only that pilot may track with it;
    the reason (the legal basis) is required; the target must be named as its source needs; the
    drone must be connected and in the air, in transit or on scene."""
    if view.pilot is not None and view.pilot != username:
        return Refusal(c.Result.NOT_AUTHORITY, f"{d.drone_id} is held by {view.pilot}")
    if not d.reason.strip():
        return Refusal(
            c.Result.MALFORMED, "tracking needs a reason (the legal basis), e.g. 'pursuit, s.17'"
        )
    match d.source:
        case c.TrackSource.VIDEO if d.x is None or d.y is None:
            return Refusal(c.Result.MALFORMED, "video tracking needs x and y (0..1 from top left)")
        case c.TrackSource.UNIT if d.unit_id is None:
            return Refusal(c.Result.MALFORMED, "unit tracking needs unit_id")
        case c.TrackSource.CAD if d.target_id is None:
            return Refusal(c.Result.MALFORMED, "CAD tracking needs target_id")
    if not view.connected:
        return Refusal(c.Result.VEHICLE_FAILED, f"{d.drone_id} is not connected")
    if view.phase not in TRACKABLE_PHASES:
        return Refusal(
            c.Result.INVALID_STATE,
            f"{d.drone_id} is {view.phase}: tracking starts in transit or on scene",
        )
    if not view.has_position:
        return Refusal(c.Result.VEHICLE_FAILED, f"{d.drone_id} has no position")
    return None


def battery_home_pct(
    lat_deg: float, lon_deg: float, view: DroneView, model: FlightModel, extra_s: float
) -> float:
    """Battery to fly from (lat, lon) home and down, plus ``extra_s`` more flying and the
    reserve."""
    home_m = distance_m(lat_deg, lon_deg, view.dock_lat_deg, view.dock_lon_deg)
    flight_s = (
        home_m / model.cruise_speed_m_s
        + model.cruise_alt_rel_m / model.descent_rate_m_s
        + extra_s
    )
    return flight_s * model.drain_pct_per_s + model.reserve_pct


def target_problem(
    fix: Fix | None,
    what: str,
    view: DroneView,
    now_s: float,
    cfg: TrackConfig,
    model: FlightModel,
    airspace: AirspaceCheck | None,
) -> Refusal | None:
    """Check the target of a unit or CAD request: heard lately, inside the operating area and
    out of every zone, within range of the dock, and the battery affords following it for
    ``cfg.follow_reserve_s`` and the way home."""
    if fix is None or now_s - fix.received_s > cfg.lost_after_s * 2:
        heard = "never heard" if fix is None else f"last heard {now_s - fix.received_s:.0f} s ago"
        return Refusal(c.Result.UNKNOWN_TARGET, f"no recent position of {what} ({heard})")
    if airspace is not None:
        refusal = airspace.check_point(fix.lat_deg, fix.lon_deg)
        if refusal is not None:
            return Refusal(c.Result.AIRSPACE, f"{what} is {_reason(refusal)}")
    home_m = distance_m(fix.lat_deg, fix.lon_deg, view.dock_lat_deg, view.dock_lon_deg)
    if home_m > model.max_range_m:
        return Refusal(
            c.Result.OUT_OF_RANGE,
            f"{what} is {home_m / 1000:.1f} km from the dock, beyond "
            f"{model.max_range_m / 1000:.1f} km",
        )
    return battery_problem(fix, view, cfg, model)


def battery_problem(
    fix: Fix | None, view: DroneView, cfg: TrackConfig, model: FlightModel
) -> Refusal | None:
    """The battery must afford following for ``cfg.follow_reserve_s`` and the way home from
    the target (or from the drone when the target is not known yet)."""
    where = (fix.lat_deg, fix.lon_deg) if fix is not None else (view.lat_deg, view.lon_deg)
    if not math.isfinite(view.battery_pct):
        return Refusal(c.Result.INVALID_STATE, f"{view.drone_id}: battery level unknown")
    need = battery_home_pct(where[0], where[1], view, model, cfg.follow_reserve_s)
    if view.battery_pct < need:
        return Refusal(
            c.Result.OUT_OF_RANGE,
            f"battery {view.battery_pct:.0f}% < {need:.0f}% needed to follow for "
            f"{cfg.follow_reserve_s:.0f} s and fly home",
        )
    return None


def _reason(refusal: AirspaceRefusal) -> str:
    text = refusal.reason
    return text if text.startswith(("inside", "outside")) else f"not allowed: {text}"


# --- following ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrbitAt:
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True, slots=True)
class Notice:
    """An alert for the operators (and the journal)."""

    severity: c.Severity
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Tracking ends: orbit ``at`` on scene, or (``go_home``) return to the dock."""

    reason: str
    at: OrbitAt
    go_home: bool = False


Command = FollowTarget | OrbitAt | Notice | Finish


def predict(fix: Fix, now_s: float, cfg: TrackConfig) -> tuple[float, float]:
    """Where the target is when the vehicle acts on this message: the fix moved along its
    velocity by its age plus the known latency (capped by ``max_lead_s``), in target time."""
    if not fix.has_velocity:
        return fix.lat_deg, fix.lon_deg
    lead_s = min(cfg.max_lead_s, max(0.0, now_s - fix.received_s) * cfg.time_scale + cfg.latency_s)
    assert fix.vel_n_m_s is not None and fix.vel_e_m_s is not None
    p = offset(fix.lat_deg, fix.lon_deg, fix.vel_n_m_s * lead_s, fix.vel_e_m_s * lead_s)
    return p.lat_deg, p.lon_deg


def feed(fix: Fix, now_s: float, cfg: TrackConfig, ground_amsl_m: float) -> FollowTarget:
    """One FOLLOW_TARGET: the predicted target and its velocity (NaN for unknown).

    The altitude is always given (the ground's, ``ground_amsl_m``, when the source has none):
    PX4 SIH with a NaN altitude kept its follow estimate invalid and never moved (measured).
    A horizontal velocity without a vertical one is a ground target's: 0 m/s down, so that
    the velocity is used at all."""
    lat, lon = predict(fix, now_s, cfg)
    nan = math.nan
    has_vel = fix.has_velocity
    return FollowTarget(
        lat_deg=lat,
        lon_deg=lon,
        alt_amsl_m=fix.alt_amsl_m if fix.alt_amsl_m is not None else ground_amsl_m,
        vel_n_m_s=fix.vel_n_m_s if fix.vel_n_m_s is not None else nan,
        vel_e_m_s=fix.vel_e_m_s if fix.vel_e_m_s is not None else nan,
        vel_d_m_s=fix.vel_d_m_s if fix.vel_d_m_s is not None else (0.0 if has_vel else nan),
    )


def near_edge(
    p: tuple[float, float], airspace: AirspaceCheck, margin_m: float
) -> AirspaceRefusal | None:
    """The refusal of the first point ``margin_m`` around ``p`` (12 directions) that is not
    allowed: ``p`` is within the margin of a zone or the area's edge. None when all are."""
    for k in range(12):
        a = k * math.pi / 6
        q = offset(p[0], p[1], margin_m * math.cos(a), margin_m * math.sin(a))
        refusal = airspace.check_point(q.lat_deg, q.lon_deg)
        if refusal is not None:
            return refusal
    return None


def near_route(
    a: tuple[float, float], b: tuple[float, float], airspace: AirspaceCheck, margin_m: float
) -> AirspaceRefusal | None:
    """``near_edge`` of points every ``margin_m`` along the straight line a-b: Follow Target
    flies that line, and the vehicle's geofence is every zone grown by the airspace margin (a
    drone that followed past a zone's corner was taken home by it: seen on the simulator)."""
    n = max(1, math.ceil(distance_m(a[0], a[1], b[0], b[1]) / margin_m))
    for k in range(1, n):
        f = k / n
        refusal = near_edge(
            (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f), airspace, margin_m
        )
        if refusal is not None:
            return refusal
    return None


def edge_point(
    good: tuple[float, float],
    bad: tuple[float, float],
    airspace: AirspaceCheck,
    back_off_m: float,
    radius_m: float = 0.0,
) -> tuple[float, float]:
    """Where to orbit when the target went from ``good`` (allowed) to ``bad`` (not): the point
    where the allowed airspace ends on the line between them, moved back along the line (past
    ``good`` if need be) by ``back_off_m``, and further, 20 m at a time, until a circle of
    ``radius_m`` around it is all allowed."""
    lo, hi = 0.0, 1.0

    def at(f: float) -> tuple[float, float]:
        return good[0] + (bad[0] - good[0]) * f, good[1] + (bad[1] - good[1]) * f

    for _ in range(24):
        mid = (lo + hi) / 2
        p = at(mid)
        if airspace.check_point(p[0], p[1]) is None:
            lo = mid
        else:
            hi = mid
    length = distance_m(good[0], good[1], bad[0], bad[1])
    if length < 0.01:
        return good
    back = back_off_m
    for _ in range(20):
        p = at(lo - back / length)
        ring = [
            offset(p[0], p[1], radius_m * math.cos(a), radius_m * math.sin(a))
            for a in (k * math.pi / 4 for k in range(8))
        ]
        if airspace.check_point(p[0], p[1]) is None and all(
            airspace.check_point(q.lat_deg, q.lon_deg) is None for q in ring
        ):
            return p
        back += 20.0
    return good


@dataclass(frozen=True, slots=True)
class Run:
    """One drone's tracking as the rules see it (the I/O half keeps the rest)."""

    state: c.TrackState
    since_s: float
    detail: str = ""
    last_good: tuple[float, float] | None = None
    """The last target position in allowed airspace (where an edge is looked for from)."""
    hold: OrbitAt | None = None


def step(
    run: Run,
    fix: Fix | None,
    view: DroneView,
    now_s: float,
    cfg: TrackConfig,
    model: FlightModel,
    airspace: AirspaceCheck | None,
    *,
    camera_lost: bool = False,
    ground_amsl_m: float = 0.0,
) -> tuple[Run, list[Command]]:
    """One update of a running tracking: what to send the vehicle, what to tell the operators,
    whether it ends. Called at ``cfg.update_hz``."""
    # The battery first: it must always afford the way home from where the drone is.
    if math.isfinite(view.battery_pct) and view.has_position:
        need = battery_home_pct(view.lat_deg, view.lon_deg, view, model, cfg.stop_margin_s)
        if view.battery_pct < need:
            why = (
                f"battery {view.battery_pct:.0f}% is what the way home needs ({need:.0f}%): "
                "tracking stopped, returning"
            )
            return replace(run, state=c.TrackState.STOPPED, since_s=now_s, detail=why), [
                Notice(c.Severity.WARNING, "tracking_battery", f"{view.drone_id}: {why}"),
                Finish(why, OrbitAt(view.lat_deg, view.lon_deg), go_home=True),
            ]
    if fix is None:
        if now_s - run.since_s > cfg.lost_after_s * 2 and run.state == c.TrackState.ACQUIRING:
            return _lost(run, None, view, now_s, "no position of the target arrived")
        return run, []
    age_s = now_s - fix.received_s
    if camera_lost or age_s > cfg.lost_after_s:
        why = "the camera lost it" if camera_lost else f"no position for {age_s:.0f} s"
        return _lost(run, fix, view, now_s, why)
    lat, lon = predict(fix, now_s, cfg)
    ahead = (lat, lon)
    if fix.has_velocity:
        assert fix.vel_n_m_s is not None and fix.vel_e_m_s is not None
        k = cfg.zone_lookahead_s
        p = offset(lat, lon, fix.vel_n_m_s * k, fix.vel_e_m_s * k)
        ahead = (p.lat_deg, p.lon_deg)
    refusal: AirspaceRefusal | None = None
    if airspace is not None:
        refusal = (
            airspace.check_point(lat, lon)
            or airspace.check_point(*ahead)
            or near_edge((lat, lon), airspace, cfg.zone_margin_m)
            or near_edge(ahead, airspace, cfg.zone_margin_m)
        )
        if refusal is None and view.has_position:
            refusal = airspace.check_route(view.lat_deg, view.lon_deg, lat, lon) or near_route(
                (view.lat_deg, view.lon_deg), (lat, lon), airspace, cfg.zone_margin_m
            )
    if refusal is not None:
        assert airspace is not None
        return _held(run, ahead, view, now_s, cfg, airspace, _reason(refusal))
    commands: list[Command] = []
    if run.state in (c.TrackState.HELD, c.TrackState.LOST):
        was = "out of the zone" if run.state == c.TrackState.HELD else "found again"
        commands.append(
            Notice(
                c.Severity.INFO, "tracking_resumed", f"{view.drone_id}: target {was}, following"
            )
        )
    if run.state != c.TrackState.FOLLOWING:
        run = replace(run, state=c.TrackState.FOLLOWING, since_s=now_s, detail="", hold=None)
    run = replace(run, last_good=(lat, lon))
    commands.append(feed(fix, now_s, cfg, ground_amsl_m))
    return run, commands


def _lost(
    run: Run, fix: Fix | None, view: DroneView, now_s: float, why: str
) -> tuple[Run, list[Command]]:
    if run.state == c.TrackState.LOST:
        return replace(run, detail=why), []
    at = (
        OrbitAt(fix.lat_deg, fix.lon_deg)
        if fix is not None and run.state != c.TrackState.HELD
        else run.hold or OrbitAt(view.lat_deg, view.lon_deg)
    )
    return replace(run, state=c.TrackState.LOST, since_s=now_s, detail=why, hold=at), [
        at,
        Notice(
            c.Severity.WARNING,
            "tracking_lost",
            f"{view.drone_id}: target lost ({why}): orbiting its last known point",
        ),
    ]


def _held(
    run: Run,
    target: tuple[float, float],
    view: DroneView,
    now_s: float,
    cfg: TrackConfig,
    airspace: AirspaceCheck,
    why: str,
) -> tuple[Run, list[Command]]:
    if run.state == c.TrackState.HELD:
        return replace(run, detail=why), []
    good = run.last_good or (view.lat_deg, view.lon_deg)
    lat, lon = edge_point(
        good,
        target,
        airspace,
        cfg.edge_standoff_m + cfg.orbit_radius_m,
        cfg.orbit_radius_m + cfg.zone_margin_m,
    )
    at = OrbitAt(lat, lon)
    return replace(run, state=c.TrackState.HELD, since_s=now_s, detail=why, hold=at), [
        at,
        Notice(
            c.Severity.WARNING,
            "tracking_held",
            f"{view.drone_id}: target {why}: holding at the edge and orbiting",
        ),
    ]


def sortie_ends_tracking(view: DroneView, tracking: bool) -> str | None:
    """Why the sortie has ended the tracking (a failsafe, a recall, a landing), or None."""
    if view.phase != c.Phase.ON_SCENE or not tracking:
        return f"the sortie moved on ({view.phase})"
    return None
