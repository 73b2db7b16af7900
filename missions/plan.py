"""QGroundControl ``.plan`` files: a normalised model, import, export, rebase and MAVLink items.

The model keeps everything QGC writes, so ``export(load(f))`` is the same JSON as ``f``, item for
item: SimpleItems with their ``AltitudeMode`` / ``Altitude`` / ``AMSLAltAboveTerrain`` fields,
complex items (survey, corridor scan, structure scan) kept whole as raw JSON, the geofence
(circles and polygons with their inclusion flag, the breach return point), rally points, the
planned home position, firmware and vehicle type, and any key we do not model (``extra``).

``to_mavlink_items`` flattens a plan to MISSION_ITEM_INT fields for upload; it refuses complex
items, which QGC expands itself at upload time and we do not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import Any

from missions.geo import LatLon, offset, to_local_m


class PlanError(ValueError):
    """A plan file is malformed, or holds something this module cannot turn into MAVLink."""


class MavCmd(IntEnum):
    """The MAV_CMD values this package reads or writes."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TURNS = 18
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    NAV_LOITER_TO_ALT = 31
    NAV_ROI = 80
    NAV_SPLINE_WAYPOINT = 82
    NAV_VTOL_TAKEOFF = 84
    NAV_VTOL_LAND = 85
    NAV_DELAY = 93
    DO_JUMP = 177
    DO_CHANGE_SPEED = 178
    DO_SET_HOME = 179
    DO_LAND_START = 189
    DO_REPOSITION = 192
    DO_SET_ROI_LOCATION = 195
    DO_SET_ROI_NONE = 197
    NAV_FENCE_RETURN_POINT = 5000
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


class MavFrame(IntEnum):
    GLOBAL = 0  # altitude AMSL
    MISSION = 2  # no position
    GLOBAL_RELATIVE_ALT = 3
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6
    GLOBAL_TERRAIN_ALT = 10
    GLOBAL_TERRAIN_ALT_INT = 11


class AltitudeMode(IntEnum):
    """QGC's per-item ``AltitudeMode`` (QGroundControlQmlGlobal::AltMode)."""

    MIXED = 0
    RELATIVE = 1
    ABSOLUTE = 2  # AMSL
    CALC_ABOVE_TERRAIN = 3  # QGC turns it into AMSL at upload; param 7 is null in the file
    TERRAIN_FRAME = 4
    NONE = 5


class MissionType(IntEnum):
    MISSION = 0
    FENCE = 1
    RALLY = 2


GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})
POSITION_COMMANDS = frozenset(
    {16, 17, 18, 19, 21, 22, 31, 80, 82, 84, 85, 189, 192, 195, 5000, 5001, 5002, 5003, 5004, 5100}
)


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One SimpleItem: MAV_CMD, MAV_FRAME and the seven params (None where QGC writes null).

    ``altitude``, ``altitude_mode`` and ``amsl_alt_above_terrain`` are QGC's own ``Altitude``,
    ``AltitudeMode`` and ``AMSLAltAboveTerrain`` fields, present only on items that have them.
    """

    command: int
    frame: int
    params: tuple[float | None, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    autocontinue: bool = True
    do_jump_id: int | None = None
    altitude: float | None = None
    altitude_mode: AltitudeMode | None = None
    amsl_alt_above_terrain: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if len(self.params) != 7:
            raise PlanError(f"MAV_CMD {self.command}: needs 7 params, has {len(self.params)}")

    @property
    def lat_deg(self) -> float | None:
        return self.params[4]

    @property
    def lon_deg(self) -> float | None:
        return self.params[5]

    @property
    def has_position(self) -> bool:
        lat, lon = self.params[4], self.params[5]
        return (
            self.command in POSITION_COMMANDS
            and self.frame in GLOBAL_FRAMES
            and lat is not None
            and lon is not None
            and not (lat == 0 and lon == 0)
        )


@dataclass(frozen=True, slots=True)
class ComplexItem:
    """A QGC complex item (survey, corridor scan, structure scan...), kept as its raw JSON."""

    complex_type: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FenceCircle:
    lat_deg: float
    lon_deg: float
    radius_m: float
    inclusion: bool = True
    version: int = 1


@dataclass(frozen=True, slots=True)
class FencePolygon:
    vertices: tuple[LatLon, ...]
    inclusion: bool = True
    version: int = 1


@dataclass(frozen=True, slots=True)
class Geofence:
    circles: tuple[FenceCircle, ...] = ()
    polygons: tuple[FencePolygon, ...] = ()
    breach_return: tuple[float, ...] | None = None  # [lat, lon, alt] when the file has one
    version: int = 2


@dataclass(frozen=True, slots=True)
class RallyPoint:
    lat_deg: float
    lon_deg: float
    alt_m: float


@dataclass(frozen=True, slots=True)
class Home:
    """QGC's planned home position; altitude AMSL."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(frozen=True, slots=True)
class Plan:
    items: tuple[MissionItem | ComplexItem, ...]
    home: Home | None = None
    geofence: Geofence = Geofence()
    rally: tuple[RallyPoint, ...] = ()
    firmware_type: int = 12  # MAV_AUTOPILOT_PX4
    vehicle_type: int = 2  # MAV_TYPE_QUADROTOR
    cruise_speed_m_s: float | None = None
    hover_speed_m_s: float | None = None
    global_plan_altitude_mode: int | None = None
    ground_station: str = "QGroundControl"
    mission_version: int = 2
    rally_version: int = 2
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    mission_extra: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def simple_items(self) -> list[MissionItem]:
        return [i for i in self.items if isinstance(i, MissionItem)]


@dataclass(frozen=True, slots=True)
class MavlinkItem:
    """The fields of one MISSION_ITEM_INT; the caller adds target ids and packs it."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = 0


# -- import -------------------------------------------------------------------------------------

_ITEM_KEYS = {
    "type",
    "command",
    "frame",
    "params",
    "autoContinue",
    "doJumpId",
    "Altitude",
    "AltitudeMode",
    "AMSLAltAboveTerrain",
}
_MISSION_KEYS = {
    "items",
    "plannedHomePosition",
    "firmwareType",
    "vehicleType",
    "cruiseSpeed",
    "hoverSpeed",
    "globalPlanAltitudeMode",
    "version",
}
_TOP_KEYS = {"fileType", "geoFence", "groundStation", "mission", "rallyPoints", "version"}


def _opt_float(v: Any, where: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PlanError(f"{where}: expected a number or null, got {v!r}")
    return float(v)


def _float(v: Any, where: str) -> float:
    out = _opt_float(v, where)
    if out is None:
        raise PlanError(f"{where}: expected a number")
    return out


def _parse_item(raw: Any, n: int) -> MissionItem | ComplexItem:
    where = f"mission item #{n + 1}"
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: not an object")
    kind = raw.get("type")
    if kind == "ComplexItem":
        return ComplexItem(str(raw.get("complexItemType", "unknown")), raw)
    if kind != "SimpleItem":
        raise PlanError(f"{where}: unknown item type {kind!r}")
    params = raw.get("params")
    if not isinstance(params, list) or len(params) != 7:
        raise PlanError(f"{where}: params must be a list of 7")
    mode = raw.get("AltitudeMode")
    try:
        alt_mode = AltitudeMode(mode) if mode is not None else None
    except ValueError as exc:
        raise PlanError(f"{where}: unknown AltitudeMode {mode!r}") from exc
    command, frame = raw.get("command"), raw.get("frame")
    if not isinstance(command, int) or not isinstance(frame, int):
        raise PlanError(f"{where}: command and frame must be integers")
    jump = raw.get("doJumpId")
    return MissionItem(
        command=command,
        frame=frame,
        params=tuple(_opt_float(p, f"{where} param {k + 1}") for k, p in enumerate(params)),
        autocontinue=bool(raw.get("autoContinue", True)),
        do_jump_id=int(jump) if isinstance(jump, int) else None,
        altitude=_opt_float(raw.get("Altitude"), f"{where} Altitude"),
        altitude_mode=alt_mode,
        amsl_alt_above_terrain=_opt_float(raw.get("AMSLAltAboveTerrain"), where),
        extra={k: v for k, v in raw.items() if k not in _ITEM_KEYS},
    )


def _parse_geofence(raw: Any) -> Geofence:
    if raw is None:
        return Geofence()
    if not isinstance(raw, dict):
        raise PlanError("geoFence: not an object")
    circles = []
    for c in raw.get("circles", []):
        circ = c["circle"]
        circles.append(
            FenceCircle(
                _float(circ["center"][0], "fence circle"),
                _float(circ["center"][1], "fence circle"),
                _float(circ["radius"], "fence circle radius"),
                bool(c.get("inclusion", True)),
                int(c.get("version", 1)),
            )
        )
    polygons = []
    for p in raw.get("polygons", []):
        verts = tuple(LatLon(_float(v[0], "fence"), _float(v[1], "fence")) for v in p["polygon"])
        polygons.append(
            FencePolygon(verts, bool(p.get("inclusion", True)), int(p.get("version", 1)))
        )
    br = raw.get("breachReturn")
    return Geofence(
        tuple(circles),
        tuple(polygons),
        tuple(float(v) for v in br) if isinstance(br, list) else None,
        int(raw.get("version", 2)),
    )


def parse_plan(raw: Any) -> Plan:
    """A Plan from the decoded JSON of a .plan file."""
    if not isinstance(raw, dict) or raw.get("fileType") != "Plan":
        raise PlanError("not a QGroundControl plan (fileType must be 'Plan')")
    mission = raw.get("mission")
    if not isinstance(mission, dict) or not isinstance(mission.get("items"), list):
        raise PlanError("the plan has no mission items list")
    items = tuple(_parse_item(it, n) for n, it in enumerate(mission["items"]))
    home_raw = mission.get("plannedHomePosition")
    home = None
    if isinstance(home_raw, list) and len(home_raw) == 3:
        home = Home(*(_float(v, "plannedHomePosition") for v in home_raw))
    rally_raw = raw.get("rallyPoints") or {}
    rally = tuple(
        RallyPoint(*(_float(v, "rally point") for v in pt)) for pt in rally_raw.get("points", [])
    )
    return Plan(
        items=items,
        home=home,
        geofence=_parse_geofence(raw.get("geoFence")),
        rally=rally,
        firmware_type=int(mission.get("firmwareType", 12)),
        vehicle_type=int(mission.get("vehicleType", 2)),
        cruise_speed_m_s=_opt_float(mission.get("cruiseSpeed"), "cruiseSpeed"),
        hover_speed_m_s=_opt_float(mission.get("hoverSpeed"), "hoverSpeed"),
        global_plan_altitude_mode=(
            int(mission["globalPlanAltitudeMode"]) if "globalPlanAltitudeMode" in mission else None
        ),
        ground_station=str(raw.get("groundStation", "QGroundControl")),
        mission_version=int(mission.get("version", 2)),
        rally_version=int(rally_raw.get("version", 2)),
        version=int(raw.get("version", 1)),
        extra={k: v for k, v in raw.items() if k not in _TOP_KEYS},
        mission_extra={k: v for k, v in mission.items() if k not in _MISSION_KEYS},
    )


def load_plan(path: str | Path) -> Plan:
    """Read a .plan file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}: not valid JSON: {exc}") from exc
    return parse_plan(raw)


# -- export -------------------------------------------------------------------------------------


def _num(v: float | None) -> float | int | None:
    """Integral floats as ints, as QGC writes them."""
    if v is not None and math.isfinite(v) and v == int(v) and abs(v) < 2**53:
        return int(v)
    return v


def _item_json(item: MissionItem | ComplexItem) -> dict[str, Any]:
    if isinstance(item, ComplexItem):
        return item.raw
    out: dict[str, Any] = {
        "autoContinue": item.autocontinue,
        "command": item.command,
        "frame": item.frame,
        "params": [_num(p) for p in item.params],
        "type": "SimpleItem",
    }
    if item.do_jump_id is not None:
        out["doJumpId"] = item.do_jump_id
    if item.altitude_mode is not None or item.altitude is not None:
        out["AMSLAltAboveTerrain"] = _num(item.amsl_alt_above_terrain)
        out["Altitude"] = _num(item.altitude)
        out["AltitudeMode"] = None if item.altitude_mode is None else int(item.altitude_mode)
    out.update(item.extra)
    return out


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The decoded-JSON form of a .plan file."""
    fence: dict[str, Any] = {
        "circles": [
            {
                "circle": {"center": [c.lat_deg, c.lon_deg], "radius": _num(c.radius_m)},
                "inclusion": c.inclusion,
                "version": c.version,
            }
            for c in plan.geofence.circles
        ],
        "polygons": [
            {
                "inclusion": p.inclusion,
                "polygon": [[v.lat_deg, v.lon_deg] for v in p.vertices],
                "version": p.version,
            }
            for p in plan.geofence.polygons
        ],
        "version": plan.geofence.version,
    }
    if plan.geofence.breach_return is not None:
        fence["breachReturn"] = [_num(v) for v in plan.geofence.breach_return]
    mission: dict[str, Any] = {
        "firmwareType": plan.firmware_type,
        "items": [_item_json(i) for i in plan.items],
        "vehicleType": plan.vehicle_type,
        "version": plan.mission_version,
    }
    if plan.cruise_speed_m_s is not None:
        mission["cruiseSpeed"] = _num(plan.cruise_speed_m_s)
    if plan.hover_speed_m_s is not None:
        mission["hoverSpeed"] = _num(plan.hover_speed_m_s)
    if plan.global_plan_altitude_mode is not None:
        mission["globalPlanAltitudeMode"] = plan.global_plan_altitude_mode
    if plan.home is not None:
        mission["plannedHomePosition"] = [
            plan.home.lat_deg,
            plan.home.lon_deg,
            _num(plan.home.alt_amsl_m),
        ]
    mission.update(plan.mission_extra)
    out = {
        "fileType": "Plan",
        "geoFence": fence,
        "groundStation": plan.ground_station,
        "mission": mission,
        "rallyPoints": {
            "points": [[r.lat_deg, r.lon_deg, _num(r.alt_m)] for r in plan.rally],
            "version": plan.rally_version,
        },
        "version": plan.version,
    }
    out.update(plan.extra)
    return out


def dumps_plan(plan: Plan) -> str:
    """The .plan file text (sorted keys, four-space indent, as QGC writes)."""
    return json.dumps(plan_to_json(plan), indent=4, sort_keys=True) + "\n"


def save_plan(plan: Plan, path: str | Path) -> None:
    Path(path).write_text(dumps_plan(plan), encoding="utf-8")


# -- building and moving plans ---------------------------------------------------------------------


def make_plan(
    items: Iterable[MissionItem | ComplexItem],
    home: Home | None = None,
    *,
    geofence: Geofence = Geofence(),
    cruise_speed_m_s: float | None = 15.0,
    hover_speed_m_s: float | None = 5.0,
) -> Plan:
    """A PX4 multicopter plan; numbers the items' doJumpId from 1 as QGC does."""
    numbered: list[MissionItem | ComplexItem] = []
    for n, it in enumerate(items):
        numbered.append(replace(it, do_jump_id=n + 1) if isinstance(it, MissionItem) else it)
    return Plan(
        items=tuple(numbered),
        home=home,
        geofence=geofence,
        cruise_speed_m_s=cruise_speed_m_s,
        hover_speed_m_s=hover_speed_m_s,
        global_plan_altitude_mode=int(AltitudeMode.RELATIVE),
    )


def _is_amsl(item: MissionItem) -> bool:
    if item.altitude_mode is not None:
        return item.altitude_mode == AltitudeMode.ABSOLUTE
    return item.frame in (MavFrame.GLOBAL, MavFrame.GLOBAL_INT)


def rebase(plan: Plan, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> Plan:
    """The same plan flown from a new home: every position keeps its north/east offset from
    home (flat earth), AMSL altitudes shift by the change of home altitude, relative and terrain
    altitudes stay. Geofence and rally points move too. Needs a planned home."""
    if plan.home is None:
        raise PlanError("rebase needs a plan with a planned home position")
    old = plan.home
    d_alt = alt_amsl_m - old.alt_amsl_m

    def move(lat: float, lon: float) -> LatLon:
        north, east = to_local_m(old.lat_deg, old.lon_deg, lat, lon)
        return offset(lat_deg, lon_deg, north, east)

    items: list[MissionItem | ComplexItem] = []
    for it in plan.items:
        if isinstance(it, ComplexItem):
            raise PlanError(f"cannot rebase complex item {it.complex_type!r}")
        if not it.has_position:
            items.append(it)
            continue
        p = list(it.params)
        pos = move(float(p[4] or 0.0), float(p[5] or 0.0))
        p[4], p[5] = pos.lat_deg, pos.lon_deg
        alt = it.altitude
        if _is_amsl(it):
            if p[6] is not None:
                p[6] += d_alt
            if alt is not None:
                alt += d_alt
        items.append(replace(it, params=tuple(p), altitude=alt))
    fence = plan.geofence
    new_fence = replace(
        fence,
        circles=tuple(
            replace(c, lat_deg=m.lat_deg, lon_deg=m.lon_deg)
            for c in fence.circles
            for m in (move(c.lat_deg, c.lon_deg),)
        ),
        polygons=tuple(
            replace(p, vertices=tuple(move(v.lat_deg, v.lon_deg) for v in p.vertices))
            for p in fence.polygons
        ),
    )
    rally = tuple(
        RallyPoint(m.lat_deg, m.lon_deg, r.alt_m)
        for r in plan.rally
        for m in (move(r.lat_deg, r.lon_deg),)
    )
    return replace(
        plan,
        items=tuple(items),
        home=Home(lat_deg, lon_deg, alt_amsl_m),
        geofence=new_fence,
        rally=rally,
    )


# -- MAVLink ------------------------------------------------------------------------------------


def _p(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _latlon_int(v: float | None) -> int:
    return 0 if v is None else round(v * 1e7)


def to_mavlink_items(
    plan: Plan | Sequence[MissionItem], home_alt_amsl_m: float | None = None
) -> list[MavlinkItem]:
    """MISSION_ITEM_INT fields for the mission, seq from 0 (PX4 numbering: no home item).

    Null params 1-4 become NaN (MAVLink's "unchanged / default"). An item with QGC's
    "calculated above terrain" mode and a null param 7 is flown in the AMSL frame at
    ``AMSLAltAboveTerrain`` when QGC stored one, else at home altitude + ``Altitude`` (flat
    terrain at home altitude: the only choice without a terrain model), which needs
    ``home_alt_amsl_m`` (defaults to the plan's planned home). Complex items are refused.
    """
    items_in: Sequence[MissionItem | ComplexItem]
    if isinstance(plan, Plan):
        items_in = plan.items
        if home_alt_amsl_m is None and plan.home is not None:
            home_alt_amsl_m = plan.home.alt_amsl_m
    else:
        items_in = plan
    out: list[MavlinkItem] = []
    for seq, it in enumerate(items_in):
        if isinstance(it, ComplexItem):
            raise PlanError(
                f"item {seq + 1} is a {it.complex_type!r} complex item: not supported here, "
                "convert it to simple waypoints in QGroundControl first"
            )
        frame = it.frame
        z = it.params[6]
        if z is None and it.altitude_mode == AltitudeMode.CALC_ABOVE_TERRAIN:
            frame = int(MavFrame.GLOBAL)
            if it.amsl_alt_above_terrain is not None:
                z = it.amsl_alt_above_terrain
            elif home_alt_amsl_m is not None and it.altitude is not None:
                z = home_alt_amsl_m + it.altitude
            else:
                raise PlanError(f"item {seq + 1}: terrain altitude needs home_alt_amsl_m")
        if frame in GLOBAL_FRAMES:
            x, y = _latlon_int(it.params[4]), _latlon_int(it.params[5])
        else:
            x, y = int(it.params[4] or 0), int(it.params[5] or 0)
        out.append(
            MavlinkItem(
                seq=seq,
                frame=frame,
                command=it.command,
                current=0,
                autocontinue=int(it.autocontinue),
                param1=_p(it.params[0]),
                param2=_p(it.params[1]),
                param3=_p(it.params[2]),
                param4=_p(it.params[3]),
                x=x,
                y=y,
                z=_p(z),
                mission_type=int(MissionType.MISSION),
            )
        )
    return out


def geofence_to_items(fence: Geofence) -> list[MissionItem]:
    """Fence items (MAV_CMD_NAV_FENCE_*), frame MAV_FRAME_GLOBAL, for mission_type=1.

    Polygon vertices carry the vertex count in param 1; circles carry the radius."""
    out: list[MissionItem] = []
    for poly in fence.polygons:
        cmd = (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if poly.inclusion
            else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        n = float(len(poly.vertices))
        out.extend(
            MissionItem(
                int(cmd), int(MavFrame.GLOBAL), (n, 0.0, 0.0, 0.0, v.lat_deg, v.lon_deg, 0.0)
            )
            for v in poly.vertices
        )
    for c in fence.circles:
        cmd = (
            MavCmd.NAV_FENCE_CIRCLE_INCLUSION if c.inclusion else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
        )
        out.append(
            MissionItem(
                int(cmd),
                int(MavFrame.GLOBAL),
                (c.radius_m, 0.0, 0.0, 0.0, c.lat_deg, c.lon_deg, 0.0),
            )
        )
    return out


def fence_mavlink_items(fence: Geofence) -> list[MavlinkItem]:
    """The geofence as MISSION_ITEM_INT fields with mission_type=1."""
    return [
        replace(m, mission_type=int(MissionType.FENCE))
        for m in to_mavlink_items(geofence_to_items(fence), 0.0)
    ]


def item_to_json(item: MissionItem | ComplexItem) -> dict[str, Any]:
    """The .plan JSON of one item (also what ``mission import --json`` prints)."""
    return _item_json(item)
