"""PX4's Follow Target rules in sitl/follow.py, pure: the estimator's fusion and staleness, the
target filter, the climb-first gate and the position controller's feed-forward priority."""

from __future__ import annotations

import math

import pytest

from sitl.follow import (
    FollowSetpoint,
    FollowTarget,
    SecondOrderFilter,
    TargetEstimator,
    TargetFix,
    velocity_command,
)
from sitl.params import Params

pytestmark = pytest.mark.unit
NAN3 = (math.nan, math.nan, math.nan)


def run(est: TargetEstimator, fixes: dict[float, TargetFix], until_s: float,
        dt_s: float = 0.02) -> None:
    t = 0.0
    while t < until_s - 1e-9:
        t = round(t + dt_s, 6)
        est.step(dt_s, t, fixes.get(t), 0.1)


def test_gains_from_responsiveness_as_px4() -> None:
    gp, hp, kp, gv, hv = TargetEstimator.gains(0.1)
    beta = 0.1 ** (1 / 3)
    assert gp == pytest.approx(0.9)
    assert hp == pytest.approx(1.5 * (1 - beta) ** 2 * (1 + beta))
    assert kp == pytest.approx(0.5 * (1 - beta) ** 3)
    assert gv == pytest.approx(1 - (0.9 * beta) ** 2)
    assert hv == pytest.approx((1 - 0.9 * beta) ** 2)
    assert TargetEstimator.gains(0.0) == TargetEstimator.gains(0.1)  # clamped to 0.1..1
    assert TargetEstimator.gains(5.0) == TargetEstimator.gains(1.0)


def test_position_fused_at_most_every_half_second() -> None:
    est = TargetEstimator()
    fixes = {0.02: TargetFix(0.02, (0.0, 0.0, 0.0), NAN3),
             0.42: TargetFix(0.42, (10.0, 0.0, 0.0), NAN3)}  # 0.4 s later: not fused
    run(est, fixes, 0.5)
    assert est.pos[0] == pytest.approx(0.0)
    est2 = TargetEstimator()
    fixes[0.62] = TargetFix(0.62, (10.0, 0.0, 0.0), NAN3)
    del fixes[0.42]
    run(est2, fixes, 0.7)
    assert est2.pos[0] > 5.0  # 0.6 s later: fused (gain 0.9)


def test_velocity_used_when_finite_and_stale_after_three_seconds() -> None:
    est = TargetEstimator()
    run(est, {0.02: TargetFix(0.02, (0.0, 0.0, 0.0), (4.0, 0.0, 0.0))}, 1.0)
    assert est.vel[0] == pytest.approx(4.0)  # initialised from the measured velocity
    assert est.pos[0] == pytest.approx(4.0 * 0.98, abs=0.05)  # coasting on it
    unknown = TargetEstimator()
    run(unknown, {0.02: TargetFix(0.02, (0.0, 0.0, 0.0), (4.0, math.nan, 0.0))}, 1.0)
    assert unknown.vel[0] == 0.0  # NaN in any component: the velocity is not used
    run(est, {}, 3.2)  # no message since 0.02 s: stale from 3.02 s
    assert est.stale(3.2)
    assert est.vel == (0.0, 0.0, 0.0)
    held = est.pos
    run(est, {}, 5.0)
    assert est.pos == held


def test_second_order_filter_follows_a_ramp_without_lag() -> None:
    f = SecondOrderFilter()
    f.reset((0.0, 0.0, 0.0), (4.0, 0.0, 0.0))
    for k in range(1, 501):
        f.update(0.02, (4.0 * 0.02 * k, 0.0, 0.0), (4.0, 0.0, 0.0))
    assert f.state[0] == pytest.approx(40.0, abs=0.1)
    assert f.rate[0] == pytest.approx(4.0, abs=0.01)


def test_climbs_first_then_places_itself_behind() -> None:
    p = Params({"FLW_TGT_HT": 20.0, "FLW_TGT_DST": 10.0})
    ft = FollowTarget(home_down_m=0.0, yaw_rad=0.0)
    fix = TargetFix(0.0, (50.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    ft.on_target(fix)
    sp = ft.step(0.02, 0.02, (0.0, 0.0, -5.0), p)
    assert sp.pos == (0.0, 0.0, -20.0)  # 15 m low: only climb, where it is
    t = 0.02
    for _ in range(1000):  # 20 s: the orbit angle swings from north of the target to behind
        t += 0.02
        sp = ft.step(0.02, t, (0.0, 0.0, -19.0), p)
    assert sp.pos[0] == pytest.approx(40.0, abs=0.5)  # 10 m behind (south of) the target
    assert sp.pos[1] == pytest.approx(0.0, abs=0.5)
    assert sp.pos[2] == -20.0
    assert sp.yaw_rad == pytest.approx(0.0, abs=1e-6)  # facing it


def test_feed_forward_keeps_priority_over_the_position_correction() -> None:
    p = Params()
    sp = FollowSetpoint((100.0, 0.0, -20.0), (0.0, 11.0, 0.0), None)
    vn, ve, vd = velocity_command(sp, (0.0, 0.0, -20.0), p)
    assert math.hypot(vn, ve) == pytest.approx(12.0)  # MPC_XY_VEL_MAX
    assert ve == pytest.approx(11.0)
    assert vd == 0.0
    up = velocity_command(FollowSetpoint((0.0, 0.0, -30.0), (0.0, 0.0, 0.0), None),
                          (0.0, 0.0, -5.0), p)
    assert up[2] == pytest.approx(-3.0)  # MPC_Z_VEL_MAX_UP
