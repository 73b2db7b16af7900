"""PX4's speed and tilt limits in the simulator, pure: the sideways thrust the tilt limit allows,
the top speed it gives against PX4 SIH's drag, and a position move's top speed (measured on PX4
SIH: 9.6-10 m/s at 45 deg, 12.0 at 60)."""

from __future__ import annotations

import math

import pytest

from sitl import Home
from sitl.model import SimVehicle
from sitl.params import Params
from sitl.physics import GRAVITY_M_S2, Body, Limits, Setpoint, Wind, tilt_acc_m_s2

pytestmark = pytest.mark.unit


def test_px4_names_and_defaults() -> None:
    p = Params()
    assert p.get("MPC_TILTMAX_AIR") == 45.0
    assert p.get("MPC_ACC_HOR_MAX") == 5.0
    assert p.get("MPC_JERK_MAX") == 8.0
    assert (p.get("MPC_XY_VEL_P_ACC"), p.get("MPC_XY_VEL_I_ACC")) == (1.8, 0.4)
    p.set("MPC_TILTMAX_AIR", 60.0)
    assert p.get("MPC_TILTMAX_AIR") == 60.0


def test_tilt_limit_and_thrust_headroom() -> None:
    assert tilt_acc_m_s2(45.0, 1.0, 0.5) == pytest.approx(GRAVITY_M_S2)
    assert tilt_acc_m_s2(60.0, 1.0, 0.5) == pytest.approx(GRAVITY_M_S2 * math.sqrt(3.0))
    # at 80 deg the thrust runs out first: what MPC_THR_MAX leaves after the vertical
    assert tilt_acc_m_s2(80.0, 1.0, 0.5) == pytest.approx(GRAVITY_M_S2 * math.sqrt(3.0))
    assert tilt_acc_m_s2(80.0, 0.55, 0.5) < tilt_acc_m_s2(30.0, 1.0, 0.5)


def flat_out(tilt_deg: float) -> float:
    """Follow Target's velocity loop asked for 20 m/s for 30 s: the speed reached."""
    body = Body(on_ground=False, down_m=-20.0)
    lim = Limits(xy_speed_m_s=20.0, acc_xy_m_s2=tilt_acc_m_s2(tilt_deg, 1.0, 0.5))
    sp = Setpoint(velocity=(20.0, 0.0, 0.0), limits=lim, xy_vel_gain_1_s=1.8)
    calm = Wind(0.0, 0.0, gust_sigma_m_s=0.0)
    for _ in range(1500):
        body.step(sp, calm, 0.02)
    return body.ground_speed_m_s


def test_top_speed_follows_the_tilt_limit() -> None:
    assert flat_out(45.0) == pytest.approx(9.8, abs=0.2)  # PX4 SIH: 9.7-9.9 m/s
    assert flat_out(60.0) > 16.0  # a 12 m/s car can be caught


def test_position_moves_top_speed_as_measured_on_px4() -> None:
    v = SimVehicle(Home(51.5, -0.12, 30.0))
    assert v.nav.cruise_m_s(20.0) == pytest.approx(9.6)
    v.state.params.set("MPC_TILTMAX_AIR", 60.0)
    assert v.nav.cruise_m_s(20.0) == pytest.approx(12.0)
    assert v.nav.cruise_m_s(5.0) == pytest.approx(4.6)  # below the top: unchanged
