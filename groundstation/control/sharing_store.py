"""Sharing in the journal: who shared which incident with which agency, when and why (and who
ended it), the M/ETHANE records and the partners' requests. Tables in the controller's journal
(SQLite), so that a restarted controller shares what it shared and ``groundstation report``
shows the audit trail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import msgspec

from groundstation import contract as c
from groundstation.core.sharing_rules import Share

SCHEMA = """
CREATE TABLE IF NOT EXISTS partner_shares (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, incident_id TEXT NOT NULL,
    agency TEXT NOT NULL, action TEXT NOT NULL, who TEXT NOT NULL, reason TEXT NOT NULL,
    request_id TEXT);
CREATE TABLE IF NOT EXISTS partner_methane (
    incident_id TEXT PRIMARY KEY, record TEXT NOT NULL, who TEXT NOT NULL, ts_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS partner_requests (
    request_id TEXT PRIMARY KEY, agency TEXT NOT NULL, status TEXT NOT NULL,
    record TEXT NOT NULL, updated_ms INTEGER NOT NULL);
"""

SHARE, UNSHARE = "share", "unshare"


@dataclass(frozen=True, slots=True)
class ShareEvent:
    """One line of the audit trail: an incident shared with or withdrawn from an agency."""

    ts_ms: int
    incident_id: str
    agency: str
    action: str
    who: str
    reason: str
    request_id: str | None


class ShareStore:
    """The sharing tables of a journal's database (created when missing)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def shared(self, share: Share) -> None:
        self._event(share.since_ms, share.incident_id, share.agency, SHARE, share.by,
                    share.reason, share.request_id)

    def unshared(self, ts_ms: int, incident_id: str, agency: str, who: str, reason: str) -> None:
        self._event(ts_ms, incident_id, agency, UNSHARE, who, reason, None)

    def _event(self, ts_ms: int, incident_id: str, agency: str, action: str, who: str,
               reason: str, request_id: str | None) -> None:
        self.db.execute(
            "INSERT INTO partner_shares(ts_ms, incident_id, agency, action, who, reason, "
            "request_id) VALUES (?,?,?,?,?,?,?)",
            (ts_ms, incident_id, agency, action, who, reason, request_id),
        )

    def shares(self) -> dict[str, dict[str, Share]]:
        """The shares in force: the audit trail replayed."""
        out: dict[str, dict[str, Share]] = {}
        for ev in audit(self.db):
            if ev.action == SHARE:
                out.setdefault(ev.incident_id, {})[ev.agency] = Share(
                    ev.incident_id, ev.agency, ev.who, ev.reason, ev.ts_ms, ev.request_id)
            else:
                out.get(ev.incident_id, {}).pop(ev.agency, None)
        return {i: a for i, a in out.items() if a}

    def save_methane(self, incident_id: str, methane: c.Methane, who: str, ts_ms: int) -> None:
        self.db.execute(
            "INSERT INTO partner_methane VALUES (?,?,?,?) ON CONFLICT(incident_id) DO UPDATE SET "
            "record=excluded.record, who=excluded.who, ts_ms=excluded.ts_ms",
            (incident_id, msgspec.json.encode(methane).decode(), who, ts_ms),
        )

    def methane(self) -> dict[str, c.Methane]:
        rows = self.db.execute("SELECT incident_id, record FROM partner_methane").fetchall()
        return {r[0]: msgspec.json.decode(r[1], type=c.Methane) for r in rows}

    def save_request(self, req: c.PartnerRequest) -> None:
        self.db.execute(
            "INSERT INTO partner_requests VALUES (?,?,?,?,?) ON CONFLICT(request_id) DO UPDATE "
            "SET status=excluded.status, record=excluded.record, updated_ms=excluded.updated_ms",
            (req.request_id, req.agency, str(req.status), msgspec.json.encode(req).decode(),
             c.now_ms()),
        )

    def requests(self) -> dict[str, c.PartnerRequest]:
        rows = self.db.execute("SELECT record FROM partner_requests ORDER BY rowid").fetchall()
        reqs = (msgspec.json.decode(r[0], type=c.PartnerRequest) for r in rows)
        return {r.request_id: r for r in reqs}


def audit(db: sqlite3.Connection, incident_id: str | None = None) -> list[ShareEvent]:
    """The sharing audit trail, oldest first (empty for a journal from before sharing)."""
    sql = ("SELECT ts_ms, incident_id, agency, action, who, reason, request_id "
           "FROM partner_shares")
    args: tuple[str, ...] = ()
    if incident_id is not None:
        sql += " WHERE incident_id = ?"
        args = (incident_id,)
    try:
        rows = db.execute(sql + " ORDER BY id", args).fetchall()
    except sqlite3.OperationalError:  # no such table: the journal predates sharing
        return []
    return [ShareEvent(*r) for r in rows]
