"""The election as a pure machine: claims, races, fencing and healing a split brain."""

from __future__ import annotations

import pytest

from groundstation import contract as c
from groundstation.control.ha import BecomeActive, HaConfig, LeaseCore, Publish, Role, StepDown

pytestmark = pytest.mark.unit

CFG = HaConfig("met")


class Net:
    """Two cores and a broker that delivers every published lease to both (unless cut)."""

    def __init__(self) -> None:
        self.a = LeaseCore(CFG, "ctl-a", started_s=0.0)
        self.b = LeaseCore(CFG, "ctl-b", started_s=0.0)
        self.cut = False

    def tick(self, now: float) -> list[tuple[str, object]]:
        events: list[tuple[str, object]] = []
        for me, other in ((self.a, self.b), (self.b, self.a)):
            for out in me.tick(now, connected=not self.cut):
                events.append((me.me, out))
                if isinstance(out, Publish) and not self.cut:
                    me.acked(now)
                    events += [(other.me, o) for o in other.on_lease(out.lease, now)]
        return events

    def run(self, start: float, end: float, step: float = 0.1) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        t = start
        while t < end:
            out += self.tick(t)
            t = round(t + step, 6)
        return out


def test_exactly_one_becomes_active_when_both_start_together() -> None:
    net = Net()
    net.run(0.0, 5.0)
    assert {net.a.role, net.b.role} == {Role.ACTIVE, Role.STANDBY}


def test_two_simultaneous_claims_leave_the_greater_holder_active() -> None:
    a, b = LeaseCore(CFG, "ctl-a", started_s=0.0), LeaseCore(CFG, "ctl-b", started_s=0.0)
    (claim_a,), (claim_b,) = a.tick(1.0, connected=True), b.tick(1.0, connected=True)
    assert isinstance(claim_a, Publish) and isinstance(claim_b, Publish)
    assert claim_a.lease.epoch == claim_b.lease.epoch == 1
    a.acked(1.01)
    b.acked(1.01)
    a.on_lease(claim_b.lease, 1.02)
    b.on_lease(claim_a.lease, 1.02)
    assert a.tick(1.6, connected=True) == []
    assert b.tick(1.6, connected=True) == [BecomeActive(1)]
    assert (a.role, b.role) == (Role.STANDBY, Role.ACTIVE)


def test_the_standby_claims_after_the_ttl_and_the_old_active_fenced_itself_first() -> None:
    net = Net()
    net.run(0.0, 3.0)
    active, standby = (net.a, net.b) if net.a.role == Role.ACTIVE else (net.b, net.a)
    epoch = active.epoch
    # The active loses the broker: its renewals are no longer acknowledged.
    fenced_at = taken_at = None
    t = 3.0
    while t < 10.0 and (fenced_at is None or taken_at is None):
        for out in active.tick(t, connected=False):
            if isinstance(out, StepDown):
                fenced_at = t
        for out in standby.tick(t, connected=True):
            if isinstance(out, Publish):
                standby.acked(t)
            if isinstance(out, BecomeActive):
                taken_at = t
        t = round(t + 0.1, 6)
    assert fenced_at is not None and taken_at is not None
    assert fenced_at < taken_at, "the old active stops before the standby starts"
    assert taken_at - 3.0 < 5.0
    assert standby.epoch == epoch + 1


def test_a_healed_split_brain_leaves_the_greater_epoch_active() -> None:
    net = Net()
    net.run(0.0, 3.0)
    # Force a split brain: both believe they are active, with different epochs.
    net.a.role, net.a.epoch, net.a.acked_s = Role.ACTIVE, 4, 3.0
    net.b.role, net.b.epoch, net.b.acked_s = Role.ACTIVE, 5, 3.0
    events = net.run(3.0, 5.0)
    assert net.a.role == Role.STANDBY and net.b.role == Role.ACTIVE
    assert ("ctl-a", StepDown("ctl-b holds epoch 5")) in events


def test_a_last_will_frees_the_lease_at_once() -> None:
    core = LeaseCore(CFG, "ctl-b", started_s=0.0)
    lease = c.Lease(cluster_id="met", holder="ctl-a", epoch=3)
    core.on_lease(lease, 1.0)
    assert core.tick(1.5, connected=True) == []
    core.on_offline("ctl-a")
    out = core.tick(1.6, connected=True)
    assert out and isinstance(out[0], Publish) and out[0].lease.epoch == 4
    core.acked(1.61)
    assert core.tick(2.2, connected=True) == [BecomeActive(4)]


def test_an_unacknowledged_claim_does_not_make_a_controller_active() -> None:
    core = LeaseCore(CFG, "ctl-b", started_s=0.0)
    assert isinstance(core.tick(1.5, connected=True)[0], Publish)
    assert core.tick(2.1, connected=True) == []
    assert core.role == Role.STANDBY


def test_our_own_retained_lease_from_a_previous_run_is_not_someone_else_s() -> None:
    core = LeaseCore(CFG, "ctl-a", started_s=0.0)
    core.on_lease(c.Lease(cluster_id="met", holder="ctl-a", epoch=7), 0.2)
    out = core.tick(1.1, connected=True)
    assert isinstance(out[0], Publish) and out[0].lease.epoch == 8
