"""The console's video: descriptors in, decoders opened for what is on screen, views on a timer.

:class:`VideoArea` is what the main window embeds. The bridge hands it each drone's retained
:class:`~groundstation.contract.VideoDescriptor`; every tick of its own timer (:data:`VIDEO_HZ`,
as the window batches its map repaints) it works out which drones are on screen (the selected
drone in the pane, every airborne drone in the grid), opens a :class:`StreamDecoder` for each
that streams and closes every other, takes each decoder's newest frame (one per tick, whatever
the decoder produced meanwhile is dropped) and sets what each view shows. Camera requests go
out as ``drone_camera`` through the console's :class:`~groundstation.console.commands.Commands`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from groundstation import contract as c
from groundstation.console.commands import Commands
from groundstation.console.model import FleetModel
from groundstation.console.qt import QObject, QTimer, QWidget, pyqtSignal
from groundstation.console.video.decoder import Frame, StreamDecoder, VideoStats
from groundstation.console.video.status import (
    no_video_text,
    overlay_due,
    overlay_lines,
    wants_stream,
)
from groundstation.console.video.widgets import VideoGrid, VideoPane, VideoView

log = logging.getLogger(__name__)

VIDEO_HZ = 10.0
"""States, the grid and the overlays; frames are shown as they arrive (frame_ready)."""
TILT_STEP_DEG = 10.0
DEFAULT_PITCH_DEG = -45.0
M = c.OperatorMethod


class VideoArea(QObject):
    """Owns the pane, the grid, the open streams and the timer that paints them."""

    drone_activated = pyqtSignal(str)  # a grid tile was clicked: select this drone
    frame_ready = pyqtSignal(str)  # emitted by a decoder thread: a new frame of this drone

    def __init__(
        self,
        model: FleetModel,
        commands: Commands,
        login: tuple[str, str | None] | None,
        parent: QWidget,
        *,
        hz: float = VIDEO_HZ,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.commands = commands
        self.login = login
        self.pane = VideoPane(parent)
        self.grid = VideoGrid(parent)
        self.descriptors: dict[str, c.VideoDescriptor] = {}
        self.decoders: dict[str, StreamDecoder] = {}
        self.frames: dict[str, Frame] = {}
        self.stats: dict[str, VideoStats] = {}
        """Per drone, kept across reconnects (a new decoder continues the counts)."""
        self.selected: str | None = None
        self.opened = 0
        self._pitch: dict[str, float] = {}
        self._overlay_at: dict[str, float] = {}
        self.ticks = 0
        self.tick_cpu_s = 0.0
        """CPU time of the UI thread in :meth:`tick` (deciding, taking frames, overlays)."""

        self.click_handler: Callable[[str, float, float], bool] | None = None
        """Offered every click in the picture first (tracking); True: taken, no look-at."""
        p = self.pane
        p.view.look_at.connect(self._clicked)
        p.snapshot.clicked.connect(lambda: self._camera(c.CameraAction.SNAPSHOT))
        p.reset.clicked.connect(lambda: self._camera(c.CameraAction.RESET))
        p.tilt_up.clicked.connect(lambda: self.tilt(TILT_STEP_DEG))
        p.tilt_down.clicked.connect(lambda: self.tilt(-TILT_STEP_DEG))
        self.frame_ready.connect(self._frame_arrived)  # queued: emitted from decoder threads
        self.timer = QTimer(self)
        self.timer.setInterval(max(10, int(1000 / hz)))
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self._figures_at = 0.0
        self._visible: list[VideoView] = []
        self._figures_mark: dict[str, tuple[float, int]] = {}

    # --- inputs --------------------------------------------------------------------------------

    def apply_descriptor(self, desc: c.VideoDescriptor) -> None:
        self.descriptors[desc.drone_id] = desc
        if desc.gimbal_pitch_deg is not None:
            self._pitch[desc.drone_id] = desc.gimbal_pitch_deg

    def remove_descriptor(self, drone_id: str) -> None:
        self.descriptors.pop(drone_id, None)

    def select(self, drone_id: str | None) -> None:
        self.selected = drone_id
        self.pane.setTitle(f"Video: {drone_id}" if drone_id else "Video: no drone selected")
        self.tick()

    # --- camera requests -------------------------------------------------------------------------

    def _camera(self, action: c.CameraAction, drone_id: str | None = None, **kw: float) -> None:
        drone = drone_id or self.selected
        if drone is None:
            return
        self.commands.request(M.DRONE_CAMERA, c.DroneCamera(drone_id=drone, action=action, **kw))

    def _clicked(self, drone_id: str, x: float, y: float) -> None:
        if self.click_handler is not None and self.click_handler(drone_id, x, y):
            return
        self.look_at_image(drone_id, x, y)

    def look_at_image(self, drone_id: str, x: float, y: float) -> None:
        self._camera(c.CameraAction.LOOK_AT_IMAGE, drone_id, x=x, y=y)

    def look_at(self, lat_deg: float, lon_deg: float) -> None:
        self._camera(c.CameraAction.LOOK_AT, lat_deg=round(lat_deg, 7), lon_deg=round(lon_deg, 7))

    def tilt(self, step_deg: float) -> None:
        if self.selected is None:
            return
        pitch = self._pitch.get(self.selected, DEFAULT_PITCH_DEG) + step_deg
        pitch = max(-90.0, min(30.0, pitch))
        self._pitch[self.selected] = pitch
        self._camera(c.CameraAction.POINT, pitch_deg=pitch)

    # --- the timer -----------------------------------------------------------------------------

    def airborne(self) -> list[str]:
        m = self.model
        return [d for d in m.order if (t := m.drones[d].tel) is not None and t.in_air]

    def _views(self) -> list[VideoView]:
        """Views on screen now (a hidden widget or a collapsed splitter shows nothing)."""
        views = [self.pane.view, *(self.grid.tiles[d] for d in self.grid.order)]
        return [
            v for v in views if v.drone_id and v.isVisible() and not v.visibleRegion().isEmpty()
        ]

    def tick(self) -> None:
        t0 = time.thread_time()
        for tile in self.grid.set_drones(self.airborne()):
            tile.activated.connect(self.drone_activated.emit)
        self.pane.view.drone_id = self.selected
        views = self._views()
        self._visible = views
        self._sync_decoders(views)
        for drone_id, dec in self.decoders.items():
            frame = dec.slot.take()
            if frame is not None:
                self.frames[drone_id] = frame
        for view in views:
            self._show(view)
        if self.pane.view.drone_id is None:
            self.pane.view.set_content(None, None, "No drone selected", "", "", None)
        self._update_controls()
        now = time.monotonic()
        if now - self._figures_at >= 1.0:
            self._figures_at = now
            self._update_figures(now)
        self.ticks += 1
        self.tick_cpu_s += time.thread_time() - t0

    def _frame_arrived(self, drone_id: str) -> None:
        """A decoder has a new frame: show it now (waiting for the next tick cost up to a tick,
        33 ms, of latency)."""
        dec = self.decoders.get(drone_id)
        frame = dec.slot.take() if dec is not None else None
        if frame is None:
            return
        t0 = time.thread_time()
        self.frames[drone_id] = frame
        for view in self._visible:  # as of the last tick (visibleRegion() is not free)
            if view.drone_id == drone_id:
                self._show(view)
        self.tick_cpu_s += time.thread_time() - t0

    def _sync_decoders(self, views: list[VideoView]) -> None:
        sizes: dict[str, tuple[int, int]] = {}
        ratio = max(1.0, views[0].devicePixelRatioF()) if views else 1.0
        for v in views:
            assert v.drone_id is not None
            w, h = int(v.width() * ratio), int(v.height() * ratio)
            ow, oh = sizes.get(v.drone_id, (0, 0))
            sizes[v.drone_id] = (max(w, ow), max(h, oh))
        for drone_id in list(self.decoders):
            dec = self.decoders[drone_id]
            desc = self.descriptors.get(drone_id)
            if drone_id not in sizes or not wants_stream(desc) or (desc and desc.url != dec.url):
                self._close(drone_id)
        for drone_id, size in sizes.items():
            desc = self.descriptors.get(drone_id)
            if desc is None or desc.url is None or not wants_stream(desc):
                continue
            opened = self.decoders.get(drone_id)
            if opened is None:
                opened = StreamDecoder(drone_id, desc.url, self.login)
                opened.on_frame = lambda d=drone_id: self.frame_ready.emit(d)
                opened.stats = self.stats.setdefault(drone_id, VideoStats())
                self.decoders[drone_id] = opened
                self.opened += 1
                opened.start()
                log.info("video %s: opening %s", drone_id, desc.url)
            opened.target_size = size

    def _close(self, drone_id: str) -> None:
        dec = self.decoders.pop(drone_id, None)
        if dec is not None:
            dec.close()
            log.info("video %s: closed", drone_id)
        self.frames.pop(drone_id, None)

    def _show(self, view: VideoView) -> None:
        drone_id = view.drone_id
        assert drone_id is not None
        desc = self.descriptors.get(drone_id)
        dec = self.decoders.get(drone_id)
        frame = self.frames.get(drone_id) if dec is not None else None
        # No decoder (not streaming, or closed): no picture; while a stream stalls or reconnects
        # the last picture stays, dimmed under the reason.
        text = no_video_text(desc, dec.status() if dec is not None else None)
        now = time.monotonic()
        still = frame is None and view.frame is None and text == view.text
        if still and view.compact and not overlay_due(self._overlay_at.get(drone_id), now):
            return  # a tile with no picture: its telemetry line once a second is enough
        self._overlay_at[drone_id] = now
        dv = self.model.drones.get(drone_id)
        top, bottom = overlay_lines(
            drone_id,
            dv.tel if dv is not None else None,
            self.model.incident_of_drone(drone_id),
            frame.capture_ms if frame is not None else None,
            desc,
            compact=view.compact,
        )
        highlight = view is not self.pane.view and drone_id == self.selected
        view.set_content(drone_id, frame, text, top, bottom, self.stats.get(drone_id), highlight)

    def _update_controls(self) -> None:
        ok = (
            self.selected is not None
            and self.commands.bridge.connected
            and self.commands.allowed(M.DRONE_CAMERA)
        )
        for b in self.pane.buttons():
            if b.isEnabled() != ok:
                b.setEnabled(ok)

    def _update_figures(self, now: float) -> None:
        d = self.selected
        st = self.stats.get(d) if d else None
        if d is None or st is None or d not in self.decoders:
            self.pane.figures.setText("")
            return
        t0, n0 = self._figures_mark.get(d, (now, st.shown))
        fps = (st.shown - n0) / (now - t0) if now > t0 else 0.0
        self._figures_mark[d] = (now, st.shown)
        lat = sorted(list(st.latencies_ms)[-50:])
        f = self.frames.get(d)
        size = f"{f.source_width_px}x{f.source_height_px} · " if f else ""
        latency = f" · latency {lat[len(lat) // 2]:.0f} ms" if lat else ""
        self.pane.figures.setText(
            f"{size}{fps:.0f} fps shown · {st.decoded} decoded · {st.dropped} dropped{latency}"
        )

    # --- for bench/ and tests --------------------------------------------------------------------

    def latencies_ms(self, drone_id: str) -> list[float]:
        """Capture -> shown latencies of the last frames shown (bounded)."""
        st = self.stats.get(drone_id)
        return list(st.latencies_ms) if st is not None else []

    def close(self) -> None:
        self.timer.stop()
        for drone_id in list(self.decoders):
            self._close(drone_id)
