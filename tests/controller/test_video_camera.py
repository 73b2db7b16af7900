"""The controller and the simulator's camera (sitl.camera) through real MAVSDK (camera and gimbal
plugins) and mosquitto: the camera is discovered and its stream published, the gimbal is on the
incident from launch, and the still taken on arrival is geotagged where the drone was."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.cli.controller import Running, config_from_args, controller_running
from groundstation.control.videoctl import VideoConfig
from groundstation.docksim import DockSimFleet
from missions.geo import distance_m
from missions.sites import SiteSet
from sitl import Home, SimFleet
from sitl.camera import CameraConfig
from tests.controller.conftest import SPEEDUP, Track, small_sites, until
from tests.controller.test_video_controller import FakeRelay, latest, watching

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
INCIDENT = (51.5150, -0.1250)  # about 700 m east of the West End dock


@dataclass
class CameraStack:
    run: Running
    sim: SimFleet
    sites: SiteSet
    relay: FakeRelay
    video_base: int
    track: Track


@contextlib.asynccontextmanager
async def camera_stack(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[CameraStack]:
    sites = small_sites()
    base = free_udp_range(len(sites.docks))
    video_base = free_udp_range(len(sites.docks))
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
    args = argparse.Namespace(controller_id="ctl-cam", speedup=SPEEDUP, on_scene=20.0)
    config = dataclasses.replace(
        config_from_args(args, sites), video=VideoConfig(discover_timeout_s=5.0, retry_s=5.0)
    )
    relay = FakeRelay()
    track = Track()
    async with (
        SimFleet(
            homes,
            base_port=base,
            speedup=SPEEDUP,
            seed=7,
            camera=CameraConfig(video_base_port=video_base),
        ) as sim,
        DockSimFleet(mosquitto.config, sites, speedup=SPEEDUP, seed=7),
        controller_running(
            config,
            mosquitto.config,
            base_port=base,
            journal_path=tmp_path / "j.sqlite",
            relay=relay,
        ) as run,
    ):
        assert await run.fleet.wait_all(15.0)
        index = next(d.fleet_index for d in sites.docks if d.drone_id == DRONE)

        async def sample() -> None:
            while True:
                lat, lon, _ = sim.vehicles[index].state.position()
                track.times.append(time.time())
                track.points.append((lat, lon))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        try:
            yield CameraStack(run, sim, sites, relay, video_base, track)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler


async def test_camera_discovered_roi_at_launch_and_a_geotagged_arrival_still(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with (
        camera_stack(mosquitto, tmp_path) as st,
        watching(mosquitto.config, "pilot") as (pilot, seen),
    ):
        ctl = st.run.controller
        index = next(d.fleet_index for d in st.sites.docks if d.drone_id == DRONE)
        port = st.video_base + index
        # Discovered through MAVSDK's camera plugin: the stream on 5600 + instance (here the
        # test's base), published from the camera's own information.
        await until(
            lambda: (d := latest(seen, DRONE)) is not None and d.camera == "DFR SimCam 1",
            20.0,
            "the camera discovered and published",
        )
        d = latest(seen, DRONE)
        assert d is not None
        assert d.source == f"rtp://0.0.0.0:{port}"
        assert (d.width_px, d.height_px) == (1280, 720)
        assert d.hfov_deg is not None and abs(d.hfov_deg - 80.0) < 1.0
        assert d.state == c.VideoState.IDLE  # docked: nothing streams yet

        await until(
            lambda: ctl.drones[DRONE].health.armable and ctl.drones[DRONE].health.dock_ok,
            20.0,
            "the drone ready",
        )
        reply = await pilot.call(
            "incident_create", {"lat_deg": INCIDENT[0], "lon_deg": INCIDENT[1], "priority": 1}
        )
        assert reply.data.result == 0
        await until(lambda: bool(st.relay.named("watch")), 10.0, "the stream taken at launch")
        assert st.relay.named("watch")[0] == ("watch", DRONE, str(port))
        # ROI at launch: the simulated gimbal manager holds a region of interest at the incident.
        gimbal = st.sim.cameras[index].gimbal
        await until(lambda: gimbal.roi_ned is not None, 30.0, "a region of interest set")
        assert pilot.phase(DRONE) in (c.Phase.LAUNCHING, c.Phase.TRANSIT)
        v = st.sim.vehicles[index].state
        roi_ned = gimbal.roi_ned
        assert roi_ned is not None
        roi_lat, roi_lon, roi_alt = v.frame.to_global(*roi_ned)
        assert distance_m(roi_lat, roi_lon, *INCIDENT) < 1.0
        assert abs(roi_alt - st.sites.docks[index].alt_amsl_m) < 0.5  # on the ground

        await until(lambda: pilot.phase(DRONE) == c.Phase.ON_SCENE, 60.0, "on scene")
        await until(lambda: bool(ctl.video.drones[DRONE].snapshots), 15.0, "the arrival still")
        photo = ctl.video.drones[DRONE].snapshots[0]
        truth = st.track.at(photo.taken_ms / 1000.0)
        off = distance_m(photo.lat_deg, photo.lon_deg, *truth)
        assert off < 10.0, f"still geotagged {off:.1f} m from the drone"
        assert photo.file_url.startswith("file://")
        size = await asyncio.to_thread(
            lambda: Path(photo.file_url.removeprefix("file://")).stat().st_size
        )
        assert size > 10_000, "the still is a real picture"
        added = st.relay.named("add_snapshot")
        assert added and added[0][2] == reply.data.output["incident_id"]
