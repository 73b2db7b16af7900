"""The CAD guide executed: a CAD client written from docs/cad-integration.md (paho only) sends
every request of the guide, in the guide's order, to the real controller flying simulated
drones, and gets the reply the guide shows for it (same result, the same fields)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from groundstation.adapters.broker import Mosquitto
from tests.contract.test_guides import examples
from tests.controller.conftest import small_sites, stack_on, until
from tests.thirdparty.guide_cad import GuideCad

pytestmark = pytest.mark.integration

DRONE_ACTIONS = {"launch_cancelled", "recalled"}


def guide_exchanges() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request, documented reply) pairs of the CAD guide, matched by tid, in guide order."""
    blocks = [json.loads(b) for b in examples("cad-integration.md")]
    replies = {b["tid"]: b for b in blocks if "result" in b.get("data", {})}
    requests = [b for b in blocks if "method" in b and "result" not in b.get("data", {})]
    return [(r, replies[r["tid"]]) for r in requests]


async def test_every_cad_guide_request_gets_the_documented_reply(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    exchanges = guide_exchanges()
    assert [r["method"] for r, _ in exchanges].count("incident_create") >= 3
    record_example = next(raw for raw in map(json.loads, examples("cad-integration.md"))
                          if "created_ms" in raw and "assigned_drone" in raw)
    async with stack_on(mosquitto.config, small_sites(), tmp_path / "journal.sqlite"):
        cad = GuideCad("127.0.0.1", mosquitto.port, "cad1", None)
        assert await asyncio.to_thread(cad.connect)
        try:
            for request, documented in exchanges:
                sent = {**request, "timestamp": int(time.time() * 1000)}
                reply = await asyncio.to_thread(cad.reply, cad.send(sent))
                want, got = documented["data"], reply["data"]
                assert got["result"] == want["result"], (request, reply)
                assert reply["method"] == documented["method"]
                assert set(want["output"]) <= set(got["output"]), (documented, reply)
                for key in ("incident_id", "status"):
                    if key in want["output"]:
                        assert got["output"][key] == want["output"][key], (documented, reply)
                if "drone_action" in want["output"]:
                    assert got["output"]["drone_action"] in DRONE_ACTIONS
                if "incident" in want["output"]:  # incident_get: the record, the same fields
                    assert set(got["output"]["incident"]) == set(want["output"]["incident"])
                    assert got["output"]["incident"]["status"] == "closed"
            # The incident record on incidents/{id} has the guide's fields.
            await until(lambda: cad.incidents.get("cad-2026-118822") is not None, 5.0,
                        "the retained incident record")
            record = cad.incidents["cad-2026-118822"]
            assert record is not None and set(record) == set(record_example)
            assert record["status"] == "closed" and record["created_by"] == "cad1"
            rejected = cad.incidents.get("cad-2026-118823")
            assert rejected is not None and rejected["status"] == "rejected"
        finally:
            await asyncio.to_thread(cad.close)
