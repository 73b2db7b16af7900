"""VideoControl (groundstation.control.videoctl) with fakes implementing its Protocols: no sockets,
no MAVSDK. What it asks of the camera, gimbal and relay, and what it publishes, as a sortie goes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.control.videoctl import VideoConfig, VideoControl
from groundstation.core import camera_rules as rules
from groundstation.core import sortie as so
from groundstation.core.vehicle import (
    CameraInfo,
    CameraLink,
    GimbalAttitude,
    Photo,
    StreamInfo,
    VehicleSample,
)
from groundstation.errors import Refused, VehicleTimeout
from missions.sites import SiteSet, parse_sites
from tests.unit.fakes import FakeJournal

pytestmark = pytest.mark.unit

DRONE = "uav-a-1"
DOCK = (51.5000, -0.1000)
INCIDENT = so.Target(51.5050, -0.0950)
GROUND_AMSL = 30.0
SIMCAM = CameraInfo(
    100, "DFR", "SimCam 1", 1280, 720, 80.0, (StreamInfo(1, "5601", 1280, 720, 25.0, 2500),)
)


@dataclass
class FakeCamera:
    drone_id: str = DRONE
    info: CameraInfo | None = SIMCAM
    hang: bool = False
    answer_after_s: float = 0.0
    gimbal_fails: int = 0
    photo_fails: int = 0
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    attitude: GimbalAttitude | None = field(default_factory=lambda: GimbalAttitude(-45, 0, 0))

    async def camera_info(self, timeout_s: float) -> CameraInfo | None:
        self.calls.append(("camera_info", timeout_s))
        if self.hang:
            await asyncio.sleep(3600)  # a broken adapter: the controller's guard ends it
        await asyncio.sleep(self.answer_after_s)
        return self.info

    async def take_photo(self, timeout_s: float) -> Photo:
        self.calls.append(("take_photo",))
        if self.photo_fails > 0:
            self.photo_fails -= 1
            raise VehicleTimeout(self.drone_id, "take_photo", "no capture result within 5 s")
        return Photo(
            INCIDENT.lat_deg,
            INCIDENT.lon_deg,
            70.0,
            40.0,
            1_700_000_000_000,
            3,
            "file:///tmp/still-3.jpg",
        )

    async def _gimbal(self, *call: Any) -> None:
        self.calls.append(call)
        if self.gimbal_fails > 0:
            self.gimbal_fails -= 1
            raise VehicleTimeout(self.drone_id, call[0], "TIMEOUT")

    async def gimbal_roi(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        await self._gimbal("roi", lat_deg, lon_deg, alt_amsl_m)

    async def gimbal_roi_none(self) -> None:
        await self._gimbal("roi_none")

    async def gimbal_pitch_yaw(self, pitch_deg: float, yaw_deg: float) -> None:
        await self._gimbal("pitch_yaw", round(pitch_deg, 3), round(yaw_deg, 3))

    def gimbal_attitude(self) -> GimbalAttitude | None:
        return self.attitude

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [x for x in self.calls if x[0] == name]


@dataclass
class FakeCameras:
    cams: dict[str, FakeCamera]

    def camera(self, drone_id: str) -> CameraLink | None:
        return self.cams.get(drone_id)


@dataclass
class FakeRelay:
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def watch(self, drone_id: str, rtp_port: int) -> object:
        self.calls.append(("watch", drone_id, rtp_port))
        return None

    async def unwatch(self, drone_id: str) -> None:
        self.calls.append(("unwatch", drone_id))

    async def start_recording(self, drone_id: str, incident_id: str, sortie_id: str) -> object:
        self.calls.append(("start_recording", drone_id, incident_id))
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
        self.calls.append(("add_snapshot", drone_id, incident_id, source, lat_deg, lon_deg))
        return None

    def url_for(self, drone_id: str) -> str:
        return f"http://relay/video/{drone_id}.ts"

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [x for x in self.calls if x[0] == name]


@dataclass
class FakeBus:
    published: list[tuple[str, c.VideoDescriptor]] = field(default_factory=list)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> bool:
        assert retain and qos == 1
        self.published.append((topic, c.decode(payload, c.VideoDescriptor)))
        return True

    def last(self, drone_id: str = DRONE) -> c.VideoDescriptor | None:
        got = [d for t, d in self.published if t == c.drone_video(drone_id)]
        return got[-1] if got else None


@dataclass
class FakeHost:
    sorties: dict[str, so.Sortie]
    active: bool = True
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def sortie_of(self, drone_id: str) -> so.Sortie | None:
        return self.sorties.get(drone_id)

    def sample(self, drone_id: str) -> VehicleSample:
        return VehicleSample(lat_deg=DOCK[0], lon_deg=DOCK[1], connected=True)

    def amsl(self, drone_id: str, alt_rel_m: float) -> float:
        return GROUND_AMSL + alt_rel_m

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def one_dock(video: dict[str, Any] | None = None) -> SiteSet:
    dock: dict[str, Any] = {"drone_id": DRONE}
    if video is not None:
        dock["video"] = video
    return parse_sites(
        {
            "sites": [
                {
                    "site_id": "a",
                    "lat_deg": DOCK[0],
                    "lon_deg": DOCK[1],
                    "roof_alt_amsl_m": GROUND_AMSL,
                    "dock_list": [dock],
                }
            ]
        }
    )


@dataclass
class Rig:
    video: VideoControl
    camera: FakeCamera
    relay: FakeRelay
    bus: FakeBus
    journal: FakeJournal
    host: FakeHost

    def go(self, phase: c.Phase, incident: str | None = "inc-1") -> None:
        before = self.host.sorties[DRONE]
        after = replace(
            before,
            phase=phase,
            incident_id=incident,
            target=INCIDENT if incident else None,
        )
        self.host.sorties[DRONE] = after
        self.video.sortie_changed(DRONE, before, after)


@contextlib.asynccontextmanager
async def rig(
    camera: FakeCamera | None = None, sites: SiteSet | None = None, **cfg: Any
) -> AsyncIterator[Rig]:
    cam = camera or FakeCamera()
    sites = sites or one_dock()
    host = FakeHost({DRONE: so.Sortie(DRONE, "a-1", so.Target(*DOCK))})
    settings: dict[str, Any] = {
        "discover_timeout_s": 0.05,
        "retry_s": 0.2,
        "snapshot_settle_s": 0.0,
        "gimbal_retry_s": 0.05,
        "period_s": 0.02,
    }
    config = VideoConfig(**(settings | cfg))
    relay, bus, journal = FakeRelay(), FakeBus(), FakeJournal()
    video = VideoControl(
        config,
        sites,
        host=host,
        cameras=FakeCameras({DRONE: cam}),
        relay=relay,
        bus=bus,
        journal=journal,
    )
    task = asyncio.create_task(video.run())
    try:
        yield Rig(video, cam, relay, bus, journal, host)
    finally:
        task.cancel()
        for t in [task, *host.tasks]:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def until(pred: Any, what: str, timeout_s: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def found(r: Rig, camera: str = "DFR SimCam 1") -> bool:
    d = r.bus.last()
    return d is not None and d.camera == camera


async def test_a_found_camera_is_published_and_watched_from_launch_until_down() -> None:
    async with rig() as r:
        await until(lambda: found(r), "the camera published")
        d = r.bus.last()
        assert d is not None
        assert d.state == c.VideoState.IDLE and d.url == "http://relay/video/uav-a-1.ts"
        assert (d.hfov_deg, d.gimbal_pitch_deg) == (80.0, -45.0)
        # Published on change only; a drone at rest costs the relay nothing.
        await asyncio.sleep(0.1)
        assert len([p for p in r.bus.published if p[0] == c.drone_video(DRONE)]) == 1
        assert len(r.camera.named("camera_info")) == 1  # found: not asked again
        assert not r.relay.named("watch")
        r.go(c.Phase.PREFLIGHT)
        await until(lambda: r.relay.named("watch"), "the relay to take the camera's port")
        assert r.relay.named("watch") == [("watch", DRONE, 5601)]
        # The recording starts once the relay has the stream.
        await until(lambda: r.relay.named("start_recording"), "recording")
        assert r.relay.calls.index(r.relay.named("watch")[0]) < r.relay.calls.index(
            r.relay.named("start_recording")[0]
        )
        r.go(c.Phase.CHARGING, incident=None)
        await until(lambda: r.relay.named("unwatch"), "the stream let go once down")
        assert r.relay.calls.index(r.relay.named("stop_recording")[0]) < r.relay.calls.index(
            r.relay.named("unwatch")[0]
        )


async def test_a_camera_that_never_answers_is_no_camera_and_asked_again() -> None:
    async with rig(FakeCamera(info=None)) as r:
        await until(lambda: r.bus.last() is not None, "a descriptor")
        d = r.bus.last()
        assert d is not None and d.state == c.VideoState.NO_CAMERA
        assert "no camera answered within 0.05 s" in d.reason and "asking again" in d.reason
        await until(lambda: len(r.camera.named("camera_info")) >= 2, "a second discovery")
        assert not r.relay.calls
        # The camera turns up later: found on the next try.
        r.camera.info = SIMCAM
        await until(lambda: found(r), "the camera found on a retry")


async def test_a_hanging_adapter_cannot_block_discovery() -> None:
    async with rig(FakeCamera(hang=True), discover_timeout_s=0.01, discover_guard_s=0.05) as r:
        await until(lambda: r.bus.last() is not None, "a descriptor")
        d = r.bus.last()
        assert d is not None and d.state == c.VideoState.NO_CAMERA
        assert "no camera answered" in d.reason


async def test_a_configured_stream_stands_in_for_a_silent_camera() -> None:
    sites = one_dock({"rtp_port": 5700, "hfov_deg": 90})
    async with rig(FakeCamera(info=None), sites=sites) as r:
        await until(lambda: found(r, rules.CONFIGURED), "the configured stream published")
        d = r.bus.last()
        assert d is not None and d.hfov_deg == 90.0 and d.source == "rtp://0.0.0.0:5700"
        r.go(c.Phase.PREFLIGHT)
        await until(lambda: r.relay.named("watch"), "the configured stream taken at launch")
        assert r.relay.named("watch") == [("watch", DRONE, 5700)]


async def test_a_sortie_aims_records_and_takes_its_arrival_still() -> None:
    async with rig() as r:
        await until(lambda: found(r), "the camera found")
        r.go(c.Phase.PREFLIGHT)
        await until(lambda: r.relay.named("start_recording"), "recording at launch")
        assert r.relay.named("start_recording") == [("start_recording", DRONE, "inc-1")]
        assert not r.camera.named("roi")
        r.go(c.Phase.LAUNCHING)
        await until(lambda: r.camera.named("roi"), "the gimbal on the incident")
        assert r.camera.named("roi")[-1] == ("roi", INCIDENT.lat_deg, INCIDENT.lon_deg, GROUND_AMSL)
        await until(lambda: (d := r.bus.last()) is not None and d.recording, "recording shown")
        r.go(c.Phase.TRANSIT)
        r.go(c.Phase.ON_SCENE)
        await until(lambda: r.relay.named("add_snapshot"), "the arrival still as evidence")
        assert r.relay.named("add_snapshot") == [
            (
                "add_snapshot",
                DRONE,
                "inc-1",
                "file:///tmp/still-3.jpg",
                INCIDENT.lat_deg,
                INCIDENT.lon_deg,
            )
        ]
        assert any(code == "snapshot" for _, code, _ in r.journal.events)
        r.go(c.Phase.RETURNING)
        await until(lambda: r.camera.named("pitch_yaw"), "the camera looking ahead")
        assert r.camera.named("pitch_yaw")[-1] == ("pitch_yaw", rules.RETURN_PITCH_DEG, 0.0)
        r.go(c.Phase.LANDING)
        r.go(c.Phase.CHARGING, incident=None)
        await until(lambda: r.relay.named("stop_recording"), "recording stopped when down")
        assert len(r.relay.named("start_recording")) == 1
        assert len(r.camera.named("take_photo")) == 1


async def test_a_failing_gimbal_is_retried_and_the_sortie_is_not_held() -> None:
    async with rig(FakeCamera(gimbal_fails=2)) as r:
        r.go(c.Phase.LAUNCHING)
        await until(lambda: len(r.camera.named("roi")) >= 3, "the ROI retried until it took")
        await asyncio.sleep(0.2)
        assert len(r.camera.named("roi")) == 3  # applied once it succeeded: no more sends


async def test_the_pilots_requests() -> None:
    async with rig() as r:
        await until(lambda: found(r), "the camera found")
        r.go(c.Phase.ON_SCENE)
        req = c.DroneCamera(drone_id=DRONE, action=c.CameraAction.LOOK_AT_IMAGE, x=0.5, y=0.5)
        out = await r.video.command("pilot", req)
        assert (out["pitch_deg"], out["yaw_deg"]) == (-45.0, 0.0)
        assert r.camera.named("pitch_yaw")[-1] == ("pitch_yaw", -45.0, 0.0)
        snap = await r.video.command(
            "pilot", c.DroneCamera(drone_id=DRONE, action=c.CameraAction.SNAPSHOT)
        )
        assert snap["file_url"] == "file:///tmp/still-3.jpg" and snap["index"] == 3
        await r.video.command("pilot", c.DroneCamera(drone_id=DRONE, action=c.CameraAction.RESET))
        assert r.camera.named("roi")[-1][1:3] == (INCIDENT.lat_deg, INCIDENT.lon_deg)
        r.camera.gimbal_fails = 5
        with pytest.raises(Refused, match="gimbal: TIMEOUT") as err:
            await r.video.command(
                "pilot", c.DroneCamera(drone_id=DRONE, action=c.CameraAction.POINT, pitch_deg=-10)
            )
        assert err.value.result == c.Result.VEHICLE_FAILED


async def test_a_standby_controller_neither_publishes_nor_commands() -> None:
    async with rig() as r:
        r.host.active = False
        r.go(c.Phase.LAUNCHING)
        await asyncio.sleep(0.2)
        assert not r.bus.published and not r.camera.named("roi")
        assert not r.relay.named("start_recording")


async def test_a_sortie_carried_on_from_the_journal_is_followed() -> None:
    """After a restart or a take-over the sortie is already in transit: video catches up."""
    async with rig() as r:
        s = r.host.sorties[DRONE]
        r.host.sorties[DRONE] = replace(
            s, phase=c.Phase.TRANSIT, incident_id="inc-9", target=INCIDENT
        )
        await until(lambda: r.relay.named("start_recording"), "recording caught up")
        assert r.relay.named("start_recording") == [("start_recording", DRONE, "inc-9")]
        await until(lambda: r.camera.named("roi"), "the gimbal on the incident")
        assert not r.camera.named("take_photo")


async def test_a_sortie_carried_on_from_the_journal_on_scene_gets_its_still_once_found() -> None:
    """A controller restarted while its drone orbits the scene: the camera answers 0.3 s after
    the drone is back, and the arrival still waits for it instead of reporting no camera."""
    async with rig(FakeCamera(answer_after_s=0.3)) as r:
        s = r.host.sorties[DRONE]
        r.host.sorties[DRONE] = replace(
            s, phase=c.Phase.ON_SCENE, incident_id="inc-9", target=INCIDENT
        )
        await until(lambda: r.relay.named("add_snapshot"), "the still as evidence")
        assert len(r.camera.named("take_photo")) == 1
        assert not any(code == "snapshot_failed" for _, code, _ in r.journal.events)


async def test_an_arrival_still_that_fails_is_tried_once_more() -> None:
    async with rig(FakeCamera(photo_fails=1)) as r:
        await until(lambda: found(r), "the camera found")
        r.go(c.Phase.ON_SCENE)
        await until(lambda: r.relay.named("add_snapshot"), "the still on the second try")
        assert len(r.camera.named("take_photo")) == 2
    async with rig(FakeCamera(photo_fails=5)) as r:
        await until(lambda: found(r), "the camera found")
        r.go(c.Phase.ON_SCENE)
        await until(
            lambda: any(code == "snapshot_failed" for _, code, _ in r.journal.events),
            "the failure journaled with its reason",
        )
        assert len(r.camera.named("take_photo")) == 2
        failed = next(m for _, code, m in r.journal.events if code == "snapshot_failed")
        assert "no capture result" in failed
