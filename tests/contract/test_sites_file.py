"""The site-set file: its published JSON Schema, owner-chosen dock ids, and
``groundstation sites check``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from groundstation.tools import sitesfile
from missions.sites import SiteSetError, builtin_names, load_sites

pytestmark = pytest.mark.unit

DOCS = Path(__file__).parents[2] / "docs"


def site(**extra: Any) -> dict[str, Any]:
    return {"site_id": "alpha", "lat_deg": 51.5, "lon_deg": -0.1, "roof_alt_amsl_m": 40.0,
            **extra}


def test_the_published_schema_is_the_one_the_code_checks_with() -> None:
    assert (DOCS / "sites.schema.json").read_text() == sitesfile.schema_text()
    dock = sitesfile.schema()["$defs"]["DockSpec"]["properties"]
    assert {"dock_id", "drone_id", "system_id", "mavlink_url"} <= set(dock)


@pytest.mark.parametrize("name", builtin_names())
def test_the_built_in_site_sets_pass_the_check(name: str) -> None:
    res = Path(__file__).parents[2] / "missions" / "data" / f"{name}.json"
    assert sitesfile.check(res).docks == load_sites(name).docks


def test_owners_choose_dock_and_drone_ids_and_old_files_keep_generated_ones() -> None:
    s = sitesfile.check_data({"sites": [
        site(dock_list=[{"dock_id": "SN-4471", "drone_id": "m4td-22"}, {"dock_id": "SN-4472"}]),
        {**site(docks=2), "site_id": "beta"},
    ]})
    assert [(d.dock_id, d.drone_id, d.system_id) for d in s.docks] == [
        ("SN-4471", "m4td-22", 1), ("SN-4472", "uav-SN-4472", 2),
        ("beta-1", "uav-beta-1", 3), ("beta-2", "uav-beta-2", 4)]


@pytest.mark.parametrize(("sites", "reason"), [
    ([site(dock_list=[{"dock_id": "a b"}])], "dock_id"),
    ([site(dock_list=[{"dock_id": "k1"}]), {**site(dock_list=[{"dock_id": "k1"}]),
                                           "site_id": "beta"}], "dock_id 'k1' is used twice"),
    ([site(dock_list=[{"dock_id": "k1", "drone_id": "d"}, {"dock_id": "k2", "drone_id": "d"}])],
     "drone_id 'd' is used twice"),
    ([site(dock_list=[{"system_id": 3}, {"system_id": 3}])], "system_id 3 is used twice"),
    ([site()], "give docks"),
    ([site(docks=2, lat_deg=95.0)], "lat_deg"),
    ([], "length >= 1"),
])
def test_a_bad_site_set_is_refused_with_the_reason(sites: list[Any], reason: str) -> None:
    with pytest.raises(SiteSetError, match=reason):
        sitesfile.check_data({"sites": sites})


def test_the_cli_checks_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"name": "mine", "sites": [site(dock_list=[{"dock_id": "x-1"}])]}))
    assert sitesfile.main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "mine: 1 sites, 1 docks" in out and "x-1" in out and "uav-x-1" in out
    assert sitesfile.main(["check", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["docks"][0]["dock_id"] == "x-1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sites": [site(dock_list=[{"dock_id": "x/1"}])]}))
    assert sitesfile.main(["check", str(bad)]) == 1
    assert "invalid site set" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert sitesfile.main(["check", str(tmp_path / "broken.json")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert sitesfile.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == sitesfile.schema()
