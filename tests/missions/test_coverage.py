"""Coverage: JSON shape, met-trial versus london, PNG output, the optimiser and the CLIs."""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point

from missions.airspace import Airspace, boroughs
from missions.cli import coverage_main, mission_main
from missions.coverage import CoverageResult, around_hull, coverage, optimise
from missions.render import render_png
from missions.sites import load_sites

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def met(airspace: Airspace) -> CoverageResult:
    return coverage(load_sites("met-trial"), airspace)


@pytest.fixture(scope="module")
def london(airspace: Airspace) -> CoverageResult:
    return coverage(load_sites("london"), airspace)


def test_json_shape(met: CoverageResult) -> None:
    data = json.loads(json.dumps(met.to_json()))  # plain JSON: no NaN, no numpy types
    assert data["sites"] == 3
    assert len(data["boroughs"]) == 33
    for stats in [*data["boroughs"].values(), data["london"]]:
        assert 0.0 <= stats["within_120s"] <= 1.0
        assert stats["median_s"] is None or stats["median_s"] > 0


def test_met_trial_covers_the_centre_only(met: CoverageResult) -> None:
    b = met.to_json()["boroughs"]
    for central in ("Islington", "Westminster"):
        assert b[central]["within_120s"] > 0.2
        assert b[central]["median_s"] < 200
    for outer in ("Havering", "Bromley"):
        assert b[outer]["within_120s"] < 0.01
        assert b[outer]["median_s"] > 900
    assert met.to_json()["london"]["within_120s"] < 0.03


def test_london_reaches_far_more(met: CoverageResult, london: CoverageResult) -> None:
    m, lo = met.to_json(), london.to_json()
    assert lo["london"]["within_120s"] > 5 * m["london"]["within_120s"]
    assert lo["london"]["median_s"] < m["london"]["median_s"] / 2
    reached = [b for b, s in lo["boroughs"].items() if s["within_120s"] > 0]
    assert len(reached) >= 30


def test_times_follow_the_model(met: CoverageResult) -> None:
    model = met.model
    # Dock and take-off 16 s, then the vertical climb to the 20 m safe height at 3 m/s.
    assert model.fixed_s == pytest.approx(16.0 + 20.0 / 3.0)
    t = met.time_s[met.grid.in_area & np.isfinite(met.time_s)]
    assert t.min() >= model.fixed_s
    # Headwind slows everything down.
    windy = coverage(load_sites("met-trial"), met.airspace, wind_m_s=5.0)
    assert windy.to_json()["london"]["median_s"] > met.to_json()["london"]["median_s"]


def test_zone_cells_unreachable(london: CoverageResult) -> None:
    g = london.grid
    assert np.all(np.isinf(london.time_s[g.in_zone & g.in_area]))
    assert london.to_json()["boroughs"]["Newham"]["nofly_share"] > 0.3


def test_detour_longer_than_straight() -> None:
    square = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    p = np.array([-3.0, 0.0])
    cells = np.array([[3.0, 0.0], [0.0, 0.0]])
    d = around_hull(p, cells, square)
    # Up to the corner (-1, 1), along the top, down to the cell: 2*sqrt(5) + 2.
    assert d[0] == pytest.approx(2 * math.sqrt(5) + 2)
    assert math.isinf(d[1])


def test_optimise_gains(airspace: Airspace) -> None:
    result = optimise(load_sites("met-trial"), 2, airspace)
    data = result.to_json()
    assert len(data["optimise"]["added"]) == 2
    assert data["optimise"]["after"] > data["optimise"]["before"]
    assert data["sites"] == 5
    for lat, lon in data["optimise"]["added"]:
        assert airspace.check_point(lat, lon) is None


def test_optimise_for_one_borough_places_its_dock_there(
    airspace: Airspace, met: CoverageResult
) -> None:
    result = optimise(load_sites("met-trial"), 1, airspace, boroughs=["Islington"])
    data = result.to_json()
    opt = data["optimise"]
    assert opt["for"] == ["Islington"]
    assert opt["before"] == met.to_json()["boroughs"]["Islington"]["within_120s"]
    assert opt["after"] == data["boroughs"]["Islington"]["within_120s"] > 0.8
    # The dock goes to the uncovered north of the borough, not somewhere London gains more.
    (lat, lon), = opt["added"]
    assert boroughs()["Islington"].contains(Point(lon, lat))
    assert lat > 51.545
    with pytest.raises(ValueError, match="unknown borough 'Atlantis'"):
        optimise(load_sites("met-trial"), 1, airspace, boroughs=["Atlantis"])


def _png_size(path: Path) -> tuple[int, int]:
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    assert blob[12:16] == b"IHDR"
    w, h = struct.unpack(">II", blob[16:24])
    # The image data decompresses to h rows of (1 + 3w) bytes.
    idat = blob.index(b"IDAT")
    (length,) = struct.unpack(">I", blob[idat - 4 : idat])
    raw = zlib.decompress(blob[idat + 4 : idat + 4 + length])
    assert len(raw) == h * (1 + 3 * w)
    return w, h


def test_png(london: CoverageResult, tmp_path: Path) -> None:
    out = render_png(london, tmp_path / "london.png")
    w, h = _png_size(out)
    assert w > 400
    assert h > 300
    assert out.stat().st_size > 10_000


def test_coverage_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "met.png"
    assert (
        coverage_main(["--sites", "met-trial", "--json", "--png", str(png), "--cell-m", "500"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"boroughs", "london", "sites"}
    assert _png_size(png)[0] > 100
    assert coverage_main(["--sites", "met-trial", "--optimise", "1", "--cell-m", "500"]) == 0
    assert "optimise" in capsys.readouterr().out
    assert coverage_main(["--sites", "no-such-set"]) == 2


def test_cli_another_aircraft_and_bad_figures(capsys: pytest.CaptureFixture[str]) -> None:
    def islington(*extra: str) -> tuple[float, dict[str, float]]:
        assert coverage_main(["--sites", "met-trial", "--json", "--cell-m", "500", *extra]) == 0
        data = json.loads(capsys.readouterr().out)
        return data["boroughs"]["Islington"]["within_120s"], data["model"]

    share, model = islington()
    assert model["cruise_speed_m_s"] == load_sites("met-trial").cruise_speed_m_s
    slower, model = islington("--cruise-m-s", "12", "--launch-s", "30")
    assert (model["cruise_speed_m_s"], model["launch_s"]) == (12.0, 30.0)
    assert slower < share / 2
    for bad in (
        ["--cruise-m-s", "0"],
        ["--cruise-m-s", "nan"],
        ["--launch-s", "-1"],
        ["--optimise-for", "Islington"],  # without --optimise K
        ["--optimise", "1", "--optimise-for", "Atlantis"],
    ):
        assert coverage_main(["--sites", "met-trial", *bad]) == 2
        assert "coverage:" in capsys.readouterr().err


def test_mission_cli_round_trip(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = data_dir / "PX4SITL-PX4-MultiRotor.plan"
    assert mission_main(["import", str(src), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["items"][0]["command"] == 22
    assert data["items"][0]["frame"] == 3
    assert len(data["items"][0]["params"]) == 7
    assert "geofence" in data
    assert "rally" in data
    dumped = tmp_path / "in.json"
    dumped.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "out.plan"
    assert mission_main(["export", str(dumped), str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(
        src.read_text(encoding="utf-8")
    )
    # Without the embedded "plan", the items alone still make an equivalent mission.
    del data["plan"]
    dumped.write_text(json.dumps(data), encoding="utf-8")
    assert mission_main(["export", str(dumped), str(out)]) == 0
    again = json.loads(out.read_text(encoding="utf-8"))
    original = json.loads(src.read_text(encoding="utf-8"))
    assert again["mission"]["items"] == original["mission"]["items"]
    assert mission_main(["import", str(tmp_path / "missing.plan")]) == 2
