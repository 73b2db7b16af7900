"""``groundstation report``: incidents and sorties from a controller's journal, with their times.

    groundstation report --journal dfr-journal.sqlite [--json] [--since ISO] [--incident ID]

Incidents come from the journal's ``incidents`` table (created, dispatched, on scene, closed);
sorties are rebuilt from its ``phases`` table: one per launch (``preflight``) up to the drone
being back (``charging``/``docked``) or ``fault``, with every phase and its time, and the
flight logs (``flight_log`` events, see ``groundstation.flightlog``) written during it. The
journal is opened read-only, so a report can be taken while the controller runs.

Times are UTC. "to dispatch" and "to scene" count from the incident's creation; "on scene" is
from arrival until the drone left the scene (or the incident closed).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from groundstation.contract import Incident, Phase

__all__ = [
    "IncidentRow",
    "PhaseAt",
    "Report",
    "SortieRow",
    "build_report",
    "main",
    "render_text",
]

BACK = frozenset({Phase.CHARGING, Phase.DOCKED, Phase.FAULT})
LOG_SLACK_MS = 2000
"""A flight log is journaled at the launch itself: allow for the order of the two writes."""


@dataclass(frozen=True, slots=True)
class PhaseAt:
    phase: str
    ts_ms: int
    incident_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentRow:
    incident_id: str
    status: str
    priority: int
    summary: str
    drone_id: str | None
    created_ms: int
    dispatched_ms: int | None
    on_scene_ms: int | None
    left_scene_ms: int | None
    closed_ms: int | None
    reason: str | None

    @property
    def to_dispatch_s(self) -> float | None:
        return _span(self.created_ms, self.dispatched_ms)

    @property
    def to_scene_s(self) -> float | None:
        return _span(self.created_ms, self.on_scene_ms)

    @property
    def on_scene_s(self) -> float | None:
        return _span(self.on_scene_ms, self.left_scene_ms or self.closed_ms)


@dataclass(frozen=True, slots=True)
class SortieRow:
    drone_id: str
    incident_ids: list[str]
    started_ms: int
    launched_ms: int | None
    back_ms: int | None
    end_phase: str | None
    phases: list[PhaseAt]
    flight_logs: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        return _span(self.started_ms, self.back_ms)


@dataclass(frozen=True, slots=True)
class Report:
    journal: str
    incidents: list[IncidentRow]
    sorties: list[SortieRow]

    def to_json(self) -> dict[str, Any]:
        """One JSON object: every time as epoch milliseconds and as ISO 8601, spans in s."""
        incidents = []
        for i in self.incidents:
            d = asdict(i)
            for key in ("created_ms", "dispatched_ms", "on_scene_ms", "left_scene_ms", "closed_ms"):
                d[key.removesuffix("_ms")] = _iso(d[key])
            d |= {"to_dispatch_s": i.to_dispatch_s, "to_scene_s": i.to_scene_s}
            d["on_scene_s"] = i.on_scene_s
            incidents.append(d)
        sorties = []
        for s in self.sorties:
            d = asdict(s)
            for key in ("started_ms", "launched_ms", "back_ms"):
                d[key.removesuffix("_ms")] = _iso(d[key])
            for p in d["phases"]:
                p["ts"] = _iso(p["ts_ms"])
            d["duration_s"] = s.duration_s
            sorties.append(d)
        return {"journal": self.journal, "incidents": incidents, "sorties": sorties}


def _span(a_ms: int | None, b_ms: int | None) -> float | None:
    if a_ms is None or b_ms is None:
        return None
    return round((b_ms - a_ms) / 1000.0, 1)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000.0, UTC).isoformat(timespec="milliseconds")


# --- reading the journal ----------------------------------------------------------------------


def open_read_only(path: str | Path) -> sqlite3.Connection:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no journal at {p}")
    return sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)


def _sorties(db: sqlite3.Connection) -> list[SortieRow]:
    rows = db.execute(
        "SELECT ts_ms, drone_id, incident_id, phase FROM phases ORDER BY id"
    ).fetchall()
    logs = db.execute(
        "SELECT ts_ms, drone_id, message FROM events WHERE code = 'flight_log' ORDER BY id"
    ).fetchall()
    open_: dict[str, list[PhaseAt]] = {}
    done: list[tuple[str, list[PhaseAt]]] = []
    for ts_ms, drone_id, incident_id, phase in rows:
        current = open_.get(drone_id)
        if current is None:
            if phase in BACK:
                continue  # at rest: no sortie
            current = open_[drone_id] = []
        current.append(PhaseAt(str(phase), int(ts_ms), incident_id))
        if phase in BACK:
            done.append((drone_id, open_.pop(drone_id)))
    done += list(open_.items())
    out: list[SortieRow] = []
    for drone_id, phases in done:
        start = phases[0].ts_ms
        end_phase = phases[-1].phase if phases[-1].phase in BACK else None
        back = phases[-1].ts_ms if end_phase is not None else None
        incident_ids: list[str] = []
        for p in phases:
            if p.incident_id and p.incident_id not in incident_ids:
                incident_ids.append(p.incident_id)
        launched = next((p.ts_ms for p in phases if p.phase == Phase.LAUNCHING), None)
        paths = [
            str(message)
            for ts_ms, who, message in logs
            if who == drone_id and ts_ms >= start - LOG_SLACK_MS and (back is None or ts_ms <= back)
        ]
        out.append(
            SortieRow(drone_id, incident_ids, start, launched, back, end_phase, phases, paths)
        )
    out.sort(key=lambda s: (s.started_ms, s.drone_id))
    return out


def _incidents(db: sqlite3.Connection, sorties: list[SortieRow]) -> list[IncidentRow]:
    out: list[IncidentRow] = []
    for (record,) in db.execute("SELECT record FROM incidents ORDER BY rowid"):
        inc = msgspec.json.decode(record, type=Incident)
        drone = inc.assigned_drone
        left = None
        for s in sorties:
            if inc.incident_id not in s.incident_ids or (drone and s.drone_id != drone):
                continue
            drone = drone or s.drone_id
            on_scene = [
                n
                for n, p in enumerate(s.phases)
                if p.phase == Phase.ON_SCENE and p.incident_id == inc.incident_id
            ]
            if on_scene and on_scene[-1] + 1 < len(s.phases):
                left = s.phases[on_scene[-1] + 1].ts_ms
        out.append(
            IncidentRow(
                incident_id=inc.incident_id,
                status=str(inc.status),
                priority=inc.priority,
                summary=inc.summary,
                drone_id=drone,
                created_ms=inc.created_ms,
                dispatched_ms=inc.dispatched_ms,
                on_scene_ms=inc.on_scene_ms,
                left_scene_ms=left,
                closed_ms=inc.closed_ms,
                reason=inc.reason,
            )
        )
    return out


def build_report(
    db: sqlite3.Connection,
    *,
    journal: str = "",
    since_ms: int | None = None,
    incident_id: str | None = None,
) -> Report:
    """Incidents and sorties of a journal, optionally from ``since_ms`` on or of one incident."""
    sorties = _sorties(db)
    incidents = _incidents(db, sorties)
    if since_ms is not None:
        incidents = [i for i in incidents if i.created_ms >= since_ms]
        sorties = [s for s in sorties if s.phases[-1].ts_ms >= since_ms]
    if incident_id is not None:
        incidents = [i for i in incidents if i.incident_id == incident_id]
        sorties = [s for s in sorties if incident_id in s.incident_ids]
    return Report(journal, incidents, sorties)


# --- text -------------------------------------------------------------------------------------


def _t(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000.0, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _hms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000.0, UTC).strftime("%H:%M:%S")


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{sec:02d}s"


def _table(header: Sequence[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[n]) for r in rows)) for n, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def render_text(report: Report) -> str:
    """The report as two aligned tables (UTC times)."""
    lines = [f"journal {report.journal} (times UTC)", "", f"incidents ({len(report.incidents)})"]
    if report.incidents:
        lines += _table(
            (
                "incident",
                "created",
                "status",
                "pri",
                "drone",
                "to dispatch",
                "to scene",
                "on scene",
                "closed",
            ),
            [
                [
                    i.incident_id,
                    _t(i.created_ms),
                    i.status,
                    str(i.priority),
                    i.drone_id or "-",
                    _dur(i.to_dispatch_s),
                    _dur(i.to_scene_s),
                    _dur(i.on_scene_s),
                    _t(i.closed_ms),
                ]
                for i in report.incidents
            ],
        )
    lines += ["", f"sorties ({len(report.sorties)})"]
    for s in report.sorties:
        back = f"{s.end_phase} {_t(s.back_ms)}" if s.end_phase else "still out"
        lines.append(
            f"{s.drone_id}  incident {', '.join(s.incident_ids) or '-'}  "
            f"launch {_t(s.launched_ms or s.started_ms)}  back {back}  ({_dur(s.duration_s)})"
        )
        lines.append("    " + "  ".join(f"{p.phase} {_hms(p.ts_ms)}" for p in s.phases))
        lines += [f"    flight log {path}" for path in s.flight_logs] or ["    flight log -"]
    return "\n".join(lines) + "\n"


# --- command line -----------------------------------------------------------------------------


def _since(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groundstation report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--journal", default="dfr-journal.sqlite", help="the controller's journal")
    p.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    p.add_argument(
        "--since", type=_since, default=None, metavar="ISO", help="from this time on (UTC if naive)"
    )
    p.add_argument("--incident", default=None, metavar="ID", help="only this incident")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        db = open_read_only(args.journal)
    except (OSError, sqlite3.Error) as exc:
        print(f"groundstation report: {exc}", file=sys.stderr)
        return 2
    try:
        report = build_report(
            db, journal=str(args.journal), since_ms=args.since, incident_id=args.incident
        )
    except sqlite3.Error as exc:
        print(f"groundstation report: {args.journal}: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        sys.stdout.write(render_text(report))
    return 0
