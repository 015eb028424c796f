"""Every mailbox's addresses, aliases and key, read once per process and kept until one changes.

The pipeline asks for every message "is this one of our addresses?" and "which
mailbox receives for this one?"; the outbox asks the first question for every
reply. Reading and validating every mailbox each time made each message cost
O(number of mailboxes). The directory is built once and rebuilt only when
the mailboxes change: a new mailbox, a deleted one, or any saved edit (which
moves `updated_at`). That check is one small aggregate query, so another
process's edit is seen at the next lookup.

Health columns are written with queryset updates that leave `updated_at`
alone; they never rebuild the directory.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from django.db.models import Count, Max

from deskmail.mailboxes.models import Mailbox, MailboxAddress

Version = tuple[int, dt.datetime | None]


@dataclass(frozen=True)
class Directory:
    version: Version
    mailboxes: dict[int, Mailbox]
    # Every address a mailbox receives for -> (its mailbox id, whether it is an alias).
    addresses: dict[str, tuple[int, bool]]
    by_key: dict[str, int]
    # Every address and alias of every mailbox: never a participant, never mailed.
    own: frozenset[str]

    def lookup(self, address: str) -> tuple[Mailbox, bool] | None:
        """The mailbox that receives for address, and whether it is one of its aliases."""
        found = self.addresses.get(address.strip().strip("<>").lower())
        if found is None:
            return None
        return self.mailboxes[found[0]], found[1]

    def by_id(self, mailbox_id: int) -> Mailbox:
        return self.mailboxes[mailbox_id]


_lock = threading.Lock()
_current: Directory | None = None


def _version() -> Version:
    found = Mailbox.objects.aggregate(count=Count("id"), changed=Max("updated_at"))
    return int(found["count"]), found["changed"]


def _build(version: Version) -> Directory:
    mailboxes = {mailbox.pk: mailbox for mailbox in Mailbox.objects.all()}
    addresses: dict[str, tuple[int, bool]] = {}
    for mailbox in mailboxes.values():
        for address, is_alias in mailbox.own_addresses().items():
            addresses.setdefault(address, (mailbox.pk, is_alias))
    # The rows are what mail is matched against; they agree with the configs after a save.
    for address, mailbox_id, is_alias in MailboxAddress.objects.values_list(
        "address", "mailbox_id", "is_alias"
    ):
        addresses[address.lower()] = (mailbox_id, is_alias)
    by_key = {mailbox.key.upper(): mailbox.pk for mailbox in mailboxes.values()}
    return Directory(version, mailboxes, addresses, by_key, frozenset(addresses))


def directory() -> Directory:
    """The current directory: rebuilt when a mailbox was added, deleted or edited."""
    global _current
    version = _version()
    current = _current
    if current is not None and current.version == version:
        return current
    with _lock:
        if _current is None or _current.version != version:
            _current = _build(version)
        return _current


def forget() -> None:
    """Drop the cached directory (tests that swap databases under a running process)."""
    global _current
    with _lock:
        _current = None
