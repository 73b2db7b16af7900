"""sitl.px4 and scripts/px4-sitl: finding PX4, starting instances at their docks, stopping them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

from missions.sites import load_sites
from sitl import Home
from sitl.px4 import HOME_ENV, Px4Error, Px4Fleet, Px4Install, find_px4, stage
from tests.px4.conftest import layer_speed

ROOT = Path(__file__).resolve().parents[2]
SITES = Path(__file__).parent / "data" / "islington-2.json"


def test_find_px4_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(Px4Error, match=r"nowhere: no such folder.*GS_PX4_HOME"):
        find_px4({HOME_ENV: str(tmp_path / "nowhere")})
    (tmp_path / "bin").mkdir()
    with pytest.raises(Px4Error, match=r"neither bin/px4"):
        find_px4({HOME_ENV: str(tmp_path)})
    with pytest.raises(Px4Error, match=r"GS_PX4_HOME unset.*shared/px4-sitl: no such folder"):
        find_px4({}, checkout=tmp_path / "checkout")


def test_a_build_tree_is_found_and_flattened_links_are_repaired(tmp_path: Path) -> None:
    build = tmp_path / "PX4-Autopilot" / "build" / "px4_sitl_default"
    (build / "etc" / "init.d-posix").mkdir(parents=True)
    (build / "etc" / "init.d-posix" / "rcS").write_text("#!/bin/sh\n")
    (build / "bin").mkdir()
    (build / "bin" / "px4").write_text("#!/bin/sh\n")
    (build / "bin" / "px4").chmod(0o755)
    (build / "bin" / "px4-param").write_text("px4")  # a symbolic link copied as a file
    (build / "bin" / "px4-alias.sh").write_text("# aliases\n" * 10)
    found = find_px4({HOME_ENV: str(tmp_path / "PX4-Autopilot")})
    assert found.binary == build / "bin" / "px4"
    assert not found.links_ok()
    staged = stage(found, cache=tmp_path / "cache")
    assert staged.links_ok()
    assert os.readlink(staged.bin_dir / "px4-param") == "px4"
    assert (staged.bin_dir / "px4-alias.sh").read_text() == "# aliases\n" * 10
    assert stage(found, cache=tmp_path / "cache") == staged  # cached


def test_fleet_refuses_what_px4_cannot_do() -> None:
    home = Home(51.5, -0.1, 30.0)
    with pytest.raises(Px4Error, match="share 14549"):
        Px4Fleet([home] * 2, first_instance=9)
    with pytest.raises(Px4Error, match="nothing to start"):
        Px4Fleet([])
    with pytest.raises(Px4Error, match="speed factor"):
        Px4Fleet([home], speed_factor=0)
    with pytest.raises(Px4Error, match="parameter name"):
        Px4Fleet([home], params={"rtl; rm": 1})


def test_script_says_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, HOME_ENV: str(tmp_path / "no-px4")}
    done = subprocess.run([str(ROOT / "scripts" / "px4-sitl"), "--drones", "1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "no PX4 SITL build found" in done.stderr and "no-px4" in done.stderr


@pytest.mark.px4
async def test_instances_start_at_their_docks_and_stop_cleanly() -> None:
    docks = sorted(load_sites(str(SITES)).docks, key=lambda d: d.fleet_index)
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in docks]
    fleet = Px4Fleet(homes, first_instance=6, speed_factor=layer_speed())  # 0-5: other tests
    async with fleet:
        assert fleet.urls == ["udpin://0.0.0.0:14546", "udpin://0.0.0.0:14547"]
        for inst, dock in zip(fleet.instances, docks, strict=True):
            assert inst.ready_s is not None and inst.ready_s < 15
            config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
            async with Mavsdk(config) as mavsdk:
                await mavsdk.add_any_connection(inst.url)
                system = await mavsdk.first_autopilot(15.0)
                assert system is not None
                assert await system.get_system_id() == inst.instance + 1 == dock.system_id + 6
                tel = TelemetryAsync(system)
                loop = asyncio.get_running_loop()
                end = loop.time() + 20
                while not (await tel.health()).is_home_position_ok:
                    assert loop.time() < end, "no home position"
                    await asyncio.sleep(0.2)
                home = await tel.home()
                assert abs(home.latitude_deg - dock.lat_deg) < 2e-5  # about 2 m
                assert abs(home.longitude_deg - dock.lon_deg) < 3e-5
                assert abs(home.absolute_altitude_m - dock.alt_amsl_m) < 1.5  # the roof
        procs = [i.proc for i in fleet.instances]
    assert all(p is not None and p.returncode == 0 for p in procs), [
        (i.instance, i.proc.returncode if i.proc else None, i.output()[-500:])
        for i in fleet.instances
    ]
    for p in procs:  # no orphans: every PX4 process is gone (reaped)
        assert p is not None
        with pytest.raises(ProcessLookupError):
            os.kill(p.pid, 0)


@pytest.mark.px4
def test_script_runs_a_command_next_to_px4_and_stops_it() -> None:
    probe = (
        "import os, socket; urls = os.environ['GS_PX4_URLS'].split(','); "
        "assert urls == ['udpin://0.0.0.0:14540', 'udpin://0.0.0.0:14541'], urls; "
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 14541)); "
        "s.settimeout(10); data = s.recv(4096); assert data[0] in (0xFD, 0xFE), data[:4]; "
        "raise SystemExit(7)"
    )
    # Its own network namespace (as root), whatever namespace this test runs in.
    env = {k: v for k, v in os.environ.items() if k != "GS_PX4_NETNS"}
    done = subprocess.run(
        [str(ROOT / "scripts" / "px4-sitl"), "--sites", str(SITES), "--", sys.executable, "-c",
         probe], capture_output=True, text=True, timeout=120, check=False, env=env,
    )
    assert done.returncode == 7, done.stdout + done.stderr  # the command's own exit code
    assert "2 PX4 instances ready" in done.stdout


def test_install_paths_are_what_px4_expects(tmp_path: Path) -> None:
    inst = Px4Install(tmp_path, tmp_path / "bin", tmp_path / "etc")
    assert inst.binary == tmp_path / "bin" / "px4"
