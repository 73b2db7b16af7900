"""Evidence without a network: segments cut at keyframes, gaps, snapshots, the real journal,
the manifest, and ``groundstation report`` / ``report --verify`` on them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from groundstation.adapters.journal import Journal
from groundstation.tools.report import main as report_main
from groundstation.video.evidence import EvidenceStore, SegmentRecorder
from groundstation.video.hub import Chunk

pytestmark = pytest.mark.unit

T0 = 1_785_000_000_000


def _now(fn: Callable[[], None]) -> None:
    fn()


def _record(root: Path, journal: Journal, *, gap_at: int | None = None) -> SegmentRecorder:
    """25 s of 25 fps with a keyframe each second (and a 3 s hole at frame ``gap_at``)."""
    store = EvidenceStore(root, journal, _now)
    rec = SegmentRecorder(store, "d1", "INC-1", "S-1", segment_s=10.0, gap_ms=1500)
    t = T0
    for n in range(3, 25 * 25):  # starts mid-GOP: the recording waits for a keyframe
        t += 40
        if gap_at is not None and n == gap_at:
            t += 3000
        rec.feed(Chunk(bytes([n % 256]) * 500, n % 25 == 0, t, 3600 * n))
    rec.close(now_ms=t + 40)
    return rec


def test_segments_start_at_keyframes_about_every_10_s(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    rec = _record(tmp_path / "ev", journal)
    assert [s.seq for s in rec.segments] == [1, 2, 3]
    first = Path(rec.segments[0].path).read_bytes()
    assert first[:500] == bytes([25]) * 500  # the first keyframe (frame 25)
    spans = [(s.end_ms - s.start_ms) / 1000 for s in rec.segments]
    assert spans[0] == pytest.approx(10.0, abs=0.05)
    assert spans[1] == pytest.approx(10.0, abs=0.05)
    assert rec.gaps == []
    assert journal.video_segments("INC-1") == rec.segments
    manifest = json.loads((tmp_path / "ev" / "INC-1" / "manifest.json").read_text())
    (recording,) = manifest["recordings"]
    assert [s["sha256"] for s in recording["segments"]] == [s.sha256 for s in rec.segments]
    assert recording["stopped_ms"] is not None


def test_gap_is_in_manifest_and_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    rec = _record(tmp_path / "ev", journal, gap_at=290)
    (gap,) = rec.gaps
    assert gap.end_ms is not None
    assert (gap.end_ms - gap.start_ms) / 1000 == pytest.approx(3.04 + 0.04 * 10, abs=0.01)
    # the segment before the hole ends at it, the next starts at the first keyframe after it
    assert any(s.end_ms == gap.start_ms for s in rec.segments)
    assert any(s.start_ms == gap.end_ms for s in rec.segments)
    manifest = json.loads((tmp_path / "ev" / "INC-1" / "manifest.json").read_text())
    assert manifest["recordings"][0]["gaps"][0]["start_ms"] == gap.start_ms
    rows = journal.db.execute("SELECT start_ms, end_ms FROM video_gaps").fetchall()
    assert rows == [(gap.start_ms, gap.end_ms)]


def test_stream_gone_at_stop_is_an_open_gap(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, None, _now)
    rec = SegmentRecorder(store, "d1", "INC-2", "S-1", segment_s=10.0, gap_ms=1500)
    rec.feed(Chunk(b"k" * 188, True, T0, 0))
    rec.close(now_ms=T0 + 5000)
    (gap,) = rec.gaps
    assert (gap.start_ms, gap.end_ms) == (T0, None)


def test_snapshot_copied_hashed_geotagged(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    store = EvidenceStore(tmp_path / "ev", journal, _now)
    src = tmp_path / "cam.jpg"
    src.write_bytes(b"\xff\xd8jpeg\xff\xd9")
    snap = store.add_snapshot("d1", "INC-1", src.as_uri(), 51.5, -0.12, 95.0, T0)
    assert Path(snap.path).read_bytes() == src.read_bytes()
    assert Path(snap.path).parent == tmp_path / "ev" / "INC-1" / "snapshots"
    row = journal.db.execute("SELECT lat_deg, lon_deg, alt_m, sha256 FROM snapshots").fetchone()
    assert row == (51.5, -0.12, 95.0, snap.sha256)
    with pytest.raises(FileNotFoundError, match="no such file"):
        store.add_snapshot("d1", "INC-1", tmp_path / "none.jpg", 0, 0, 0, T0)
    with pytest.raises(ValueError, match="only file://"):
        store.add_snapshot("d1", "INC-1", "http://x/y.jpg", 0, 0, 0, T0)


def _report(journal: Path, *args: str) -> int:
    return report_main(["--journal", str(journal), *args])


def test_report_lists_and_verify_catches_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpath = tmp_path / "j.sqlite"
    journal = Journal(jpath)
    rec = _record(tmp_path / "ev", journal, gap_at=290)
    EvidenceStore(tmp_path / "ev", journal, _now).add_snapshot(
        "d1", "INC-1", b"\xff\xd8img", 51.5, -0.1, 90.0, T0 + 1000
    )
    journal.close()

    assert _report(jpath) == 0
    out = capsys.readouterr().out
    assert "incident INC-1" in out
    assert "recording d1 sortie S-1" in out and f"{len(rec.segments)} segments" in out
    assert "gap " in out and "snapshot d1" in out and "51.500000" in out

    assert _report(jpath, "--json") == 0
    as_json = json.loads(capsys.readouterr().out)
    (recording,) = as_json["recordings"]
    assert [s["sha256"] for s in recording["segments"]] == [s.sha256 for s in rec.segments]
    assert recording["gaps"][0]["reason"] == "no video from the drone"
    assert as_json["snapshots"][0]["lat_deg"] == 51.5

    assert _report(jpath, "--verify") == 0
    assert "evidence verified: 5 file(s)" in capsys.readouterr().out

    seg = Path(rec.segments[1].path)
    data = bytearray(seg.read_bytes())
    data[100] ^= 0x01
    seg.write_bytes(bytes(data))
    assert _report(jpath, "--verify") == 1
    err = capsys.readouterr().err
    assert f"CHANGED {seg}" in err and "FAILED: 1 problem" in err

    data[100] ^= 0x01
    seg.write_bytes(bytes(data))
    assert _report(jpath, "--verify") == 0
    capsys.readouterr()

    Path(rec.segments[0].path).unlink()
    extra = seg.with_name("seg-000099.ts")
    extra.write_bytes(b"G" * 188)
    assert _report(jpath, "--verify") == 1
    err = capsys.readouterr().err
    assert f"MISSING {rec.segments[0].path}" in err
    assert f"UNLISTED {extra}" in err


def test_verify_catches_an_edited_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpath = tmp_path / "j.sqlite"
    journal = Journal(jpath)
    _record(tmp_path / "ev", journal)
    journal.close()
    path = tmp_path / "ev" / "INC-1" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["recordings"][0]["segments"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    assert _report(jpath, "--verify") == 1
    assert f"MANIFEST {path}" in capsys.readouterr().err


def test_report_on_a_journal_without_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpath = tmp_path / "j.sqlite"
    Journal(jpath).close()
    assert _report(jpath, "--verify") == 0
    assert "0 file(s)" in capsys.readouterr().out


def test_a_write_that_fails_stops_the_recording_once(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, None, _now)
    rec = SegmentRecorder(store, "d1", "INC-4", "S-1", segment_s=1.0, gap_ms=1500)
    assert rec.feed(Chunk(b"k" * 188, True, T0, 0)) is None
    shutil.rmtree(rec.directory)  # the evidence disk went away
    error = rec.feed(Chunk(b"k" * 188, True, T0 + 1000, 90_000))
    assert error is not None and "recording stopped writing" in error
    assert rec.feed(Chunk(b"p" * 188, False, T0 + 1040, 93_600)) is None  # said once
    assert [s.seq for s in rec.segments] == [1]  # the segment written before is listed
    rec.close(now_ms=T0 + 1100)


def test_segment_numbers_continue_after_a_restart(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, None, _now)
    first = SegmentRecorder(store, "d1", "INC-5", "S-1", segment_s=10.0, gap_ms=1500)
    first.feed(Chunk(b"k" * 188, True, T0, 0))
    first.close(now_ms=T0 + 40)
    Path(first.segments[0].path).rename(first.directory / "seg-000007.ts")
    again = SegmentRecorder(store, "d1", "INC-5", "S-1", segment_s=10.0, gap_ms=1500)
    again.feed(Chunk(b"k" * 188, True, T0 + 100, 0))
    again.close(now_ms=T0 + 140)
    assert again.segments[0].seq == 8
