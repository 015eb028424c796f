import pytest
from cryptography.fernet import Fernet
from django.db import connection

from deskmail.core.crypto import DecryptionError, Secret, rotate_all
from deskmail.mailboxes.models import Mailbox

PLAINTEXT = "correct-horse-battery-staple"


_RAW = {
    "inbound_secret": "SELECT inbound_secret FROM mailboxes_mailbox WHERE id = %s",
    "outbound_secret": "SELECT outbound_secret FROM mailboxes_mailbox WHERE id = %s",
}


def _raw_column(mailbox: Mailbox, column: str) -> str:
    """The column as stored, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(_RAW[column], [mailbox.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def two_keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    return old, new


@pytest.mark.django_db
def test_it_stores_secrets_encrypted_in_the_column():
    mailbox = Mailbox.objects.create(
        name="support", key="SUP", address="support@example.com", inbound_secret=PLAINTEXT
    )
    raw = _raw_column(mailbox, "inbound_secret")
    assert raw and PLAINTEXT not in raw
    assert raw.startswith("gAAAAA")


@pytest.mark.django_db
def test_it_decrypts_secrets_on_read():
    Mailbox.objects.create(
        name="support", key="SUP", address="support@example.com", outbound_secret=PLAINTEXT
    )
    mailbox = Mailbox.objects.get(name="support")
    assert mailbox.outbound_secret == PLAINTEXT
    assert isinstance(mailbox.outbound_secret, Secret)
    assert mailbox.inbound_secret == ""


@pytest.mark.django_db
def test_it_hides_a_secret_in_repr_as_soon_as_it_is_assigned():
    mailbox = Mailbox(name="support", key="SUP", address="support@example.com")
    mailbox.inbound_secret = PLAINTEXT
    assert PLAINTEXT not in repr(mailbox.inbound_secret)
    assert PLAINTEXT not in repr(mailbox.__dict__)
    assert PLAINTEXT not in f"{mailbox.inbound_secret!r}"
    mailbox.save()
    loaded = Mailbox.objects.get(pk=mailbox.pk)
    assert PLAINTEXT not in repr(loaded.inbound_secret)
    assert PLAINTEXT not in repr(Mailbox.objects.values("inbound_secret").get())


@pytest.mark.django_db
def test_it_rotates_every_secret_to_the_newest_key(settings, two_keys):
    old, new = two_keys
    mailbox = Mailbox.objects.create(
        name="support",
        key="SUP",
        address="support@example.com",
        inbound_secret=PLAINTEXT,
        outbound_secret="smtp-" + PLAINTEXT,
    )
    Mailbox.objects.create(name="sales", key="SAL", address="sales@example.com")
    before = _raw_column(mailbox, "inbound_secret")
    assert Fernet(old.encode()).decrypt(before.encode()).decode() == PLAINTEXT

    settings.ENCRYPTION_KEYS = [new, old]
    result = rotate_all()

    assert (result.rows, result.secrets) == (1, 2)
    newest = Fernet(new.encode())
    expected_values = {"inbound_secret": PLAINTEXT, "outbound_secret": "smtp-" + PLAINTEXT}
    for column, expected in expected_values.items():
        assert newest.decrypt(_raw_column(mailbox, column).encode()).decode() == expected
    # The old key can be dropped now.
    settings.ENCRYPTION_KEYS = [new]
    assert Mailbox.objects.get(pk=mailbox.pk).inbound_secret == PLAINTEXT


@pytest.mark.django_db
def test_it_does_not_move_the_configuration_version_when_rotating(settings, two_keys):
    old, new = two_keys
    mailbox = Mailbox.objects.create(
        name="support", key="SUP", address="support@example.com", inbound_secret=PLAINTEXT
    )
    settings.ENCRYPTION_KEYS = [new, old]
    rotate_all()
    assert Mailbox.objects.get(pk=mailbox.pk).updated_at == mailbox.updated_at


@pytest.mark.django_db
def test_it_refuses_to_rotate_when_a_secret_cannot_be_decrypted(settings, two_keys):
    old, new = two_keys
    first = Mailbox.objects.create(
        name="a", key="A", address="a@example.com", inbound_secret=PLAINTEXT
    )
    settings.ENCRYPTION_KEYS = [new]
    Mailbox.objects.create(name="b", key="B", address="b@example.com", inbound_secret=PLAINTEXT)
    before = _raw_column(first, "inbound_secret")
    with pytest.raises(DecryptionError, match=r"mailboxes.Mailbox id=\d+ inbound_secret"):
        rotate_all()
    assert _raw_column(first, "inbound_secret") == before
