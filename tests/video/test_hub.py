"""The fan-out, sans-IO: new viewers start at the latest keyframe, slow viewers lose whole chunks
and resume at the next keyframe, the meter reads the stream's own clock."""

from __future__ import annotations

import pytest

from groundstation.video.hub import Chunk, Meter, StreamHub, Viewer

pytestmark = pytest.mark.unit


def _chunk(n: int, key: bool = False) -> Chunk:
    return Chunk(f"{n}".encode() * 10, key, 1000 + 40 * n, 3600 * n)


def _feed(hub: StreamHub, first: int, last: int, gop: int = 25) -> None:
    for n in range(first, last + 1):
        hub.push(_chunk(n, key=n % gop == 0))


async def _drain(viewer: Viewer) -> list[int]:
    out: list[int] = []
    while viewer._queue:
        chunk = await viewer.next()
        assert chunk is not None  # a viewer with queued chunks returns one without waiting
        out.append(chunk.pts // 3600)
    return out


async def test_new_viewer_starts_at_latest_keyframe() -> None:
    hub = StreamHub(max_chunks=100)
    _feed(hub, 1, 60)  # keyframes at 25 and 50
    viewer = hub.add_viewer("pilot")
    got = await _drain(viewer)
    assert got == list(range(50, 61))
    _feed(hub, 61, 62)
    assert await _drain(viewer) == [61, 62]


async def test_viewer_before_any_keyframe_waits_for_one() -> None:
    hub = StreamHub()
    _feed(hub, 1, 10)
    viewer = hub.add_viewer("pilot")
    assert await _drain(viewer) == []
    _feed(hub, 11, 26)
    assert await _drain(viewer) == [25, 26]


async def test_slow_viewer_drops_whole_chunks_and_resumes_at_next_keyframe() -> None:
    hub = StreamHub(max_chunks=10)
    fast = hub.add_viewer("fast")
    slow = hub.add_viewer("slow")
    got_fast: list[int] = []
    for n in range(0, 60):
        hub.push(_chunk(n, key=n % 25 == 0))
        got_fast += await _drain(fast)
    assert got_fast == list(range(60))
    assert fast.dropped_chunks == 0
    got_slow = await _drain(slow)
    # 0..9 queued, 10 overflows: the backlog and 10 dropped, 11..24 skipped up to the keyframe
    # 25; 25..34 queued, 35 overflows again, 36..49 skipped; 50 resumes.
    assert got_slow == list(range(50, 60))
    assert slow.dropped_chunks == 50
    assert slow.counters().sent_chunks == 10


async def test_keyframe_on_a_full_queue_replaces_the_backlog() -> None:
    hub = StreamHub(max_chunks=10)
    slow = hub.add_viewer("slow")
    _feed(hub, 0, 9, gop=10)  # 0 is a keyframe; the queue is full
    hub.push(_chunk(10, key=True))
    assert await _drain(slow) == [10]
    assert slow.dropped_chunks == 10


async def test_restart_forgets_gop_and_close_ends_viewers() -> None:
    hub = StreamHub()
    _feed(hub, 0, 5)
    viewer = hub.add_viewer("pilot")
    assert await _drain(viewer) == [0, 1, 2, 3, 4, 5]
    hub.restart()
    hub.push(_chunk(6))  # not a keyframe: the new session has not started a picture yet
    assert hub.add_viewer("late")._queue == type(viewer._queue)()
    assert await _drain(viewer) == []
    hub.push(_chunk(7, key=True))
    assert await _drain(viewer) == [7]
    hub.close()
    assert await viewer.next() is None


def test_meter_uses_stream_clock() -> None:
    m = Meter(window_ms=2000)
    for n in range(50):  # 25 fps of 1250 bytes = 250 kbit/s, delivered in a burst
        m.add(10_000 + n, 3600 * n, 1250)
    fps, kbps = m.rates(10_100)
    assert fps == pytest.approx(25.0, abs=0.1)
    assert kbps == pytest.approx(250, abs=3)
    assert m.rates(20_000) == (0.0, 0)
