"""Bad input, fuzzed with hypothesis: every inbound topic of the controller (operator and CAD
services, incident intake, dock replies and events) gets malformed JSON, wrong types, missing
fields, NaN and infinities, out-of-range coordinates, oversize payloads, unknown methods and drone
ids, replayed and duplicate tids. The controller never raises, answers every request with a
reason, changes nothing when it refuses, and a replayed tid gets the first answer again.

GS_FUZZ_EXAMPLES sets the cases per topic (1,000 in CI; more for a soak)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundstation import contract as c
from groundstation.adapters.bus import Message
from groundstation.controller import Controller
from tests.fuzz.fuzz_helpers import (
    EXAMPLES,
    USERS,
    RecordingBus,
    dock_messages,
    make_controller,
    service_payloads,
    snapshot,
)

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
TIDS = ["t-1", "t-2", "dup", "x" * 64]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def stack() -> tuple[Controller, RecordingBus]:
    return make_controller()


def test_operator_services_never_crash_and_refuse_with_a_reason_changing_nothing(
    loop: asyncio.AbstractEventLoop, stack: tuple[Controller, RecordingBus]
) -> None:
    ctl, bus = stack
    answered: dict[tuple[str, str], int] = {}

    @FUZZ
    @given(user=st.sampled_from(USERS), payload=service_payloads(TIDS))
    def one(user: str, payload: bytes) -> None:
        before = snapshot(ctl)
        n = len(bus.sent)
        loop.run_until_complete(ctl.services.handle(user, payload))
        replies = [p for t, p in bus.sent[n:] if t == c.operator_services_reply(user)]
        assert len(replies) == 1, "every request gets exactly one answer"
        reply = c.decode(replies[0], c.Reply)
        if reply.data.result != c.Result.OK:
            reason = reply.data.output.get("reason")
            assert isinstance(reason, str) and reason, reply
            assert snapshot(ctl) == before, f"refused {reply} but the state changed"
        key = (user, reply.tid)
        if not reply.tid or reply.data.result == c.Result.MALFORMED:
            return  # unreadable: refused afresh, never taken for the answer to its tid
        if key in answered:
            assert reply.data.result == answered[key], "a replayed tid gets the first answer"
        else:
            answered[key] = reply.data.result

    one()
    # The controller still works after all that: a clean incident is accepted.
    n = len(bus.sent)
    req = c.make_request("incident_create", {"lat_deg": 51.51, "lon_deg": -0.12})
    loop.run_until_complete(ctl.services.handle("cad", c.encode(req)))
    assert c.decode(bus.sent[n][1], c.Reply).data.result == c.Result.OK


@st.composite
def intake(draw: st.DrawFn) -> dict[str, object]:
    """incident_create data as a CAD feed might garble it."""
    coord = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=51.2, max_value=51.8),
        st.floats(min_value=-0.6, max_value=0.4),
        st.integers(),
        st.text(max_size=5),
        st.none(),
    )
    data: dict[str, object] = {"lat_deg": draw(coord), "lon_deg": draw(coord)}
    if draw(st.booleans()):
        data["priority"] = draw(st.one_of(st.integers(-5, 9), st.floats(), st.text(max_size=3)))
    if draw(st.booleans()):
        data["summary"] = draw(st.text(max_size=600))
    if draw(st.booleans()):
        data["incident_id"] = draw(st.one_of(st.text(max_size=70), st.sampled_from(["i-1", "i-1"])))
    return data


def test_incident_intake_accepts_only_sound_incidents(
    loop: asyncio.AbstractEventLoop,
) -> None:
    ctl, bus = make_controller()

    @FUZZ
    @given(data=intake(), user=st.sampled_from(["cad", "dispatcher", "viewer"]))
    def one(data: dict[str, object], user: str) -> None:
        before = set(ctl.incidents)
        n = len(bus.sent)
        req = c.make_request("incident_create", data)
        loop.run_until_complete(ctl.services.handle(user, c.encode(req)))
        reply = c.decode(bus.sent[n][1], c.Reply)
        new = set(ctl.incidents) - before
        if reply.data.result == c.Result.OK:
            assert user != "viewer"
            (incident_id,) = new
            inc = ctl.incidents[incident_id]
            assert 51.2 < inc.lat_deg < 51.8 and -0.6 < inc.lon_deg < 0.4
        elif reply.data.result == c.Result.AIRSPACE:
            # Recorded as rejected, with the reason, and never dispatched.
            for incident_id in new:
                assert ctl.incidents[incident_id].status == c.IncidentStatus.REJECTED
        else:
            assert not new and reply.data.output.get("reason")

    one()


def test_dock_replies_and_events_never_crash_and_touch_no_sortie(
    stack: tuple[Controller, RecordingBus], loop: asyncio.AbstractEventLoop
) -> None:
    ctl, _ = stack
    docks = ctl.docks
    assert docks is not None

    @FUZZ
    @given(msg=dock_messages())
    def one(msg: tuple[str, bytes]) -> None:
        sorties = {k: rt.sortie for k, rt in ctl.drones.items()}
        handled = docks.handle(Message(*msg))
        assert handled is True
        assert {k: rt.sortie for k, rt in ctl.drones.items()} == sorties
        ctl._tick_drone("uav-west-end-1", ctl.drones["uav-west-end-1"], 1.0)

    loop.run_until_complete(asyncio.sleep(0))
    one()
    loop.run_until_complete(asyncio.sleep(0.01))  # acknowledgements the fuzz asked for
