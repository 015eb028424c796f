"""The public API: transactions with the checkpoint, dry runs, batches."""

import pytest
from django.core.files.storage import default_storage

from deskmail.ingest import pipeline
from deskmail.ingest.api import IngestItem, SourcePosition, dry_run, ingest, ingest_many
from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.trace import Decision
from deskmail.outbound.models import OutboxItem
from deskmail.testing.builders import make_email, message_id_of
from deskmail.tickets.blobs import raw_name, sha256
from deskmail.tickets.models import Contact, Counter, Message, Ticket

pytestmark = pytest.mark.django_db


def test_it_calls_on_stored_inside_the_transaction_that_stores_the_message(support):
    raw = make_email()
    seen = []
    ingest(
        support,
        raw,
        on_stored=lambda: seen.append(
            Message.objects.filter(message_id=message_id_of(raw)).count()
        ),
    )
    assert seen == [1]


def test_it_stores_nothing_when_the_checkpoint_cannot_advance(support):
    def broken_checkpoint():
        raise OSError("checkpoint store down")

    with pytest.raises(OSError, match="checkpoint store down"):
        ingest(support, make_email(), on_stored=broken_checkpoint)
    assert not Message.objects.exists() and not Ticket.objects.exists()
    assert not QuarantinedMessage.objects.exists()


def test_a_dry_run_runs_every_step_and_writes_nothing(support):
    raw = make_email(sender="new.person@acme.example")
    result = dry_run(support, raw)
    assert result.outcome == "new_ticket"
    assert [d.step for d in result.trace] == [
        s if isinstance(s, str) else s.name for s in pipeline.STEPS
    ]
    assert result.trace[-1].verdict == "queued"
    assert not Ticket.objects.exists() and not Message.objects.exists()
    assert not Contact.objects.exists() and not OutboxItem.objects.exists()
    assert not Counter.objects.filter(value__gt=0).exists()
    assert not default_storage.exists(raw_name(sha256(raw)))
    assert ingest(support, raw).ticket.number == 1


def test_a_dry_run_shows_a_reply_joining_its_ticket(support):
    first = make_email()
    a = ingest(support, first)
    result = dry_run(support, make_email(subject="Re: x", in_reply_to=message_id_of(first)))
    assert (result.outcome, result.ticket.pk) == ("appended", a.ticket.pk)
    assert Message.objects.count() == 1


class FailOnPoison:
    name = "fail_on_poison"

    def run(self, ctx):
        if "poison" in ctx.parsed.subject:
            raise ValueError("cannot handle this one")
        return Decision(self.name, "pass", "fine")


def test_ingest_many_stores_batches_and_quarantines_only_the_poison(support, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", (*pipeline.STEPS, FailOnPoison()))
    subjects = ["one", "two", "poison", "four", "five"]
    items = [
        IngestItem(make_email(subject=s), SourcePosition("import", "/a.mbox", None, str(n)))
        for n, s in enumerate(subjects)
    ]
    batches = []
    results = ingest_many(support, items, batch_size=2, on_batch=batches.append)
    assert [r.outcome for r in results] == [
        "new_ticket",
        "new_ticket",
        "quarantined",
        "new_ticket",
        "new_ticket",
    ]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert QuarantinedMessage.objects.count() == 1
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["five", "four", "one", "two"]
    assert not OutboxItem.objects.exists()  # history: never acknowledged


def test_ingest_many_threads_replies_within_one_batch(support):
    first = make_email()
    reply = make_email(subject="Re: Printer broken", in_reply_to=message_id_of(first))
    results = ingest_many(support, [first, reply, first])
    assert [r.outcome for r in results] == ["new_ticket", "appended", "duplicate"]


def test_ingest_many_drops_the_same_position_twice_in_one_batch(support):
    raw = make_email()
    where = SourcePosition("import", "/a.mbox", None, "1")
    results = ingest_many(support, [(raw, where), (raw, where)])
    assert [r.outcome for r in results] == ["new_ticket", "duplicate"]
    assert Message.objects.get().deliveries.count() == 1


def test_ingest_many_threads_by_a_shared_ancestor_within_one_batch(support):
    root = "lost-root@acme.example"
    one = make_email(in_reply_to=root, references=[root])
    two = make_email(subject="Re: again", in_reply_to="other@acme.example", references=[root])
    results = ingest_many(support, [one, two])
    assert [r.outcome for r in results] == ["new_ticket", "appended"]


def test_ingest_many_keeps_deliveries_attachments_and_notes_of_a_batch(support, sales):
    pdf = ("a.pdf", "application/pdf", b"%PDF-1.4 x")
    raw = make_email(cc="sales@example.com", attachments=[pdf])
    results = ingest_many(support, [raw, (raw, SourcePosition("import", "/b", None, "2"))])
    assert [r.outcome for r in results] == ["new_ticket", "duplicate"]
    message = Message.objects.get()
    assert results[0].message.pk == message.pk
    assert message.deliveries.count() == 2
    assert message.trace[-1]["verdict"] == "delivery"
    assert message.attachments.get().filename == "a.pdf"


def test_a_batch_stores_each_attachments_bytes_once_however_often_they_come(support, caplog):
    from deskmail.tickets.models import Blob

    logo = ("logo.png", "image/png", b"\x89PNG logo")
    ingest(support, make_email(subject="earlier", attachments=[logo]))
    pdf = ("a.pdf", "application/pdf", b"%PDF-1.4 x")
    mails = [make_email(subject=f"n{n}", attachments=[logo, pdf]) for n in range(3)]

    ingest_many(support, mails)

    assert "ingesting one by one" not in caplog.text  # the batch's own store wrote them
    assert Blob.objects.count() == 2
    by_name = {
        a.filename: a.blob.sha256 for a in Message.objects.get(subject="n2").attachments.all()
    }
    assert by_name == {"logo.png": sha256(b"\x89PNG logo"), "a.pdf": sha256(b"%PDF-1.4 x")}
    assert Blob.objects.get(sha256=by_name["logo.png"]).attachments.count() == 4


def test_a_batch_inserts_its_new_tickets_together_as_save_would_store_them(support, caplog):
    from django.db import connection
    from django.db.models.signals import post_save
    from django.test.utils import CaptureQueriesContext

    saved: list[tuple[int, bool]] = []

    def heard(sender, instance, created, **kwargs):
        saved.append((instance.pk, created))

    post_save.connect(heard, sender=Ticket, dispatch_uid="test-batch-tickets")
    try:
        with CaptureQueriesContext(connection) as queries:
            results = ingest_many(support, [make_email(subject=f"Printer {n}") for n in range(4)])
    finally:
        post_save.disconnect(dispatch_uid="test-batch-tickets", sender=Ticket)

    assert "ingesting one by one" not in caplog.text
    tickets = list(Ticket.objects.order_by("number"))
    assert [t.pk for t in tickets] == [r.ticket.pk for r in results]
    assert [t.subject_key for t in tickets] == [f"printer {n}" for n in range(4)]
    assert [t.contact.address for t in tickets] == ["ann@acme.example"] * 4
    assert saved == [(t.pk, True) for t in tickets]  # the suggestion index hears of them
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "tickets_ticket"')]
    assert len(inserts) <= 1  # one statement (or COPY, not seen here), not one per ticket


def test_a_batch_finds_its_own_new_ticket_by_the_number_in_a_subject(support):
    number = ingest(support, make_email(subject="earlier")).ticket.number + 1
    first = make_email(subject="Printer broken")
    by_tag = make_email(subject=f"Re: [SUP#{number}] and the scanner too")

    results = ingest_many(support, [first, by_tag])

    assert [r.outcome for r in results] == ["new_ticket", "appended"]
    assert results[1].ticket.pk == results[0].ticket.pk and results[0].ticket.number == number
    assert Message.objects.filter(ticket=results[0].ticket.pk).count() == 2


def test_ingest_many_applies_the_rate_limit_within_a_batch(support):
    from deskmail.ingest.tests.conftest import configure

    configure(support, filters={"sender_rate_limit": {"max": 2, "per_minutes": 60}})
    mails = [make_email(subject=f"n{n}") for n in range(4)]
    results = ingest_many(support, mails, history=False)
    assert [r.outcome for r in results] == ["new_ticket", "new_ticket", "excluded", "excluded"]
    assert OutboxItem.objects.count() == 2


def test_a_stream_stores_and_parses_the_next_batch_while_the_caller_holds_one(support):
    from deskmail.ingest.api import ingest_stream
    from deskmail.testing.waiting import eventually

    batches = [[IngestItem(make_email(subject=f"b{b} m{m}")) for m in range(3)] for b in range(3)]
    stream = ingest_stream(support, iter(batches))

    first, results = next(stream)

    assert first is batches[0]
    assert [r.message.subject for r in results] == ["b0 m0", "b0 m1", "b0 m2"]
    # The next batch's bytes reach the raw store while this one is still in hand.
    eventually(
        lambda: all(default_storage.exists(raw_name(sha256(i.raw))) for i in batches[1]),
        what="the next batch stored ahead",
    )
    assert not Message.objects.filter(subject__startswith="b1").exists()
    rest = [[r.message.subject for r in results] for _, results in stream]
    assert rest == [["b1 m0", "b1 m1", "b1 m2"], ["b2 m0", "b2 m1", "b2 m2"]]


def test_a_stream_neither_stores_nor_parses_again_what_came_from_the_same_position(
    support, monkeypatch
):
    from deskmail.ingest import parsing
    from deskmail.ingest.api import ingest_stream

    where = [SourcePosition("import", "/archive.mbox", None, str(n)) for n in range(4)]
    items = [IngestItem(make_email(subject=f"m{n}"), where[n]) for n in range(4)]
    for _ in ingest_stream(support, iter([items[:2]])):  # an import killed after two
        pass
    parsed: list[bytes] = []
    parse_many = parsing.parse_many

    def watched(raws, marker, keep_at=None):
        parsed.extend(raws)
        return parse_many(raws, marker, keep_at)

    monkeypatch.setattr(parsing, "parse_many", watched)
    (_, results), *_ = ingest_stream(support, iter([items]))  # and resumed

    assert [r.outcome for r in results] == ["duplicate", "duplicate", "new_ticket", "new_ticket"]
    assert parsed == [items[2].raw, items[3].raw]
    assert [d.step for d in results[0].trace] == ["redelivery"]
    assert results[0].message.subject == "m0"
