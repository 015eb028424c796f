"""`tickets.allow_new_tickets` in the console's account settings, the YAML and the API; the
kept mail page for admins."""

from __future__ import annotations

import pytest
from django.test import Client

from deskmail.apitokens.tokens import issue
from deskmail.console.tests.conftest import north_mail
from deskmail.console.tests.test_accounts import IMAP_FORM, _edit_data
from deskmail.ingest.api import ingest
from deskmail.mailboxes.loading import LoadRefused
from deskmail.mailboxes.models import Mailbox
from deskmail.mailboxes.tests.conftest import load
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_setting_is_changed_from_the_account_settings(team: Team):
    client = _client(team.ada)
    client.post("/accounts/new/imap/", IMAP_FORM)
    page = client.get("/accounts/sales/edit/").content.decode()
    assert 'name="tickets__allow_new_tickets"' in page and "checked" in page
    data = _edit_data(client, "sales")
    assert data["tickets__allow_new_tickets"] == "on"
    data.pop("tickets__allow_new_tickets")  # unticked
    data["save"] = "1"

    response = client.post("/accounts/sales/edit/", data)

    assert response.status_code == 302
    assert Mailbox.objects.get(name="sales").settings.tickets.allow_new_tickets is False


def test_a_reply_template_the_routing_does_not_define_is_named_on_its_field(team: Team):
    client = _client(team.ada)
    client.post("/accounts/new/imap/", IMAP_FORM)
    data = _edit_data(client, "sales") | {"tickets__no_new_tickets_reply": "gone", "save": "1"}

    response = client.post("/accounts/sales/edit/", data)

    assert response.status_code == 422
    errors = response.context["more"].errors["tickets__no_new_tickets_reply"]
    assert "template 'gone' is not defined in routing.templates" in " ".join(errors)


YAML = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    tickets:
      allow_new_tickets: false
      no_new_tickets_reply: {reply}
    routing:
      templates:
        - {{name: moved, body: "<p>We moved.</p>"}}
"""


def test_the_yaml_sets_it_and_names_the_line_of_a_wrong_value(db):
    load(YAML.format(reply="moved"))
    tickets = Mailbox.objects.get(name="support").settings.tickets
    assert (tickets.allow_new_tickets, tickets.no_new_tickets_reply) == (False, "moved")

    with pytest.raises(LoadRefused) as caught:
        load(YAML.format(reply="nowhere"))
    assert caught.value.lines() == [
        "mailboxes.yaml:7: mailboxes[0].tickets.no_new_tickets_reply: "
        "template 'nowhere' is not defined in routing.templates"
    ]
    with pytest.raises(LoadRefused) as caught:
        load(YAML.replace("false", "perhaps").format(reply="moved"))
    [line] = caught.value.lines()
    assert line.startswith("mailboxes.yaml:6: mailboxes[0].tickets.allow_new_tickets: ")


def test_the_api_shows_the_setting(team: Team):
    _, secret = issue(team.ada, name="test")
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    config = client.get("/api/v1/mailboxes/north").json()["config"]
    assert config["tickets"]["allow_new_tickets"] is True
    assert config["tickets"].get("no_new_tickets_reply") is None  # off: omitted


def test_admins_find_kept_mail_and_its_trace(team: Team):
    north_mail(team, subject="An earlier ticket")
    north = Mailbox.objects.get(name="north")
    config = dict(north.config)
    config["tickets"] = {**config.get("tickets", {}), "allow_new_tickets": False}
    north.config = config
    north.save()
    result = ingest(north, make_email(subject="A new question", to=north.address))
    assert result.message is not None and result.ticket is None

    admin = _client(team.ada)
    page = admin.get("/kept/").content.decode()
    assert "A new question" in page and "no new tickets from this mailbox" in page
    assert "An earlier ticket" not in page
    trace = admin.get(f"/m/{result.message.pk}/trace/").content.decode()
    assert "new_tickets" in trace and "tickets.allow_new_tickets is off" in trace
    assert "Back to kept mail" in trace
    assert admin.get("/kept/?reason=loop").content.decode().count("A new question") == 0

    for person in (team.sam, team.nora):
        client = _client(person)
        assert client.get("/kept/").status_code == 404
        assert client.get(f"/m/{result.message.pk}/trace/").status_code == 404


def test_a_waiting_ticket_is_only_in_awaiting_confirmation(team: Team):
    north = Mailbox.objects.get(name="north")
    config = dict(north.config)
    config["tickets"] = {**config.get("tickets", {}), "confirm_new_senders": True}
    north.config = config
    north.save()
    result = ingest(north, make_email(subject="Am I a robot", to=north.address))
    assert result.ticket is not None

    nora = _client(team.nora)
    assert "Am I a robot" not in nora.get("/tickets/?view=all").content.decode()
    assert "Am I a robot" in nora.get("/tickets/?view=awaiting").content.decode()
    page = nora.get(f"/t/{result.ticket.number}/").content.decode()
    assert "Awaiting confirmation: the sender has not confirmed yet" in page

    _, secret = issue(team.nora, name="test")
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    listed = [t["number"] for t in api.get("/api/v1/tickets").json()["items"]]
    waiting = [t["number"] for t in api.get("/api/v1/tickets?view=awaiting").json()["items"]]
    assert result.ticket.number not in listed and waiting == [result.ticket.number]
