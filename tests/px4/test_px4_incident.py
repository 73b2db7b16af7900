"""Incidents flown by real PX4 SITL through the real controller, simulated docks and mosquitto:
``groundstation demo --vehicles px4`` run as a user runs it, with a separate subscriber that
watches everything the stack publishes (as tests/e2e/test_demo.py does on the simulator)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus, Message
from missions.sites import load_sites
from tests.px4.conftest import layer_speed

pytestmark = pytest.mark.px4

ROOT = Path(__file__).resolve().parents[2]
SITES = Path(__file__).parent / "data" / "islington-2.json"
# Two scenes about 700 m from the Islington docks, clear of restricted airspace.
INCIDENTS = ["51.52760,-0.10874", "51.53393,-0.09870"]
ON_SCENE_S = 30.0
FIRST_INSTANCE = 4  # ports 14544-14545: the simulator's tests on PX4 use 0-3 (two workers)
ORBIT_RADIUS_M = 40.0  # ControllerConfig.orbit_radius_m
LANDED_WITHIN_M = 3.5  # of its dock (docs/px4.md: how far PX4's reports wander)
ALT_WANDER_M = 1.5  # PX4 SIH's AMSL estimate on its dock before take-off vs. the roof
LANDED_ALT_WANDER_M = 2.5  # the estimate after a flight vs. the one before (docs/px4.md)


def dist_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    k = math.radians(1.0) * 6_371_008.8
    return math.hypot((lat2 - lat1) * k, (lon2 - lon1) * k * math.cos(math.radians(lat1)))


async def test_two_incidents_flown_by_px4_end_to_end(mosquitto: Mosquitto, tmp_path: Path) -> None:
    seen: list[Message] = []
    log = tmp_path / "demo.log"
    async with Bus(mosquitto.config, f"watcher-{os.getpid()}") as bus:
        await bus.subscribe(f"{c.PREFIX}/#", qos=1)

        async def record() -> None:
            async for msg in bus.messages():
                seen.append(msg)

        watcher = asyncio.create_task(record())
        with log.open("wb") as out:
            demo = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "groundstation", "demo", "--headless", "--vehicles", "px4",
                "--sites", str(SITES), "--incident", INCIDENTS[0], "--incident", INCIDENTS[1],
                "--px4-first-instance", str(FIRST_INSTANCE),
                "--speedup", f"{layer_speed():g}", "--on-scene", f"{ON_SCENE_S:g}",
                "--broker", f"mqtt://127.0.0.1:{mosquitto.port}", "--timeout", "420",
                stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            )
        try:
            rc = await asyncio.wait_for(demo.wait(), 480)
        finally:
            if demo.returncode is None:  # PX4 children go with it (SIGTERM, then its cleanup)
                os.killpg(demo.pid, signal.SIGTERM)
                await demo.wait()
            await asyncio.sleep(0.5)
            watcher.cancel()
    text = log.read_text(errors="replace")
    assert rc == 0, text[-4000:]
    summary = json.loads(text.strip().splitlines()[-1])
    assert summary["incidents"] == 2 and summary["completed"] == 2 and summary["failed"] == 0
    for phase in ("preflight", "launching", "transit", "on_scene", "returning", "landing"):
        assert f" {phase} for inc-" in text, f"no progress line for {phase}"

    docks = {d.drone_id: d for d in load_sites(str(SITES)).docks}
    telemetry = [c.decode(m.payload, c.Telemetry) for m in seen
                 if m.topic.endswith("/telemetry") and "/drones/" in m.topic]
    airborne = {t.drone_id for t in telemetry if t.in_air and t.alt_rel_m > 20}
    assert airborne == set(docks), "both PX4 drones flew (telemetry over MQTT)"
    incidents = {i.incident_id: i for i in (c.decode(m.payload, c.Incident) for m in seen
                                            if "/incidents/" in m.topic)}
    closed = [i for i in incidents.values() if i.status == c.IncidentStatus.CLOSED]
    assert len(closed) == 2
    for inc in closed:  # PX4 orbited each scene at the controller's radius
        on_scene = [t for t in telemetry if t.phase == c.Phase.ON_SCENE and t.in_air
                    and dist_m(t.lat_deg, t.lon_deg, inc.lat_deg, inc.lon_deg) < 3 * ORBIT_RADIUS_M]
        assert len(on_scene) > 10, f"no on-scene telemetry near {inc.incident_id}"
        radii = [dist_m(t.lat_deg, t.lon_deg, inc.lat_deg, inc.lon_deg) for t in on_scene[-10:]]
        assert all(abs(r - ORBIT_RADIUS_M) < 10 for r in radii), radii
    last_state: dict[str, c.DroneState] = {}
    for m in seen:
        if m.topic.endswith("/state") and "/drones/" in m.topic:
            st = c.decode(m.payload, c.DroneState)
            last_state[st.drone_id] = st
    final = {t.drone_id: t for t in telemetry}
    before: dict[str, c.Telemetry] = {}  # the last report on the dock before take-off
    flown: set[str] = set()
    for t in telemetry:
        flown |= {t.drone_id} if t.armed or t.in_air else set()
        if t.drone_id not in flown:
            before[t.drone_id] = t
    for drone_id, dock in docks.items():
        st = last_state[drone_id]
        assert st.phase in (c.Phase.CHARGING, c.Phase.DOCKED), st
        assert st.dock_id == st.home_dock_id == dock.dock_id
        t, t0 = final[drone_id], before[drone_id]
        assert not t.in_air and not t.armed
        # PX4 lands where it is when the controller commands Land (within 4 m of the dock at
        # under 2 m/s: groundstation/control/watch.py), and its estimate follows the simulated GPS's
        # noise: reported 0.4-1.8 m from the dock over 12 such landings, 2.07 and 2.19 m in CI
        # (docs/px4.md). 3.5 m is under half the 8 m between the two docks: landing on the
        # other dock, or anywhere else, fails.
        away_m = dist_m(t.lat_deg, t.lon_deg, dock.lat_deg, dock.lon_deg)
        assert away_m < LANDED_WITHIN_M, f"{drone_id} landed {away_m:.2f} m from its dock"
        # Back at the height it took off from, by PX4's own estimate (AMSL: the relative
        # altitude jumps by more as PX4 moves its home), and that was the dock's roof. After a
        # flight the estimate is off by more than before it: -0.50 to +0.83 m over 12 landings
        # of this test, -1.39 to +0.81 m over 42 of bench.px4_spread, +1.62 m once in CI, while
        # SIH's truth stayed within 0.14 m (docs/px4.md). SIH's ground is flat: this checks
        # that the drone is down, with the flags above, not which roof it is on.
        assert abs(t.alt_amsl_m - t0.alt_amsl_m) < LANDED_ALT_WANDER_M, (
            t0.alt_amsl_m, t.alt_amsl_m)
        assert abs(t0.alt_amsl_m - dock.alt_amsl_m) < ALT_WANDER_M, (t0.alt_amsl_m, dock)
