"""Video on the controller against the simulator through real MAVSDK and mosquitto: what the
controller publishes and does for a drone whose camera never answers, and for a dock with a
configured stream (PX4 SITL with Gazebo). The relay is a recording stand-in implementing the
controller's ``StreamRelay`` Protocol (the real relay is tested in tests/video/)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.cli.controller import Running, config_from_args, controller_running
from groundstation.control.videoctl import VideoConfig
from groundstation.core import camera_rules as rules
from groundstation.docksim import DockSimFleet
from missions.sites import SiteSet, load_sites, parse_sites
from sitl import Home, SimFleet
from tests.controller.conftest import SPEEDUP, Operator, until

pytestmark = pytest.mark.integration

WITH_STREAM = "uav-west-end-1"
NO_CAMERA = "uav-islington-1"
INCIDENT = (51.5150, -0.1250)  # about 700 m east of the West End dock


@dataclass
class FakeRelay:
    """Records what the controller asks of the relay."""

    calls: list[tuple[str, ...]] = field(default_factory=list)

    async def watch(self, drone_id: str, rtp_port: int) -> object:
        self.calls.append(("watch", drone_id, str(rtp_port)))
        return None

    async def unwatch(self, drone_id: str) -> None:
        self.calls.append(("unwatch", drone_id))

    async def start_recording(self, drone_id: str, incident_id: str, sortie_id: str) -> object:
        self.calls.append(("start_recording", drone_id, incident_id, sortie_id))
        return None

    async def stop_recording(self, drone_id: str) -> object:
        self.calls.append(("stop_recording", drone_id))
        return None

    async def add_snapshot(
        self,
        drone_id: str,
        incident_id: str,
        source: str,
        lat_deg: float,
        lon_deg: float,
        alt_m: float,
        taken_ms: int,
    ) -> object:
        self.calls.append(("add_snapshot", drone_id, incident_id, source))
        return None

    def url_for(self, drone_id: str) -> str:
        return f"http://127.0.0.1:8090/video/{drone_id}.ts"

    def named(self, name: str) -> list[tuple[str, ...]]:
        return [x for x in self.calls if x[0] == name]


def sites_with_stream(rtp_port: int) -> SiteSet:
    """West End (one dock, its drone's stream configured) and Islington (nothing configured)."""
    full = load_sites("met-trial")
    out = []
    for s in full.sites:
        if s.site_id not in ("west-end", "islington"):
            continue
        dock: dict[str, object] = {}
        if s.site_id == "west-end":
            dock["video"] = {"rtp_port": rtp_port, "width_px": 1280, "height_px": 720}
        out.append(
            {
                "site_id": s.site_id,
                "lat_deg": s.lat_deg,
                "lon_deg": s.lon_deg,
                "roof_alt_amsl_m": s.roof_alt_amsl_m,
                "dock_list": [dock],
            }
        )
    return parse_sites(
        {"name": "video", "cruise_alt_rel_m": 40.0, "cruise_speed_m_s": 12.0, "sites": out}
    )


@dataclass
class VideoStack:
    broker: BrokerConfig
    run: Running
    relay: FakeRelay
    journal: Path


@contextlib.asynccontextmanager
async def video_stack(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[VideoStack]:
    sites = sites_with_stream(56001)
    base = free_udp_range(len(sites.docks))
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
    args = argparse.Namespace(controller_id="ctl-video", speedup=SPEEDUP, on_scene=20.0)
    config = dataclasses.replace(
        config_from_args(args, sites),
        video=VideoConfig(discover_timeout_s=1.0, retry_s=5.0, gimbal_retry_s=5.0),
    )
    relay = FakeRelay()
    journal = tmp_path / "journal.sqlite"
    async with (
        SimFleet(homes, base_port=base, speedup=SPEEDUP, seed=5),
        DockSimFleet(mosquitto.config, sites, speedup=SPEEDUP, seed=5),
        controller_running(
            config, mosquitto.config, base_port=base, journal_path=journal, relay=relay
        ) as run,
    ):
        assert await run.fleet.wait_all(15.0)
        yield VideoStack(mosquitto.config, run, relay, journal)


@contextlib.asynccontextmanager
async def watching(
    broker: BrokerConfig, user: str
) -> AsyncIterator[tuple[Operator, dict[str, list[c.VideoDescriptor]]]]:
    """An operator who also follows every drone's video descriptor."""
    seen: dict[str, list[c.VideoDescriptor]] = {}
    async with Bus(broker.with_login(user, None), f"video-{user}-{os.getpid()}") as bus:
        op = Operator(bus, user)
        for topic, qos in (
            (c.operator_services_reply(user), 1),
            (c.ALL_DRONE_STATE, 1),
            (c.ALL_DRONE_VIDEO, 1),
        ):
            await bus.subscribe(topic, qos)

        async def pump() -> None:
            async for msg in bus.messages():
                ref = c.parse_topic(msg.topic)
                if ref is not None and ref.kind == "drone" and ref.leaf == "video":
                    desc = c.decode(msg.payload, c.VideoDescriptor)
                    seen.setdefault(desc.drone_id, []).append(desc)
                else:
                    op.on(msg)

        task = asyncio.create_task(pump())
        await asyncio.sleep(0.2)
        try:
            yield op, seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def latest(seen: dict[str, list[c.VideoDescriptor]], drone_id: str) -> c.VideoDescriptor | None:
    got = seen.get(drone_id)
    return got[-1] if got else None


async def test_descriptors_for_a_silent_camera_and_a_configured_stream(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with (
        video_stack(mosquitto, tmp_path) as st,
        watching(st.broker, "pilot") as (pilot, seen),
    ):
        # No camera answers on either drone (this simulator build has none): Islington's drone
        # says so, with the reason; West End's uses its dock's stream, idle on the ground.
        await until(
            lambda: (
                (d := latest(seen, NO_CAMERA)) is not None
                and d.state == c.VideoState.NO_CAMERA
                and "no camera answered within 1 s" in d.reason
            ),
            15.0,
            "Islington's drone published as no camera, with the reason",
        )
        await until(
            lambda: (
                (d := latest(seen, WITH_STREAM)) is not None
                and d.state == c.VideoState.IDLE
                and d.source == "rtp://0.0.0.0:56001"
            ),
            15.0,
            "West End's drone published with its configured stream",
        )
        d = latest(seen, WITH_STREAM)
        assert d is not None
        assert d.url == "http://127.0.0.1:8090/video/uav-west-end-1.ts"
        assert d.camera == rules.CONFIGURED and (d.width_px, d.height_px) == (1280, 720)
        # At rest in their docks, no stream is taken (the cameras stream in the air).
        assert not st.relay.named("watch")

        # The relay reports frames: the descriptor turns live.
        st.run.controller.video.relay_state(
            WITH_STREAM, rules.RelayStatus(c.VideoState.LIVE, "", 1280, 720, 25.0)
        )
        await until(
            lambda: (d := latest(seen, WITH_STREAM)) is not None and d.live and d.fps == 25.0,
            5.0,
            "the live descriptor",
        )

        # A pilot's requests the rules refuse come back with their reasons.
        snap = await pilot.call("drone_camera", {"drone_id": WITH_STREAM, "action": "snapshot"})
        assert snap.data.result == c.Result.INVALID_STATE
        assert "configured stream" in snap.data.output["reason"]
        far = await pilot.call(
            "drone_camera",
            {"drone_id": WITH_STREAM, "action": "look_at", "lat_deg": 51.60, "lon_deg": -0.13},
        )
        assert far.data.result == c.Result.OUT_OF_RANGE
        assert "km from uav-west-end-1" in far.data.output["reason"]
        unknown = await pilot.call("drone_camera", {"drone_id": "uav-nobody", "action": "reset"})
        assert unknown.data.result == c.Result.UNKNOWN_DRONE
        # No gimbal answers on this drone: the refusal says the vehicle failed, nothing crashes.
        point = await pilot.call(
            "drone_camera",
            {"drone_id": WITH_STREAM, "action": "point", "pitch_deg": -30.0},
            timeout_s=20.0,
        )
        assert point.data.result == c.Result.VEHICLE_FAILED, point.data.output
        assert point.data.output["reason"].startswith("gimbal")

        async with watching(st.broker, "cad") as (cad, _):
            refused = await cad.call("drone_camera", {"drone_id": WITH_STREAM, "action": "reset"})
        assert refused.data.result == c.Result.FORBIDDEN


async def test_a_sortie_records_from_launch_to_landing_and_goes_on_without_a_camera(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with (
        video_stack(mosquitto, tmp_path) as st,
        watching(st.broker, "pilot") as (pilot, _),
    ):
        ctl = st.run.controller
        await until(
            lambda: (
                ctl.drones[WITH_STREAM].health.armable and ctl.drones[WITH_STREAM].health.dock_ok
            ),
            20.0,
            "West End's drone ready",
        )
        reply = await pilot.call(
            "incident_create",
            {"lat_deg": INCIDENT[0], "lon_deg": INCIDENT[1], "priority": 1},
        )
        assert reply.data.result == 0
        incident_id = reply.data.output["incident_id"]
        await until(
            lambda: ctl.incidents[incident_id].assigned_drone is not None, 20.0, "dispatched"
        )
        assert ctl.incidents[incident_id].assigned_drone == WITH_STREAM
        await until(
            lambda: bool(st.relay.named("start_recording")), 10.0, "recording started at launch"
        )
        # The dock's configured stream taken at launch, before the recording started.
        assert st.relay.calls[0] == ("watch", WITH_STREAM, "56001")
        _, drone, inc, sortie_id = st.relay.named("start_recording")[0]
        assert (drone, inc) == (WITH_STREAM, incident_id)
        assert sortie_id.startswith(WITH_STREAM)
        await until(lambda: pilot.phase(WITH_STREAM) == c.Phase.ON_SCENE, 60.0, "on scene")
        await until(
            lambda: pilot.phase(WITH_STREAM) in (c.Phase.CHARGING, c.Phase.DOCKED),
            120.0,
            "back on its dock",
        )
        await until(
            lambda: bool(st.relay.named("stop_recording")), 5.0, "recording stopped after landing"
        )
        await until(lambda: bool(st.relay.named("unwatch")), 5.0, "the stream let go")
        assert len(st.relay.named("start_recording")) == 1
        # No camera to take the arrival still with: journaled with the reason, sortie unharmed.
        events = ctl.journal.events()
        failed = [e for e in events if e[2] == "snapshot_failed"]
        assert failed and "no camera" in failed[0][3]
        assert ctl.incidents[incident_id].status == c.IncidentStatus.CLOSED
