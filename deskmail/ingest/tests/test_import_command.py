"""`deskmail import`: archives through the live pipeline, as history, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.tests.test_import_helpers import (
    mail,
    make_mailboxes,
    run,
    summary,
    write_maildir,
    write_mbox,
)
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import Delivery, Message, Ticket

pytestmark = pytest.mark.django_db

THREADS = [
    mail(1, "Printer on fire", day=1),
    mail(2, "Invoice 4711 is wrong", sender="bob@other.example", day=1),
    mail(3, "Re: Printer on fire", replying_to=[1], day=2),
    mail(4, "Re: Invoice 4711 is wrong", sender="bob@other.example", replying_to=[2], day=3),
    mail(5, "Re: Printer on fire", replying_to=[1, 3], day=4),
]


def tickets() -> list[dict]:
    return json.loads(run("tickets", "--json"))


def test_it_imports_eml_files_into_threaded_tickets(tmp_path: Path) -> None:
    make_mailboxes()
    for number, raw in enumerate(THREADS, start=1):
        (tmp_path / f"{number:03d}.eml").write_bytes(raw)

    output = run("import", "--mailbox", "support", str(tmp_path))

    assert summary(output)["new tickets"] == 2
    assert summary(output)["appended"] == 3
    assert [(t["subject"], t["message_ids"]) for t in tickets()] == [
        ("Printer on fire", ["n1@customer.example", "n3@customer.example", "n5@customer.example"]),
        ("Invoice 4711 is wrong", ["n2@customer.example", "n4@customer.example"]),
    ]


def test_it_imports_an_mbox_file(tmp_path: Path) -> None:
    make_mailboxes()
    archive = write_mbox(tmp_path / "support.mbox", THREADS)

    output = run("import", "--mailbox", "support", str(archive))

    assert summary(output)["new tickets"] == 2
    assert sorted(Delivery.objects.values_list("source_uid", flat=True)) == list("12345")
    assert set(Delivery.objects.values_list("source_folder", flat=True)) == {str(archive)}
    assert [len(t["message_ids"]) for t in tickets()] == [3, 2]


def test_it_imports_a_maildir(tmp_path: Path) -> None:
    make_mailboxes()
    write_maildir(tmp_path / "Maildir", THREADS)

    output = run("import", "--mailbox", "support", str(tmp_path / "Maildir"))

    assert summary(output)["new tickets"] == 2
    assert summary(output)["appended"] == 3
    assert Message.objects.count() == 5


def test_it_threads_replies_across_batches(tmp_path: Path) -> None:
    make_mailboxes()
    archive = write_mbox(tmp_path / "support.mbox", THREADS)

    output = run("import", "--mailbox", "support", "--batch-size", "2", str(archive))

    assert summary(output)["new tickets"] == 2
    assert summary(output)["appended"] == 3
    assert [len(t["message_ids"]) for t in tickets()] == [3, 2]


def test_it_files_the_tickets_under_the_named_mailbox(tmp_path: Path) -> None:
    make_mailboxes()
    archive = write_mbox(tmp_path / "sales.mbox", THREADS[:2])

    run("import", "--mailbox", "sales", str(archive))

    assert {t["mailbox"] for t in tickets()} == {"sales"}


def test_it_adds_nothing_when_run_twice(tmp_path: Path) -> None:
    make_mailboxes()
    write_mbox(tmp_path / "a.mbox", THREADS[:3])
    write_maildir(tmp_path / "Maildir", THREADS[3:])
    run("import", "--mailbox", "support", str(tmp_path))
    before = (Ticket.objects.count(), Message.objects.count(), Delivery.objects.count())
    listing = tickets()

    output = run("import", "--mailbox", "support", str(tmp_path))

    assert summary(output)["duplicates"] == 5
    assert summary(output)["new tickets"] == 0
    assert summary(output)["appended"] == 0
    assert (Ticket.objects.count(), Message.objects.count(), Delivery.objects.count()) == before
    assert tickets() == listing


def test_it_adds_only_what_is_new_when_an_archive_grows(tmp_path: Path) -> None:
    make_mailboxes()
    archive = write_mbox(tmp_path / "support.mbox", THREADS[:3])
    run("import", "--mailbox", "support", str(archive))

    write_mbox(archive, THREADS[3:])  # mbox.add appends
    output = run("import", "--mailbox", "support", str(archive))

    assert summary(output)["duplicates"] == 3
    assert summary(output)["appended"] == 2
    assert Message.objects.count() == 5


def test_it_never_acknowledges_imported_mail(tmp_path: Path) -> None:
    from deskmail.mailboxes.loading import load_mailboxes

    load_mailboxes(
        "mailboxes:\n  - name: support\n    key: SUP\n    address: support@example.com\n"
        "    status: active\n    replies: {auto_acknowledge: true}\n",
        "m.yaml",
        environ={},
    )
    archive = write_mbox(tmp_path / "support.mbox", THREADS)

    run("import", "--mailbox", "support", str(archive))

    from deskmail.outbound.models import OutboxItem

    assert OutboxItem.objects.count() == 0


def test_it_imports_live_mail_with_acknowledgements_and_rate_limits(tmp_path: Path) -> None:
    from deskmail.mailboxes.loading import load_mailboxes
    from deskmail.outbound.models import OutboxItem

    load_mailboxes(
        "mailboxes:\n  - name: support\n    key: SUP\n    address: support@example.com\n"
        "    status: active\n    replies: {auto_acknowledge: true}\n"
        "    outbound: {host: smtp.example.com}\n"
        "    filters: {sender_rate_limit: {max: 2, per_minutes: 60}}\n",
        "m.yaml",
        environ={},
    )
    busy = [mail(n, f"Question {n}") for n in range(1, 5)]
    archive = write_mbox(tmp_path / "recovered.mbox", busy)

    output = run("import", "--live", "--mailbox", "support", str(archive))

    # The first two open tickets and are acknowledged; the rate limit stops the rest.
    assert summary(output)["new tickets"] == 2 and summary(output)["excluded"] == 2
    acks = OutboxItem.objects.filter(kind="auto_ack")
    assert [a.status for a in acks] == ["pending", "pending"]


def test_it_imports_a_busy_sender_without_rate_limiting(tmp_path: Path) -> None:
    make_mailboxes()  # the default limit: 20 mails per sender per hour
    archive = write_mbox(
        tmp_path / "support.mbox", [mail(n, f"Order {n}", day=1 + n % 28) for n in range(1, 26)]
    )

    output = run("import", "--mailbox", "support", str(archive))

    assert summary(output)["new tickets"] == 25
    assert summary(output)["excluded"] == 0


def test_it_reports_an_unreadable_message_and_goes_on(tmp_path: Path) -> None:
    make_mailboxes()
    maildir = write_maildir(tmp_path / "Maildir", [THREADS[0]])
    # Listed in new/ but unreadable: a link to a file that is gone.
    (maildir / "new" / "0000.broken").symlink_to(tmp_path / "gone")
    write_maildir(maildir, THREADS[1:])

    output = run("import", "--mailbox", "support", str(maildir))

    assert summary(output)["new tickets"] == 2
    assert summary(output)["appended"] == 3
    assert summary(output)["unreadable"] == 1
    assert str(maildir / "new" / "0000.broken") in output


def test_it_quarantines_what_is_not_an_email_and_imports_the_rest(tmp_path: Path) -> None:
    make_mailboxes()
    garbage = b"\x00\xff\xfe this is not an email at all \x00\n\n\x80\x81"
    archive = write_mbox(tmp_path / "support.mbox", [THREADS[0], garbage, THREADS[1]])

    output = run("import", "--mailbox", "support", str(archive))

    assert summary(output)["new tickets"] == 2
    assert summary(output)["quarantined"] == 1
    assert f"{archive} #2: NotAnEmail: not an email: it does not start with a header" in output
    assert Delivery.objects.filter(source_uid="3").exists()
    kept = QuarantinedMessage.objects.get()
    assert read_raw(kept.raw_sha256).startswith(b"\x00\xff\xfe this is not")
    assert kept.status == "failed"  # retrying cannot make it an email


def test_it_keeps_and_flags_a_message_without_a_sender_or_message_id(tmp_path: Path) -> None:
    make_mailboxes()
    anonymous = b"Subject: who wrote this?\n\nNobody knows.\n"
    archive = write_mbox(tmp_path / "support.mbox", [THREADS[0], anonymous])

    output = run("import", "--mailbox", "support", str(archive))

    assert summary(output)["new tickets"] == 2
    assert summary(output)["flagged"] == 1
    assert f"{archive} #2: stored without sender or Message-ID" in output


def test_it_fails_when_nothing_could_be_read(tmp_path: Path) -> None:
    make_mailboxes()

    with pytest.raises(CommandError, match="nothing could be read"):
        run("import", "--mailbox", "support", str(tmp_path / "missing.mbox"))


def test_it_names_the_known_mailboxes_for_an_unknown_one(tmp_path: Path) -> None:
    make_mailboxes()
    archive = write_mbox(tmp_path / "support.mbox", THREADS)

    with pytest.raises(CommandError, match="no mailbox named 'helpdesk'.*sales, support"):
        run("import", "--mailbox", "helpdesk", str(archive))
    assert Message.objects.count() == 0
