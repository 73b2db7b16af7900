"""The vehicle adapter: the only module that imports mavsdk (4.x, the native binding).

One :class:`MavsdkFleet` serves every drone (MAVLink's system-id space allows 250) through a few
``Mavsdk`` instances, one per 10 drones. Each drone is reached on its own connection URL
(``udpin://0.0.0.0:P+i``, as PX4 SITL instance i sends to 14540+i) and identified by its system
id.

- Telemetry: the native plugins call back on MAVSDK's callback thread (one per instance, behind a
  queue MAVSDK caps at 100); each callback only stores the value in the drone's latest-sample slot
  (an atomic dict assignment), so it returns in microseconds and there is no event-loop wake-up
  per message. :meth:`MavsdkVehicle.sample` reads the slot.
- Commands: blocking MAVSDK calls run on a thread pool sized to the fleet, never on the loop and
  never on the small default executor (8 timeouts together would otherwise queue).
- Errors: ``MavsdkError`` and its plugin subclasses become :class:`VehicleError` here, once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import functools
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self, TypeVar

from mavsdk import ComponentType, Configuration, LogLevel, Mavsdk, MavsdkError, log_subscribe
from mavsdk.plugins.action import Action, OrbitYawBehavior
from mavsdk.plugins.camera import Camera
from mavsdk.plugins.follow_me import Config as FollowMeConfig
from mavsdk.plugins.follow_me import FollowMe, TargetLocation
from mavsdk.plugins.gimbal import ControlMode, Gimbal, GimbalMode, SendMode
from mavsdk.plugins.mavlink_direct import MavlinkDirect, MavlinkMessage
from mavsdk.plugins.mission_raw import MissionItem, MissionRaw
from mavsdk.plugins.param import Param
from mavsdk.plugins.telemetry import Telemetry
from mavsdk.plugins.transponder import Transponder

from groundstation.core.vehicle import (
    AdsbReport,
    CameraInfo,
    CameraLink,
    CameraTrack,
    FlightMode,
    FollowConfig,
    FollowLink,
    FollowTarget,
    GeofencePolygon,
    GimbalAttitude,
    Photo,
    StreamInfo,
    TrackerLink,
    VehicleLink,
    VehicleSample,
)
from groundstation.errors import Superseded, VehicleError, VehicleTimeout
from groundstation.tasks import cancel_until_done
from missions.plan import MavlinkItem

log = logging.getLogger(__name__)
T = TypeVar("T")

MAV_FRAME_GLOBAL = 0
MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
MISSION_TYPE_FENCE = 1
MAV_CMD_DO_SET_ROI_NONE = 197
MAV_CMD_SET_MESSAGE_INTERVAL = 511
MAV_RESULT_ACCEPTED = 0
ADSB_BACKLOG = 256  # ADSB_VEHICLE reports kept per drone between two reads
AUTOPILOT_COMPONENT = 1
STREAM_OFF_HZ = -1.0
"""MAVSDK 4.1's ``set_rate_*(0)`` sends SET_MESSAGE_INTERVAL with interval 0, which means "the
default rate"; a negative rate goes out as a negative interval, which PX4 (and the simulator)
take as "stop this stream"."""
UNREAD_STREAMS = ("altitude", "position_velocity_ned")
"""``set_rate_<name>`` of the streams nothing here reads (ALTITUDE, LOCAL_POSITION_NED)."""
PX4_STREAM_RATES_HZ: tuple[tuple[str, int, float], ...] = (
    # Nothing here reads these: off (0).
    ("ATTITUDE_QUATERNION", 31, 0.0),
    ("HIGHRES_IMU", 105, 0.0),
    ("ODOMETRY", 331, 0.0),
    ("ATTITUDE_TARGET", 83, 0.0),
    ("POSITION_TARGET_LOCAL_NED", 85, 0.0),
    ("SERVO_OUTPUT_RAW", 36, 0.0),
    ("DISTANCE_SENSOR", 132, 0.0),
    # Read, but needed no faster than PX4 sends them to a ground station (MAVLINK_MODE_NORMAL):
    # health, in-air and GPS once a second, ground speed and climb 4 times.
    ("SYS_STATUS", 1, 1.0),
    ("EXTENDED_SYS_STATE", 245, 1.0),
    ("GPS_RAW_INT", 24, 1.0),
    ("VFR_HUD", 74, 4.0),
)
"""Streams (name, MAVLink id, Hz; 0 = off) set with SET_MESSAGE_INTERVAL after the rates
MAVSDK has a ``set_rate_*`` for. PX4's API link, the 14540+i a ground station listens on here
(MAVLINK_MODE_ONBOARD), sends IMU, odometry and the like at 10-50 Hz and health, in-air, GPS
and VFR_HUD at 5-10 Hz. Measured on PX4 SITL at a70a5583 with the controller's other rates
set: about 250 messages a second per drone, of which these settings remove about 190. MAVSDK
parses every message and calls Python for every health, in-air, GPS and VFR_HUD one, and on a
cellular link each is paid for. The simulator already streams these at the normal-mode
rates."""
RATE_CONCURRENCY = 8
"""Drones whose stream rates are being set at once: a controller starting with a whole force's
docks (144 for 80 % of every London borough) otherwise sends every drone's four commands at the
same moment, and on a loaded machine all 143 of them timed out."""
RATE_ATTEMPTS = 3
RATE_RETRY_S = 2.0
FLIGHT_CALL_S = 10.0
"""Longest a flight command may hold its drone's turn (MavsdkVehicle.fly). MAVSDK gives up on
an unanswered command after 2 s (four sends 0.5 s apart: DEFAULT_RETRIES 3); this bound is for
a call that never returns."""


@dataclass(frozen=True, slots=True)
class DroneEndpoint:
    """How to reach one drone."""

    drone_id: str
    system_id: int
    url: str


_KEPT_THREADS: set[int] = set()


def keep_thread_state() -> None:
    """Keep the calling MAVSDK thread's Python thread state for good (call from a callback).

    MAVSDK 4's binding calls Python through ctypes on MAVSDK's own threads. For a thread Python
    did not start, every such callback makes a thread state (``PyGILState_Ensure``) and deletes
    it again on return: at 100 drones, 2,000 times a second. One extra ``PyGILState_Ensure``,
    never released, keeps the state alive between callbacks: about a third of the cost of a
    position callback (docs/performance.md). A thread's state then lives until the interpreter
    ends; there are two threads per ``Mavsdk`` instance."""
    ident = threading.get_ident()
    if ident not in _KEPT_THREADS:
        _KEPT_THREADS.add(ident)
        ctypes.pythonapi.PyGILState_Ensure()


class MavsdkVehicle:
    """One drone through MAVSDK. Implements ``groundstation.core.vehicle.VehicleLink``."""

    def __init__(
        self,
        endpoint: DroneEndpoint,
        system: Any,
        executor: ThreadPoolExecutor,
        flight_executor: ThreadPoolExecutor,
        rates: asyncio.Semaphore | None = None,
    ) -> None:
        self.drone_id = endpoint.drone_id
        self.system_id = endpoint.system_id
        self.system = system
        self._executor = executor
        # Flight commands have their own threads (a camera, gimbal or parameter call waiting on
        # the fleet's executor never holds one up) and go out one at a time (``fly``).
        self._flight_executor = flight_executor
        self._flight_lock = asyncio.Lock()
        self._flight_given = 0
        # Shared by the fleet: how many drones' stream rates are set at once.
        self._rates = rates or asyncio.Semaphore(RATE_CONCURRENCY)
        self._camera: MavsdkCamera | None = None
        self._follow: MavsdkFollow | None = None
        self._action = Action(system)
        self._telemetry = Telemetry(system)
        self._param = Param(system)
        self._mission = MissionRaw(system)
        self._s: dict[str, Any] = {"connected": True}
        self._direct: MavlinkDirect | None = None
        self._listener: Callable[[], None] | None = None
        self._subscribe()
        # ADSB_VEHICLE from the drone's receiver, kept bounded until the controller drains it.
        self._adsb: collections.deque[AdsbReport] = collections.deque(maxlen=ADSB_BACKLOG)
        self._transponder = Transponder(system)
        self._transponder.subscribe_transponder(self._on_adsb)

    def _on_adsb(self, a: Any, _: Any) -> None:
        self._adsb.append(AdsbReport(
            int(a.icao_address), str(a.callsign).strip(), a.latitude_deg, a.longitude_deg,
            a.absolute_altitude_m, a.heading_deg % 360.0, a.horizontal_velocity_m_s,
            a.vertical_velocity_m_s, int(a.emitter_type), time.monotonic()))

    def adsb_reports(self) -> list[AdsbReport]:
        out: list[AdsbReport] = []
        while self._adsb:
            out.append(self._adsb.popleft())
        return out

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Called on MAVSDK's thread after every position, armed, in-air and flight-mode update
        (keep it tiny)."""
        self._listener = listener

    async def set_position_rate(self, rate_hz: float) -> None:
        """Ask the vehicle for GLOBAL_POSITION_INT at this rate (PX4 sends 5 Hz by default) and
        ATTITUDE at 2 Hz instead of 15 (the console's attitude indicator needs no more): the
        MAVSDK callback thread must keep up with a whole fleet under the GIL.

        At most ``RATE_CONCURRENCY`` drones of the fleet at once; a timeout is tried again
        ``RATE_ATTEMPTS`` times in all, ``RATE_RETRY_S`` apart (more each time), each logged
        with its reason; the last one raises."""
        for attempt in range(1, RATE_ATTEMPTS + 1):
            try:
                async with self._rates:
                    await self._set_rates(rate_hz)
                return
            except VehicleTimeout as exc:
                if attempt == RATE_ATTEMPTS:
                    raise
                log.info("%s: stream rates not set (attempt %d of %d): %s; trying again",
                         self.drone_id, attempt, RATE_ATTEMPTS, exc)
                await asyncio.sleep(RATE_RETRY_S * attempt)

    async def _set_rates(self, rate_hz: float) -> None:
        await self._call("set_rate_position", lambda: self._telemetry.set_rate_position(rate_hz))
        await self._call("set_rate_attitude", lambda: self._telemetry.set_rate_attitude_euler(2.0))
        # Streams PX4 sends that nothing here reads (ALTITUDE, LOCAL_POSITION_NED) are switched
        # off: each costs MAVSDK a parse per message per drone.
        for name in UNREAD_STREAMS:
            set_rate = getattr(self._telemetry, f"set_rate_{name}")
            await self._call(f"set_rate_{name} off", functools.partial(set_rate, STREAM_OFF_HZ))
        for name, msg_id, hz in PX4_STREAM_RATES_HZ:
            interval_us = 1e6 / hz if hz > 0 else -1.0
            result = await self.command_long(
                f"{name} at {hz:g} Hz", MAV_CMD_SET_MESSAGE_INTERVAL, float(msg_id), interval_us
            )
            if result != MAV_RESULT_ACCEPTED:  # a vehicle that has no such stream says so
                log.debug("%s: %s at %g Hz: MAV_RESULT %d", self.drone_id, name, hz, result)

    # --- telemetry: latest-sample slots filled on MAVSDK's thread ----------------------------

    def _subscribe(self) -> None:
        s = self._s
        tel = self._telemetry

        def position(p: Any, _: Any) -> None:
            keep_thread_state()  # the first, and the most frequent, callback on its thread
            s["lat_deg"] = p.latitude_deg
            s["lon_deg"] = p.longitude_deg
            s["alt_amsl_m"] = p.absolute_altitude_m
            s["alt_rel_m"] = p.relative_altitude_m
            s["updated_s"] = time.monotonic()
            listener = self._listener
            if listener is not None:
                listener()

        def hud(m: Any, _: Any) -> None:
            # VFR_HUD: ground speed, heading and climb in one 4 Hz message instead of three
            # 10 Hz subscriptions (every Python callback costs tens of microseconds).
            s["ground_speed_m_s"] = m.groundspeed_m_s
            s["climb_m_s"] = m.climb_rate_m_s
            if math.isfinite(m.heading_deg):
                s["heading_deg"] = m.heading_deg % 360.0

        def attitude(a: Any, _: Any) -> None:
            s["roll_deg"] = a.roll_deg
            s["pitch_deg"] = a.pitch_deg

        def battery(b: Any, _: Any) -> None:
            s["battery_pct"] = b.remaining_percent
            s["battery_v"] = b.voltage_v

        def gps(g: Any, _: Any) -> None:
            s["satellites"] = g.num_satellites
            s["gps_fix"] = int(g.fix_type)

        def health(h: Any, _: Any) -> None:
            s["global_position_ok"] = h.is_global_position_ok
            s["home_position_ok"] = h.is_home_position_ok
            s["armable"] = h.is_armable

        def home(h: Any, _: Any) -> None:
            s["home_lat_deg"] = h.latitude_deg
            s["home_lon_deg"] = h.longitude_deg
            s["home_alt_amsl_m"] = h.absolute_altitude_m

        def changed() -> None:
            listener = self._listener
            if listener is not None:
                listener()

        def mode(m: Any, _: Any) -> None:
            try:
                s["flight_mode"] = FlightMode(m.name)
            except ValueError:
                s["flight_mode"] = FlightMode.UNKNOWN
            changed()

        def flag(key: str) -> Callable[[Any, Any], None]:
            # Armed and in-air: a pilot must see the change at once, not with the next position.
            def cb(value: Any, _: Any) -> None:
                s[key] = bool(value)
                changed()

            return cb

        tel.subscribe_position(position)
        tel.subscribe_fixedwing_metrics(hud)
        tel.subscribe_attitude_euler(attitude)
        tel.subscribe_battery(battery)
        tel.subscribe_gps_info(gps)
        tel.subscribe_health(health)
        tel.subscribe_home(home)
        tel.subscribe_flight_mode(mode)
        tel.subscribe_armed(flag("armed"))
        tel.subscribe_in_air(flag("in_air"))
        self.system.subscribe_is_connected(
            lambda connected, _: s.__setitem__("connected", connected)
        )

    def armed(self) -> bool:
        return bool(self._s.get("armed", False))

    def made_camera(self) -> MavsdkCamera | None:
        return self._camera

    def sample(self) -> VehicleSample:
        s = self._s
        known = "armed" in s and "in_air" in s and "global_position_ok" in s
        return VehicleSample(**s, state_known=known)

    # --- commands ---------------------------------------------------------------------------

    def camera(self) -> MavsdkCamera:
        """The drone's camera and gimbal (plugins made on first use)."""
        if self._camera is None:
            self._camera = MavsdkCamera(self)
        return self._camera

    def follow(self) -> MavsdkFollow:
        """The drone's Follow Target mode (plugin made on first use)."""
        if self._follow is None:
            self._follow = MavsdkFollow(self)
        return self._follow

    async def mavlink_direct(self) -> Any:
        """The drone's one MavlinkDirect plugin (messages MAVSDK has no plugin call for), made
        on first use and shared by the follow link and the camera."""
        if self._direct is None:
            system = self.system
            self._direct = await self._call("mavlink_direct", lambda: MavlinkDirect(system))
        return self._direct

    async def command_long(
        self, name: str, command: int, *params: float, component: int = AUTOPILOT_COMPONENT
    ) -> int:
        """Send a COMMAND_LONG that MAVSDK has no plugin call for (through MAVLink-direct,
        which waits for the acknowledgement and sends again as MAVSDK does) and return its
        MAV_RESULT (-1 when the acknowledgement cannot be read)."""
        direct = await self.mavlink_direct()
        padded = [*params, *([0.0] * (7 - len(params)))]
        fields = {
            "target_system": self.system_id,
            "target_component": component,
            "command": command,
            "confirmation": 0,
            **{f"param{i}": p for i, p in enumerate(padded, start=1)},
        }
        msg = MavlinkMessage(
            message_name="COMMAND_LONG",
            system_id=0,
            component_id=0,
            target_system_id=self.system_id,
            target_component_id=component,
            fields_json=json.dumps(fields),
        )
        ack = await self._call(name, lambda: direct.send_command(msg))
        try:
            return int(json.loads(ack.fields_json).get("result", -1))
        except (ValueError, TypeError, AttributeError):
            return -1

    async def call(self, name: str, fn: Callable[[], T]) -> T:
        """Run a blocking MAVSDK call on the fleet's executor; MAVSDK's errors become
        VehicleError (VehicleTimeout for a timeout) here, once."""
        return await self._call(name, fn)

    async def _call(
        self, name: str, fn: Callable[[], T], executor: ThreadPoolExecutor | None = None
    ) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor or self._executor, fn)
        except MavsdkError as exc:
            result = getattr(exc, "result", None)
            text = getattr(result, "name", None) or str(exc)
            if "TIMEOUT" in text:
                raise VehicleTimeout(self.drone_id, name, text) from exc
            raise VehicleError(self.drone_id, name, text) from exc

    def flight_ticket(self) -> int:
        """The place of a flight command given now, for ``fly`` (see there)."""
        self._flight_given += 1
        return self._flight_given

    async def fly(self, name: str, fn: Callable[[], T], ticket: int | None = None) -> T:
        """Send a command that changes what the drone flies (a mode, a target, arming).

        MAVSDK sends different commands concurrently, each resent until acknowledged, so two
        commands given a moment apart (an orbit re-issued on adoption, then the return home)
        could reach the vehicle in either order, and the older one win. Here they go out one
        at a time in the order they were given, and a command still waiting its turn when a
        newer one is given is dropped unsent (raises Superseded): the newest command wins.
        ``ticket``, from ``flight_ticket``, dates a command given before its preparation (a
        mission's upload)."""
        mine = self.flight_ticket() if ticket is None else ticket
        async with self._flight_lock:
            if mine != self._flight_given:
                raise Superseded(self.drone_id, name, "superseded by a newer command")
            try:
                # MAVSDK's own retries end long before this; it only keeps a call that never
                # returns from holding up the drone's next commands.
                return await asyncio.wait_for(
                    self._call(name, fn, self._flight_executor), FLIGHT_CALL_S
                )
            except TimeoutError:
                raise VehicleTimeout(
                    self.drone_id, name, f"no answer in {FLIGHT_CALL_S:g} s"
                ) from None

    async def arm(self) -> None:
        await self.fly("arm", self._action.arm)

    async def takeoff(self, alt_rel_m: float) -> None:
        ticket = self.flight_ticket()
        await self._call(
            "set_takeoff_altitude", lambda: self._action.set_takeoff_altitude(alt_rel_m)
        )
        await self.fly("takeoff", self._action.takeoff, ticket)

    async def goto(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        await self.fly(
            "goto_location",
            lambda: self._action.goto_location(lat_deg, lon_deg, alt_amsl_m, math.nan),
        )

    async def orbit(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float, radius_m: float, speed_m_s: float
    ) -> None:
        await self.fly(
            "do_orbit",
            lambda: self._action.do_orbit(
                radius_m,
                speed_m_s,
                OrbitYawBehavior.HOLD_FRONT_TO_CIRCLE_CENTER,
                lat_deg,
                lon_deg,
                alt_amsl_m,
            ),
        )

    async def hold(self) -> None:
        await self.fly("hold", self._action.hold)

    async def land(self) -> None:
        await self.fly("land", self._action.land)

    async def return_to_launch(self) -> None:
        await self.fly("return_to_launch", self._action.return_to_launch)

    async def set_speed(self, speed_m_s: float) -> None:
        await self._call("set_current_speed", lambda: self._action.set_current_speed(speed_m_s))

    async def set_params(self, params: Mapping[str, float | int]) -> None:
        for name, value in params.items():
            await self._call(f"set_param {name}", self._param_setter(name, value))

    def _param_setter(self, name: str, value: float | int) -> Callable[[], None]:
        if isinstance(value, int):
            return lambda: self._param.set_param_int(name, value)
        return lambda: self._param.set_param_float(name, float(value))

    async def get_param_float(self, name: str) -> float:
        return float(
            await self._call(f"get_param {name}", lambda: self._param.get_param_float(name))
        )

    async def fly_mission(self, items: list[MavlinkItem]) -> None:
        """Upload a mission (the MISSION_COUNT / REQUEST_INT / ITEM_INT / ACK exchange) and
        start it (PX4: AUTO.MISSION)."""
        raw = [
            MissionItem(
                seq=i.seq, frame=i.frame, command=i.command, current=int(i.seq == 0),
                autocontinue=i.autocontinue, param1=i.param1, param2=i.param2,
                param3=i.param3, param4=i.param4, x=i.x, y=i.y, z=i.z, mission_type=0,
            )
            for i in items
        ]
        ticket = self.flight_ticket()
        await self._call("upload_mission", lambda: self._mission.upload_mission(raw))
        await self.fly("start_mission", self._mission.start_mission, ticket)

    async def upload_geofence(self, polygons: list[GeofencePolygon]) -> None:
        items: list[Any] = []
        for poly in polygons:
            cmd = (
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                if poly.inclusion
                else MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
            )
            for lat, lon in poly.points:
                items.append(
                    MissionItem(
                        seq=len(items),
                        frame=MAV_FRAME_GLOBAL,
                        command=cmd,
                        current=0,
                        autocontinue=1,
                        param1=float(len(poly.points)),
                        x=round(lat * 1e7),
                        y=round(lon * 1e7),
                        z=0.0,
                        mission_type=MISSION_TYPE_FENCE,
                    )
                )
        await self._call("upload_geofence", lambda: self._mission.upload_geofence(items))


FOLLOW_ENTER_S = 5.0
FOLLOW_DIRECT_AFTER_S = 1.0
"""How long Follow Target may take to show in the vehicle's heartbeat after MAVSDK's start()."""


class MavsdkFollow:
    """PX4's Follow Target through MAVSDK's follow_me plugin. Implements
    ``groundstation.core.vehicle.FollowLink``.

    As measured on PX4 (shared/NOTES.md): ``set_target_location`` fails NOT_ACTIVE until a
    heartbeat shows the mode, so ``start()`` comes first; every field of the config and the
    target is filled (NaN for what is unknown: PX4 then ignores it). ``set_config`` writes
    FLW_TGT_HT, _DST, _RS, _ALT_M, _MAX_VEL and _FA."""

    def __init__(self, vehicle: MavsdkVehicle) -> None:
        self.drone_id = vehicle.drone_id
        self._vehicle = vehicle
        self._plugin: FollowMe | None = None
        self._making = asyncio.Lock()
        self._direct_feed = False

    async def _open(self) -> FollowMe:
        if self._plugin is None:
            async with self._making:
                if self._plugin is None:
                    system = self._vehicle.system
                    self._plugin = await self._vehicle.call(
                        "follow_me plugin", lambda: FollowMe(system)
                    )
        return self._plugin

    async def follow_start(self, config: FollowConfig) -> None:
        fm = await self._open()
        cfg = FollowMeConfig(
            follow_height_m=config.height_m,
            follow_distance_m=config.distance_m,
            responsiveness=config.responsiveness,
            altitude_mode=FollowMeConfig.FollowAltitudeMode.CONSTANT,
            max_tangential_vel_m_s=config.max_vel_m_s,
            follow_angle_deg=config.angle_deg,
        )
        await self._vehicle.call("follow_me set_config", lambda: fm.set_config(cfg))
        await self._vehicle.fly("follow_me start", fm.start)
        # Target positions are refused (NOT_ACTIVE) until the plugin has seen a heartbeat in
        # the mode (its own view: the telemetry's flight mode may be a heartbeat ahead of it).
        # On a drone with a camera component the plugin was seen never to turn active (the
        # camera's own heartbeats, in no flight mode, seem to reset it): once the autopilot
        # has shown the mode for a while, positions go as FOLLOW_TARGET through MAVLink-direct.
        deadline = time.monotonic() + FOLLOW_ENTER_S
        in_mode_since: float | None = None
        self._direct_feed = False
        while not await self._vehicle.call("follow_me is_active", fm.is_active):
            now = time.monotonic()
            if self._vehicle.sample().flight_mode == FlightMode.FOLLOW_ME:
                in_mode_since = in_mode_since or now
                if now - in_mode_since >= FOLLOW_DIRECT_AFTER_S:
                    self._direct_feed = True
                    log.info("%s: follow_me not active in Follow Target: FOLLOW_TARGET direct",
                             self.drone_id)
                    return
            if now >= deadline:
                mode = self._vehicle.sample().flight_mode
                raise VehicleTimeout(
                    self.drone_id,
                    "follow_me start",
                    f"{mode} (in Follow Target since "
                    f"{'never' if in_mode_since is None else f'{now - in_mode_since:.1f} s'})"
                    f" after {FOLLOW_ENTER_S:g} s",
                )
            await asyncio.sleep(0.05)

    async def follow_target(self, target: FollowTarget) -> None:
        if self._direct_feed:
            await self._follow_target_direct(target)
            return
        fm = await self._open()
        loc = TargetLocation(
            latitude_deg=target.lat_deg,
            longitude_deg=target.lon_deg,
            absolute_altitude_m=target.alt_amsl_m,
            velocity_x_m_s=target.vel_n_m_s,
            velocity_y_m_s=target.vel_e_m_s,
            velocity_z_m_s=target.vel_d_m_s,
        )
        await self._vehicle.call(
            "follow_me set_target_location", lambda: fm.set_target_location(loc)
        )

    async def _follow_target_direct(self, target: FollowTarget) -> None:
        """FOLLOW_TARGET as the plugin would send it: position, and velocity when known."""
        direct = await self._vehicle.mavlink_direct()
        vel = (target.vel_n_m_s, target.vel_e_m_s, target.vel_d_m_s)
        has_vel = all(math.isfinite(v) for v in vel)
        alt = target.alt_amsl_m if math.isfinite(target.alt_amsl_m) else 0.0
        fields = {
            "timestamp": int(time.monotonic() * 1000),
            "est_capabilities": 1 | (2 if has_vel else 0),  # POS, VEL
            "lat": round(target.lat_deg * 1e7),
            "lon": round(target.lon_deg * 1e7),
            "alt": alt,
            "vel": list(vel) if has_vel else [0.0, 0.0, 0.0],
            "acc": [0.0, 0.0, 0.0],
            "attitude_q": [1.0, 0.0, 0.0, 0.0],
            "rates": [0.0, 0.0, 0.0],
            "position_cov": [0.0, 0.0, 0.0],
            "custom_state": 0,
        }
        msg = MavlinkMessage(
            message_name="FOLLOW_TARGET",
            system_id=0,
            component_id=0,
            target_system_id=self._vehicle.system_id,
            target_component_id=AUTOPILOT_COMPONENT,
            fields_json=json.dumps(fields),
        )
        await self._vehicle.call("FOLLOW_TARGET", lambda: direct.send_message(msg))

    async def follow_stop(self) -> None:
        fm = await self._open()
        await self._vehicle.fly("follow_me stop", fm.stop)


POLL_S = 0.25
"""How often a camera discovery or a capture result is looked for while waiting for it."""
CAMERA_FIND_S = 5.0
"""How long a command waits for MAVSDK to list the camera again after its plugin was made anew
(the camera's next heartbeat, then its CAMERA_INFORMATION: about a second)."""
CAMERA_IDLE_S = 15.0
"""MAVSDK's camera plugin is destroyed on a disarmed drone this long after its last use, and
made again on the next (a photo, a camera track, arming). While it lives it asks every
component that sends a heartbeat (the autopilot and the gimbal too) for four camera messages
every 5 s, five tries each where the answer is "unsupported": 2,200 commands a second for 250
docked drones, a fifth of the controller's CPU and a third of the simulator's
(docs/performance.md). The video descriptor keeps what the discovery found."""
CAMERA_UPKEEP_S = 5.0
"""How often the fleet releases idle camera plugins and makes them for armed drones."""


def hfov_deg(focal_length_mm: float, sensor_width_mm: float) -> float:
    """Horizontal field of view of a pinhole lens (0 when the camera does not say)."""
    if focal_length_mm > 0 and sensor_width_mm > 0:
        return math.degrees(2.0 * math.atan(sensor_width_mm / (2.0 * focal_length_mm)))
    return 0.0


class MavsdkCamera:
    """A drone's camera (MAVSDK's camera plugin: the MAVLink camera protocol) and gimbal (the
    gimbal plugin: gimbal protocol v2 through the autopilot's gimbal manager). Implements
    ``groundstation.core.vehicle.CameraLink``.

    The plugins are the synchronous classes ``CameraAsync`` and ``GimbalAsync`` wrap: their
    blocking calls run on the fleet's executor like every other command here (the async wrappers
    would queue on the loop's small default executor). ROI none, which the gimbal plugin lacks,
    goes as a COMMAND_LONG through the MAVLink-direct plugin. Capture results and gimbal
    attitude arrive on MAVSDK's thread and are stored in slots, never queued."""

    def __init__(self, vehicle: MavsdkVehicle) -> None:
        self.drone_id = vehicle.drone_id
        self._vehicle = vehicle
        self._cam: Camera | None = None
        self._gimbal: Gimbal | None = None
        self._making = asyncio.Lock()
        self._users = 0  # camera leases held (a call or a wait is using the plugin)
        self._last_use_s = time.monotonic()
        self._has_camera = False  # a discovery found one: worth making the plugin on arming
        self._captures: list[tuple[int, Any]] = []
        self._capture_seq = 0
        self._attitude: GimbalAttitude | None = None
        self._gimbal_id: int | None = None
        self._in_control = False
        self._track: CameraTrack | None = None
        self._status_subs: list[Any] | None = None

    # The plugins are made on first use on the fleet's executor (making one takes milliseconds
    # of C calls: not on the event loop, not for every drone at once). The gimbal's lives as
    # long as the drone; the camera's is leased (CAMERA_IDLE_S).

    @contextlib.asynccontextmanager
    async def _camera(self) -> AsyncIterator[Camera]:
        """The camera plugin, not destroyed while the lease is held."""
        self._users += 1
        try:
            if self._cam is None:
                async with self._making:
                    if self._cam is None:
                        self._cam = await self._vehicle.call("camera plugin", self._make_camera)
            yield self._cam
        finally:
            self._users -= 1
            self._last_use_s = time.monotonic()

    def _make_camera(self) -> Camera:
        camera = Camera(self._vehicle.system)

        def capture(info: Any, _: Any) -> None:
            self._capture_seq += 1
            self._captures = [*self._captures[-15:], (self._capture_seq, info)]

        camera.subscribe_capture_info(capture)
        return camera

    async def _gimbal_plugin(self) -> Gimbal:
        if self._gimbal is None:
            async with self._making:
                if self._gimbal is None:
                    self._gimbal = await self._vehicle.call("gimbal plugin", self._make_gimbal)
        return self._gimbal

    def _make_gimbal(self) -> Gimbal:
        gimbal = Gimbal(self._vehicle.system)

        def attitude(a: Any, _: Any) -> None:
            e = a.euler_angle_forward
            if math.isfinite(e.pitch_deg) and math.isfinite(e.yaw_deg):
                self._attitude = GimbalAttitude(e.pitch_deg, e.yaw_deg, time.monotonic())

        gimbal.subscribe_attitude(attitude)
        return gimbal

    def camera_plugin_alive(self) -> bool:
        return self._cam is not None

    async def upkeep(self, now_s: float, idle_s: float = CAMERA_IDLE_S) -> None:
        """Destroy the camera plugin of a disarmed drone nobody has used for ``idle_s``; make it
        for an armed drone whose camera was found (a photo or a track in flight then needs no
        new discovery)."""
        armed = self._vehicle.armed()
        cam = self._cam
        if cam is None:
            if armed and self._has_camera:
                async with self._camera():
                    pass
            return
        if armed or self._users or now_s - self._last_use_s < idle_s:
            return
        self._cam = None  # checked and taken in one step: no lease can be taken in between
        await self._vehicle.call("camera release", cam.destroy)
        log.debug("%s: camera plugin released", self.drone_id)

    async def _listed(self, camera: Camera, what: str) -> int:
        """The component id of the drone's camera, waiting up to CAMERA_FIND_S for a plugin
        made anew to list it."""
        deadline = time.monotonic() + CAMERA_FIND_S
        while True:
            cameras = await self._vehicle.call("camera_list", camera.camera_list)
            if cameras.cameras:
                return int(cameras.cameras[0].component_id)
            if time.monotonic() >= deadline:
                raise VehicleError(self.drone_id, what, "no camera")
            await asyncio.sleep(POLL_S)

    # --- camera -------------------------------------------------------------------------------

    async def camera_info(self, timeout_s: float) -> CameraInfo | None:
        """Wait up to ``timeout_s`` for a camera component and the stream it advertises. A
        camera that lists itself but never sends its stream information comes back with no
        streams (the controller then falls back to a configured stream, if any)."""
        async with self._camera() as camera:
            info = await self._camera_info(camera, timeout_s)
        self._has_camera = self._has_camera or info is not None
        return info

    async def _camera_info(self, camera: Camera, timeout_s: float) -> CameraInfo | None:
        deadline = time.monotonic() + timeout_s
        found: Any = None
        while found is None:
            cameras = await self._vehicle.call("camera_list", camera.camera_list)
            found = cameras.cameras[0] if cameras.cameras else None
            if found is None:
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(POLL_S)
        streams: tuple[StreamInfo, ...] = ()
        while not streams:
            try:
                info = await self._vehicle.call(
                    "get_video_stream_info",
                    lambda: camera.get_video_stream_info(found.component_id),
                )
            except VehicleError:
                info = None
            if info is not None and info.settings.uri:
                st = info.settings
                running = int(info.status) == 1  # IN_PROGRESS
                streams = (
                    StreamInfo(
                        stream_id=int(info.stream_id),
                        uri=str(st.uri),
                        width_px=int(st.horizontal_resolution_pix),
                        height_px=int(st.vertical_resolution_pix),
                        fps=float(st.frame_rate_hz),
                        bitrate_kbps=int(st.bit_rate_b_s) // 1000,
                        hfov_deg=float(st.horizontal_fov_deg),
                        running=running,
                    ),
                )
            elif time.monotonic() >= deadline:
                break
            else:
                await asyncio.sleep(POLL_S)
        return CameraInfo(
            component_id=int(found.component_id),
            vendor=str(found.vendor_name),
            model=str(found.model_name),
            width_px=int(found.horizontal_resolution_px),
            height_px=int(found.vertical_resolution_px),
            hfov_deg=hfov_deg(found.focal_length_mm, found.horizontal_sensor_size_mm),
            streams=streams,
        )

    async def take_photo(self, timeout_s: float) -> Photo:
        """One still; returns its capture result (position, time, file URL) once the camera
        sends it, or raises VehicleTimeout after ``timeout_s``."""
        async with self._camera() as camera:
            return await self._take_photo(camera, timeout_s)

    async def _take_photo(self, camera: Camera, timeout_s: float) -> Photo:
        component_id = await self._listed(camera, "take_photo")
        before = self._capture_seq
        started = time.monotonic()
        try:
            await self._vehicle.call("take_photo", lambda: camera.take_photo(component_id))
        except VehicleTimeout:
            # The acknowledgement was lost or late: the still may come all the same.
            log.info("%s: take_photo not acknowledged; waiting for the capture", self.drone_id)
        while True:
            new = [info for seq, info in self._captures if seq > before]
            if new:
                info = new[0]
                if not info.is_success:
                    raise VehicleError(self.drone_id, "take_photo", "capture failed")
                p = info.position
                return Photo(
                    lat_deg=float(p.latitude_deg),
                    lon_deg=float(p.longitude_deg),
                    alt_amsl_m=float(p.absolute_altitude_m),
                    alt_rel_m=float(p.relative_altitude_m),
                    taken_ms=int(info.time_utc_us) // 1000,
                    index=int(info.index),
                    file_url=str(info.file_url),
                )
            if time.monotonic() - started >= timeout_s:
                raise VehicleTimeout(
                    self.drone_id, "take_photo", f"no capture result within {timeout_s:.0f} s"
                )
            await asyncio.sleep(POLL_S / 5)

    # --- gimbal -------------------------------------------------------------------------------

    async def _control(self) -> tuple[Gimbal, int]:
        """The gimbal plugin and the gimbal's id, taking primary control of it first (gimbal
        protocol v2)."""
        gimbal = await self._gimbal_plugin()
        if self._gimbal_id is None:
            gimbals = await self._vehicle.call("gimbal_list", gimbal.gimbal_list)
            if not gimbals.gimbals:
                # MAVSDK's blocking calls on a gimbal it has not found never return (seen on
                # PX4 SIH, which has none): no command until one is listed.
                raise VehicleError(self.drone_id, "gimbal", "no gimbal found on this drone")
            self._gimbal_id = int(gimbals.gimbals[0].gimbal_id)
        gid = self._gimbal_id
        if not self._in_control:
            # A gimbal manager that refuses control may still take commands: go on, ask again
            # with the next command.
            try:
                await self._vehicle.call(
                    "gimbal take_control",
                    lambda: gimbal.take_control(gid, ControlMode.PRIMARY),
                )
                self._in_control = True
            except VehicleError as exc:
                log.debug("%s: %s", self.drone_id, exc)
        return gimbal, gid

    async def gimbal_roi(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        """Region of interest. MAVSDK 4.1 sends it as COMMAND_INT in frame 3 (relative) with the
        altitude it is given, which PX4 copies to param7 and its gimbal reads as AMSL: as
        MAVSDK's documentation says, the altitude here is AMSL."""
        gimbal, gid = await self._control()
        await self._vehicle.call(
            "gimbal set_roi_location",
            lambda: gimbal.set_roi_location(gid, lat_deg, lon_deg, alt_amsl_m),
        )

    async def gimbal_pitch_yaw(self, pitch_deg: float, yaw_deg: float) -> None:
        gimbal, gid = await self._control()
        await self._vehicle.call(
            "gimbal set_angles",
            lambda: gimbal.set_angles(
                gid, 0.0, pitch_deg, yaw_deg, GimbalMode.YAW_FOLLOW, SendMode.ONCE
            ),
        )

    async def gimbal_roi_none(self) -> None:
        result = await self._vehicle.command_long("set_roi_none", MAV_CMD_DO_SET_ROI_NONE)
        if result != MAV_RESULT_ACCEPTED:
            raise VehicleError(self.drone_id, "set_roi_none", f"MAV_RESULT {result}")

    def gimbal_attitude(self) -> GimbalAttitude | None:
        return self._attitude

    # --- the camera's tracker (MAV_CMD_CAMERA_TRACK_POINT, CAMERA_TRACKING_*_STATUS) ----------

    async def _tracking_camera(self, camera: Camera) -> int:
        cid = await self._listed(camera, "track_point")
        if self._status_subs is None:
            direct = await self._vehicle.mavlink_direct()
            self._status_subs = [
                direct.subscribe_message("CAMERA_TRACKING_GEO_STATUS", self._on_geo),
                direct.subscribe_message("CAMERA_TRACKING_IMAGE_STATUS", self._on_image),
            ]
        return cid

    def _on_geo(self, msg: Any, _: Any) -> None:
        try:
            f = json.loads(msg.fields_json)
            track = self._track or CameraTrack(active=False)
            if int(f.get("tracking_status", 0)) != 1:
                # Idle (lost, stopped): lat/lon are 0, not a position. The last one stays the
                # target's last known point (it was taken for Null Island and orbited there).
                self._track = replace(track, active=False)
                return
            self._track = replace(
                track,
                active=True,
                lat_deg=int(f["lat"]) / 1e7,
                lon_deg=int(f["lon"]) / 1e7,
                alt_amsl_m=float(f.get("alt", math.nan)),
                vel_n_m_s=float(f.get("vel_n", math.nan)),
                vel_e_m_s=float(f.get("vel_e", math.nan)),
                vel_d_m_s=float(f.get("vel_d", math.nan)),
                geo_updated_s=time.monotonic(),
            )
        except (ValueError, TypeError, KeyError) as exc:
            log.debug("%s: bad CAMERA_TRACKING_GEO_STATUS: %s", self.drone_id, exc)

    def _on_image(self, msg: Any, _: Any) -> None:
        try:
            f = json.loads(msg.fields_json)
            track = self._track or CameraTrack(active=False)
            box = tuple(
                float(f[k]) for k in ("rec_top_x", "rec_top_y", "rec_bottom_x", "rec_bottom_y")
            )
            ok = all(math.isfinite(v) for v in box)
            self._track = replace(
                track,
                active=int(f.get("tracking_status", 0)) == 1,
                box=(box[0], box[1], box[2], box[3]) if ok else None,
                image_updated_s=time.monotonic(),
            )
        except (ValueError, TypeError, KeyError) as exc:
            log.debug("%s: bad CAMERA_TRACKING_IMAGE_STATUS: %s", self.drone_id, exc)

    async def track_point(self, x: float, y: float, radius: float) -> None:
        async with self._camera() as camera:
            cid = await self._tracking_camera(camera)
            self._track = None
            await self._vehicle.call("track_point", lambda: camera.track_point(cid, x, y, radius))

    async def track_stop(self) -> None:
        async with self._camera() as camera:
            cid = await self._tracking_camera(camera)
            await self._vehicle.call("track_stop", lambda: camera.track_stop(cid))
        if self._track is not None:
            self._track = replace(self._track, active=False)

    def track_status(self) -> CameraTrack | None:
        return self._track


_MAVSDK_LOG = logging.getLogger("mavsdk")
_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


def _route_mavsdk_log(level: Any, message: str, file: str | None, line: int) -> bool:
    """MAVSDK's own log lines go to Python logging (debug and info hidden by default)."""
    _MAVSDK_LOG.log(_LEVELS.get(level, logging.INFO), "%s", message)
    return True


log_subscribe(_route_mavsdk_log)


DRONES_PER_INSTANCE = 10
"""MAVSDK runs every user callback of one ``Mavsdk`` on one thread through a queue it caps at 100
and beyond which it drops callbacks. The once-a-second burst of 100 drones (heartbeat, status,
battery, GPS, home... about ten callbacks each in the same few milliseconds, while the event
loop holds the GIL) overflows one queue, and did at 25 drones an instance; at 10 none is lost."""


class MavsdkFleet:
    """Every drone of a controller through a few ``Mavsdk`` instances (one per
    ``DRONES_PER_INSTANCE`` drones, each with its own callback queue and thread). ``async with``
    it."""

    def __init__(
        self,
        endpoints: list[DroneEndpoint],
        *,
        discover_timeout_s: float = 30.0,
        drones_per_instance: int = DRONES_PER_INSTANCE,
    ) -> None:
        self.endpoints = {e.system_id: e for e in endpoints}
        self._by_id: dict[str, MavsdkVehicle] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=min(64, len(endpoints) * 2 + 4), thread_name_prefix="mavsdk"
        )
        # One flight command per drone at a time (MavsdkVehicle.fly).
        self._flight_executor = ThreadPoolExecutor(
            max_workers=min(32, len(endpoints) + 1), thread_name_prefix="mavsdk-fly"
        )
        self._rates = asyncio.Semaphore(RATE_CONCURRENCY)
        self._shards = _shards(endpoints, drones_per_instance)
        self._instances: list[Any] = []
        self._discover_task: asyncio.Task[None] | None = None
        self._upkeep_task: asyncio.Task[None] | None = None
        self.discover_timeout_s = discover_timeout_s
        self._found = asyncio.Event()

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        for urls in self._shards:
            config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
            mavsdk = Mavsdk(config)
            self._instances.append(mavsdk)
            for url in urls:
                try:
                    await loop.run_in_executor(self._executor, mavsdk.add_any_connection, url)
                except MavsdkError as exc:
                    raise VehicleError("fleet", f"add_any_connection {url}", str(exc)) from exc
        self._discover_task = asyncio.create_task(self._discover(), name="mavsdk-discover")
        self._upkeep_task = asyncio.create_task(self._camera_upkeep(), name="camera-upkeep")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in (self._discover_task, self._upkeep_task):
            if task is not None:
                await cancel_until_done(task)
        # A call still running on the executor (a camera discovery, a command waiting for its
        # acknowledgement) holds a plugin's handle although the task that awaited it is
        # cancelled: MAVSDK is not destroyed under it. Queued calls are dropped, running ones
        # end (MAVSDK's own timeouts bound them), then every instance is destroyed.
        for executor in (self._executor, self._flight_executor):
            executor.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(executor.shutdown, wait=True)
        for mavsdk in self._instances:
            await asyncio.to_thread(mavsdk.destroy)
        self._instances = []

    async def _discover(self) -> None:
        """Poll for systems until every endpoint is known (new drones may appear any time)."""
        loop = asyncio.get_running_loop()
        while True:
            for mavsdk in self._instances:
                systems = await loop.run_in_executor(self._executor, mavsdk.get_systems)
                for system in systems:
                    sysid = system.get_system_id()
                    endpoint = self.endpoints.get(sysid)
                    if endpoint is None or endpoint.drone_id in self._by_id:
                        continue
                    if not system.has_autopilot():
                        continue
                    self._by_id[endpoint.drone_id] = MavsdkVehicle(
                        endpoint, system, self._executor, self._flight_executor, self._rates
                    )
                    log.info("discovered %s (system id %d)", endpoint.drone_id, sysid)
            if len(self._by_id) == len(self.endpoints):
                self._found.set()
                return
            await asyncio.sleep(0.2)

    async def _camera_upkeep(self) -> None:
        """Every CAMERA_UPKEEP_S: camera plugins of idle disarmed drones released, those of
        armed drones made (MavsdkCamera.upkeep). One drone's failure is logged and the others
        go on."""
        while True:
            await asyncio.sleep(CAMERA_UPKEEP_S)
            for v in list(self._by_id.values()):
                cam = v.made_camera()
                if cam is None:
                    continue
                try:
                    await cam.upkeep(time.monotonic())
                except VehicleError as exc:
                    log.warning("%s: camera upkeep: %s", v.drone_id, exc)
                except Exception:  # a bug here must not end the upkeep of the others
                    log.exception("%s: camera upkeep", v.drone_id)

    async def add_drone(self, drone_id: str, system_id: int, url: str) -> None:
        """A drone added while running (a registered dock's): listened for on ``url`` (by a
        ``Mavsdk`` of its own unless another drone's URL is the same) and discovered as the
        others are."""
        if system_id in self.endpoints:
            raise VehicleError(drone_id, "add", f"system id {system_id} is taken")
        known = {e.url for e in self.endpoints.values()}
        if url not in known:
            loop = asyncio.get_running_loop()
            mavsdk = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
            try:
                await loop.run_in_executor(self._executor, mavsdk.add_any_connection, url)
            except MavsdkError as exc:
                await loop.run_in_executor(self._executor, mavsdk.destroy)
                raise VehicleError(drone_id, f"add_any_connection {url}", str(exc)) from exc
            self._instances.append(mavsdk)
        self.endpoints[system_id] = DroneEndpoint(drone_id, system_id, url)
        self._found.clear()
        if self._discover_task is None or self._discover_task.done():
            self._discover_task = asyncio.create_task(self._discover(), name="mavsdk-discover")

    async def wait_all(self, timeout_s: float) -> bool:
        """True once every drone has been discovered, False after timeout_s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._found.wait(), timeout_s)
        return self._found.is_set()

    def get(self, drone_id: str) -> MavsdkVehicle | None:
        return self._by_id.get(drone_id)

    def links(self) -> list[VehicleLink]:
        return list(self._by_id.values())

    def adsb_reports(self, drone_id: str) -> list[AdsbReport]:
        v = self._by_id.get(drone_id)
        return [] if v is None else v.adsb_reports()

    def camera(self, drone_id: str) -> CameraLink | None:
        """The drone's camera and gimbal, once the drone itself has been discovered."""
        v = self._by_id.get(drone_id)
        return None if v is None else v.camera()

    def follow(self, drone_id: str) -> FollowLink | None:
        v = self._by_id.get(drone_id)
        return None if v is None else v.follow()

    def tracker(self, drone_id: str) -> TrackerLink | None:
        v = self._by_id.get(drone_id)
        return None if v is None else v.camera()


def _shards(endpoints: list[DroneEndpoint], per_instance: int) -> list[list[str]]:
    """Connection URLs grouped for the ``Mavsdk`` instances: at most ``per_instance`` drones each,
    and the drones sharing a URL (several vehicles on one port) always in the same instance."""
    drones_by_url: dict[str, int] = {}
    for e in endpoints:
        drones_by_url[e.url] = drones_by_url.get(e.url, 0) + 1
    shards: list[list[str]] = []
    count = per_instance
    for url in sorted(drones_by_url):
        if count + drones_by_url[url] > per_instance and count > 0:
            shards.append([])
            count = 0
        shards[-1].append(url)
        count += drones_by_url[url]
    return shards
