"""A camera whose stream stops mid-sortie, through the whole controller path: the simulator's
camera (sitl.camera) -> the controller's real relay -> the descriptor on MQTT and the recording's
manifest. The descriptor says the stream is lost (reconnecting, with the reason), says live again
when the camera comes back, the manifest lists the gap, and the sortie goes on."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.cli.controller import VideoOptions, config_from_args, controller_running
from groundstation.docksim import DockSimFleet
from sitl import Home, SimFleet
from sitl.camera import CameraConfig
from tests.controller.conftest import SPEEDUP, small_sites, until
from tests.controller.test_video_controller import latest, watching

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
INCIDENT = (51.5150, -0.1250)  # about 700 m east of the West End dock
OUTAGE_S = 3.0


async def test_a_stream_that_stops_mid_sortie(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sites = small_sites()
    index = next(d.fleet_index for d in sites.docks if d.drone_id == DRONE)
    base = free_udp_range(len(sites.docks))
    video_base = free_udp_range(len(sites.docks))
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
    args = argparse.Namespace(controller_id="ctl-loss", speedup=SPEEDUP, on_scene=60.0)
    evidence = tmp_path / "evidence"
    video = VideoOptions(host="127.0.0.1", port=0, evidence_dir=evidence)
    async with (
        SimFleet(homes, base_port=base, speedup=SPEEDUP, seed=13,
                 camera=CameraConfig(video_base_port=video_base)) as sim,
        DockSimFleet(mosquitto.config, sites, speedup=SPEEDUP, seed=13),
        controller_running(
            config_from_args(args, sites), mosquitto.config, base_port=base,
            journal_path=tmp_path / "j.sqlite", video=video,
        ) as run,
        watching(mosquitto.config, "pilot") as (pilot, seen),
    ):  # fmt: skip
        assert await run.fleet.wait_all(15.0)
        await until(
            lambda: run.controller.drones[DRONE].health.armable
            and run.controller.drones[DRONE].health.dock_ok,
            30.0,
            "the drone ready",
        )
        reply = await pilot.call(
            "incident_create", {"lat_deg": INCIDENT[0], "lon_deg": INCIDENT[1], "priority": 1}
        )
        assert reply.data.result == 0, reply.data.output

        def video_state() -> c.VideoState | None:
            d = latest(seen, DRONE)
            return d.state if d is not None else None

        await until(
            lambda: (d := latest(seen, DRONE)) is not None
            and d.state == c.VideoState.LIVE
            and d.recording,
            60.0,
            "live and recording in flight",
        )
        # The camera stops sending (as a camera whose encoder died would), mid-sortie.
        camera = sim.cameras[index]
        camera.stream_request = False
        stopped = time.time()
        await until(
            lambda: video_state() == c.VideoState.RECONNECTING, 10.0, "the descriptor says so"
        )
        d = latest(seen, DRONE)
        assert d is not None
        assert d.reason.startswith("no video since"), d.reason
        assert pilot.phase(DRONE) in (c.Phase.LAUNCHING, c.Phase.TRANSIT, c.Phase.ON_SCENE)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.time() - stopped)))
        camera.stream_request = None  # back to its policy: airborne, so it streams again
        await until(lambda: video_state() == c.VideoState.LIVE, 15.0, "live again")
        d = latest(seen, DRONE)
        assert d is not None and d.recording and d.reason == ""

        # The sortie went on: the drone gets to the scene.
        await until(lambda: pilot.phase(DRONE) == c.Phase.ON_SCENE, 120.0, "on scene")
        manifests = list(evidence.glob("*/manifest.json"))
        assert len(manifests) == 1, manifests
        manifest = json.loads(manifests[0].read_text(encoding="utf-8"))
        [recording] = [r for r in manifest["recordings"] if r["drone_id"] == DRONE]
        assert len(recording["gaps"]) == 1, recording["gaps"]
        gap = recording["gaps"][0]
        assert gap["end_ms"] is not None
        assert OUTAGE_S - 0.5 <= gap["duration_s"] <= OUTAGE_S + 5.0, gap
        assert abs(gap["start_ms"] / 1000 - stopped) < 1.0, (gap, stopped)
        assert recording["segments"], "the video before and after the gap is recorded"
