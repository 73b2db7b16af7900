"""``groundstation plan`` as a user runs it: London at 250 m cells, 80 % of every borough, the
answer printed (docks, gap, greedy) and a site set written that ``groundstation demo`` flies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from groundstation.adapters.broker import Mosquitto
from missions.cli import plan_main
from missions.sites import load_sites

ROOT = Path(__file__).resolve().parents[2]


def run_plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groundstation", "plan", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.mark.e2e
@pytest.mark.timeout(600)  # about 10 s alone; minutes on a loaded 2-core machine
def test_plan_london_80_per_borough_prints_docks_gap_greedy_and_writes_sites(
    tmp_path: Path,
) -> None:
    out = tmp_path / "plan80.json"
    png = tmp_path / "plan80.png"
    proc = run_plan("--target", "0.8", "--per-borough", "--out-sites", str(out), "--png", str(png))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    m = re.search(r"optimal: (\d+) docks, gap ([\d.]+)%", text)
    assert m, text
    docks, gap = int(m.group(1)), float(m.group(2))
    g = re.search(r"greedy:  (\d+) docks", text)
    assert g, text
    assert gap <= 1.0 and 50 <= docks <= int(g.group(1))
    assert "cannot reach 80%: Hillingdon" in text and "Heathrow FRZ" in text
    site_set = load_sites(str(out))
    assert len(site_set.sites) == 3 + docks  # met-trial kept, one site per new dock
    assert [s.site_id for s in site_set.sites[:3]] == ["islington", "west-end", "hyde-park"]
    assert len(site_set.docks) == 9 + docks and site_set.cruise_speed_m_s == 20.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.unit
def test_plan_refuses_bad_options_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan_main(["--target", "1.5"]) == 2
    assert "target 1.5" in capsys.readouterr().err
    assert plan_main(["--docks", "3", "--max-docks", "4"]) == 2
    assert "do not go together" in capsys.readouterr().err
    assert plan_main(["--candidates", str(tmp_path / "none.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert plan_main(["--out-sites", str(tmp_path / "x.txt")]) == 2
    assert "must end in .json" in capsys.readouterr().err
    assert plan_main(["--sites", "nowhere"]) == 2
    assert "unknown site set" in capsys.readouterr().err


@pytest.mark.unit
def test_plan_max_docks_too_few_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = plan_main(["--target", "0.8", "--per-borough", "--max-docks", "5", "--cell-m", "1000"])
    assert rc == 1
    assert "need more than --max-docks 5" in capsys.readouterr().err


def police_candidates(path: Path, boroughs: set[str]) -> Path:
    """Police stations of the ``london`` site set in those boroughs, as GeoJSON points."""
    feats = [
        {
            "type": "Feature",
            "properties": {"name": s.name, "roof_alt_amsl_m": s.roof_alt_amsl_m},
            "geometry": {"type": "Point", "coordinates": [s.lon_deg, s.lat_deg]},
        }
        for s in load_sites("london").sites
        if s.borough in boroughs
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


@pytest.mark.e2e
@pytest.mark.timeout(600)
async def test_a_planned_site_set_flies_in_the_demo(tmp_path: Path) -> None:
    """Police buildings as candidates (kept small so the demo stays short): the planned set,
    met-trial's docks plus the chosen stations, is flown by ``groundstation demo --sites FILE``
    against a real mosquitto (without cameras: a dozen simulated video streams cost CPU and
    prove nothing about the site set)."""
    cands = police_candidates(tmp_path / "police.geojson", {"Camden", "Hackney", "Lambeth"})
    out = tmp_path / "planned.json"
    proc = run_plan(
        "--target", "0.8", "--per-borough", "--candidates", str(cands), "--out-sites", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    planned = load_sites(str(out))
    assert 3 < len(planned.sites) <= 6
    async with Mosquitto(persistence=False) as broker:
        demo = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "groundstation", "demo", "--headless", "--incidents", "1",
            "--speedup", "10", "--seed", "2", "--on-scene", "5", "--sites", str(out),
            "--broker", f"mqtt://127.0.0.1:{broker.port}",
            "--no-video",  # the demo's video: tests/e2e/test_demo.py
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        try:
            output, _ = await asyncio.wait_for(demo.communicate(), 480)
        finally:
            if demo.returncode is None:  # the demo and its simulator, as a group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(demo.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(demo.wait(), 10)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(demo.pid, signal.SIGKILL)
                    await demo.wait()
    text = output.decode(errors="replace")
    assert demo.returncode == 0, text[-3000:]
    summary = json.loads(text.strip().splitlines()[-1])
    assert summary["incidents"] == 1 and summary["completed"] == 1 and summary["failed"] == 0
