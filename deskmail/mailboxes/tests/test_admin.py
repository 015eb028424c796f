import json
from pathlib import Path

import pytest
from django.urls import reverse

from deskmail.mailboxes.models import Mailbox
from deskmail.mailboxes.tests.conftest import SECRETS, load

SUPPORT = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    status: active
    inbound:
      protocol: imap
      host: imap.example.com
      password_env: SUPPORT_IMAP_PASSWORD
"""


@pytest.fixture(autouse=True)
def static_root(settings):
    # WhiteNoise warns (an error under our warning filter) when STATIC_ROOT is missing.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def form_data(mailbox: Mailbox, **changes: str) -> dict[str, str]:
    data = {
        "name": mailbox.name,
        "key": mailbox.key,
        "address": mailbox.address,
        "status": mailbox.status,
        "config": json.dumps(mailbox.config),
        "new_inbound_secret": "",
        "new_outbound_secret": "",
        "addresses-TOTAL_FORMS": "1",
        "addresses-INITIAL_FORMS": "1",
        "addresses-MIN_NUM_FORMS": "0",
        "addresses-MAX_NUM_FORMS": "1000",
        "addresses-0-id": str(mailbox.addresses.get().pk),
        "addresses-0-mailbox": str(mailbox.pk),
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_it_never_shows_a_stored_secret_in_the_admin(admin_client):
    load(SUPPORT)
    mailbox = Mailbox.objects.get()
    page = admin_client.get(reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk]))
    assert page.status_code == 200
    assert b"new_inbound_secret" in page.content
    assert SECRETS["SUPPORT_IMAP_PASSWORD"].encode() not in page.content
    listing = admin_client.get(reverse("admin:mailboxes_mailbox_changelist"))
    assert b"support@example.com" in listing.content
    assert SECRETS["SUPPORT_IMAP_PASSWORD"].encode() not in listing.content


@pytest.mark.django_db
def test_it_keeps_the_stored_secret_when_the_admin_leaves_it_empty(admin_client):
    load(SUPPORT)
    mailbox = Mailbox.objects.get()
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    response = admin_client.post(url, form_data(mailbox, status="disabled"))
    assert response.status_code == 302, response.content.decode()[:2000]
    mailbox.refresh_from_db()
    assert mailbox.status == "disabled"
    assert mailbox.settings.status == "disabled"
    assert mailbox.inbound_secret == SECRETS["SUPPORT_IMAP_PASSWORD"]


@pytest.mark.django_db
def test_it_replaces_a_secret_typed_in_the_admin(admin_client):
    load(SUPPORT)
    mailbox = Mailbox.objects.get()
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    admin_client.post(url, form_data(mailbox, new_outbound_secret="typed-in-admin"))
    mailbox.refresh_from_db()
    assert mailbox.outbound_secret == "typed-in-admin"
    assert mailbox.inbound_secret == SECRETS["SUPPORT_IMAP_PASSWORD"]


@pytest.mark.django_db
def test_it_validates_the_admin_config_with_the_yaml_schema(admin_client):
    load(SUPPORT)
    mailbox = Mailbox.objects.get()
    config = {**mailbox.config, "inbound": {"protocol": "imap", "host": "x", "port": 70000}}
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    response = admin_client.post(url, form_data(mailbox, config=json.dumps(config)))
    assert response.status_code == 200
    assert b"inbound.port: Input should be less than or equal to 65535" in response.content
    mailbox.refresh_from_db()
    assert mailbox.settings.inbound.port is None
