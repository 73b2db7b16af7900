"""The MAVSDK adapter's camera on a docked drone: MAVSDK's camera plugin asks every component of
the drone for camera messages every 5 s while it lives, so the adapter keeps it only while it
is used or the drone is armed, and makes it again when needed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.mavsdk_link import DroneEndpoint, MavsdkFleet
from missions.geo import distance_m
from sitl import Home, SimFleet
from sitl.camera import CameraConfig, StreamPolicy
from tests.controller.conftest import until

pytestmark = pytest.mark.integration

HOME = Home(51.5072, -0.1276, 30.0)


async def requests_heard(counts: dict[str, int], seconds: float) -> int:
    """COMMAND_LONGs the drone hears in ``seconds`` (MAVSDK's camera polls are
    REQUEST_MESSAGE and the old REQUEST_CAMERA_* commands)."""
    before = counts.get("COMMAND_LONG", 0)
    await asyncio.sleep(seconds)
    return counts.get("COMMAND_LONG", 0) - before


async def test_a_docked_drones_camera_is_not_polled_once_found_and_is_found_again_when_needed(
    tmp_path: Path,
) -> None:
    base = free_udp_range(1)
    camera = CameraConfig(
        video_base_port=free_udp_range(1), policy=StreamPolicy.AIRBORNE, image_dir=str(tmp_path)
    )
    async with (
        SimFleet([HOME], base_port=base, speedup=5.0, seed=1, camera=camera) as sim,
        MavsdkFleet([DroneEndpoint("uav-0", 1, f"udpin://0.0.0.0:{base}")]) as fleet,
    ):
        assert await fleet.wait_all(20.0)
        v = fleet.get("uav-0")
        assert v is not None
        cam = v.camera()
        info = await cam.camera_info(10.0)
        assert info is not None and info.streams, "the camera and its stream are found"
        heard = sim.vehicles[0].message_counts
        assert await requests_heard(heard, 6.0) >= 4, "the living plugin polls the camera"

        # Unused, on a disarmed drone: the plugin goes and the polls stop.
        await cam.upkeep(time.monotonic(), idle_s=0.0)
        assert not cam.camera_plugin_alive()
        await asyncio.sleep(4.0)  # requests already sent run out their retries
        assert await requests_heard(heard, 6.0) == 0

        # A still is still taken: the camera is found again first.
        photo = await cam.take_photo(15.0)
        assert distance_m(photo.lat_deg, photo.lon_deg, HOME.lat_deg, HOME.lon_deg) < 10.0
        assert photo.file_url.startswith(f"file://{tmp_path}")
        assert cam.camera_plugin_alive()

        # An armed drone keeps it, and gets it back before anyone asks.
        await cam.upkeep(time.monotonic(), idle_s=0.0)
        assert not cam.camera_plugin_alive()
        await until(lambda: v.sample().armable, 15.0, "armable")
        await v.arm()
        await until(v.armed, 5.0, "armed")
        await cam.upkeep(time.monotonic(), idle_s=0.0)
        assert cam.camera_plugin_alive()
        await cam.upkeep(time.monotonic() + 3600.0, idle_s=0.0)
        assert cam.camera_plugin_alive()
