"""The ticket view: the thread, fields edited in place, merge and split, downloads, mail HTML."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from deskmail.console.tests.conftest import PNG, World, north_mail
from deskmail.events.models import Event
from deskmail.ingest.api import ingest
from deskmail.services import reading
from deskmail.testing.builders import make_email
from deskmail.tickets.models import InternalNote, ReadMark, Ticket, TicketMerge, TicketType

pytestmark = pytest.mark.django_db


@pytest.fixture
def nora(world: World):
    return world.client(world.team.nora)


def _page(client, ticket: Ticket) -> str:
    response = client.get(f"/t/{ticket.number}/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_thread_in_order_each_kind_labelled(world: World, nora):
    page = _page(nora, world.ticket)

    customer = page.index('class="kind" id="message-')
    assert (
        page.index(">Customer<", customer)
        < page.index(">Our reply<")
        < page.index(">Internal note<")
    )
    assert "item-incoming" in page and "item-ours" in page and "item-note" in page
    assert "Queued." in page  # the outbox state of our reply


def test_it_shows_the_new_part_and_keeps_the_quoted_history_folded(world: World, nora):
    ticket = north_mail(
        world.team,
        subject="Quoting",
        body="Thanks, that works.\n\nOn Monday, Support wrote:\n> Try turning it off.\n",
    )

    page = _page(nora, ticket)

    assert "Thanks, that works." in page
    assert "<summary>Show quoted text</summary>" in page
    assert page.index("Show quoted text") < page.index("&gt; Try turning it off.")


def test_it_shows_a_delivery_failure_apart(world: World, nora):
    InternalNote.objects.create(
        ticket=world.ticket, kind=InternalNote.Kind.DELIVERY_FAILURE, body="550 no such user"
    )

    page = _page(nora, world.ticket)

    assert "item-failure" in page and ">Delivery failure<" in page and "550 no such user" in page


def test_it_marks_the_ticket_read_when_opened_but_not_for_a_supervisors_read_only_look(world):
    sam = world.client(world.team.sam)
    sam.get(f"/t/{world.ticket.number}/?spy=1")
    assert not ReadMark.objects.filter(user=world.team.sam).exists()
    page = sam.get(f"/t/{world.ticket.number}/?spy=1").content.decode()
    assert "Read-only view" in page and 'action="/t/1/reply/"' not in page
    assert f'action="/t/{world.ticket.number}/note/"' in page

    world.client(world.team.nora).get(f"/t/{world.ticket.number}/")
    assert ReadMark.objects.filter(user=world.team.nora, ticket=world.ticket).exists()


def test_it_marks_a_ticket_unread_for_me_only(world: World, nora):
    sam_actor = world.team.actor(world.team.sam)
    reading.mark_read(sam_actor, world.ticket)
    nora.get(f"/t/{world.ticket.number}/")

    assert nora.post(f"/t/{world.ticket.number}/unread/")["Location"] == "/tickets/"

    assert not ReadMark.objects.filter(user=world.team.nora).exists()
    assert ReadMark.objects.filter(user=world.team.sam).exists()


@pytest.mark.parametrize(
    ("field", "data", "check"),
    [
        ("status", {"status": "pending"}, lambda t: t.status == "pending"),
        ("priority", {"priority": "urgent"}, lambda t: t.priority == "urgent"),
        ("queue", {"queue": "Billing"}, lambda t: t.queue.name == "Billing"),
        (
            "tags",
            {"tags": "vip, printer"},
            lambda t: sorted(t.tags.values_list("name", flat=True)) == ["printer", "vip"],
        ),
        (
            "participants",
            {"participants": "ann@acme.example\nbob@acme.example"},
            lambda t: t.participants == ["ann@acme.example", "bob@acme.example"],
        ),
        ("title", {"title": "Printer, floor 2"}, lambda t: t.title == "Printer, floor 2"),
    ],
)
def test_it_edits_each_field_in_place(world: World, nora, field, data, check):
    response = nora.post(
        f"/t/{world.ticket.number}/field/{field}/", data, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<div id="fields"')
    assert b"Saved." in response.content
    world.ticket.refresh_from_db()
    assert check(world.ticket)
    event = Event.objects.filter(kind="ticket.updated").last()
    assert event is not None and (field in event.data["changes"] or field == "tags")


def test_it_assigns_only_to_the_mailboxs_team_and_says_why_not(world: World, nora):
    refused = nora.post(
        f"/t/{world.ticket.number}/field/assignee/",
        {"assignee": world.team.stan.pk},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422

    nora.post(f"/t/{world.ticket.number}/field/assignee/", {"assignee": world.team.nora.pk})
    world.ticket.refresh_from_db()
    assert world.ticket.assignee == world.team.nora


def test_it_shows_restricted_custom_fields_to_supervisors_only(world: World, nora):
    kind = TicketType.objects.create(
        name="Incident",
        fields=[
            {"name": "order", "label": "Order", "kind": "text"},
            {"name": "credit", "label": "Credit note", "restricted": True},
        ],
    )
    Ticket.objects.filter(pk=world.ticket.pk).update(type=kind)

    agent_page = _page(nora, world.ticket)
    assert "Order" in agent_page and "Credit note" not in agent_page
    refused = nora.post(f"/t/{world.ticket.number}/field/custom-credit/", {"value": "50"})
    assert refused.status_code == 302
    world.ticket.refresh_from_db()
    assert "credit" not in world.ticket.custom_fields

    sam = world.client(world.team.sam)
    assert "Credit note (restricted)" in _page(sam, world.ticket)
    sam.post(f"/t/{world.ticket.number}/field/custom-credit/", {"value": "50"})
    nora.post(f"/t/{world.ticket.number}/field/custom-order/", {"value": "A-7"})
    world.ticket.refresh_from_db()
    assert world.ticket.custom_fields == {"credit": "50", "order": "A-7"}


def test_it_asks_for_a_disposition_when_the_mailbox_wants_one(world: World, nora):
    config = dict(world.team.north.config)
    config["console"] = {"dispositions": ["Solved", "No answer"], "require_disposition": True}
    world.team.north.config = config
    world.team.north.save()

    refused = nora.post(
        f"/t/{world.ticket.number}/field/status/",
        {"status": "closed"},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and b"pick a disposition" in refused.content
    nora.post(
        f"/t/{world.ticket.number}/field/status/", {"status": "closed", "disposition": "Solved"}
    )
    world.ticket.refresh_from_db()
    assert world.ticket.status == "closed" and world.ticket.disposition == "Solved"


def test_it_moves_a_ticket_to_another_mailbox_the_person_works_in(world: World):
    ada = world.client(world.team.ada)
    ada.post(f"/t/{world.ticket.number}/field/mailbox/", {"mailbox": "south"})

    world.ticket.refresh_from_db()
    assert world.ticket.mailbox == world.team.south
    assert world.client(world.team.nora).get(f"/t/{world.ticket.number}/").status_code == 404
    refused = world.client(world.team.stan).post(
        f"/t/{world.south_ticket.number}/field/mailbox/", {"mailbox": "north"}
    )
    assert refused.status_code == 302
    world.south_ticket.refresh_from_db()
    assert world.south_ticket.mailbox == world.team.south


def test_it_deletes_a_ticket_only_after_confirmation(world: World, nora):
    asked = nora.get(f"/t/{world.ticket.number}/delete/")
    assert b"Delete 1 ticket?" in asked.content
    assert nora.post(f"/t/{world.ticket.number}/delete/").status_code == 200
    assert Ticket.objects.filter(pk=world.ticket.pk).exists()

    nora.post(f"/t/{world.ticket.number}/delete/", {"confirmed": "True"})

    assert not Ticket.objects.filter(pk=world.ticket.pk).exists()


def test_it_merges_records_it_and_undoes_it(world: World, nora):
    other = north_mail(world.team, subject="Invoice again")
    moved = list(other.messages.values_list("pk", flat=True))

    response = nora.post(f"/t/{other.number}/merge/", {"target": world.ticket.number})

    assert response["Location"] == f"/t/{world.ticket.number}/"
    other.refresh_from_db()
    assert other.status == "closed" and other.merged_into == world.ticket
    assert set(moved) <= set(world.ticket.messages.values_list("pk", flat=True))
    assert f"merged #{other.number}" in _page(nora, world.ticket)
    record = TicketMerge.objects.get(source=other)

    nora.post(f"/t/{world.ticket.number}/merges/{record.pk}/undo/")

    other.refresh_from_db()
    assert other.merged_into is None and other.status == "new"
    assert list(other.messages.values_list("pk", flat=True)) == moved


def test_a_reply_to_a_merged_tickets_mail_lands_in_the_target(world: World, nora):
    other = north_mail(world.team, subject="Invoice again")
    first_id = other.messages.get().message_id
    nora.post(f"/t/{other.number}/merge/", {"target": world.ticket.number})

    reply = ingest(
        world.team.north,
        make_email(
            to=world.team.north.address,
            subject="Re: Invoice again",
            in_reply_to=first_id,
            references=[first_id],
        ),
    )

    assert reply.ticket is not None and reply.ticket.pk == world.ticket.pk


def test_it_refuses_to_merge_into_a_ticket_the_person_cannot_see(world: World, nora):
    response = nora.post(f"/t/{world.ticket.number}/merge/", {"target": world.south_ticket.number})

    assert response.status_code == 422 and b"no ticket" in response.content.lower()
    world.ticket.refresh_from_db()
    assert world.ticket.merged_into is None


def test_it_splits_a_message_and_what_follows_into_a_new_ticket_and_back(world: World, nora):
    first_id = world.message.message_id
    follow = ingest(
        world.team.north,
        make_email(
            to=world.team.north.address,
            subject="Re: Invoice",
            body="A new question",
            in_reply_to=first_id,
            references=[first_id],
        ),
    )
    assert follow.ticket is not None and follow.ticket.pk == world.ticket.pk
    later = world.ticket.messages.get(message_id=follow.message.message_id)

    response = nora.post(f"/t/{world.ticket.number}/split/{later.pk}/")

    new = Ticket.objects.exclude(pk__in=[world.ticket.pk, world.south_ticket.pk]).get()
    assert response["Location"] == f"/t/{new.number}/"
    assert list(new.messages.values_list("pk", flat=True)) == [later.pk]
    assert new.linked_from == world.ticket
    # A reply to the split-off message follows it.
    again = ingest(
        world.team.north,
        make_email(
            to=world.team.north.address,
            subject="Re: Invoice",
            in_reply_to=later.message_id,
            references=[later.message_id],
        ),
    )
    assert again.ticket is not None and again.ticket.pk == new.pk

    record = TicketMerge.objects.get(kind="split")
    nora.post(f"/t/{new.number}/merges/{record.pk}/undo/")
    assert world.ticket.messages.filter(pk=later.pk).exists()


def test_it_refuses_to_split_off_the_first_message(world: World, nora):
    nora.post(f"/t/{world.ticket.number}/split/{world.message.pk}/")

    assert not TicketMerge.objects.exists()


def test_it_downloads_the_thread_as_numbered_eml_files_with_or_without_attachments(world, nora):
    full = nora.get(f"/t/{world.ticket.number}/thread.zip?attachments=on")
    bare = nora.get(f"/t/{world.ticket.number}/thread.zip")

    assert full["Content-Type"] == "application/zip"
    assert 'filename="ticket-NO-1.zip"' in full["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(full.content)).namelist()
    assert [n[:4] for n in names] == ["001-", "002-"] and names[0].endswith(".eml")
    assert "-in-" in names[0] and "-out-" in names[1]
    with_files = zipfile.ZipFile(io.BytesIO(full.content)).read(names[0])
    without = zipfile.ZipFile(io.BytesIO(bare.content)).read(
        zipfile.ZipFile(io.BytesIO(bare.content)).namelist()[0]
    )
    assert b"scan.png" in with_files and b"iVBORw0KGgo" in with_files
    assert b"[attachment removed: scan.png, " in without and b"iVBORw0KGgo" not in without


def _html_ticket(world: World, html: str, **kwargs):
    ticket = north_mail(world.team, subject="Newsletter", body="text version", html=html, **kwargs)
    return ticket.messages.get()


def test_it_serves_mail_html_in_a_frame_with_its_own_strict_policy(world: World, nora):
    message = _html_ticket(world, '<p onclick="alert(1)">Hi<script>alert(2)</script></p>')

    response = nora.get(f"/m/{message.pk}/body/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "sandbox allow-popups allow-popups-to-escape-sandbox" in policy
    assert "frame-ancestors 'self'" in policy and response["X-Frame-Options"] == "SAMEORIGIN"
    assert b"<script" not in response.content and b"onclick" not in response.content
    page = _page(nora, message.ticket)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    assert "allow-scripts" not in page and "allow-same-origin" not in page


def test_it_holds_back_remote_images_until_asked(world: World, nora):
    message = _html_ticket(world, '<p>Hi <img src="https://tracker.example/p.gif" alt="t"></p>')

    hidden = nora.get(f"/m/{message.pk}/body/")
    shown = nora.get(f"/m/{message.pk}/body/?remote=1")

    assert b'data-remote-src="https://tracker.example/p.gif"' in hidden.content
    assert b' src="https://' not in hidden.content
    assert "https:" not in hidden["Content-Security-Policy"]
    assert b'src="https://tracker.example/p.gif"' in shown.content
    assert "img-src http://testserver https: http:" in shown["Content-Security-Policy"]
    assert "Remote content hidden" in _page(nora, message.ticket)


def test_it_shows_remote_content_always_for_a_trusted_sender_per_person(world: World, nora):
    message = _html_ticket(world, '<img src="https://cdn.example/logo.png" alt="logo">')

    nora.post(f"/m/{message.pk}/trust-sender/")

    assert b'src="https://cdn.example/logo.png"' in nora.get(f"/m/{message.pk}/body/").content
    sam = world.client(world.team.sam)
    assert b"data-remote-src" in sam.get(f"/m/{message.pk}/body/").content


def test_it_keeps_an_inert_remote_image_inert(world: World, nora):
    message = _html_ticket(world, "<p>x</p>")
    message.body_html = '<img data-remote-src="https://cdn.example/a.png" alt="a">'
    message.save(update_fields=["body_html"])

    assert (
        b'data-remote-src="https://cdn.example/a.png"' in nora.get(f"/m/{message.pk}/body/").content
    )
    assert b'src="https://cdn.example/a.png"' in nora.get(f"/m/{message.pk}/body/?remote=1").content


def test_it_serves_cid_images_from_our_store_by_a_signed_address(world: World, nora):
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "ann@acme.example", world.team.north.address, "Logo"
    mail.set_content("see logo")
    mail.add_alternative('<p><img src="cid:logo@acme" alt="logo"></p>', subtype="html")
    mail.get_payload()[1].add_related(PNG, maintype="image", subtype="png", cid="<logo@acme>")
    result = ingest(world.team.north, mail.as_bytes())
    message = result.ticket.messages.get()

    frame = nora.get(f"/m/{message.pk}/body/").content.decode()
    url = re.search(r'src="(/attachments/\d+/inline/\?t=[^"]+)"', frame)
    assert url is not None
    image = world.client().get(url.group(1).replace("&amp;", "&"))  # no session: the frame's case
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    tampered = url.group(1).replace("/inline/", "/inline/").replace("?t=", "?t=x")
    assert world.client().get(tampered).status_code == 404
    attachment = message.attachments.get()
    stan_token = world.client(world.team.stan)
    assert stan_token.get(f"/attachments/{attachment.pk}/inline/?t=").status_code == 404


def test_it_downloads_attachments_and_previews_only_real_images(world: World, nora):
    download = nora.get(f"/attachments/{world.attachment.pk}/")
    preview = nora.get(f"/attachments/{world.attachment.pk}/preview/")

    assert download["Content-Disposition"].startswith('attachment; filename="scan.png"')
    assert download["Content-Type"] == "application/octet-stream"
    assert preview["Content-Type"] == "image/png" and preview["Content-Disposition"].startswith(
        "inline"
    )
    assert "sandbox" in preview["Content-Security-Policy"]
    svg = (
        north_mail(
            world.team,
            subject="Vector",
            attachments=[("x.svg", "image/svg+xml", b"<svg onload='alert(1)'></svg>")],
        )
        .messages.get()
        .attachments.get()
    )
    assert nora.get(f"/attachments/{svg.pk}/preview/").status_code == 404
    assert "image/svg+xml" in _page(nora, svg.message.ticket)


def test_it_explains_why_a_message_is_here(world: World, nora):
    page = nora.get(f"/m/{world.message.pk}/trace/").content.decode()

    assert "Why is this here?" in page
    for step in ("parse", "dedupe", "open_ticket"):
        assert f"<td>{step}</td>" in page


def test_it_downloads_the_raw_mail(world: World, nora):
    response = nora.get(f"/m/{world.message.pk}/raw.eml")

    assert response["Content-Type"] == "message/rfc822"
    assert b"Subject: Invoice" in response.content


def test_nothing_of_a_ticket_changes_for_someone_who_cannot_see_it(world: World):
    stan = world.client(world.team.stan)
    for url, data in [
        (f"/t/{world.ticket.number}/field/status/", {"status": "closed"}),
        (f"/t/{world.ticket.number}/merge/", {"target": world.south_ticket.number}),
        (f"/t/{world.ticket.number}/delete/", {"confirmed": "True"}),
    ]:
        assert stan.post(url, data).status_code == 404
    world.ticket.refresh_from_db()
    assert world.ticket.status == "new" and world.ticket.merged_into is None
