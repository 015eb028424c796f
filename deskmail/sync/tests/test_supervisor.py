"""Which mailboxes a worker runs, and when it stops or restarts them."""

from __future__ import annotations

import pytest

from deskmail.core.channel import ChannelWatch
from deskmail.core.models import ChannelSwitch
from deskmail.mailboxes.models import Mailbox
from deskmail.sync import leases
from deskmail.sync.models import Lease
from deskmail.sync.supervisor import Supervisor
from deskmail.testing.builders import make_mailbox

pytestmark = pytest.mark.django_db


class RecordingRunner:
    """Stands in for a runner thread: records starts and stops."""

    def __init__(self, mailbox_id: int, log: list[tuple[str, int]]) -> None:
        self.mailbox_id = mailbox_id
        self.log = log
        self.alive = False

    def start(self) -> None:
        self.alive = True
        self.log.append(("start", self.mailbox_id))

    def stop(self) -> None:
        self.alive = False
        self.log.append(("stop", self.mailbox_id))

    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return self.alive


def _supervisor(log: list[tuple[str, int]], owner: str = "w1") -> Supervisor:
    return Supervisor(
        runner_factory=lambda mid, _owner: RecordingRunner(mid, log),
        owner=owner,
        channel=ChannelWatch(seconds=0),  # read at every tick
    )


def _channel(on: bool) -> None:
    ChannelSwitch.objects.update_or_create(pk=ChannelSwitch.ROW, defaults={"on": on})


def _imap_mailbox(name: str = "support", key: str = "SUP") -> Mailbox:
    return make_mailbox(
        name=name,
        key=key,
        address=f"{name}@example.com",
        inbound={"protocol": "imap", "host": "imap.example.com"},
    )


def test_it_runs_active_imap_mailboxes_and_holds_their_lease():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    make_mailbox(name="noinbound", key="NOI", address="noinbound@example.com")
    supervisor = _supervisor(log)
    supervisor.tick()
    assert log == [("start", mailbox.pk)]
    assert Lease.objects.get(mailbox=mailbox).owner == "w1"


def test_it_restarts_a_runner_when_the_configuration_changes():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    supervisor = _supervisor(log)
    supervisor.tick()
    supervisor.tick()
    assert log == [("start", mailbox.pk)]
    config = dict(mailbox.config)
    config["inbound"] = {**config["inbound"], "poll_seconds": 5}
    mailbox.config = config
    mailbox.save()
    supervisor.tick()
    assert log == [("start", mailbox.pk), ("stop", mailbox.pk), ("start", mailbox.pk)]


def test_it_stops_and_releases_a_mailbox_that_is_switched_off():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    supervisor = _supervisor(log)
    supervisor.tick()
    Mailbox.objects.filter(pk=mailbox.pk).update(status=Mailbox.Status.DISABLED)
    supervisor.tick()
    assert log == [("start", mailbox.pk), ("stop", mailbox.pk)]
    assert Lease.objects.get(mailbox=mailbox).owner == ""


def test_it_leaves_a_mailbox_held_by_another_worker_alone():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    leases.claim([mailbox.pk], "w2", limit=1)
    _supervisor(log).tick()
    assert log == []


def test_it_stops_when_its_lease_is_taken_and_hands_leases_back_on_shutdown():
    log: list[tuple[str, int]] = []
    first, second = _imap_mailbox(), _imap_mailbox("sales", "SAL")
    supervisor = _supervisor(log)
    supervisor.tick()
    Lease.objects.filter(mailbox=first).update(owner="w2")
    supervisor.tick()
    assert ("stop", first.pk) in log
    supervisor.shutdown()
    assert ("stop", second.pk) in log
    assert Lease.objects.get(mailbox=second).owner == ""
    assert Lease.objects.get(mailbox=first).owner == "w2"


def test_it_restarts_a_runner_that_ended():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    supervisor = _supervisor(log)
    supervisor.tick()
    supervisor.running[mailbox.pk].runner.alive = False  # type: ignore[attr-defined]
    supervisor.tick()  # notices and releases
    supervisor.tick()  # claims again
    assert [event for event, _ in log] == ["start", "stop", "start"]


def test_the_channel_off_stops_the_runners_and_keeps_the_leases_paused_until_on_again():
    log: list[tuple[str, int]] = []
    first, second = _imap_mailbox(), _imap_mailbox("sales", "SAL")
    supervisor = _supervisor(log)
    supervisor.tick()
    assert sorted(log) == sorted([("start", first.pk), ("start", second.pk)])
    _channel(False)
    supervisor.tick()
    assert sorted(log[2:]) == sorted([("stop", first.pk), ("stop", second.pk)])
    assert supervisor.running == {} and supervisor.paused == {first.pk, second.pk}
    held = Lease.objects.filter(owner="w1", paused_at__isnull=False)
    assert sorted(held.values_list("mailbox_id", flat=True)) == sorted([first.pk, second.pk])
    # Off, nothing starts, and a mailbox switched off meanwhile is handed back.
    Mailbox.objects.filter(pk=second.pk).update(status=Mailbox.Status.DISABLED)
    supervisor.tick()
    assert len(log) == 4
    assert Lease.objects.get(mailbox=second).owner == ""
    _channel(True)
    supervisor.tick()
    assert log[4:] == [("start", first.pk)]
    assert Lease.objects.get(mailbox=first).owner == "w1"
    assert Lease.objects.get(mailbox=first).paused_at is None


def test_a_worker_starting_while_the_channel_is_off_claims_nothing():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    _channel(False)
    supervisor = _supervisor(log)
    supervisor.tick()
    assert log == []
    assert not Lease.objects.filter(mailbox=mailbox, owner="w1").exists()
    _channel(True)
    supervisor.tick()
    assert log == [("start", mailbox.pk)]


def test_shutdown_while_off_hands_the_paused_leases_back():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    supervisor = _supervisor(log)
    supervisor.tick()
    _channel(False)
    supervisor.tick()
    supervisor.shutdown()
    lease = Lease.objects.get(mailbox=mailbox)
    assert lease.owner == "" and lease.paused_at is None


class SlowRunner(RecordingRunner):
    """Ends only at its second join after stop (a pass still finishing)."""

    def __init__(self, mailbox_id: int, log: list[tuple[str, int]]) -> None:
        super().__init__(mailbox_id, log)
        self.joins = 0
        self.asked = False

    def stop(self) -> None:
        self.asked = True
        self.log.append(("stop", self.mailbox_id))

    def join(self, timeout: float | None = None) -> None:
        if self.asked:
            self.joins += 1
            self.alive = self.joins < 2


def test_a_runner_still_finishing_is_paused_only_once_it_has_ended():
    log: list[tuple[str, int]] = []
    mailbox = _imap_mailbox()
    supervisor = Supervisor(
        runner_factory=lambda mid, _owner: SlowRunner(mid, log),
        owner="w1",
        channel=ChannelWatch(seconds=0),
    )
    supervisor.tick()
    _channel(False)
    supervisor.tick()
    assert mailbox.pk in supervisor.running and not supervisor.paused
    assert Lease.objects.get(mailbox=mailbox).paused_at is None
    supervisor.running[mailbox.pk].runner.alive = False  # type: ignore[attr-defined]  # ended
    supervisor.tick()
    assert supervisor.running == {} and supervisor.paused == {mailbox.pk}
    assert Lease.objects.get(mailbox=mailbox).owner == "w1"
    assert Lease.objects.get(mailbox=mailbox).paused_at is not None
