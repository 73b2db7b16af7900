"""PX4 parameters the simulator honours, with PX4's names, types and default values.

PX4 sends every parameter in PARAM_VALUE.param_value, a float field. Float parameters are sent as
their value; INT32 parameters are sent *bytewise*: the four bytes of the int32 are reinterpreted as
a float (PX4's ``param_union``), which is what MAVSDK expects from a PX4 vehicle.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum


class ParamType(IntEnum):
    """The MAV_PARAM_TYPE values PX4 uses."""

    INT32 = 6
    REAL32 = 9


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: name, MAVLink type and PX4 default."""

    name: str
    type: ParamType
    default: float


def _f(name: str, default: float) -> ParamSpec:
    return ParamSpec(name, ParamType.REAL32, default)


def _i(name: str, default: int) -> ParamSpec:
    return ParamSpec(name, ParamType.INT32, float(default))


# PX4 defaults (main a70a5583, multicopter: rc.mc_defaults sets NAV_ACC_RAD 2, RTL_RETURN_ALT 30,
# RTL_DESCEND_ALT 10). Order is the index order of PARAM_REQUEST_LIST.
PX4_PARAMS: tuple[ParamSpec, ...] = (
    _f("MIS_TAKEOFF_ALT", 2.5),
    _f("RTL_RETURN_ALT", 30.0),
    _f("RTL_DESCEND_ALT", 10.0),
    _f("RTL_LAND_DELAY", 0.0),
    _i("RTL_TYPE", 0),
    _f("MPC_XY_CRUISE", 5.0),
    _f("MPC_XY_VEL_MAX", 12.0),
    _f("MPC_Z_VEL_MAX_UP", 3.0),
    _f("MPC_Z_VEL_MAX_DN", 1.5),
    _f("MPC_TKO_SPEED", 1.5),
    _f("MPC_LAND_SPEED", 0.7),
    _f("MPC_ACC_HOR", 3.0),
    _f("MPC_ACC_UP_MAX", 4.0),
    _f("MPC_ACC_DOWN_MAX", 3.0),
    _f("MPC_YAWRAUTO_MAX", 60.0),
    _f("MC_ORBIT_RAD_MAX", 1000.0),
    _f("NAV_ACC_RAD", 2.0),
    _f("NAV_MC_ALT_RAD", 0.8),
    _i("NAV_DLL_ACT", 0),
    _i("NAV_RCL_ACT", 2),
    _i("NAV_TRAFF_AVOID", 1),  # sitl/traffic.py: 0 off, 1 warn, 2 RTL, 3 land, 4 hold
    _f("NAV_TRAFF_A_HOR", 500.0),
    _f("NAV_TRAFF_A_VER", 500.0),
    _i("NAV_TRAFF_COLL_T", 60),
    _i("COM_DL_LOSS_T", 10),
    _f("COM_OF_LOSS_T", 1.0),
    _i("COM_OBL_RC_ACT", 0),
    _f("COM_DISARM_LAND", 2.0),
    _f("COM_DISARM_PRFLT", 10.0),
    _i("COM_LOW_BAT_ACT", 0),
    _f("BAT_LOW_THR", 0.15),
    _f("BAT_CRIT_THR", 0.07),
    _f("BAT_EMERGEN_THR", 0.05),
    _f("BAT1_CAPACITY", 5000.0),
    _i("BAT1_N_CELLS", 4),
    _i("GF_ACTION", 2),
    _f("GF_MAX_HOR_DIST", 0.0),
    _f("GF_MAX_VER_DIST", 0.0),
    _i("SYS_FAILURE_EN", 0),
    _i("SYS_AUTOSTART", 10040),
    _i("MAV_SYS_ID", 1),
    _i("MAV_TYPE", 2),
    _i("COM_ARM_WO_GPS", 1),
    # Flight dynamics (PX4 a70a5583 multicopter defaults): auto-mode climb/descent, jerk, take-off
    # ramp, landing slow-down, turn speed, RTL cone, land detector, motor spool-up.
    _f("MPC_Z_V_AUTO_UP", 3.0),
    _f("MPC_Z_V_AUTO_DN", 1.5),
    _f("MPC_JERK_AUTO", 4.0),
    _f("MPC_XY_TRAJ_P", 0.5),
    _f("MPC_TKO_RAMP_T", 3.0),
    _f("MPC_Z_VEL_P_ACC", 4.0),
    _f("MPC_LAND_ALT1", 10.0),
    _f("MPC_LAND_ALT2", 5.0),
    _f("RTL_MIN_DIST", 10.0),
    _i("RTL_CONE_ANG", 45),
    _f("LNDMC_TRIG_TIME", 1.0),
    _f("COM_SPOOLUP_TIME", 1.0),
    _f("MPC_YAWRAUTO_ACC", 20.0),
    _f("MIS_YAW_ERR", 12.0),
    # Speed and tilt limits (mc_pos_control_params.c, a70a5583): the tilt limit caps the
    # horizontal thrust (ControlMath::limitTilt), the thrust limits what is left of it after the
    # vertical (PositionControl), the velocity loop's PI gains push against the airframe's drag.
    _f("MPC_TILTMAX_AIR", 45.0),
    _f("MPC_ACC_HOR_MAX", 5.0),
    _f("MPC_JERK_MAX", 8.0),
    _f("MPC_THR_MAX", 1.0),
    _f("MPC_THR_HOVER", 0.5),
    _f("MPC_XY_VEL_P_ACC", 1.8),
    _f("MPC_XY_VEL_I_ACC", 0.4),
    # Follow Target (follow_target_params.c): height over home (min 8), distance, angle from the
    # target's course (180 = behind), altitude mode (0 constant, 1 terrain, 2 the target's),
    # orbit speed (max 20), estimator responsiveness (0.1..1, lower = more responsive).
    _f("FLW_TGT_HT", 8.0),
    _f("FLW_TGT_DST", 8.0),
    _f("FLW_TGT_FA", 180.0),
    _i("FLW_TGT_ALT_M", 0),
    _f("FLW_TGT_MAX_VEL", 5.0),
    _f("FLW_TGT_RS", 0.1),
)

_SPECS = {p.name: p for p in PX4_PARAMS}


def float_bits_of_int(value: int) -> float:
    """The float whose four bytes are the int32 ``value`` (PX4's bytewise encoding)."""
    return float(struct.unpack("<f", struct.pack("<i", value))[0])


def int_of_float_bits(value: float) -> int:
    """Inverse of :func:`float_bits_of_int`."""
    return int(struct.unpack("<i", struct.pack("<f", value))[0])


class Params:
    """The parameter table of one vehicle: typed values, PX4 names, wire encoding."""

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self._values: dict[str, float] = {p.name: p.default for p in PX4_PARAMS}
        self._names: list[str] = [p.name for p in PX4_PARAMS]
        self.version = 0  # bumped by every set(), for readers that cache derived values
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __len__(self) -> int:
        return len(self._names)

    def get(self, name: str) -> float:
        """The value (an int parameter is returned as a whole float)."""
        return self._values[name]

    def get_int(self, name: str) -> int:
        return round(self._values[name])

    def set(self, name: str, value: float) -> None:
        """Set a parameter by name; int parameters are rounded. KeyError when unknown."""
        spec = _SPECS[name]
        if not math.isfinite(value):
            raise ValueError(f"{name}: value must be finite")
        self._values[name] = float(round(value)) if spec.type is ParamType.INT32 else float(value)
        self.version += 1

    def index_of(self, name: str) -> int:
        return self._names.index(name)

    def name_at(self, index: int) -> str | None:
        return self._names[index] if 0 <= index < len(self._names) else None

    def type_of(self, name: str) -> ParamType:
        return _SPECS[name].type

    def wire_value(self, name: str) -> float:
        """The PARAM_VALUE.param_value field for this parameter."""
        if _SPECS[name].type is ParamType.INT32:
            return float_bits_of_int(round(self._values[name]))
        return self._values[name]

    def set_from_wire(self, name: str, wire: float, wire_type: int) -> None:
        """Apply a PARAM_SET: decode int types bytewise, floats as they are."""
        if wire_type in (ParamType.REAL32, 10):  # REAL32, REAL64
            self.set(name, wire)
        else:
            self.set(name, float(int_of_float_bits(wire)))
