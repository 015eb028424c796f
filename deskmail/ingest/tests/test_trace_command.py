import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from deskmail.ingest.api import ingest
from deskmail.testing.builders import make_email, message_id_of
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("trace", *args, stdout=out)
    return out.getvalue()


def test_it_shows_each_step_of_a_stored_message(support):
    raw = make_email()
    result = ingest(support, raw)
    output = run(f"<{message_id_of(raw)}>")
    assert f"ticket #{result.ticket.number}" in output
    lines = output.splitlines()
    assert any(line.split()[:2] == ["open_ticket", "new"] for line in lines)
    assert any(line.split()[:2] == ["dedupe", "pass"] for line in lines)


def test_it_shows_a_second_delivery_of_the_same_message(support, sales):
    raw = make_email(cc="sales@example.com")
    ingest(support, raw)
    ingest(sales, raw)
    output = run(message_id_of(raw))
    assert "delivered again via sales@example.com" in output
    assert output.count("Delivered:") == 2


def test_it_shows_what_a_dry_run_would_do_and_writes_nothing(support, tmp_path):
    path = tmp_path / "mail.eml"
    path.write_bytes(make_email(subject="Out of office"))
    output = run("--dry-run", "--mailbox", "support", str(path))
    assert "would be excluded" in output
    assert "auto-reply" in output
    assert not Message.objects.exists() and not Ticket.objects.exists()


def test_it_refuses_an_unknown_message_or_mailbox(support, tmp_path):
    with pytest.raises(CommandError, match="no stored message"):
        run("nothing@here")
    path = tmp_path / "mail.eml"
    path.write_bytes(make_email())
    with pytest.raises(CommandError, match="no mailbox"):
        run("--dry-run", "--mailbox", "nope", str(path))
