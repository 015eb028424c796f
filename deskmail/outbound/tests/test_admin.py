"""The outbox in the admin: listed, and failed mail sent again."""

from __future__ import annotations

import pytest

from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_reply
from deskmail.outbound.tests.helpers import customer_ticket, support_mailbox

pytestmark = pytest.mark.django_db


def test_it_lists_the_outbox_and_sends_failed_mail_again(admin_client) -> None:
    ticket, _ = customer_ticket(support_mailbox())
    item = queue_reply(ticket, body_text="Hi")
    OutboxItem.objects.filter(pk=item.pk).update(status="failed", attempts=3)

    page = admin_client.get("/admin/outbound/outboxitem/")
    done = admin_client.post(
        "/admin/outbound/outboxitem/",
        {"action": "send_again", "_selected_action": [item.pk]},
        follow=True,
    )

    assert page.status_code == 200 and b"ann@acme.example" in page.content
    assert b"1 mail(s) will be sent again" in done.content
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("pending", 0)


@pytest.mark.parametrize("path", ["mailboxtemplate", "cannedanswer"])
def test_it_offers_templates_and_canned_answers(admin_client, path: str) -> None:
    assert admin_client.get(f"/admin/outbound/{path}/add/").status_code == 200
