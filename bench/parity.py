"""The simulator held to PX4: one MAVSDK flight script, flown on real PX4 SITL or on ``sitl``.

    python -m bench.parity --px4 [--instance 9] [--runs 3]     # real PX4 SIH in ../shared/px4-sitl
    python -m bench.parity --sim [--speedup 1] [--runs 1]      # the embedded simulator
    python -m bench.parity --sim --compare tests/sitl/data/px4_parity.json

Prints JSON: each phase's time in the vehicle's seconds (wall seconds for PX4, which runs in real
time; simulated seconds for the simulator, at any speed-up) and the flight modes each flight showed.
Run PX4 inside a private network namespace so nothing else holds its ports (as root:
``unshare -n sh -c 'ip link set lo up && python -m bench.parity --px4'``).

The script (both flights start on the ground at home, PX4's default parameters):

1. ``takeoff``: MIS_TAKEOFF_ALT 15 m, arm, takeoff; until 14.5 m above home.
2. ``goto``: goto_location 150 m north at 15 m; until within 1.5 m of the point.
3. ``orbit``: do_orbit radius 40 m, 5 m/s, centred where it is (the controller's on-scene orbit);
   until within 1.5 m of the circle ("joined").
4. ``rtl``: climb to 35 m over the orbit centre, then return_to_launch; until disarmed.
5. ``mission``: a second flight: a 60 m square at 20 m (4 waypoints, the last over home) and an RTL
   item, started after a 15 m takeoff; until the 4th waypoint is reached.
6. ``mission_rtl``: from there (over home, RTL item next) until disarmed.

``modes``: the flight modes each flight showed, in order; ``after_landing``: those shown from touch
down until 5 s after disarm.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from missions.geo import distance_m, offset
from sitl import Home, SimFleet

PHASES = ("takeoff", "goto", "orbit", "rtl", "mission", "mission_rtl")
PHASE_TITLES = {
    "takeoff": "take-off to 15 m",
    "goto": "goto 150 m",
    "orbit": "orbit joined (r 40 m)",
    "rtl": "RTL from 35 m, 150 m out, to disarmed",
    "mission": "4-waypoint mission (60 m square)",
    "mission_rtl": "mission RTL item over home to disarmed",
}
TOLERANCE = 0.15  # the simulator's phases are held within 15 % of PX4's
HOME = Home(51.5313, -0.1037, 30.0)  # run-instance's default home (a London roof)
TAKEOFF_ALT_M = 15.0
GOTO_NORTH_M = 150.0
ORBIT_RADIUS_M = 40.0
ORBIT_SPEED_M_S = 5.0
RTL_FROM_ALT_M = 35.0
MISSION_ALT_M = 20.0
MISSION_SIDE_M = 60.0
REACHED_M = 1.5
AFTER_DISARM_S = 5.0
PX4_ENV = "GS_PX4_HOME"
DATA_FILE = Path(__file__).resolve().parents[1] / "tests" / "sitl" / "data" / "px4_parity.json"


def px4_home() -> Path:
    """The PX4 SITL build: $GS_PX4_HOME, else ../shared/px4-sitl next to the checkout."""
    env = os.environ.get(PX4_ENV)
    here = Path(__file__).resolve().parents[1]
    candidates = [Path(env)] if env else [here.parent / "shared" / "px4-sitl",
                                          here.parents[1] / "shared" / "px4-sitl"]
    for c in candidates:
        if (c / "run-instance").is_file():
            return c
    looked = ", ".join(map(str, candidates))
    raise SystemExit(f"parity: no PX4 SITL build (no run-instance in {looked}); set {PX4_ENV}")


@dataclass
class Flight:
    """What one flight showed: mode changes with their times, and phase times."""

    modes: list[str] = field(default_factory=list)
    after_landing: list[str] = field(default_factory=list)


@dataclass
class Result:
    phases: dict[str, float] = field(default_factory=dict)
    flights: list[Flight] = field(default_factory=list)
    trace: list[tuple[float, float, float, float, str, bool, bool, int]] = field(
        default_factory=list
    )

    def as_json(self) -> dict[str, Any]:
        return {
            "phases_s": {k: round(v, 2) for k, v in self.phases.items()},
            "modes": [f.modes for f in self.flights],
            "after_landing": [f.after_landing for f in self.flights],
        }


class Watch:
    """The latest telemetry, stamped with the vehicle's clock, and a way to wait on it."""

    def __init__(self, clock: Callable[[], float], speedup: float) -> None:
        self.clock = clock
        self.speedup = speedup
        self.lat = self.lon = math.nan
        self.rel_alt_m = math.nan
        self.mode = ""
        self.armed = False
        self.on_ground = True
        self.mission_current = -1
        self.flight: Flight | None = None
        self._touchdown: bool = False
        self._changed = asyncio.Event()
        self.trace: list[tuple[float, float, float, float, str, bool, bool, int]] = []

    def update(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, v)
        f = self.flight
        if f is not None and "mode" in kw and (not f.modes or f.modes[-1] != self.mode):
            f.modes.append(self.mode)
            if self._touchdown:
                f.after_landing.append(self.mode)
        self.trace.append((round(self.clock(), 2), self.lat, self.lon, round(self.rel_alt_m, 2),
                           self.mode, self.armed, self.on_ground, self.mission_current))
        self._changed.set()

    def touchdown(self) -> None:
        """From now on, the modes shown count as 'after landing'."""
        self._touchdown = True
        if self.flight is not None:
            self.flight.after_landing.append(self.mode)

    def start_flight(self) -> Flight:
        self.flight = Flight(modes=[self.mode])
        self._touchdown = False
        return self.flight

    async def until(self, what: str, cond: Callable[[], bool], timeout_s: float) -> float:
        """Wait until cond() holds; returns the vehicle time it first did. timeout_s is in
        vehicle seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s / self.speedup + 10.0
        while not cond():
            self._changed.clear()
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError(f"parity: timed out waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        return self.clock()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of vehicle time (telemetry keeps arriving meanwhile)."""
        end = self.clock() + seconds
        await self.until(f"{seconds} s", lambda: self.clock() >= end, seconds)

    def dist_to(self, lat: float, lon: float) -> float:
        return distance_m(self.lat, self.lon, lat, lon)


async def _follow(watch: Watch, tel: Any, mission: Any) -> None:
    async def position() -> None:
        async for p in tel.subscribe_position():
            watch.update(lat=p.latitude_deg, lon=p.longitude_deg, rel_alt_m=p.relative_altitude_m)

    async def mode() -> None:
        async for m in tel.subscribe_flight_mode():
            watch.update(mode=m.name)

    async def armed() -> None:
        async for a in tel.subscribe_armed():
            watch.update(armed=bool(a))

    async def landed() -> None:
        async for s in tel.subscribe_landed_state():
            watch.update(on_ground=s.name == "ON_GROUND")

    async def progress() -> None:
        async for p in mission.subscribe_mission_progress():
            watch.update(mission_current=p.current)

    async with asyncio.TaskGroup() as tg:
        for fn in (position, mode, armed, landed, progress):
            tg.create_task(fn(), name=f"parity-{fn.__name__}")


def _mission_items(home: Home) -> list[Any]:
    from mavsdk.plugins.mission_raw import MissionItem

    corners = [(MISSION_SIDE_M, 0.0), (MISSION_SIDE_M, MISSION_SIDE_M), (0.0, MISSION_SIDE_M),
               (0.0, 0.0)]
    items = []
    for i, (n, e) in enumerate(corners):
        p = offset(home.lat_deg, home.lon_deg, n, e)
        items.append(MissionItem(
            seq=i, frame=3, command=16, current=int(i == 0), autocontinue=1, param1=0.0,
            param2=0.0, param3=0.0, param4=math.nan, x=round(p.lat_deg * 1e7),
            y=round(p.lon_deg * 1e7), z=MISSION_ALT_M, mission_type=0,
        ))
    items.append(MissionItem(
        seq=4, frame=2, command=20, current=0, autocontinue=1, param1=0.0, param2=0.0,
        param3=0.0, param4=0.0, x=0, y=0, z=0.0, mission_type=0,
    ))
    return items


async def _set_rates(system: Any, tel: Any, speedup: float) -> None:
    """Faster telemetry, so that phase times are resolved to about 0.1 vehicle seconds: MAVSDK's
    own rate calls for what it streams, SET_MESSAGE_INTERVAL for HEARTBEAT (mode, armed) and
    MISSION_CURRENT. Called after subscribing, since subscribing sets MAVSDK's default rates."""
    from mavsdk.asyncio.plugins.mavlink_direct import MavlinkDirectAsync
    from mavsdk.plugins.mavlink_direct import MavlinkMessage

    hz = min(10.0 * speedup, 50.0)
    await tel.set_rate_position(hz)
    await tel.set_rate_landed_state(hz)
    await tel.set_rate_in_air(hz)
    direct = MavlinkDirectAsync(system)
    sysid = await system.get_system_id()
    for msg_id in (0, 42):  # HEARTBEAT, MISSION_CURRENT
        fields = {"target_system": sysid, "target_component": 1, "command": 511,
                  "confirmation": 0, "param1": msg_id, "param2": 1e6 / hz, "param3": 0,
                  "param4": 0, "param5": 0, "param6": 0, "param7": 0}
        await direct.send_command(MavlinkMessage(
            message_name="COMMAND_LONG", system_id=0, component_id=0, target_system_id=sysid,
            target_component_id=1, fields_json=json.dumps(fields)))
    direct.destroy()


async def fly(url: str, home: Home | None, clock: Callable[[], float], speedup: float,
              restart: Callable[[], None] | None = None) -> Result:
    """Fly the script on the vehicle at `url`; `clock` is the vehicle's time in seconds."""
    from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
    from mavsdk.asyncio.plugins.action import ActionAsync, OrbitYawBehavior
    from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
    from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

    result = Result()
    config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    async with Mavsdk(config) as mavsdk:
        await mavsdk.add_any_connection(url)
        if restart is not None:
            restart()
        system = await mavsdk.first_autopilot(30.0)
        if system is None:
            raise SystemExit(f"parity: no autopilot on {url}")
        tel, action = TelemetryAsync(system), ActionAsync(system)
        mission = MissionRawAsync(system)
        if restart is not None:
            restart()
        watch = Watch(clock, speedup)
        async with asyncio.TaskGroup() as tg:
            follower = tg.create_task(_follow(watch, tel, mission), name="parity-follow")
            try:
                await _healthy(tel)
                await _set_rates(system, tel, speedup)
                if home is None:
                    hp = await tel.home()
                    home = Home(hp.latitude_deg, hp.longitude_deg, hp.absolute_altitude_m)
                await watch.until("position and mode",
                                  lambda: math.isfinite(watch.lat) and watch.mode != "", 30.0)
                await _flight_one(watch, action, home, result, OrbitYawBehavior)
                await _flight_two(watch, action, mission, home, result)
            finally:
                follower.cancel()
                result.trace = watch.trace
    return result


async def _healthy(tel: Any) -> None:
    for _ in range(600):
        h = await tel.health()
        if h.is_global_position_ok and h.is_home_position_ok and h.is_armable:
            return
        await asyncio.sleep(0.1)
    raise SystemExit("parity: the vehicle never became armable")


async def _arm_takeoff(watch: Watch, action: Any) -> float:
    await action.set_takeoff_altitude(TAKEOFF_ALT_M)
    await action.arm()
    await action.takeoff()
    t0 = watch.clock()  # phases start when the vehicle acknowledged the command
    t = await watch.until("takeoff", lambda: watch.rel_alt_m >= TAKEOFF_ALT_M - 0.5, 120.0)
    await watch.until("hold after takeoff", lambda: watch.mode == "HOLD", 60.0)
    return t - t0


async def _landed(watch: Watch) -> float:
    """Wait for touch down, then for the disarm; returns the disarm time."""
    await watch.until("touch down", lambda: watch.on_ground, 600.0)
    watch.touchdown()
    return await watch.until("disarmed", lambda: not watch.armed, 60.0)


async def _flight_one(watch: Watch, action: Any, home: Home, result: Result,
                      yaw_behaviour: Any) -> None:
    flight = watch.start_flight()
    result.flights.append(flight)
    result.phases["takeoff"] = await _arm_takeoff(watch, action)
    await watch.sleep(2.0)

    target = offset(home.lat_deg, home.lon_deg, GOTO_NORTH_M, 0.0)
    await action.goto_location(target.lat_deg, target.lon_deg,
                               home.alt_amsl_m + TAKEOFF_ALT_M, math.nan)
    t0 = watch.clock()
    t = await watch.until("goto", lambda: watch.dist_to(target.lat_deg, target.lon_deg)
                          < REACHED_M, 300.0)
    result.phases["goto"] = t - t0
    await watch.sleep(2.0)

    await action.do_orbit(ORBIT_RADIUS_M, ORBIT_SPEED_M_S,
                          yaw_behaviour.HOLD_FRONT_TO_CIRCLE_CENTER,
                          target.lat_deg, target.lon_deg, home.alt_amsl_m + TAKEOFF_ALT_M)
    t0 = watch.clock()
    t = await watch.until(
        "orbit joined",
        lambda: abs(watch.dist_to(target.lat_deg, target.lon_deg) - ORBIT_RADIUS_M) < REACHED_M,
        120.0,
    )
    result.phases["orbit"] = t - t0
    await watch.sleep(10.0)

    await action.goto_location(target.lat_deg, target.lon_deg,
                               home.alt_amsl_m + RTL_FROM_ALT_M, math.nan)
    await watch.until(
        "climb to 35 m",
        lambda: watch.dist_to(target.lat_deg, target.lon_deg) < REACHED_M
        and watch.rel_alt_m > RTL_FROM_ALT_M - 0.5,
        300.0,
    )
    await watch.sleep(2.0)
    await action.return_to_launch()
    t0 = watch.clock()
    result.phases["rtl"] = await _landed(watch) - t0
    await watch.sleep(AFTER_DISARM_S)


async def _flight_two(watch: Watch, action: Any, mission: Any, home: Home,
                      result: Result) -> None:
    await mission.upload_mission(_mission_items(home))
    flight = watch.start_flight()
    result.flights.append(flight)
    result.phases["takeoff_2"] = await _arm_takeoff(watch, action)
    await watch.sleep(2.0)
    await mission.start_mission()
    t0 = watch.clock()
    t1 = await watch.until("4th waypoint", lambda: watch.mission_current >= 4, 600.0)
    result.phases["mission"] = t1 - t0
    result.phases["mission_rtl"] = await _landed(watch) - t1
    await watch.sleep(AFTER_DISARM_S)


# ---- backends ---------------------------------------------------------------------------------


def _runnable_bin(build: Path, into: Path) -> Path:
    """PX4's ``bin/``: the ``px4-*`` command links must be symbolic links to ``px4`` (PX4 picks
    the command from the name it is run as). A copy that turned them into small text files is
    repaired into ``into``; an intact one is used as it is."""
    bin_dir = build / "bin"
    probe = bin_dir / "px4-param"
    if probe.is_symlink() or (probe.is_file() and os.access(probe, os.X_OK)):
        return bin_dir
    into.mkdir(parents=True, exist_ok=True)
    for f in bin_dir.iterdir():
        link = into / f.name
        if f.name == "px4":
            link.symlink_to(f)
        elif f.name.startswith("px4-") and f.stat().st_size < 16 and not f.name.endswith(".sh"):
            link.symlink_to("px4")
        else:
            link.symlink_to(f)
    return into


@contextlib.asynccontextmanager
async def px4_instance(instance: int, home: Home) -> AsyncIterator[str]:
    """Start PX4 SITL (SIH quadrotor) instance `instance`, as ``run-instance`` does; stopped
    with SIGTERM. Yields the MAVSDK url of its API link."""
    build = px4_home()
    with tempfile.TemporaryDirectory(prefix="parity-px4-") as tmp:
        bin_dir = _runnable_bin(build, Path(tmp) / "bin")
        work = Path(tmp) / "wd"
        work.mkdir()
        log = Path(tmp) / "px4.log"
        env = {**os.environ, "PX4_SYS_AUTOSTART": "10040", "PX4_SIM_MODEL": "sihsim_quadx",
               "PX4_SIMULATOR": "sihsim", "PX4_HOME_LAT": str(home.lat_deg),
               "PX4_HOME_LON": str(home.lon_deg), "PX4_HOME_ALT": str(home.alt_amsl_m),
               "PX4_PARAM_SDLOG_MODE": os.environ.get("PX4_PARAM_SDLOG_MODE", "-1"),
               "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: ASYNC220  (starting it does not block)
                [str(bin_dir / "px4"), "-i", str(instance), "-d", str(build / "etc")],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            for _ in range(300):
                text = log.read_bytes()
                if b"Startup script returned successfully" in text:
                    break
                if proc.poll() is not None or b"Startup script returned with return" in text:
                    raise SystemExit(f"parity: PX4 failed to start:\n{log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)
            yield f"udpin://0.0.0.0:{14540 + min(instance, 9)}"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 15.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


async def run_px4(instance: int) -> Result:
    loop = asyncio.get_running_loop()
    async with px4_instance(instance, HOME) as url:
        return await fly(url, None, loop.time, 1.0)


async def run_sim(speedup: float, seed: int = 0, port: int | None = None) -> Result:
    from groundstation.adapters.broker import free_udp_range

    base = port or free_udp_range(1)
    # Simulated time must not race ahead of a client starved of CPU (both run in this process):
    # a late tick catches up at most two ticks, so phase times stay in simulated seconds.
    async with SimFleet([HOME], base_port=base, speedup=speedup, seed=seed,
                        max_catch_up_s=0.04) as fleet:
        return await fly(f"udpin://0.0.0.0:{base}", HOME, lambda: fleet.sim_time_s, speedup,
                         fleet.restart_streams)


# ---- summary ---------------------------------------------------------------------------------


def summarise(runs: Sequence[Result]) -> dict[str, Any]:
    """Median and spread (min, max) of each phase over the runs, and each run's modes."""
    seen = {k for r in runs for k in r.phases}
    names = [k for k in PHASES if k in seen] + sorted(seen - set(PHASES))
    phases: dict[str, Any] = {}
    for k in names:
        values = [r.phases[k] for r in runs if k in r.phases]
        phases[k] = {"median_s": round(statistics.median(values), 2),
                     "min_s": round(min(values), 2), "max_s": round(max(values), 2),
                     "runs": len(values)}
    return {"phases": phases, "runs": [r.as_json() for r in runs]}


def compare(sim: dict[str, Any], px4: dict[str, Any]) -> list[str]:
    """What differs beyond the tolerance: phase times and mode sequences."""
    problems = []
    for k in PHASES:
        want = px4["phases"][k]["median_s"]
        got = sim["phases"][k]["median_s"]
        if abs(got - want) > TOLERANCE * want:
            off = 100 * (got / want - 1)
            problems.append(f"{k}: simulator {got} s, PX4 {want} s ({off:+.0f} %)")
    ref = complete_runs(px4)[0]
    for what in ("modes", "after_landing"):
        if sim["runs"][0][what] != ref[what]:
            problems.append(f"{what}: simulator {sim['runs'][0][what]}, PX4 {ref[what]}")
    return problems


def complete_runs(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs whose every mode is known ("" = no heartbeat seen yet when a record began)."""
    runs: list[dict[str, Any]] = summary["runs"]
    return [r for r in runs if all(m for f in r["modes"] for m in f)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.parity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--px4", action="store_true", help="fly real PX4 SITL (SIH)")
    which.add_argument("--sim", action="store_true", help="fly the embedded simulator")
    p.add_argument("--instance", type=int, default=9, help="PX4 instance number (default 9)")
    p.add_argument("--speedup", type=float, default=1.0, help="simulator speed-up")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--compare", type=Path, help="PX4 figures (JSON) to hold the result to")
    p.add_argument("--save", type=Path, help="write the summary (JSON) here")
    p.add_argument("--trace", type=Path, help="write each run's telemetry trace (CSV) to DIR")
    args = p.parse_args(argv)
    if args.runs < 1 or args.speedup <= 0:
        raise SystemExit("parity: --runs must be >= 1 and --speedup > 0")

    async def all_runs() -> list[Result]:
        out: list[Result] = []
        for _ in range(args.runs):
            r = await (run_px4(args.instance) if args.px4 else run_sim(args.speedup))
            print(json.dumps(r.as_json()), file=sys.stderr, flush=True)
            if args.trace:
                args.trace.mkdir(parents=True, exist_ok=True)
                name = "px4" if args.px4 else "sim"
                lines = ["t_s,lat,lon,rel_alt_m,mode,armed,on_ground,mission_current"]
                lines += [",".join(map(str, row)) for row in r.trace]
                (args.trace / f"{name}-{len(out)}.csv").write_text("\n".join(lines) + "\n")
            out.append(r)
        return out

    summary = summarise(asyncio.run(all_runs()))
    summary["backend"] = (
        "PX4 SITL main a70a5583 (2025-08-18), SIH quadrotor X (airframe 10040), real time"
        if args.px4 else f"sitl, speed-up {args.speedup:g}"
    )
    summary["measured_utc"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    print(json.dumps(summary, indent=2))
    if args.save:
        args.save.write_text(json.dumps(summary, indent=2) + "\n")
    if args.compare:
        problems = compare(summary, json.loads(args.compare.read_text()))
        for line in problems:
            print(f"parity: {line}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
