"""Evidence: recorded video segments and snapshots, their hashes and the per-incident manifest.

Layout under the evidence directory (``RelayConfig.evidence_dir``)::

    INCIDENT/manifest.json                       the incident's manifest (JSON, rewritten whole)
    INCIDENT/DRONE-SORTIE/seg-000001.ts          MPEG-TS segments, each starting at a keyframe
    INCIDENT/snapshots/DRONE-TAKENMS.jpg         snapshots as the camera wrote them

A segment is cut at the first keyframe after ``segment_s`` (about 10 s) and when the stream
comes back after a gap; it is hashed (SHA-256) as it is written, and once closed its record goes
to the :class:`EvidenceSink` (the journal) and into the manifest. A gap (no frame for longer
than the relay's stall time) is recorded with its start and end. ``groundstation report
--verify`` recomputes every hash from the files and compares with the journal and the manifests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from groundstation.video.hub import Chunk

__all__ = [
    "EvidenceSink",
    "EvidenceStore",
    "GapRecord",
    "RecordingRecord",
    "SegmentRecord",
    "SegmentRecorder",
    "SnapshotRecord",
    "sha256_file",
]

MEDIA_SUFFIXES = frozenset({".ts", ".jpg", ".jpeg", ".png"})
"""Files in an incident's directory that must each be listed in the journal."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _safe(name: str) -> str:
    return _SAFE.sub("_", name) or "_"


def _ms() -> int:
    return int(time.time() * 1000)


def _seq_of(path: Path) -> int:
    try:
        return int(path.stem.removeprefix("seg-"))
    except ValueError:
        return 0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    incident_id: str
    sortie_id: str
    drone_id: str
    directory: str
    started_ms: int
    stopped_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    incident_id: str
    sortie_id: str
    drone_id: str
    seq: int
    path: str
    start_ms: int
    end_ms: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class GapRecord:
    incident_id: str
    sortie_id: str
    drone_id: str
    start_ms: int
    end_ms: int | None
    """``None``: the stream had not come back when the recording stopped."""
    reason: str


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    incident_id: str
    drone_id: str
    path: str
    taken_ms: int
    lat_deg: float
    lon_deg: float
    alt_m: float
    size_bytes: int
    sha256: str
    stored_ms: int


class EvidenceSink(Protocol):
    """Where evidence records go (the journal). Called on the event loop."""

    def video_recording(self, rec: RecordingRecord) -> None: ...

    def video_segment(self, seg: SegmentRecord) -> None: ...

    def video_gap(self, gap: GapRecord) -> None: ...

    def video_snapshot(self, snap: SnapshotRecord) -> None: ...


Post = Callable[[Callable[[], None]], None]
"""Runs a callable on the event loop (``loop.call_soon_threadsafe``)."""


class EvidenceStore:
    """The evidence directory and its manifests. Thread-safe: the ingest threads and worker
    threads write through it; records go to the sink through ``post``."""

    def __init__(self, root: Path, sink: EvidenceSink | None, post: Post) -> None:
        self.root = root
        self.sink = sink
        self.post = post
        self._lock = threading.Lock()
        self._manifests: dict[str, dict[str, Any]] = {}

    def incident_dir(self, incident_id: str) -> Path:
        return self.root / _safe(incident_id)

    def _emit(self, fn: Callable[[], None]) -> None:
        self.post(fn)

    def _manifest(self, incident_id: str) -> dict[str, Any]:
        m = self._manifests.get(incident_id)
        if m is None:
            path = self.incident_dir(incident_id) / "manifest.json"
            if path.is_file():
                m = json.loads(path.read_text(encoding="utf-8"))
            else:
                m = {"incident_id": incident_id, "recordings": [], "snapshots": []}
            self._manifests[incident_id] = m
        return m

    def _recording_entry(self, m: dict[str, Any], drone_id: str, sortie_id: str) -> dict[str, Any]:
        for rec in m["recordings"]:
            if rec["drone_id"] == drone_id and rec["sortie_id"] == sortie_id:
                entry: dict[str, Any] = rec
                return entry
        entry = {
            "drone_id": drone_id,
            "sortie_id": sortie_id,
            "started_ms": None,
            "stopped_ms": None,
            "directory": "",
            "segments": [],
            "gaps": [],
        }
        m["recordings"].append(entry)
        return entry

    def _write(self, incident_id: str) -> None:
        """Rewrite the manifest atomically (write a temporary file, then rename). Under lock."""
        m = self._manifests[incident_id]
        m["updated_ms"] = _ms()
        d = self.incident_dir(incident_id)
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=d)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(m, f, indent=2)
            f.write("\n")
        Path(tmp).replace(d / "manifest.json")

    # --- called by recorders (any thread) -------------------------------------------------

    def recording(self, rec: RecordingRecord) -> None:
        with self._lock:
            m = self._manifest(rec.incident_id)
            entry = self._recording_entry(m, rec.drone_id, rec.sortie_id)
            entry["directory"] = rec.directory
            entry["started_ms"] = entry["started_ms"] or rec.started_ms
            entry["stopped_ms"] = rec.stopped_ms
            self._write(rec.incident_id)
        if self.sink is not None:
            sink = self.sink
            self._emit(lambda: sink.video_recording(rec))

    def segment(self, seg: SegmentRecord) -> None:
        with self._lock:
            m = self._manifest(seg.incident_id)
            entry = self._recording_entry(m, seg.drone_id, seg.sortie_id)
            item = asdict(seg)
            for key in ("incident_id", "sortie_id", "drone_id"):
                del item[key]
            item["file"] = os.path.relpath(seg.path, self.incident_dir(seg.incident_id))
            entry["segments"].append(item)
            self._write(seg.incident_id)
        if self.sink is not None:
            sink = self.sink
            self._emit(lambda: sink.video_segment(seg))

    def gap(self, gap: GapRecord) -> None:
        with self._lock:
            m = self._manifest(gap.incident_id)
            entry = self._recording_entry(m, gap.drone_id, gap.sortie_id)
            duration = None if gap.end_ms is None else round((gap.end_ms - gap.start_ms) / 1e3, 3)
            entry["gaps"].append(
                {
                    "start_ms": gap.start_ms,
                    "end_ms": gap.end_ms,
                    "duration_s": duration,
                    "reason": gap.reason,
                }
            )
            self._write(gap.incident_id)
        if self.sink is not None:
            sink = self.sink
            self._emit(lambda: sink.video_gap(gap))

    def add_snapshot(
        self,
        drone_id: str,
        incident_id: str,
        source: Path | str | bytes,
        lat_deg: float,
        lon_deg: float,
        alt_m: float,
        taken_ms: int,
    ) -> SnapshotRecord:
        """Copy a snapshot into the store, hash it, list it (blocking: call in a thread).
        ``source`` is the image's bytes, a path, or a ``file://`` URL (the camera's file_url)."""
        src_path: Path | None = None
        if isinstance(source, bytes):
            data: bytes | None = source
            suffix = ".jpg"
        else:
            data = None
            text = str(source)
            if text.startswith("file:"):
                text = unquote(urlparse(text).path)
            elif "://" in text:
                raise ValueError(f"snapshot {text!r}: only file:// URLs and paths are accepted")
            src_path = Path(text)
            if not src_path.is_file():
                raise FileNotFoundError(f"snapshot {src_path}: no such file")
            suffix = (
                src_path.suffix.lower() if src_path.suffix.lower() in MEDIA_SUFFIXES else ".jpg"
            )
        d = self.incident_dir(incident_id) / "snapshots"
        d.mkdir(parents=True, exist_ok=True)
        dst = d / f"{_safe(drone_id)}-{taken_ms}{suffix}"
        n = 1
        while dst.exists():
            dst = d / f"{_safe(drone_id)}-{taken_ms}-{n}{suffix}"
            n += 1
        if data is not None:
            dst.write_bytes(data)
        else:
            assert src_path is not None
            shutil.copyfile(src_path, dst)
        snap = SnapshotRecord(
            incident_id,
            drone_id,
            str(dst),
            taken_ms,
            lat_deg,
            lon_deg,
            alt_m,
            dst.stat().st_size,
            sha256_file(dst),
            _ms(),
        )
        with self._lock:
            m = self._manifest(incident_id)
            item = asdict(snap)
            del item["incident_id"]
            item["file"] = os.path.relpath(dst, self.incident_dir(incident_id))
            m["snapshots"].append(item)
            self._write(incident_id)
        if self.sink is not None:
            sink = self.sink
            self._emit(lambda: sink.video_snapshot(snap))
        return snap


class SegmentRecorder:
    """One drone's recording for one sortie: ``feed`` from the ingest thread, ``close`` once."""

    def __init__(
        self,
        store: EvidenceStore,
        drone_id: str,
        incident_id: str,
        sortie_id: str,
        *,
        segment_s: float,
        gap_ms: int,
    ) -> None:
        self.store = store
        self.drone_id = drone_id
        self.incident_id = incident_id
        self.sortie_id = sortie_id
        self.segment_ms = int(segment_s * 1000)
        self.gap_ms = gap_ms
        self.directory = store.incident_dir(incident_id) / f"{_safe(drone_id)}-{_safe(sortie_id)}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segments: list[SegmentRecord] = []
        self.gaps: list[GapRecord] = []
        self._lock = threading.Lock()
        self._file: Any = None
        self._hash: Any = None
        self._seq = max((_seq_of(p) for p in self.directory.glob("seg-*.ts")), default=0)
        self.error: str | None = None
        """Why the recording stopped writing (a full disk...), ``None`` while it is fine."""
        self._start_ms = 0
        self._end_ms = 0
        self._size = 0
        self._last_ms: int | None = None
        self._gap_from: int | None = None
        self._closed = False
        self.record = RecordingRecord(incident_id, sortie_id, drone_id, str(self.directory), _ms())
        store.recording(self.record)

    def feed(self, chunk: Chunk) -> str | None:
        """Write a frame (from the ingest thread). A write that fails ends the recording's
        writing instead of failing again at every frame: the reason is returned that once
        (and kept in ``error``)."""
        with self._lock:
            if self._closed or self.error is not None:
                return None
            try:
                self._feed(chunk)
            except OSError as exc:
                self.error = f"recording stopped writing: {exc}"
                with contextlib.suppress(OSError):
                    self._close_segment()
                return self.error
            return None

    def _feed(self, chunk: Chunk) -> None:
        if self._last_ms is not None and chunk.wall_ms - self._last_ms > self.gap_ms:
            self._close_segment()
            self._gap_from = self._last_ms
        self._last_ms = chunk.wall_ms
        if self._file is None:
            if not chunk.key:
                return
            self._open_segment(chunk.wall_ms)
        elif chunk.key and chunk.wall_ms - self._start_ms >= self.segment_ms:
            self._close_segment()
            self._open_segment(chunk.wall_ms)
        self._file.write(chunk.data)
        self._hash.update(chunk.data)
        self._size += len(chunk.data)
        self._end_ms = chunk.wall_ms

    def _open_segment(self, wall_ms: int) -> None:
        if self._gap_from is not None:
            gap = GapRecord(
                self.incident_id,
                self.sortie_id,
                self.drone_id,
                self._gap_from,
                wall_ms,
                "no video from the drone",
            )
            self.gaps.append(gap)
            self.store.gap(gap)
            self._gap_from = None
        self._seq += 1
        path = self.directory / f"seg-{self._seq:06d}.ts"
        self._file = path.open("xb")
        self._hash = hashlib.sha256()
        self._start_ms = self._end_ms = wall_ms
        self._size = 0

    def _close_segment(self) -> None:
        if self._file is None:
            return
        path = Path(self._file.name)
        self._file.close()
        self._file = None
        seg = SegmentRecord(
            self.incident_id,
            self.sortie_id,
            self.drone_id,
            self._seq,
            str(path),
            self._start_ms,
            self._end_ms,
            self._size,
            self._hash.hexdigest(),
        )
        self.segments.append(seg)
        self.store.segment(seg)

    def close(self, now_ms: int | None = None) -> RecordingRecord:
        """Close the open segment, record a gap still open, and the recording's end (blocking)."""
        now = _ms() if now_ms is None else now_ms
        with self._lock:
            if self._closed:
                return self.record
            self._closed = True
            self._close_segment()
            last = self._gap_from if self._gap_from is not None else self._last_ms
            if last is None or now - last > self.gap_ms:
                start = last if last is not None else self.record.started_ms
                gap = GapRecord(
                    self.incident_id,
                    self.sortie_id,
                    self.drone_id,
                    start,
                    None,
                    "no video from the drone when the recording stopped"
                    if last is not None
                    else "no video during the recording",
                )
                self.gaps.append(gap)
                self.store.gap(gap)
            self.record = replace(self.record, stopped_ms=now)
        self.store.recording(self.record)
        return self.record
