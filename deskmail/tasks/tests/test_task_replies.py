"""Tasks mailed to a colleague or an outside person, and the replies that come back."""

from __future__ import annotations

import email
from email import policy

import pytest

from deskmail.events.models import Event
from deskmail.ingest.api import Outcome, ingest
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.tokens import new_message_id
from deskmail.services import tasks
from deskmail.services.errors import Invalid, NotFound
from deskmail.tasks.models import Task, TaskEntry
from deskmail.testing.builders import make_email
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(team) -> Ticket:
    result = ingest(
        team.north,
        make_email(
            to=team.north.address,
            subject="Printer on fire",
            body="Hello,\n\nthe printer on floor 2 is on fire.\n\nAnn\n",
        ),
    )
    assert result.ticket is not None
    return Ticket.objects.get(pk=result.ticket.pk)


def give(team, ticket, **kw) -> Task:
    kw.setdefault("to", "Vic Vendor <vic@vendor.example>")
    kw.setdefault("title", "Send a technician")
    kw.setdefault("instructions", "Please come by today.\nBring an extinguisher.")
    return tasks.create(team.actor(team.nora), ticket, **kw)


def sent_mail(task: Task) -> email.message.EmailMessage:
    item = OutboxItem.objects.select_related("outgoing").get(pk=task.outbox_item_id)
    assert item.outgoing is not None
    return email.message_from_bytes(read_raw(item.outgoing.raw_sha256), policy=policy.default)


def reply_to(task: Task, mailbox, **kw) -> bytes:
    kw.setdefault("sender", "Vic Vendor <vic@vendor.example>")
    kw.setdefault("subject", f"Re: Task on #{task.ticket.number}: {task.title}")
    kw.setdefault("body", "On my way, there at 3.\n\n> Please come by today.\n")
    kw.setdefault("in_reply_to", task.message_id)
    kw.setdefault("references", [task.message_id])
    return make_email(to=mailbox.address, **kw)


def test_the_task_mail_goes_to_the_assignee_alone_outside_the_customers_thread(team, ticket):
    task = give(team, ticket, include_customer_message=True)

    mail = sent_mail(task)
    assert mail["Subject"] == f"Task on #{ticket.number}: Send a technician"
    assert mail["Message-ID"].strip("<>") == task.message_id
    assert task.message_id.startswith(f"dm.K{task.pk}.R")
    assert mail["To"] == "vic@vendor.example"
    assert mail["Cc"] is None
    assert mail["In-Reply-To"] is None and mail["References"] is None
    assert "north@helpdesk.example" in mail["From"]
    text = mail.get_body(("plain",)).get_content()
    assert "Bring an extinguisher." in text
    assert "floor 2" in text  # the customer's latest message, quoted as asked
    ticket.refresh_from_db()
    assert task.message_id not in ticket.reply_references
    assert not ticket.messages.filter(message_id=task.message_id).exists()
    assert "vic@vendor.example" not in ticket.participants
    assert [e.kind for e in task.entries.all()] == [TaskEntry.Kind.SENT]
    assert task.outbox_item is not None and task.outbox_item.kind == OutboxItem.Kind.TASK


def test_the_customers_message_is_quoted_only_when_asked(team, ticket):
    task = give(team, ticket)

    assert "floor 2" not in sent_mail(task).get_body(("plain",)).get_content()


def test_a_reply_to_the_task_mail_lands_in_the_tasks_history_not_in_the_thread(team, ticket):
    task = give(team, ticket)
    before = list(ticket.messages.values_list("pk", flat=True))

    result = ingest(team.north, reply_to(task, team.north))

    assert result.outcome == Outcome.EXCLUDED
    assert result.ticket is None
    stored = Message.objects.get(pk=result.message.pk)
    assert stored.ticket is None and stored.excluded
    assert list(ticket.messages.values_list("pk", flat=True)) == before
    task.refresh_from_db()
    assert task.new_reply
    reply = task.entries.get(kind=TaskEntry.Kind.REPLY)
    assert reply.sender == "vic@vendor.example"
    assert reply.sender_name == "Vic Vendor"
    assert reply.text.strip() == "On my way, there at 3."
    assert reply.message_id == stored.message_id
    step = next(d for d in result.trace if d.step == "task_reply")
    assert step.reason.startswith(f"a reply to task {task.pk} of ticket #{ticket.number}")
    event = Event.objects.filter(ticket_number=ticket.number).order_by("-id").first()
    assert event.kind == Event.Kind.TICKET_UPDATED
    assert event.data["changes"]["task"]["id"] == task.pk


def test_a_reply_naming_the_task_only_in_references_is_found_too(team, ticket):
    task = give(team, ticket)

    raw = reply_to(task, team.north, in_reply_to="lost-parent@vendor.example")
    result = ingest(team.north, raw)

    assert result.outcome == Outcome.EXCLUDED
    assert task.entries.filter(kind=TaskEntry.Kind.REPLY).count() == 1


def test_a_forged_task_token_threads_as_usual(team, ticket):
    task = give(team, ticket)
    head, _, domain = task.message_id.rpartition("@")
    forged = head.replace(f"dm.K{task.pk}.", f"dm.K{task.pk + 1}.") + "@" + domain
    Task.objects.create(
        ticket=ticket, title="Other", assignee_address="x@y.example", pk=task.pk + 1
    )

    raw = reply_to(
        task,
        team.north,
        sender="Ann Customer <ann@acme.example>",
        subject=f"Re: [NO#{ticket.number}] Printer on fire",
        in_reply_to=forged,
        references=[forged],
    )
    result = ingest(team.north, raw)

    assert result.outcome == Outcome.APPENDED
    assert result.ticket.pk == ticket.pk  # by the subject tag, as any reply
    assert next(d for d in result.trace if d.step == "task_reply").verdict == "pass"
    assert not TaskEntry.objects.filter(kind=TaskEntry.Kind.REPLY).exists()


def test_a_token_of_a_task_that_is_gone_threads_as_usual(team, ticket):
    task = give(team, ticket)
    message_id = task.message_id
    Task.objects.filter(pk=task.pk).delete()

    result = ingest(
        team.north,
        make_email(to=team.north.address, in_reply_to=message_id, references=[message_id]),
    )

    assert result.outcome != Outcome.EXCLUDED
    assert next(d for d in result.trace if d.step == "task_reply").verdict == "miss"


def test_the_customers_reply_still_threads_normally(team, ticket):
    give(team, ticket)
    ours = ticket.messages.get()

    result = ingest(
        team.north,
        make_email(
            to=team.north.address,
            subject="Re: Printer on fire",
            in_reply_to=ours.message_id,
            references=[ours.message_id],
        ),
    )

    assert result.outcome == Outcome.APPENDED
    assert result.ticket.pk == ticket.pk
    assert next(d for d in result.trace if d.step == "task_reply").verdict == "pass"


def test_a_reply_to_our_ticket_token_is_no_task_reply(team, ticket):
    give(team, ticket)
    token = new_message_id(ticket.number, team.north.address)

    result = ingest(
        team.north, make_email(to=team.north.address, in_reply_to=token, references=[token])
    )

    assert result.outcome == Outcome.APPENDED
    assert result.ticket.pk == ticket.pk


def test_done_and_reopen_are_in_the_history_and_clear_new_reply(team, ticket):
    task = give(team, ticket)
    ingest(team.north, reply_to(task, team.north))
    nora = team.actor(team.nora)

    done = tasks.set_status(nora, ticket, task.pk, "done")
    again = tasks.set_status(nora, ticket, task.pk, "done")
    reopened = tasks.set_status(nora, ticket, task.pk, "open")

    assert done.status == "done" and done.done_at is not None and not done.new_reply
    assert again.entries.count() == done.entries.count()  # idempotent
    assert reopened.status == "open" and reopened.done_at is None
    kinds = [e.kind for e in reopened.entries.all()]
    assert kinds == ["sent", "reply", "done", "reopened"]
    assert reopened.entries.get(kind="done").by == team.nora


def test_only_people_who_may_act_on_the_ticket_see_or_give_its_tasks(team, ticket):
    task = give(team, ticket)
    stan = team.actor(team.stan)

    with pytest.raises(NotFound):
        tasks.create(stan, ticket, to="vic@vendor.example", title="Sneaky")
    with pytest.raises(NotFound):
        tasks.tasks_of(stan, ticket)
    with pytest.raises(NotFound):
        tasks.set_status(stan, ticket, task.pk, "done")
    assert [t.pk for t in tasks.tasks_of(team.actor(team.sam), ticket)] == [task.pk]
    assert [t.pk for t in tasks.tasks_of(team.actor(team.ada), ticket)] == [task.pk]


def test_a_task_of_another_ticket_is_not_found_through_this_one(team, ticket):
    task = give(team, ticket)
    other = ingest(team.north, make_email(to=team.north.address, subject="Other")).ticket

    with pytest.raises(NotFound):
        tasks.task(team.actor(team.nora), other, task.pk)


def test_a_colleagues_address_names_the_colleague(team, ticket):
    task = give(team, ticket, to="SAM@helpdesk.example")

    assert task.assignee == team.sam
    assert task.assignee_address == "sam@helpdesk.example"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"to": "not an address"}, "to"),
        ({"to": "north@helpdesk.example"}, "to"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 501}, "title"),
    ],
)
def test_it_refuses_what_cannot_be_a_task(team, ticket, fields, field):
    with pytest.raises(Invalid) as refused:
        give(team, ticket, **fields)

    assert refused.value.field == field
    assert not Task.objects.exists()
