"""Fixtures for the simulator tests: what to fly against, and MAVSDK clients.

``vehicle_urls`` chooses the vehicles:
- ``GS_PX4_URLS=udpin://0.0.0.0:14540,...``: already running PX4 SITL instances;
- ``GS_SITL_BACKEND=px4``: fresh real PX4 SITL instances (sitl.px4, found from GS_PX4_HOME or
  ../shared/px4-sitl) started for each test at PX4_SIM_SPEED_FACTOR ``GS_PX4_SPEED`` (default 5),
  skipped with the reason when PX4 is missing; scripts/test runs this in a private network
  namespace (PX4's ports are fixed);
- ``GS_SITL_BACKEND=docker``: PX4 SITL containers from sitl/docker/compose.yaml (host network),
  started for the session with the image built from the PX4 build (sitl.px4_docker), skipped
  with a reason when ``docker info`` does not answer (for fresh containers in a private network
  namespace use ``scripts/px4-sitl --docker -- pytest tests/sitl``, which sets GS_PX4_URLS);
- otherwise (default) the embedded simulator, sitl.SimFleet, on free loopback ports.
Against PX4, tests marked ``simonly`` (they need the simulator's hooks) are skipped with a reason,
and every wait is scaled by how much slower than the embedded simulator's clock PX4 runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.param import ParamAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

from sitl import Home, SimFleet
from sitl.px4 import Px4Error, Px4Fleet, find_px4

SPEEDUP = 20.0
HOME = Home(51.5072, -0.1276, 30.0)  # central London, a 30 m AMSL roof
PX4_URLS_ENV = "GS_PX4_URLS"
BACKEND_ENV = "GS_SITL_BACKEND"
COMPOSE_FILE = Path(__file__).resolve().parents[2] / "sitl" / "docker" / "compose.yaml"
DOCKER_VEHICLES = 2  # services in sitl/docker/compose.yaml
DOCKER_SPEED = 3.0  # its PX4_SIM_SPEED_FACTOR
PX4_SPEED_ENV = "GS_PX4_SPEED"
PX4_DEFAULT_SPEED = 3.0  # measured: faster, MAVSDK's wall-clock streams thin out (docs/px4.md)


class Backend(Enum):
    EMBEDDED = "embedded"
    DOCKER = "docker"
    EXTERNAL = "external"
    PX4 = "px4"


def px4_urls(env: Mapping[str, str] = os.environ) -> list[str]:
    raw = env.get(PX4_URLS_ENV, "").strip()
    return [u.strip() for u in raw.split(",") if u.strip()]


def choose_backend(env: Mapping[str, str] = os.environ) -> Backend:
    if px4_urls(env):
        return Backend.EXTERNAL
    chosen = env.get(BACKEND_ENV, "").strip().lower()
    if chosen == "docker":
        return Backend.DOCKER
    if chosen == "px4":
        return Backend.PX4
    return Backend.EMBEDDED


def px4_speed(env: Mapping[str, str] = os.environ) -> float:
    """Simulated seconds per wall second of the PX4 this session flies (external: real time)."""
    backend = choose_backend(env)
    if backend is Backend.PX4:
        return float(env.get(PX4_SPEED_ENV, "") or PX4_DEFAULT_SPEED)
    if backend is Backend.DOCKER:
        return DOCKER_SPEED
    return 1.0


def time_scale(env: Mapping[str, str] = os.environ) -> float:
    """Wall waits are written for the embedded simulator at SPEEDUP: PX4 runs slower."""
    if choose_backend(env) is Backend.EMBEDDED:
        return 1.0
    return SPEEDUP / px4_speed(env)


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = choose_backend()
    if backend is Backend.EMBEDDED:
        return
    here = Path(__file__).parent
    for item in items:
        marker = item.get_closest_marker("simonly")
        if marker is None or here not in item.path.parents:
            continue
        why = marker.kwargs.get("reason", "it reads the simulator's model")
        item.add_marker(pytest.mark.skip(
            reason=f"simulator-only (testing {backend.value} PX4): {why}"))


def free_udp_ports(count: int) -> int:
    """A base port P such that P..P+count-1 are free UDP ports on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("0.0.0.0", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range")


@dataclass
class Drone:
    """One connected vehicle: the MAVSDK plugins, and the model when it is simulated."""

    system: Any
    action: ActionAsync
    telemetry: TelemetryAsync
    param: ParamAsync
    mission: MissionRawAsync
    home: Home
    fleet: SimFleet | None
    index: int

    @property
    def model(self) -> Any:
        assert self.fleet is not None, "simulator-only hook"
        return self.fleet.vehicles[self.index]


async def wait_until(
    probe: Callable[[], Awaitable[bool]], timeout_s: float, what: str, every_s: float = 0.1
) -> None:
    """Poll probe() until it is true; fail the test with `what` after timeout_s wall seconds
    (written for the embedded simulator at SPEEDUP; scaled to PX4's clock against PX4)."""
    loop = asyncio.get_running_loop()
    timeout_s *= time_scale()
    end = loop.time() + timeout_s
    while True:
        if await probe():
            return
        if loop.time() > end:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(every_s)


def vehicle_clock_s() -> float:
    """A clock in the vehicle's simulated seconds (the event loop's clock at SPEEDUP embedded, at
    GS_PX4_SPEED on PX4: PX4 kept 2.85-2.95 of its seconds per wall second at factor 3 under
    load, docs/px4.md)."""
    return asyncio.get_running_loop().time() * SPEEDUP / time_scale()


async def sim_sleep(sim_s: float) -> None:
    """Sleep this many simulated seconds of the vehicle under test (at SPEEDUP embedded, at
    GS_PX4_SPEED on PX4)."""
    await asyncio.sleep(sim_s / SPEEDUP * time_scale())


@contextlib.asynccontextmanager
async def connect(
    url: str, home: Home | None, fleet: SimFleet | None, index: int
) -> AsyncIterator[Drone]:
    config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    async with Mavsdk(config) as mavsdk:
        await mavsdk.add_any_connection(url)
        if fleet is not None:  # the first telemetry went out before we listened: resend it now
            fleet.restart_streams()
        system = await mavsdk.first_autopilot(10.0)
        assert system is not None, f"no autopilot on {url}"
        tel = TelemetryAsync(system)
        if fleet is not None:  # the plugin missed what came before it existed
            fleet.restart_streams()
        drone = Drone(system, ActionAsync(system), tel, ParamAsync(system),
                      MissionRawAsync(system), home or HOME, fleet, index)

        async def ready() -> bool:
            h = await tel.health()
            return bool(h.is_global_position_ok and h.is_home_position_ok and h.is_armable)

        await wait_until(ready, 10.0, "health ok")
        # MAVSDK's first one-shot read of these starts a subscription and returns a default
        # (False) until the next message: read them once now, while the defaults are true.
        await tel.armed()
        await tel.in_air()
        await tel.flight_mode()
        await tel.landed_state()
        if home is None:  # real PX4: its home is wherever it was started
            hp = await tel.home()
            drone.home = Home(hp.latitude_deg, hp.longitude_deg, hp.absolute_altitude_m)
        yield drone


@pytest.fixture
def fleet_factory() -> Callable[..., contextlib.AbstractAsyncContextManager[SimFleet]]:
    def make(homes: list[Home] | None = None, speedup: float = SPEEDUP,
             **kw: Any) -> contextlib.AbstractAsyncContextManager[SimFleet]:
        homes = homes or [HOME]
        return SimFleet(homes, base_port=free_udp_ports(len(homes)), speedup=speedup, **kw)
    return make


@dataclass(frozen=True)
class VehicleUrl:
    """Where a test vehicle is reached; home and fleet only for the embedded simulator."""

    url: str
    home: Home | None
    fleet: SimFleet | None
    index: int


@pytest.fixture(scope="session")
def px4_docker() -> Iterator[list[str]]:
    """PX4 SITL containers for the session (GS_SITL_BACKEND=docker)."""
    if not docker_answers():
        pytest.skip("GS_SITL_BACKEND=docker but `docker info` does not answer")
    if subprocess.run(["docker", "compose", "version"], capture_output=True,
                      check=False).returncode == 0:
        compose = ["docker", "compose", "-f", str(COMPOSE_FILE)]
    elif shutil.which("docker-compose"):
        compose = ["docker-compose", "-f", str(COMPOSE_FILE)]
    else:
        pytest.skip("GS_SITL_BACKEND=docker but neither `docker compose` nor docker-compose")
    from sitl.px4_docker import tag_latest

    try:
        tag_latest()  # dfr/px4-sitl:latest, the image compose.yaml names
    except Px4Error as exc:
        pytest.skip(f"GS_SITL_BACKEND=docker: no PX4 image: {exc}")
    subprocess.run([*compose, "up", "-d"], check=True, timeout=600)
    try:
        yield [f"udpin://0.0.0.0:{14540 + i}" for i in range(DOCKER_VEHICLES)]
    finally:
        subprocess.run([*compose, "down"], check=False, timeout=120)


@pytest.fixture
def vehicle_count() -> int:
    """How many vehicles a test needs; parametrize it indirectly to ask for more."""
    return 1


@pytest.fixture
def sim_speedup() -> float:
    """The embedded simulator's speedup; parametrize it indirectly for long flights."""
    return SPEEDUP


@pytest.fixture
async def vehicle_urls(
    request: pytest.FixtureRequest, vehicle_count: int, sim_speedup: float,
    fleet_factory: Callable[..., Any],
) -> AsyncIterator[list[VehicleUrl]]:
    backend = choose_backend()
    if backend is Backend.PX4:
        try:
            install = find_px4()
        except Px4Error as exc:
            pytest.skip(f"GS_SITL_BACKEND=px4: {exc}")
        homes = [Home(*offset(HOME, 0.0, 8.0 * i), HOME.alt_amsl_m) for i in range(vehicle_count)]
        # pytest-xdist worker k flies instances 2k, 2k+1 (own ports; private /tmp each).
        first = 2 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
        async with Px4Fleet(homes, install=install, first_instance=first,
                            speed_factor=px4_speed()) as px4:
            # PX4 takes its home from its first GPS fix: the test reads it (home=None).
            yield [VehicleUrl(i.url, None, None, n) for n, i in enumerate(px4.instances)]
        return
    if backend is not Backend.EMBEDDED:
        urls = px4_urls() if backend is Backend.EXTERNAL else request.getfixturevalue("px4_docker")
        if len(urls) < vehicle_count:
            pytest.skip(f"needs {vehicle_count} PX4 vehicles, {len(urls)} configured")
        yield [VehicleUrl(u, None, None, i) for i, u in enumerate(urls[:vehicle_count])]
        return
    homes = [Home(*offset(HOME, 0.0, 8.0 * i), HOME.alt_amsl_m) for i in range(vehicle_count)]
    async with fleet_factory(homes, speedup=sim_speedup) as fleet:
        yield [VehicleUrl(f"udpin://0.0.0.0:{p}", h, fleet, i)
               for i, (p, h) in enumerate(zip(fleet.ports, homes, strict=True))]
        assert all(ep.errors == 0 for ep in fleet.endpoints), "simulator raised while handling"


@pytest.fixture
async def drone(vehicle_urls: list[VehicleUrl]) -> AsyncIterator[Drone]:
    v = vehicle_urls[0]
    async with connect(v.url, v.home, v.fleet, v.index) as d:
        yield d


async def armed(d: Drone, expected: bool = True) -> None:
    """Wait for the armed flag in the heartbeat (1 Hz, as PX4 sends it)."""

    async def probe() -> bool:
        return bool(await d.telemetry.armed()) == expected

    await wait_until(probe, 2.5, "armed" if expected else "disarmed")


async def in_mode(d: Drone, mode: Any, timeout_s: float = 2.5) -> None:
    """Wait for the flight mode in the heartbeat (1 Hz, as PX4 sends it)."""

    async def probe() -> bool:
        return bool(await d.telemetry.flight_mode() == mode)

    await wait_until(probe, timeout_s, f"flight mode {mode}")


# ---- geometry and flight helpers ---------------------------------------------------------------


def dist_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    k = math.radians(1.0) * 6_371_008.8
    return math.hypot((lat2 - lat1) * k, (lon2 - lon1) * k * math.cos(math.radians(lat1)))


def offset(home: Home, north_m: float, east_m: float) -> tuple[float, float]:
    k = math.radians(1.0) * 6_371_008.8
    return (home.lat_deg + north_m / k,
            home.lon_deg + east_m / (k * math.cos(math.radians(home.lat_deg))))


async def take_off(d: Drone) -> None:
    await d.action.arm()
    await d.action.takeoff()

    async def up() -> bool:
        # The armed flag rides on the 1 Hz heartbeat: at 20x the climb can beat it.
        return ((await d.telemetry.position()).relative_altitude_m > 2.0
                and bool(await d.telemetry.armed()) and bool(await d.telemetry.in_air()))

    await wait_until(up, 15.0, "takeoff")


async def goto(
    d: Drone, north_m: float, east_m: float, rel_alt_m: float, tol_m: float = 2.0,
    timeout_s: float = 30.0,
) -> None:
    lat, lon = offset(d.home, north_m, east_m)
    await d.action.goto_location(lat, lon, d.home.alt_amsl_m + rel_alt_m, math.nan)

    async def there() -> bool:
        p = await d.telemetry.position()
        return (dist_m(p.latitude_deg, p.longitude_deg, lat, lon) < tol_m
                and abs(p.relative_altitude_m - rel_alt_m) < 1.0)

    await wait_until(there, timeout_s, f"reaching {north_m} N {east_m} E at {rel_alt_m} m")


def height_m(d: Drone, p: Any) -> float:
    """Height above where the vehicle stood at connection: the reported AMSL altitude less the
    home's read then (docs/px4.md, "How far PX4's reports wander"). Not MAVSDK's
    relative_altitude_m: for 120 s after each take-off PX4 moves its home altitude in steps of
    1 m or more to follow the simulated GPS's altitude noise (commander's HomePosition), so the
    relative altitude of a vehicle standing still on the ground jumped between -1.43 and +1.45 m,
    while the AMSL altitude, on which PX4 holds its take-off, hold and Follow Target setpoints,
    stayed within 0.8 m. On the simulator the two are the same."""
    return float(p.absolute_altitude_m) - d.home.alt_amsl_m


def ground_alt_tol_m() -> float:
    """How far the height above home (height_m) may be from 0 on the ground: on PX4 SIH the
    estimate wanders by up to 0.8 m there (measured over 16 landings, docs/px4.md)."""
    return 0.5 if choose_backend() is Backend.EMBEDDED else 1.5


def land_tol_m(sim_m: float) -> float:
    """How far from its take-off point a vehicle that landed in place may be reported: on PX4
    SIH it truly drifts while it climbs, holds and descends (its estimate follows the simulated
    GPS's noise), 0.1-1.6 m over 12 hops to 2.5 m (docs/px4.md); 3 m there."""
    return sim_m if choose_backend() is Backend.EMBEDDED else max(sim_m, 3.0)


async def landed_disarmed_at_home(d: Drone, timeout_s: float = 40.0, tol_m: float = 3.0) -> None:
    async def done() -> bool:
        low = abs(height_m(d, await d.telemetry.position())) < ground_alt_tol_m() - 0.2
        return low and not await d.telemetry.armed() and not await d.telemetry.in_air()

    await wait_until(done, timeout_s, "landed and disarmed")
    p = await d.telemetry.position()
    away_m = dist_m(p.latitude_deg, p.longitude_deg, d.home.lat_deg, d.home.lon_deg)
    assert away_m < tol_m, f"landed {away_m:.2f} m from home (limit {tol_m} m)"
    assert abs(height_m(d, p)) < ground_alt_tol_m(), f"{height_m(d, p):.2f} m above home"
