"""The journal: a SQLite (WAL) audit trail of incidents, sorties, phase changes, commands and
events, and the state a restarted controller reloads.

Writes are single small transactions with ``synchronous=NORMAL`` (WAL: no fsync per commit, still
crash-safe for the database file), a few tens of microseconds each, so they run on the event loop.
Rows are append-only except the two "current state" tables (``incidents``, ``sorties``), which hold
one row per incident and per drone, and ``video_recordings`` (one row per incident, drone and
sortie, its end filled in when it stops).

Evidence (``groundstation.video.evidence``: the journal is its ``EvidenceSink``): each recorded
video segment's path, times, size and SHA-256 (``video_segments``), the gaps in a recording
(``video_gaps``) and each snapshot with its geotag and SHA-256 (``snapshots``).
``groundstation report --verify`` recomputes the hashes from the files.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from groundstation.contract import Incident
from groundstation.core.sortie import Sortie
from groundstation.video.evidence import (
    EvidenceSink,
    GapRecord,
    RecordingRecord,
    SegmentRecord,
    SnapshotRecord,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL,
    updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sorties (
    drone_id TEXT PRIMARY KEY, phase TEXT NOT NULL, incident_id TEXT, record TEXT NOT NULL,
    updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS phases (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, drone_id TEXT NOT NULL, incident_id TEXT,
    phase TEXT NOT NULL, controller_id TEXT);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, who TEXT NOT NULL, method TEXT NOT NULL,
    tid TEXT, data TEXT, result INTEGER NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, severity TEXT NOT NULL, code TEXT NOT NULL,
    message TEXT NOT NULL, drone_id TEXT, incident_id TEXT, controller_id TEXT);
CREATE TABLE IF NOT EXISTS video_recordings (
    incident_id TEXT NOT NULL, drone_id TEXT NOT NULL, sortie_id TEXT NOT NULL,
    directory TEXT NOT NULL, started_ms INTEGER NOT NULL, stopped_ms INTEGER,
    PRIMARY KEY (incident_id, drone_id, sortie_id));
CREATE TABLE IF NOT EXISTS video_segments (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, incident_id TEXT NOT NULL,
    drone_id TEXT NOT NULL, sortie_id TEXT NOT NULL, seq INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS video_gaps (
    id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL, drone_id TEXT NOT NULL,
    sortie_id TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, incident_id TEXT NOT NULL,
    drone_id TEXT NOT NULL, path TEXT NOT NULL UNIQUE, taken_ms INTEGER NOT NULL,
    lat_deg REAL NOT NULL, lon_deg REAL NOT NULL, alt_m REAL NOT NULL,
    size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS video_segments_incident ON video_segments(incident_id, drone_id);
CREATE INDEX IF NOT EXISTS phases_drone ON phases(drone_id, ts_ms);
CREATE INDEX IF NOT EXISTS commands_tid ON commands(tid);
"""


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class CommandRow:
    ts_ms: int
    who: str
    method: str
    tid: str | None
    result: int
    reason: str | None


class Journal:
    """Open with a path (``:memory:`` for a throwaway one)."""

    def __init__(self, path: str | Path, *, controller_id: str = "") -> None:
        self.path = str(path)
        self.controller_id = controller_id
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- writes -----------------------------------------------------------------------------

    def save_incident(self, inc: Incident) -> None:
        self.db.execute(
            "INSERT INTO incidents VALUES (?,?,?,?) ON CONFLICT(incident_id) DO UPDATE SET "
            "status=excluded.status, record=excluded.record, updated_ms=excluded.updated_ms",
            (inc.incident_id, str(inc.status), msgspec.json.encode(inc).decode(), _ms()),
        )

    def save_sortie(self, s: Sortie, *, phase_changed: bool) -> None:
        record = msgspec.json.encode(s).decode()
        ts = _ms()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO sorties VALUES (?,?,?,?,?) ON CONFLICT(drone_id) DO UPDATE SET "
                "phase=excluded.phase, incident_id=excluded.incident_id, record=excluded.record, "
                "updated_ms=excluded.updated_ms",
                (s.drone_id, str(s.phase), s.incident_id, record, ts),
            )
            if phase_changed:
                self.db.execute(
                    "INSERT INTO phases(ts_ms, drone_id, incident_id, phase, controller_id) "
                    "VALUES (?,?,?,?,?)",
                    (ts, s.drone_id, s.incident_id, str(s.phase), self.controller_id),
                )

    def command(
        self, who: str, method: str, tid: str | None, data: Any, result: int, reason: str | None
    ) -> None:
        self.db.execute(
            "INSERT INTO commands(ts_ms, who, method, tid, data, result, reason) "
            "VALUES (?,?,?,?,?,?,?)",
            (_ms(), who, method, tid, msgspec.json.encode(data).decode(), result, reason),
        )

    def event(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        drone_id: str | None = None,
        incident_id: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO events(ts_ms, severity, code, message, drone_id, incident_id, "
            "controller_id) VALUES (?,?,?,?,?,?,?)",
            (_ms(), severity, code, message, drone_id, incident_id, self.controller_id),
        )

    # --- evidence (groundstation.video.evidence.EvidenceSink) ------------------------------

    def video_recording(self, rec: RecordingRecord) -> None:
        self.db.execute(
            "INSERT INTO video_recordings VALUES (?,?,?,?,?,?) ON CONFLICT(incident_id, drone_id, "
            "sortie_id) DO UPDATE SET directory=excluded.directory, stopped_ms=excluded.stopped_ms",
            (
                rec.incident_id,
                rec.drone_id,
                rec.sortie_id,
                rec.directory,
                rec.started_ms,
                rec.stopped_ms,
            ),
        )

    def video_segment(self, seg: SegmentRecord) -> None:
        self.db.execute(
            "INSERT INTO video_segments(ts_ms, incident_id, drone_id, sortie_id, seq, path, "
            "start_ms, end_ms, size_bytes, sha256) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                _ms(),
                seg.incident_id,
                seg.drone_id,
                seg.sortie_id,
                seg.seq,
                seg.path,
                seg.start_ms,
                seg.end_ms,
                seg.size_bytes,
                seg.sha256,
            ),
        )

    def video_gap(self, gap: GapRecord) -> None:
        self.db.execute(
            "INSERT INTO video_gaps(incident_id, drone_id, sortie_id, start_ms, end_ms, reason) "
            "VALUES (?,?,?,?,?,?)",
            (gap.incident_id, gap.drone_id, gap.sortie_id, gap.start_ms, gap.end_ms, gap.reason),
        )

    def video_snapshot(self, snap: SnapshotRecord) -> None:
        self.db.execute(
            "INSERT INTO snapshots(ts_ms, incident_id, drone_id, path, taken_ms, lat_deg, "
            "lon_deg, alt_m, size_bytes, sha256) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                snap.stored_ms,
                snap.incident_id,
                snap.drone_id,
                snap.path,
                snap.taken_ms,
                snap.lat_deg,
                snap.lon_deg,
                snap.alt_m,
                snap.size_bytes,
                snap.sha256,
            ),
        )

    def video_segments(self, incident_id: str | None = None) -> list[SegmentRecord]:
        sql = (
            "SELECT incident_id, sortie_id, drone_id, seq, path, start_ms, end_ms, "
            "size_bytes, sha256 FROM video_segments"
        )
        args: tuple[Any, ...] = ()
        if incident_id is not None:
            sql += " WHERE incident_id = ?"
            args = (incident_id,)
        return [SegmentRecord(*r) for r in self.db.execute(sql + " ORDER BY id", args)]

    # --- reads ------------------------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        rows = self.db.execute("SELECT record FROM incidents ORDER BY rowid").fetchall()
        return [msgspec.json.decode(r[0], type=Incident) for r in rows]

    def sorties(self) -> list[Sortie]:
        rows = self.db.execute("SELECT record FROM sorties ORDER BY drone_id").fetchall()
        return [msgspec.json.decode(r[0], type=Sortie) for r in rows]

    def commands(self) -> list[CommandRow]:
        rows = self.db.execute(
            "SELECT ts_ms, who, method, tid, result, reason FROM commands ORDER BY id"
        ).fetchall()
        return [CommandRow(*r) for r in rows]

    def phases(self, drone_id: str | None = None) -> list[tuple[int, str, str | None, str]]:
        sql = "SELECT ts_ms, drone_id, incident_id, phase FROM phases"
        args: tuple[Any, ...] = ()
        if drone_id:
            sql += " WHERE drone_id = ?"
            args = (drone_id,)
        return [tuple(r) for r in self.db.execute(sql + " ORDER BY id", args).fetchall()]

    def events(self) -> list[tuple[int, str, str, str, str | None]]:
        rows = self.db.execute(
            "SELECT ts_ms, severity, code, message, drone_id FROM events ORDER BY id"
        ).fetchall()
        return [tuple(r) for r in rows]

    def seen_tid(self, tid: str) -> CommandRow | None:
        row = self.db.execute(
            "SELECT ts_ms, who, method, tid, result, reason FROM commands WHERE tid = ? "
            "ORDER BY id DESC LIMIT 1",
            (tid,),
        ).fetchone()
        return CommandRow(*row) if row else None

    def integrity(self) -> bool:
        """SQLite's own check plus: no duplicate launch (two sorties for one incident at once)."""
        ok = self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dup = self.db.execute(
            "SELECT incident_id, COUNT(*) FROM sorties WHERE incident_id IS NOT NULL "
            "GROUP BY incident_id HAVING COUNT(*) > 1"
        ).fetchall()
        return bool(ok) and not dup


def as_evidence_sink(journal: Journal) -> EvidenceSink:
    """The journal is the video relay's evidence sink (checked here by mypy)."""
    return journal
