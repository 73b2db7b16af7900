"""M/ETHANE and CAP 1.2: the alert validates against OASIS's schema (lxml), the record
round-trips (struct <-> JSON <-> CAP), and the schema does refuse what CAP forbids."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundstation import contract as c
from groundstation.control import cap

pytestmark = pytest.mark.unit

METHANE = c.Methane(
    major_incident=True, exact_location="Camden Lock Market, Chalk Farm Road NW1",
    lat_deg=51.5416, lon_deg=-0.1466, incident_type="Fire in a market building",
    hazards="smoke & gas cylinders <in stalls>", access="Chalk Farm Road; Camden High St closed",
    casualties=3, casualties_detail="smoke inhalation", services_present=["met", "lfb"],
    services_required=["las", "npas"])


def shared(methane: c.Methane | None = METHANE,
           status: c.IncidentStatus = c.IncidentStatus.ON_SCENE) -> c.SharedIncident:
    return c.SharedIncident(
        incident_id="inc-0042", agency="lfb", ts_ms=1_767_225_600_000, status=status,
        lat_deg=51.5416, lon_deg=-0.1466, priority=1, drone_id="uav-1", created_ms=1,
        shared_by="alice", shared_ms=2, reason="LFB asked", methane=methane)


def test_the_alert_validates_against_cap_1_2_and_says_what_methane_says() -> None:
    xml = cap.to_cap(shared(), sender="dfr.met", identifier="dfr.met.inc-0042.lfb.1",
                     sent_ms=1_767_225_600_000)
    cap.validate(xml)
    text = xml.decode()
    assert "<sent>2026-01-01T00:00:00-00:00</sent>" in text
    assert "<scope>Restricted</scope>" in text
    assert "<severity>Extreme</severity>" in text  # a declared major incident
    assert "<incidents>inc-0042</incidents>" in text
    assert "<circle>51.541600,-0.146600 0.1</circle>" in text
    assert "N - Number of casualties: 3 (smoke inhalation)" in text
    # An update references the alert it replaces; a closed incident is all clear.
    ref = cap.CapRef("dfr.met", "dfr.met.inc-0042.lfb.1", "2026-01-01T00:00:00-00:00")
    update = cap.to_cap(shared(status=c.IncidentStatus.CLOSED), sender="dfr.met",
                        identifier="dfr.met.inc-0042.lfb.2", sent_ms=1_767_225_660_000,
                        previous=ref)
    cap.validate(update)
    assert b"<msgType>Update</msgType>" in update
    assert b"<references>dfr.met,dfr.met.inc-0042.lfb.1,2026-01-01T00:00:00-00:00" in update
    assert b"<urgency>Past</urgency>" in update
    # No M/ETHANE yet: still a valid alert, about the incident itself.
    cap.validate(cap.to_cap(shared(None), sender="dfr.met", identifier="x", sent_ms=0))


def test_the_schema_refuses_what_cap_forbids() -> None:
    xml = cap.to_cap(shared(), sender="dfr.met", identifier="i", sent_ms=0).decode()
    for good, bad in (("-00:00</sent>", "Z</sent>"),  # CAP forbids "Z"
                      ("<scope>Restricted</scope>", "<scope>Partners</scope>"),
                      ("<category>Safety</category>", "")):
        broken = xml.replace(good, bad, 1)
        assert broken != xml
        with pytest.raises(cap.CapError, match=r"not valid CAP 1\.2"):
            cap.validate(broken.encode())
    with pytest.raises(cap.CapError, match="not XML"):
        cap.validate(b"<alert")


def test_methane_round_trips_struct_json_cap() -> None:
    as_json = msgspec.json.encode(METHANE)
    assert msgspec.json.decode(as_json, type=c.Methane) == METHANE
    xml = cap.to_cap(shared(msgspec.json.decode(as_json, type=c.Methane)), sender="dfr.met",
                     identifier="i", sent_ms=0)
    assert cap.methane_from_cap(xml) == ("inc-0042", METHANE)
    with pytest.raises(cap.CapError, match="no <incidents>"):
        cap.methane_from_cap(xml.replace(b"<incidents>inc-0042</incidents>", b""))


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
_agencies = st.lists(st.sampled_from(["met", "lfb", "las", "npas", "btp"]), max_size=4)


@settings(max_examples=60, deadline=None)
@given(major=st.booleans(), location=_text, kind=_text, hazards=_text, access=_text,
       casualties=st.none() | st.integers(0, 500), present=_agencies, required=_agencies,
       lat=st.none() | st.floats(51.2, 51.7), lon=st.none() | st.floats(-0.5, 0.3))
def test_any_methane_record_round_trips_through_valid_cap(
    major: bool, location: str, kind: str, hazards: str, access: str, casualties: int | None,
    present: list[str], required: list[str], lat: float | None, lon: float | None,
) -> None:
    m = c.Methane(major_incident=major, exact_location=location, lat_deg=lat,
                  lon_deg=lon, incident_type=kind, hazards=hazards,
                  access=access, casualties=casualties, services_present=present,
                  services_required=required)
    xml = cap.to_cap(shared(m), sender="dfr.met", identifier="i", sent_ms=0)
    cap.validate(xml)
    assert cap.methane_from_cap(xml)[1] == m
