import datetime as dt

import pytest
from django.utils import timezone

from deskmail.mailboxes.models import Mailbox
from deskmail.sync import leases
from deskmail.sync.models import Lease

pytestmark = pytest.mark.django_db


def _mailboxes(n: int) -> list[int]:
    return [
        Mailbox.objects.create(name=f"m{i}", key=f"M{i}", address=f"m{i}@example.com").id
        for i in range(n)
    ]


def test_it_never_gives_one_mailbox_to_two_workers():
    ids = _mailboxes(3)
    first = leases.claim(ids, "worker-a", limit=10)
    second = leases.claim(ids, "worker-b", limit=10)
    assert sorted(first) == sorted(ids)
    assert second == []


def test_it_respects_the_capacity_limit():
    ids = _mailboxes(3)
    assert len(leases.claim(ids, "worker-a", limit=2)) == 2
    assert len(leases.claim(ids, "worker-b", limit=2)) == 1


def test_it_lets_another_worker_take_over_an_expired_lease():
    ids = _mailboxes(1)
    leases.claim(ids, "worker-a", limit=1)
    Lease.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert leases.claim(ids, "worker-b", limit=1) == ids
    assert leases.renew(ids, "worker-a") == set()
    assert leases.renew(ids, "worker-b") == set(ids)


def test_it_frees_released_mailboxes_at_once():
    ids = _mailboxes(1)
    leases.claim(ids, "worker-a", limit=1)
    leases.release(ids, "worker-a")
    assert leases.claim(ids, "worker-b", limit=1) == ids
