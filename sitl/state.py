"""The shared state of one simulated vehicle, and PX4's flight modes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum

from sitl.params import Params
from sitl.physics import Battery, Body, Home, LocalFrame, Setpoint, Wind


def px4_mode(main: int, sub: int = 0) -> int:
    """PX4's HEARTBEAT.custom_mode: main mode in byte 2, sub mode in byte 3."""
    return (main << 16) | (sub << 24)


class FlightMode(IntEnum):
    """PX4 navigation states as HEARTBEAT.custom_mode values (px4_custom_mode.h)."""

    MANUAL = px4_mode(1)
    ALTCTL = px4_mode(2)
    POSCTL = px4_mode(3)
    ORBIT = px4_mode(3, 1)  # PX4_CUSTOM_SUB_MODE_POSCTL_ORBIT
    READY = px4_mode(4, 1)
    TAKEOFF = px4_mode(4, 2)
    HOLD = px4_mode(4, 3)  # AUTO.LOITER
    MISSION = px4_mode(4, 4)
    RTL = px4_mode(4, 5)
    LAND = px4_mode(4, 6)
    FOLLOW_TARGET = px4_mode(4, 8)
    PRECLAND = px4_mode(4, 9)
    ACRO = px4_mode(5)
    OFFBOARD = px4_mode(6)
    STABILIZED = px4_mode(7)

    @classmethod
    def from_main_sub(cls, main: int, sub: int) -> FlightMode | None:
        try:
            return cls(px4_mode(main, sub))
        except ValueError:
            if main in (1, 2, 3, 5, 6, 7):
                return cls(px4_mode(main))
            return None


class CommandFault(IntEnum):
    """Scriptable misbehaviour for one command id (like QGroundControl's MockLink)."""

    NO_ACK = 1  # swallow the command: the client times out
    FAILED = 2  # acknowledge with MAV_RESULT_FAILED without acting
    DROP_FIRST = 3  # ignore the first attempt, handle the retry


class Fault(IntEnum):
    """Faults injectable with MAV_CMD_INJECT_FAILURE (FAILURE_UNIT values)."""

    GPS = 4
    BATTERY = 100
    MOTOR = 101
    MAVLINK_SIGNAL = 105


class LandedState(IntEnum):
    """MAV_LANDED_STATE."""

    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


@dataclass(slots=True)
class VehicleState:
    """Everything the navigator and the telemetry read; owned by SimVehicle."""

    system_id: int
    frame: LocalFrame
    home: Home
    params: Params
    rng: random.Random
    body: Body = field(default_factory=Body)
    battery: Battery = field(default_factory=Battery)
    wind: Wind = field(default_factory=lambda: Wind(0.0, 0.0))
    setpoint: Setpoint = field(default_factory=Setpoint)
    mode: FlightMode = FlightMode.HOLD
    armed: bool = False
    flew_since_arming: bool = False
    sim_time_s: float = 0.0
    faults: set[Fault] = field(default_factory=set)
    crashed: bool = False

    @property
    def rel_alt_m(self) -> float:
        """Height above home (the terrain is flat at the home altitude)."""
        return -self.body.down_m - (self.home.alt_amsl_m - self.frame.alt0_m)

    @property
    def in_air(self) -> bool:
        return not self.body.on_ground

    def position(self) -> tuple[float, float, float]:
        """(lat_deg, lon_deg, alt_amsl_m) of the true position."""
        b = self.body
        return self.frame.to_global(b.north_m, b.east_m, b.down_m)

    def home_ned(self) -> tuple[float, float, float]:
        h = self.home
        return self.frame.to_ned(h.lat_deg, h.lon_deg, h.alt_amsl_m)
