"""The sharing tables of the journal: a restarted controller shares what it shared (the audit
trail replayed), keeps the M/ETHANE records and the partners' requests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from groundstation import contract as c
from groundstation.adapters.journal import Journal
from groundstation.control.sharing_store import ShareStore, audit
from groundstation.core.sharing_rules import Share

pytestmark = pytest.mark.unit


def test_a_restart_restores_shares_methane_and_requests(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    store = ShareStore(journal.db)
    store.shared(Share("inc-1", "lfb", "alice", "LFB asked", 1000))
    store.shared(Share("inc-1", "las", "alice", "casualties", 1100))
    store.unshared(1200, "inc-1", "lfb", "bob", "LFB left")
    store.shared(Share("inc-2", "las", "policy", "requested by las", 1300, "req-1"))
    store.save_methane("inc-1", c.Methane(casualties=1), "alice", 1150)
    store.save_methane("inc-1", c.Methane(casualties=4, hazards="gas"), "bob", 1160)
    req = c.PartnerRequest(request_id="req-1", agency="las", requested_by="las-desk", ts_ms=1,
                           status=c.RequestStatus.PENDING, lat_deg=51.5, lon_deg=-0.1,
                           priority=1, incident_type="stabbing", reason="caller")
    store.save_request(req)
    store.save_request(msgspec.structs.replace(req, status=c.RequestStatus.APPROVED,
                                               incident_id="inc-2"))
    journal.close()

    again = ShareStore(Journal(path).db)
    assert again.shares() == {
        "inc-1": {"las": Share("inc-1", "las", "alice", "casualties", 1100)},
        "inc-2": {"las": Share("inc-2", "las", "policy", "requested by las", 1300, "req-1")},
    }
    assert again.methane() == {"inc-1": c.Methane(casualties=4, hazards="gas")}
    (restored,) = again.requests().values()
    assert (restored.status, restored.incident_id) == (c.RequestStatus.APPROVED, "inc-2")
    trail = audit(again.db, "inc-1")
    assert [(e.action, e.agency, e.who, e.reason) for e in trail] == [
        ("share", "lfb", "alice", "LFB asked"), ("share", "las", "alice", "casualties"),
        ("unshare", "lfb", "bob", "LFB left")]


def test_a_journal_from_before_sharing_has_an_empty_trail() -> None:
    assert audit(sqlite3.connect(":memory:")) == []
