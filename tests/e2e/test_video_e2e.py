"""Issue 14's acceptance, end to end: real mosquitto, the simulator with its camera, MAVSDK, the
controller with its video relay, and the console's window offscreen, all on one qasync loop.

An incident is called in over MQTT and flown. In the frames the console shows of the drone while
it is on scene (after the gimbal has had a second to settle) the incident marker (the simulator
draws a red ring with a cross on the ground) lies within the central 20 % of the picture; the
recording of that sortie verifies (``groundstation report --verify``); the still taken on
arrival is geotagged within 10 m of where the drone truly was."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.adapters.bus import Bus
from groundstation.cli.controller import VideoOptions, config_from_args, controller_running
from groundstation.docksim import DockSimFleet
from missions.geo import distance_m
from sitl import Home, SimFleet
from sitl.camera import CameraConfig
from tests.controller.conftest import Operator, Track, small_sites

pytestmark = pytest.mark.e2e

DRONE = "uav-west-end-1"
INCIDENT = (51.5127, -0.1251)  # about 350 m north of the West End dock
SPEEDUP = 4.0
CENTRAL = 0.10
"""The central 20 % of the picture: within 10 % of its width and of its height of the centre."""
SETTLE_S = 1.0
ROOT = Path(__file__).resolve().parents[2]


def find_marker(picture: npt.NDArray[np.uint8], *, bgr: bool = False) -> tuple[float, float] | None:
    """Where the incident marker is in an RGB (or BGR/BGRA) picture, as fractions of its width
    and height: the centre of the largest strongly red blob (the ring and its cross are one).
    None when there is none."""
    px = picture[:, :, :3].astype(np.int16)
    r, g, b = (
        (px[:, :, 2], px[:, :, 1], px[:, :, 0]) if bgr else (px[:, :, 0], px[:, :, 1], px[:, :, 2])
    )
    mask = ((r > 140) & (r - np.maximum(g, b) > 80)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < 30:
        return None
    x, y, w, h = (int(stats[best, k]) for k in range(4))
    height, width = mask.shape
    return (x + w / 2) / width, (y + h / 2) / height


def test_find_marker_on_a_drawn_marker() -> None:
    """The finder itself: a red ring with a cross on a busy ground with a small red car."""
    rng = np.random.default_rng(1)
    img = rng.integers(60, 200, (720, 1280, 3), dtype=np.uint8)
    img[:, :, 0] = np.minimum(img[:, :, 0], img[:, :, 1])  # no red in the background
    cv2.circle(img, (900, 200), 40, (255, 0, 0), 8)
    cv2.line(img, (870, 200), (930, 200), (255, 0, 0), 5)
    cv2.line(img, (900, 170), (900, 230), (255, 0, 0), 5)
    cv2.circle(img, (100, 600), 4, (255, 0, 0), -1)
    found = find_marker(img)
    assert found is not None
    assert found == pytest.approx((900 / 1280, 200 / 720), abs=0.01)
    bgra = np.dstack([img[:, :, ::-1], np.full(img.shape[:2], 255, np.uint8)])
    assert find_marker(bgra, bgr=True) == found
    assert find_marker(np.full((720, 1280, 3), 128, np.uint8)) is None


def test_an_incident_seen_through_the_console(qapp: Any, tmp_path: Path) -> None:
    from tests.console.conftest import open_console, run_qt, until

    sites = small_sites()
    index = next(d.fleet_index for d in sites.docks if d.drone_id == DRONE)
    journal = tmp_path / "journal.sqlite"
    shown: list[tuple[float, tuple[float, float] | None]] = []
    track = Track()
    result: dict[str, Any] = {}

    async def scenario() -> None:
        base = free_udp_range(len(sites.docks))
        video_base = free_udp_range(len(sites.docks))
        homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
        args = argparse.Namespace(controller_id="ctl-e2e", speedup=SPEEDUP, on_scene=60.0)
        config = config_from_args(args, sites)
        video = VideoOptions(host="127.0.0.1", port=0, evidence_dir=tmp_path / "evidence")
        async with (
            Mosquitto(persistence=False) as mq,
            SimFleet(
                homes,
                base_port=base,
                speedup=SPEEDUP,
                seed=11,
                camera=CameraConfig(video_base_port=video_base),
            ) as sim,
            DockSimFleet(mq.config, sites, speedup=SPEEDUP, seed=11),
            controller_running(
                config, mq.config, base_port=base, journal_path=journal, video=video
            ) as run,
            open_console(mq.config.with_login("pilot", None), user="pilot") as window,
            Bus(mq.config.with_login("cad", None), f"e2e-cad-{os.getpid()}") as bus,
        ):
            ctl = run.controller
            assert await run.fleet.wait_all(15.0)
            cad = Operator(bus, "cad")
            await bus.subscribe(c.operator_services_reply("cad"), 1)

            async def pump() -> None:
                async for msg in bus.messages():
                    cad.on(msg)

            async def sample() -> None:
                while True:
                    lat, lon, _ = sim.vehicles[index].state.position()
                    track.times.append(time.time())
                    track.points.append((lat, lon))
                    await asyncio.sleep(0.02)

            tasks = [asyncio.create_task(pump()), asyncio.create_task(sample())]
            try:
                await until(
                    lambda: ctl.drones[DRONE].health.armable and ctl.drones[DRONE].health.dock_ok,
                    30.0,
                    "the drone ready",
                )
                window.select_drone(DRONE)
                reply = await cad.call(
                    "incident_create",
                    {"lat_deg": INCIDENT[0], "lon_deg": INCIDENT[1], "priority": 1},
                )
                assert reply.data.result == 0, reply.data.output
                await until(
                    lambda: ctl.drones[DRONE].sortie.phase == c.Phase.ON_SCENE, 120.0, "on scene"
                )
                arrived = time.monotonic()
                seen_seq = -1
                while ctl.drones[DRONE].sortie.phase == c.Phase.ON_SCENE:
                    frame = window.video.frames.get(DRONE)
                    if frame is not None and frame.seq != seen_seq:
                        seen_seq = frame.seq
                        if time.monotonic() - arrived >= SETTLE_S:
                            shown.append((time.monotonic(), find_marker(frame.pixels, bgr=True)))
                    await asyncio.sleep(0.01)
                await until(
                    lambda: ctl.drones[DRONE].sortie.phase in (c.Phase.CHARGING, c.Phase.DOCKED),
                    180.0,
                    "back on its dock",
                )
                await asyncio.sleep(1.0)  # the recording closed and hashed
                result["snapshots"] = list(ctl.video.drones[DRONE].snapshots)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    run_qt(qapp, scenario())

    assert len(shown) >= 20, f"only {len(shown)} frames shown while on scene"
    missing = [t for t, m in shown if m is None]
    assert not missing, f"{len(missing)} of {len(shown)} frames shown without the marker"
    off = [
        m
        for _, m in shown
        if m is not None and (abs(m[0] - 0.5) > CENTRAL or abs(m[1] - 0.5) > CENTRAL)
    ]
    assert not off, f"{len(off)} of {len(shown)} frames with the marker off centre: {off[:5]}"

    snaps = result["snapshots"]
    assert snaps, "a still was taken on arrival"
    truth = track.at(snaps[0].taken_ms / 1000.0)
    geotag_off = distance_m(snaps[0].lat_deg, snaps[0].lon_deg, *truth)
    assert geotag_off < 10.0, f"the still is geotagged {geotag_off:.1f} m from the drone"

    report = subprocess.run(
        [sys.executable, "-m", "groundstation", "report", "--journal", str(journal), "--verify"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    assert "evidence verified" in report.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "groundstation", "report", "--journal", str(journal)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert f"recording {DRONE}" in listing.stdout and "snapshot" in listing.stdout
    segments = [int(n) for n in re.findall(r"(\d+) segments", listing.stdout)]
    assert segments and min(segments) > 0, listing.stdout
