"""Sharing with partner services, the pure rules: what each agency sees, refusals with reasons,
the request rate and the written policy, and the mirror's publish/clear plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.core import sharing_rules as rules
from groundstation.errors import ConfigError

pytestmark = pytest.mark.unit


def share(incident_id: str, agency: str) -> rules.Share:
    return rules.Share(incident_id, agency, "alice", "LFB asked for the view", 1)


def incident(status: c.IncidentStatus = c.IncidentStatus.ON_SCENE) -> c.Incident:
    return c.Incident(incident_id="inc-1", status=status, lat_deg=51.5, lon_deg=-0.1,
                      priority=1, created_ms=0)


def test_an_agency_sees_its_shared_incidents_and_only_the_drones_over_them() -> None:
    shares = {"inc-1": {"lfb": share("inc-1", "lfb"), "las": share("inc-1", "las")},
              "inc-2": {"las": share("inc-2", "las")}}
    on = {"uav-a": "inc-1", "uav-b": "inc-2", "uav-c": "inc-3", "uav-d": None}
    v = rules.view(shares, {"inc-1", "inc-2", "inc-3"}, on)
    assert set(v) == {"lfb", "las"}
    assert set(v["lfb"].incidents) == {"inc-1"}
    assert v["lfb"].drones == {"uav-a": "inc-1"}
    assert v["las"].drones == {"uav-a": "inc-1", "uav-b": "inc-2"}
    # A drone that goes home (its sortie lets go of the incident) leaves the view with it.
    v = rules.view(shares, {"inc-1", "inc-2"}, {"uav-a": None, "uav-b": "inc-2"})
    assert v["lfb"].drones == {}
    assert set(v["lfb"].incidents) == {"inc-1"}
    # An incident whose record is no longer published (retention) is shared no more.
    assert rules.view(shares, {"inc-2"}, on).get("lfb") is None


def test_may_watch_says_why_not() -> None:
    v = rules.view({"inc-1": {"lfb": share("inc-1", "lfb")}}, {"inc-1"}, {"uav-a": "inc-1"})
    assert rules.may_watch("lfb", "uav-a", v) is None
    assert rules.may_watch("lfb", "uav-b", v) == (
        "drone uav-b is not over an incident shared with lfb")
    assert rules.may_watch("las", "uav-a", v) is not None
    assert rules.may_watch(None, "uav-a", v) == "not a user of this deployment"


def test_share_refusals_have_codes_and_reasons() -> None:
    known = {"lfb", "las"}

    def refuse(inc: c.Incident | None, agencies: list[str]) -> tuple[c.Result, str] | None:
        return rules.share_refusal(inc, "inc-1", agencies, known=known, force="met")

    assert refuse(incident(), ["lfb"]) is None
    assert refuse(None, ["lfb"]) == (c.Result.UNKNOWN_INCIDENT, "unknown incident 'inc-1'")
    result, reason = refuse(incident(), ["lfb", "fbi"]) or (None, "")
    assert result == c.Result.UNKNOWN_AGENCY
    assert reason == "unknown agency 'fbi': partners are las, lfb"
    assert refuse(incident(), ["met"]) is not None
    closed = refuse(incident(c.IncidentStatus.CLOSED), ["lfb"])
    assert closed == (c.Result.INVALID_STATE, "incident inc-1 is closed")
    shares = {"inc-1": {"lfb": share("inc-1", "lfb")}}
    assert rules.unshare_refusal(shares, "inc-1", ["lfb"]) is None
    assert rules.unshare_refusal(shares, "inc-1", ["las"]) == (
        c.Result.INVALID_STATE, "incident inc-1 is not shared with las")


def test_request_rate_is_a_sliding_window_and_says_when_to_retry() -> None:
    assert rules.rate_refusal([], 0, limit=2, window_s=60) is None
    assert rules.rate_refusal([1000], 2000, limit=2, window_s=60) is None
    over = rules.rate_refusal([1000, 2000], 3000, limit=2, window_s=60)
    assert over is not None
    assert over.startswith("over the rate for partner requests: 2 in 60 s; try again in 58 s")
    # The oldest one left the window: accepted again.
    assert rules.rate_refusal([1000, 2000], 61_500, limit=2, window_s=60) is None


def test_the_written_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"description": "agreed with LAS 2026-11",
                                "approve": [{"agency": "las", "max_priority": 1,
                                             "note": "cardiac arrests"}]}))
    policy = rules.load_policy(path)
    rule = rules.policy_rule_for(policy, "las", 1)
    assert str(rule) == "priority 1 or higher from las is approved (cardiac arrests)"
    assert rules.policy_rule_for(policy, "las", 2) is None
    assert rules.policy_rule_for(policy, "lfb", 1) is None
    for bad, why in (({"approve": [{"agency": "las", "max_priority": 4}]}, "max_priority"),
                     ({"approve": [{"agency": "las"}]}, "max_priority"),
                     ({"rules": []}, "expected"),
                     ({"approve": [{"agency": "las", "max_priority": 1, "x": 1}]}, "rule #0")):
        with pytest.raises(ConfigError, match=why):
            rules.parse_policy(bad)


def test_the_mirror_publishes_changes_and_clears_what_is_no_longer_shared() -> None:
    published = {"a": b"1", "b": b"2"}
    publish, clear = rules.mirror_diff(published, {"a": b"1", "b": b"3", "c": b"4"})
    assert publish == [("b", b"3"), ("c", b"4")]
    assert clear == []
    publish, clear = rules.mirror_diff(published, {"a": b"1"})
    assert (publish, clear) == ([], ["b"])
