import pytest

from deskmail.mailboxes.models import Mailbox
from deskmail.mailboxes.services import mailbox_for_address
from deskmail.mailboxes.tests.conftest import load

SUPPORT = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    aliases: [help@example.com]
"""


@pytest.mark.django_db
def test_it_finds_a_mailbox_by_its_address():
    load(SUPPORT)
    mailbox, is_alias = mailbox_for_address("support@example.com")
    assert (mailbox.name, is_alias) == ("support", False)


@pytest.mark.django_db
def test_it_finds_a_mailbox_by_an_alias():
    load(SUPPORT)
    mailbox, is_alias = mailbox_for_address("help@example.com")
    assert (mailbox.name, is_alias) == ("support", True)


@pytest.mark.django_db
def test_it_ignores_case_and_display_names():
    load(SUPPORT)
    assert mailbox_for_address('"Help Desk" <HELP@Example.COM>')[0].name == "support"


@pytest.mark.django_db
def test_it_finds_nothing_for_an_unknown_or_empty_address():
    load(SUPPORT)
    assert mailbox_for_address("sales@example.com") is None
    assert mailbox_for_address("") is None


@pytest.mark.django_db
def test_it_finds_a_mailbox_created_without_yaml():
    Mailbox.objects.create(
        name="sales", key="SAL", address="sales@example.com", config={"aliases": ["shop@x.org"]}
    )
    assert mailbox_for_address("shop@x.org")[1] is True
    assert Mailbox.objects.get().settings.name == "sales"


@pytest.mark.django_db
def test_it_forgets_a_removed_alias():
    load(SUPPORT)
    load(SUPPORT.replace("[help@example.com]", "[]"))
    assert mailbox_for_address("help@example.com") is None
