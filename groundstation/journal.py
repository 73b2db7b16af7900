"""The journal: a SQLite (WAL) audit trail of incidents, sorties, phase changes, commands and
events, and the state a restarted controller reloads.

Writes are single small transactions with ``synchronous=NORMAL`` (WAL: no fsync per commit, still
crash-safe for the database file), a few tens of microseconds each, so they run on the event loop.
Rows are append-only except the two "current state" tables (``incidents``, ``sorties``), which hold
one row per incident and per drone.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from groundstation.contract import Incident
from groundstation.sortie import Sortie

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
