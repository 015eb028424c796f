"""Live workers split the mailboxes evenly: joining, dying, stopping and small capacities."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone

from deskmail.core.channel import ChannelWatch
from deskmail.ingest.models import InboxLane
from deskmail.sync import leases, supervisor
from deskmail.sync.models import Lease, WorkerBeat
from deskmail.sync.sharing import fair_share
from deskmail.sync.supervisor import Supervisor
from deskmail.sync.tests.test_supervisor import RecordingRunner, SlowRunner, _imap_mailbox

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("total", "capacities", "mine", "share"),
    [
        (6, [1000], 1000, 6),
        (6, [1000, 1000], 1000, 3),
        (2000, [1000] * 4, 1000, 500),
        (2000, [1000] * 3, 1000, 667),  # rounded up: together they cover every mailbox
        (6, [4, 6], 4, 3),
        (10, [1, 1000], 1, 1),  # too small for half: holds what it can ...
        (10, [1, 1000], 1000, 9),  # ... and the other takes the rest
        (5000, [1000, 1000], 1000, 1000),  # all full: each holds its capacity
        (0, [1000, 1000], 1000, 0),
    ],
)
def test_fair_share(total, capacities, mine, share):
    assert fair_share(total, capacities, mine) == share


def _worker(owner: str, log: list[tuple[str, int]], *, capacity: int = 1000, slow: bool = False):
    runner = SlowRunner if slow else RecordingRunner
    return Supervisor(
        runner_factory=lambda mid, _owner: runner(mid, log),
        owner=owner,
        capacity=capacity,
        channel=ChannelWatch(seconds=0),
    )


def _held() -> Counter[str]:
    return Counter(Lease.objects.exclude(owner="").values_list("owner", flat=True))


def _mailboxes(n: int) -> list[int]:
    return [_imap_mailbox(f"box{i}", f"B{i}").pk for i in range(n)]


def test_a_worker_that_joins_takes_its_share_without_the_other_restarting():
    log: list[tuple[str, int]] = []
    ids = _mailboxes(6)
    first, second = _worker("w1", log), _worker("w2", log)
    first.tick()
    assert _held() == {"w1": 6}
    second.tick()  # everything is held: nothing to claim yet, but w1 now sees w2
    first.tick()
    assert sorted(first.running) == ids[:3]
    assert [("stop", m) for m in ids[3:]] == [e for e in log if e[0] == "stop"]
    second.tick()
    assert _held() == {"w1": 3, "w2": 3}
    assert sorted(second.running) == ids[3:]
    # Steady from then on: no more stops or starts.
    before = list(log)
    first.tick(), second.tick()
    assert log == before


def test_a_dead_workers_share_is_taken_once_its_beat_and_leases_are_a_lease_old():
    log: list[tuple[str, int]] = []
    ids = _mailboxes(4)
    first, second = _worker("w1", log), _worker("w2", log)
    first.tick(), second.tick(), first.tick(), second.tick()
    assert _held() == {"w1": 2, "w2": 2}
    # w2 is killed: no more beats or renewals. While they are recent, w1 keeps to its share.
    first.tick()
    assert _held() == {"w1": 2, "w2": 2}
    long_ago = timezone.now() - dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    WorkerBeat.objects.filter(owner="w2").update(seen_at=long_ago)
    Lease.objects.filter(owner="w2").update(expires_at=long_ago)
    # Its engine was processing a mailbox's fetched mail: that lane is freed too.
    lane_term = timezone.now() + dt.timedelta(seconds=100)
    InboxLane.objects.create(mailbox_id=ids[0], owner="w2", expires_at=lane_term)
    InboxLane.objects.create(mailbox_id=ids[1], owner="w1", expires_at=lane_term)
    first.tick()
    assert _held() == {"w1": 4}
    lanes = dict(InboxLane.objects.values_list("mailbox_id", "owner"))
    assert lanes == {ids[0]: "", ids[1]: "w1"}
    assert list(WorkerBeat.objects.values_list("owner", flat=True)) == ["w1"]


def test_a_worker_stopping_in_order_leaves_at_once():
    log: list[tuple[str, int]] = []
    _mailboxes(4)
    first, second = _worker("w1", log), _worker("w2", log)
    first.tick(), second.tick(), first.tick(), second.tick()
    second.shutdown()
    assert not WorkerBeat.objects.filter(owner="w2").exists()
    first.tick()
    assert _held() == {"w1": 4}


def test_a_small_worker_holds_what_it_can_and_the_other_the_rest():
    log: list[tuple[str, int]] = []
    _mailboxes(10)
    small, big = _worker("small", log, capacity=1), _worker("big", log)
    small.tick(), big.tick(), small.tick(), big.tick()
    assert _held() == {"small": 1, "big": 9}


def test_a_handed_over_lease_is_released_only_once_its_runner_has_ended():
    log: list[tuple[str, int]] = []
    ids = _mailboxes(2)
    first, second = _worker("w1", log, slow=True), _worker("w2", log)
    first.tick(), second.tick(), first.tick()
    # The runner of the last mailbox was asked to stop but is still finishing its pass.
    assert list(first.leaving) == [ids[1]]
    assert Lease.objects.get(mailbox_id=ids[1]).owner == "w1"
    second.tick()
    assert second.running == {}  # it must not sync the mailbox while w1 still does
    first.leaving[ids[1]].runner.alive = False  # type: ignore[attr-defined]  # the pass ends
    first.tick()
    assert first.leaving == {}
    second.tick()
    assert _held() == {"w1": 1, "w2": 1}


def test_a_runner_that_never_ends_gives_its_lease_up_after_the_limit(monkeypatch, caplog):
    log: list[tuple[str, int]] = []
    ids = _mailboxes(2)
    first, second = _worker("w1", log, slow=True), _worker("w2", log)
    first.tick(), second.tick(), first.tick()
    assert list(first.leaving) == [ids[1]]  # asked to stop, stuck in a network read
    first.tick()
    assert Lease.objects.get(mailbox_id=ids[1]).owner == "w1"
    monkeypatch.setattr(supervisor, "LEAVE_LIMIT_S", 0.0)
    first.tick()
    assert first.leaving == {}
    assert "does not end" in caplog.text
    second.tick()
    assert _held() == {"w1": 1, "w2": 1}  # not orphaned
