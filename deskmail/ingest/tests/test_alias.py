import pytest

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import decision
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Delivery

pytestmark = pytest.mark.django_db


def test_it_files_mail_to_an_alias_under_its_mailbox(support):
    result = ingest(support, make_email(to="help@example.com"))
    assert result.ticket.mailbox_id == support.pk
    assert Delivery.objects.get().address == "help@example.com"


def test_it_files_mail_delivered_to_another_mailbox_under_that_mailbox(support, sales):
    result = ingest(support, make_email(to="sales@example.com"), delivered_to="sales@example.com")
    assert result.ticket.mailbox_id == sales.pk
    assert decision(result, "alias").verdict == "hit"


def test_it_keeps_bcc_mail_in_the_fetching_mailbox(support):
    result = ingest(support, make_email(to="someone@else.example"))
    assert result.ticket.mailbox_id == support.pk
    assert decision(result, "alias").verdict == "miss"
