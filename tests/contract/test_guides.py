"""Every example in the integration guides is what the code accepts: each JSON block is a valid
message of some channel (or a valid users file or site set), the guide's Python check runs as
written, the result table lists every result code, and a dock request gets the documented reply.
``test_guides_live.py`` sends the CAD guide's requests to a running controller."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.docksim import DockSim
from groundstation.tools import asyncapi
from groundstation.tools.sitesfile import check_data
from groundstation.users import parse_users
from missions.sites import parse_sites

pytestmark = pytest.mark.unit

DOCS = Path(__file__).parents[2] / "docs"
GUIDES = ["dock-integration.md", "cad-integration.md"]


def examples(name: str) -> list[str]:
    text = (DOCS / name).read_text(encoding="utf-8")
    blocks = re.findall(r"^ *```json\n(.*?)^ *```", text, flags=re.S | re.M)
    return [re.sub(r"^   ", "", b, flags=re.M) for b in blocks]  # blocks inside list items


def channels_accepting(block: str) -> list[str]:
    raw = json.loads(block)
    accepted = []
    for ch in c.ALL_CHANNELS:
        topic = ch.address
        for p in ch.parameters:
            value = raw.get(ch.id_field) if ch.id_field else None
            topic = topic.replace(f"{{{p}}}", value if isinstance(value, str) else "x")
        try:
            asyncapi.validate(topic, block.encode())
        except ValueError:
            continue
        accepted.append(ch.name)
    return accepted


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_examples_validate(guide: str) -> None:
    blocks = examples(guide)
    assert len(blocks) >= 5
    malformed = {  # requests the guide shows refused as MALFORMED, by tid
        raw["tid"] for raw in map(json.loads, blocks)
        if isinstance(raw.get("data"), dict) and raw["data"].get("result") == c.Result.MALFORMED
    }
    for block in blocks:
        raw = json.loads(block)
        if "users" in raw:
            assert parse_users(raw), block
        elif "sites" in raw:
            assert check_data(raw).docks, block
        elif raw.get("tid") in malformed and "result" not in raw["data"]:
            assert channels_accepting(block) == [], block
        else:
            assert channels_accepting(block), block


def test_the_dock_guides_site_set_has_the_owners_ids() -> None:
    (block,) = [b for b in examples("dock-integration.md") if '"sites"' in b]
    (dock,) = parse_sites(json.loads(block)).docks
    assert (dock.dock_id, dock.drone_id, dock.system_id) == ("acme-7", "uav-acme-7", 1)


def test_the_cad_guides_python_check_runs_as_written() -> None:
    text = (DOCS / "cad-integration.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    request = next(b for b in examples("cad-integration.md") if '"incident_close"' in b)
    for payload in (request.encode(), request, json.loads(request)):
        exec(code, {"payload": payload})  # the guide's own snippet
    bad = json.loads(request)
    bad["data"] = {"incident_id": 42}
    for payload in (bad, json.dumps(bad).encode(), [1, 2], 3.5):
        with pytest.raises(ValueError, match="operators/cad1/services"):
            exec(code, {"payload": payload})


@pytest.mark.parametrize("guide", GUIDES)
def test_the_result_table_lists_every_code(guide: str) -> None:
    text = (DOCS / guide).read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+)(?: ([A-Z_]+))? \|", text, flags=re.M))
    if guide == "cad-integration.md":
        assert {int(k) for k in rows} == {int(r) for r in c.Result}
        for r in c.Result:
            assert rows[str(int(r))] == r.name, r
    else:
        # The dock guide lists what a dock answers: each name is the contract's.
        for code, name in rows.items():
            assert not name or c.Result(int(code)).name == name


def test_the_dock_guides_request_gets_the_documented_reply() -> None:
    blocks = [json.loads(b) for b in examples("dock-integration.md")]
    request = next(b for b in blocks if b.get("method") == "cover_open" and "data" in b
                   and b["data"] == {})
    documented = next(b for b in blocks if b.get("tid") == request["tid"]
                      and "result" in b.get("data", {}))
    sites = parse_sites({"sites": [{"site_id": "islington", "lat_deg": 51.53393,
                                    "lon_deg": -0.10874, "roof_alt_amsl_m": 52.0,
                                    "docks": 1}]})
    dock = DockSim(sites.docks[0], wall_ms=lambda: request["timestamp"] + 120)
    outs = dock.handle_service(json.dumps(request).encode(), 0.0)
    reply = json.loads(next(o.payload for o in outs if o.leaf == "services_reply"))
    assert {k: reply[k] for k in ("tid", "bid", "method", "data")} == {
        k: documented[k] for k in ("tid", "bid", "method", "data")}
    events = [json.loads(o.payload) for o in outs if o.leaf == "events"]
    assert events and events[0]["data"]["output"]["progress"]["percent"] == 0
