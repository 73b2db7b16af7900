"""``groundstation report``: incidents and sorties from a controller's journal, with their times,
and the video evidence (recordings and snapshots) of each incident.

    groundstation report --journal dfr-journal.sqlite [--json] [--since ISO] [--incident ID]
    groundstation report --journal dfr-journal.sqlite --verify [--incident ID]

``--verify`` recomputes the SHA-256 of every recorded video segment and snapshot the journal
lists and compares it (and the size) with the journal and the incident's manifest.json; a file
that changed, is missing, or sits in an incident's evidence directory without being listed fails
the check: each problem is printed with the file's path and the exit code is 1.

Incidents come from the journal's ``incidents`` table (created, dispatched, on scene, closed);
sorties are rebuilt from its ``phases`` table: one per launch (``preflight``) up to the drone
being back (``charging``/``docked``) or ``fault``, with every phase and its time, and the
flight logs (``flight_log`` events, see ``groundstation.adapters.flightlog``) written during it. The
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
from groundstation.control.sharing_store import ShareEvent, audit
from groundstation.video.evidence import MEDIA_SUFFIXES, sha256_file

__all__ = [
    "IncidentRow",
    "PhaseAt",
    "RecordingRow",
    "Report",
    "SnapshotRow",
    "SortieRow",
    "Verification",
    "build_report",
    "main",
    "render_text",
    "verify_evidence",
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
class SegmentRow:
    seq: int
    path: str
    start_ms: int
    end_ms: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class GapRow:
    start_ms: int
    end_ms: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingRow:
    incident_id: str
    drone_id: str
    sortie_id: str
    directory: str
    started_ms: int
    stopped_ms: int | None
    segments: list[SegmentRow]
    gaps: list[GapRow]

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self.segments)

    @property
    def video_s(self) -> float:
        return round(sum(s.end_ms - s.start_ms for s in self.segments) / 1000.0, 1)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    incident_id: str
    drone_id: str
    path: str
    taken_ms: int
    lat_deg: float
    lon_deg: float
    alt_m: float
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class TrackingRow:
    """Who started or stopped tracking a target with a drone, when and why (the journal's
    ``tracking_started`` / ``tracking_stopped`` events)."""

    ts_ms: int
    drone_id: str | None
    incident_id: str | None
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Report:
    journal: str
    incidents: list[IncidentRow]
    sorties: list[SortieRow]
    recordings: list[RecordingRow] = field(default_factory=list)
    snapshots: list[SnapshotRow] = field(default_factory=list)
    shares: list[ShareEvent] = field(default_factory=list)
    """Incidents shared with partner agencies and withdrawn: who, when, why (sharing_store)."""
    tracking: list[TrackingRow] = field(default_factory=list)

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
        recordings = []
        for r in self.recordings:
            d = asdict(r)
            d |= {"started": _iso(r.started_ms), "stopped": _iso(r.stopped_ms)}
            d |= {"size_bytes": r.size_bytes, "video_s": r.video_s}
            recordings.append(d)
        snapshots = [asdict(p) | {"taken": _iso(p.taken_ms)} for p in self.snapshots]
        return {
            "journal": self.journal,
            "incidents": incidents,
            "sorties": sorties,
            "recordings": recordings,
            "snapshots": snapshots,
            "shares": [asdict(e) | {"ts": _iso(e.ts_ms)} for e in self.shares],
            "tracking": [asdict(t) | {"ts": _iso(t.ts_ms)} for t in self.tracking],
        }


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


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
    return row.fetchone() is not None


def _recordings(db: sqlite3.Connection, incident_id: str | None) -> list[RecordingRow]:
    """Every recording with its segments and gaps (none in a journal older than video)."""
    if not _has_table(db, "video_recordings"):
        return []
    where, args = ("WHERE incident_id = ?", (incident_id,)) if incident_id else ("", ())
    out = []
    rows = db.execute(
        "SELECT incident_id, drone_id, sortie_id, directory, started_ms, stopped_ms "
        f"FROM video_recordings {where} ORDER BY started_ms, drone_id",
        args,
    ).fetchall()
    for inc, drone, sortie, directory, started, stopped in rows:
        key = (inc, drone, sortie)
        segments = [
            SegmentRow(*r)
            for r in db.execute(
                "SELECT seq, path, start_ms, end_ms, size_bytes, sha256 FROM video_segments "
                "WHERE incident_id = ? AND drone_id = ? AND sortie_id = ? ORDER BY seq",
                key,
            )
        ]
        gaps = [
            GapRow(*r)
            for r in db.execute(
                "SELECT start_ms, end_ms, reason FROM video_gaps "
                "WHERE incident_id = ? AND drone_id = ? AND sortie_id = ? ORDER BY id",
                key,
            )
        ]
        out.append(RecordingRow(inc, drone, sortie, directory, started, stopped, segments, gaps))
    return out


def _snapshots(db: sqlite3.Connection, incident_id: str | None) -> list[SnapshotRow]:
    if not _has_table(db, "snapshots"):
        return []
    where, args = ("WHERE incident_id = ?", (incident_id,)) if incident_id else ("", ())
    return [
        SnapshotRow(*r)
        for r in db.execute(
            "SELECT incident_id, drone_id, path, taken_ms, lat_deg, lon_deg, alt_m, size_bytes, "
            f"sha256 FROM snapshots {where} ORDER BY taken_ms, id",
            args,
        )
    ]


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
    recordings = _recordings(db, incident_id)
    snapshots = _snapshots(db, incident_id)
    if since_ms is not None:
        recordings = [r for r in recordings if (r.stopped_ms or r.started_ms) >= since_ms]
        snapshots = [p for p in snapshots if p.taken_ms >= since_ms]
    shares = [e for e in audit(db, incident_id) if since_ms is None or e.ts_ms >= since_ms]
    tracking = _tracking(db, since_ms, incident_id)
    return Report(journal, incidents, sorties, recordings, snapshots, shares, tracking)


def _tracking(
    db: sqlite3.Connection, since_ms: int | None, incident_id: str | None
) -> list[TrackingRow]:
    rows = db.execute(
        "SELECT ts_ms, drone_id, incident_id, code, message FROM events "
        "WHERE code IN ('tracking_started', 'tracking_stopped') ORDER BY id"
    ).fetchall()
    out = [TrackingRow(*r) for r in rows]
    if since_ms is not None:
        out = [t for t in out if t.ts_ms >= since_ms]
    if incident_id is not None:
        out = [t for t in out if t.incident_id == incident_id]
    return out


# --- evidence verification --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    files: int
    """Segments and snapshots checked."""
    incidents: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_file(path: Path, size: int, sha256: str, problems: list[str]) -> None:
    if not path.is_file():
        problems.append(f"MISSING {path}: listed in the journal, not on disk")
        return
    actual_size = path.stat().st_size
    actual = sha256_file(path)
    if actual != sha256:
        problems.append(
            f"CHANGED {path}: sha256 {actual} ({actual_size} bytes), "
            f"the journal has {sha256} ({size} bytes)"
        )
    elif actual_size != size:
        problems.append(f"CHANGED {path}: {actual_size} bytes, the journal has {size}")


def _check_manifest(incident_dir: Path, listed: dict[Path, str], problems: list[str]) -> None:
    """The incident's manifest must list exactly the journal's files with the same hashes."""
    path = incident_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        items = [
            (incident_dir / item["file"], str(item["sha256"]))
            for rec in manifest.get("recordings", [])
            for item in rec.get("segments", [])
        ] + [
            (incident_dir / item["file"], str(item["sha256"]))
            for item in manifest.get("snapshots", [])
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(f"MANIFEST {path}: unreadable ({exc})")
        return
    in_manifest = {p.resolve(): h for p, h in items}
    for file, sha in listed.items():
        got = in_manifest.get(file)
        if got is None:
            problems.append(f"MANIFEST {path}: does not list {file}")
        elif got != sha:
            problems.append(f"MANIFEST {path}: {file} has sha256 {got}, the journal has {sha}")
    for file in in_manifest.keys() - listed.keys():
        problems.append(f"MANIFEST {path}: lists {file}, which the journal does not")


def verify_evidence(db: sqlite3.Connection, incident_id: str | None = None) -> Verification:
    """Recompute every journaled segment's and snapshot's SHA-256; report changed, missing and
    unlisted media files and manifests that disagree with the journal."""
    problems: list[str] = []
    listed: dict[Path, dict[Path, str]] = {}
    files = 0
    for rec in _recordings(db, incident_id):
        incident_dir = Path(rec.directory).resolve().parent
        listed.setdefault(incident_dir, {})
        for seg in rec.segments:
            path = Path(seg.path)
            _check_file(path, seg.size_bytes, seg.sha256, problems)
            listed[incident_dir][path.resolve()] = seg.sha256
            files += 1
    for snap in _snapshots(db, incident_id):
        path = Path(snap.path)
        incident_dir = path.resolve().parent.parent
        _check_file(path, snap.size_bytes, snap.sha256, problems)
        listed.setdefault(incident_dir, {})[path.resolve()] = snap.sha256
        files += 1
    for incident_dir, known in sorted(listed.items()):
        if incident_dir.is_dir():
            for path in sorted(incident_dir.rglob("*")):
                if path.suffix.lower() in MEDIA_SUFFIXES and path.resolve() not in known:
                    problems.append(f"UNLISTED {path}: in the evidence, not in the journal")
        _check_manifest(incident_dir, known, problems)
    return Verification(files, len(listed), problems)


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
    lines += _render_evidence(report)
    lines += ["", f"shared with partner agencies ({len(report.shares)} changes)"]
    lines += [
        f"{_t(e.ts_ms)}  {e.incident_id}  {e.action} {'with' if e.action == 'share' else 'from'} "
        f"{e.agency}  by {e.who}: {e.reason}" for e in report.shares
    ]
    if report.tracking:
        lines += ["", f"tracking ({len(report.tracking)}: who, when, why)"]
        lines += [f"{_t(t.ts_ms)}  {t.message}" for t in report.tracking]
    return "\n".join(lines) + "\n"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _render_evidence(report: Report) -> list[str]:
    lines = [
        "",
        f"video evidence ({len(report.recordings)} recordings, {len(report.snapshots)} snapshots)",
    ]
    incidents = sorted(
        {r.incident_id for r in report.recordings} | {p.incident_id for p in report.snapshots}
    )
    for inc in incidents:
        lines.append(f"incident {inc}")
        for r in (r for r in report.recordings if r.incident_id == inc):
            stopped = _t(r.stopped_ms) if r.stopped_ms else "recording"
            lines.append(
                f"  recording {r.drone_id} sortie {r.sortie_id}  {_t(r.started_ms)} - {stopped}  "
                f"{len(r.segments)} segments  {r.video_s:.1f} s  {_mb(r.size_bytes)}  "
                f"{r.directory}"
            )
            lines += [
                f"    {Path(s.path).name}  {_hms(s.start_ms)}-{_hms(s.end_ms)}  "
                f"{s.size_bytes} B  sha256 {s.sha256}"
                for s in r.segments
            ]
            lines += [
                f"    gap {_hms(g.start_ms)}-{_hms(g.end_ms)} "
                f"({_dur(_span(g.start_ms, g.end_ms)) if g.end_ms else 'to the end'}): {g.reason}"
                for g in r.gaps
            ]
        for p in (p for p in report.snapshots if p.incident_id == inc):
            lines.append(
                f"  snapshot {p.drone_id}  taken {_t(p.taken_ms)}  at {p.lat_deg:.6f}, "
                f"{p.lon_deg:.6f}, {p.alt_m:.1f} m  {p.size_bytes} B  sha256 {p.sha256}  {p.path}"
            )
    return lines


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
    p.add_argument(
        "--verify",
        action="store_true",
        help="recompute every evidence file's SHA-256; exit 1 on a changed, missing or "
        "unlisted file",
    )
    return p


def _verify(db: sqlite3.Connection, args: argparse.Namespace) -> int:
    result = verify_evidence(db, args.incident)
    for problem in result.problems:
        print(f"groundstation report --verify: {problem}", file=sys.stderr)
    if result.problems:
        print(
            f"evidence verification FAILED: {len(result.problems)} problem(s) in "
            f"{result.files} listed file(s) of {result.incidents} incident(s)",
            file=sys.stderr,
        )
        return 1
    print(
        f"evidence verified: {result.files} file(s) of {result.incidents} incident(s), "
        "every SHA-256 matches the journal and the manifests"
    )
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        db = open_read_only(args.journal)
    except (OSError, sqlite3.Error) as exc:
        print(f"groundstation report: {exc}", file=sys.stderr)
        return 2
    if args.verify:
        try:
            return _verify(db, args)
        except sqlite3.Error as exc:
            print(f"groundstation report: {args.journal}: {exc}", file=sys.stderr)
            return 2
        finally:
            db.close()
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
