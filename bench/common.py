"""Shared pieces of the benchmark suite: figures, the machine, processes and their CPU."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number, its unit, its target and whether the target holds."""

    name: str
    value: float | None
    unit: str
    target: str
    holds: bool | None
    note: str = ""

    def line(self) -> str:
        """One line of a benchmark module's own output."""
        return f"{self.name}: {self.value} {self.unit} (target {self.target}) {self.note}".rstrip()

    def as_json(self) -> dict[str, Any]:
        value = None if self.value is None or not math.isfinite(self.value) else self.value
        return {
            "name": self.name,
            "value": value,
            "unit": self.unit,
            "target": self.target,
            "holds": self.holds,
            **({"note": self.note} if self.note else {}),
        }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("mavsdk", "aiomqtt", "paho-mqtt", "msgspec", "pymavlink", "PyQt6", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc), threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def grid_sites(n: int) -> dict[str, Any]:
    """A site set of n single-dock sites on a grid over central London (clear of airspace)."""
    cols = math.ceil(math.sqrt(n))
    sites = []
    for i in range(n):
        r, col = divmod(i, cols)
        sites.append(
            {
                "site_id": f"s{i:03d}",
                "lat_deg": 51.485 + r * 0.004,
                "lon_deg": -0.20 + col * 0.006,
                "roof_alt_amsl_m": 30.0,
                "docks": 1,
            }
        )
    return {
        "name": f"bench-{n}",
        "cruise_alt_rel_m": 60.0,
        "cruise_speed_m_s": 15.0,
        "sites": sites,
    }


def write_sites(path: Path, n: int) -> Path:
    path.write_text(json.dumps(grid_sites(n)), encoding="utf-8")
    return path


class Child:
    """A child process of the benchmark, stopped on exit."""

    def __init__(self, *argv: str, log: Path) -> None:
        self.argv = argv
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Child:
        out = self.log.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.argv,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while text not in self.log.read_text(errors="replace"):
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"{self.argv} exited: {self.log.read_text()[-2000:]}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{self.argv}: no {text!r}: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


@contextlib.asynccontextmanager
async def quiet_stdout() -> AsyncIterator[None]:
    """Keep sub-benchmarks' own prints out of a --json run."""
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        yield
