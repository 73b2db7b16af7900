"""How long a finished incident stays on the broker.

The record of a closed or rejected incident stays retained on ``incidents/{incident_id}`` for
``ControllerConfig.incident_retention_s`` after it closed (default 10 minutes), so every console
and CAD client sees how it ended; then the controller clears it with an empty retained message
and no longer republishes it (after a reconnection or a restart). A new subscriber therefore
receives the open incidents and the recently finished ones, not the whole history. The history
stays in the journal: ``groundstation report --journal ...`` lists every incident.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from groundstation import contract as c
from groundstation.core.config import ControllerConfig
from groundstation.core.ports import PartitionPort, Publisher
from groundstation.errors import GroundStationError

log = logging.getLogger(__name__)

SWEEP_S = 1.0
"""How often finished incidents are looked at (their records are cleared within this of due)."""
FINISHED = (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED)


class RetentionHost(Protocol):
    @property
    def config(self) -> ControllerConfig: ...
    @property
    def bus(self) -> Publisher: ...

    @property
    def active(self) -> bool: ...
    @property
    def incidents(self) -> Mapping[str, c.Incident]: ...
    @property
    def partition(self) -> PartitionPort | None: ...


class IncidentRetention:
    """Clears the retained records of finished incidents once their retention is over."""

    def __init__(self, ctl: RetentionHost) -> None:
        self.ctl = ctl
        self.cleared: set[str] = set()

    def expired(self, inc: c.Incident, now_ms: int | None = None) -> bool:
        """Finished more than the retention ago: its record is no longer published."""
        if inc.status not in FINISHED or inc.closed_ms is None:
            return False
        now = c.now_ms() if now_ms is None else now_ms
        return now - inc.closed_ms >= self.ctl.config.incident_retention_s * 1000.0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            await self.sweep()

    async def sweep(self) -> int:
        """Clear every expired record not cleared yet; the number cleared."""
        ctl = self.ctl
        if not ctl.active:
            return 0
        now = c.now_ms()
        due = [
            inc
            for inc in list(ctl.incidents.values())
            if inc.incident_id not in self.cleared and self.expired(inc, now)
        ]
        done = 0
        for inc in due:
            if ctl.partition is not None and not ctl.partition.owns(inc):
                continue
            try:
                await ctl.bus.publish(c.incident(inc.incident_id), b"", qos=1, retain=True)
            except GroundStationError as exc:
                log.warning("incident %s: record not cleared yet: %s", inc.incident_id, exc)
                return done  # the broker is away: try again on the next sweep
            self.cleared.add(inc.incident_id)
            done += 1
        if done:
            log.info("cleared %d finished incident record(s) from the broker", done)
        return done
