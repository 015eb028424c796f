import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from deskmail.mailboxes.models import Mailbox
from deskmail.mailboxes.tests.conftest import FIXTURES, SECRETS


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def secrets_in_env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sql_logged():
    """Log every SQL statement with its parameters, as DEBUG would."""
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = False


@pytest.mark.django_db
def test_it_loads_and_lists_mailboxes(secrets_in_env):
    out, _ = run("mailboxes", "load", str(FIXTURES / "design-example.yaml"))
    assert out.splitlines() == ["support (SUP): created", "sales (SAL): created"]

    out, _ = run("mailboxes", "list")
    rows = [line for line in out.splitlines() if "@example.com" in line]
    assert [row.split()[1::2] for row in rows] == [
        ["sales", "SAL", "sales@example.com", "draft", "pop3"],
        ["support", "SUP", "support@example.com", "active", "imap"],
    ]


@pytest.mark.django_db
def test_it_exports_what_it_loaded(secrets_in_env, tmp_path):
    run("mailboxes", "load", str(FIXTURES / "design-example.yaml"))
    exported, _ = run("mailboxes", "export")
    path = tmp_path / "exported.yaml"
    path.write_text(exported)

    out, _ = run("mailboxes", "load", str(path))

    assert out.splitlines() == ["sales (SAL): unchanged", "support (SUP): unchanged"]
    assert "password_env: SUPPORT_IMAP_PASSWORD" in exported
    only_sales, _ = run("mailboxes", "export", "sales")
    assert "name: sales" in only_sales and "name: support" not in only_sales


@pytest.mark.django_db
def test_it_refuses_to_export_a_configuration_the_schema_no_longer_accepts():
    Mailbox.objects.create(name="old", key="OLD", address="old@example.com")
    Mailbox.objects.update(config={"inbound": {"protocol": "carrier-pigeon"}})
    with pytest.raises(CommandError, match=r"mailbox old: .* inbound\.protocol: Input should be"):
        run("mailboxes", "export")


@pytest.mark.django_db
def test_it_refuses_a_bad_file_naming_line_and_field(tmp_path):
    path = tmp_path / "mailboxes.yaml"
    path.write_text(
        "mailboxes:\n  - name: x\n    key: X\n    address: x@example.com\n    port: 1\n"
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 error; nothing was changed"):
        call_command("mailboxes", "load", str(path), stderr=err)
    assert err.getvalue() == f"{path}:5: mailboxes[0].port: Extra inputs are not permitted\n"
    assert not Mailbox.objects.exists()


@pytest.mark.django_db
def test_it_never_shows_a_secret_in_output_or_logs(
    secrets_in_env, sql_logged, caplog, capsys, tmp_path, settings
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    outputs = []
    outputs += run("mailboxes", "load", str(FIXTURES / "design-example.yaml"))
    outputs += run("mailboxes", "export")
    outputs += run("mailboxes", "list")
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.ENCRYPTION_KEYS]
    outputs += run("rotate_keys")
    bad = tmp_path / "bad.yaml"
    bad.write_text((FIXTURES / "design-example.yaml").read_text().replace("port: 993", "port: 0"))
    with pytest.raises(CommandError) as refused:
        run("mailboxes", "load", str(bad))
    outputs.append(str(refused.value))

    captured = capsys.readouterr()
    everything = "\n".join([*outputs, caplog.text, captured.out, captured.err])
    assert "mailboxes_mailbox" in caplog.text  # the SQL was logged
    for secret in SECRETS.values():
        assert secret not in everything
    assert Mailbox.objects.get(name="support").inbound_secret == SECRETS["SUPPORT_IMAP_PASSWORD"]


@pytest.mark.django_db
def test_it_rotates_keys_from_the_command(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    Mailbox.objects.create(name="a", key="A", address="a@example.com", inbound_secret="pw-a")
    settings.ENCRYPTION_KEYS = [new, old]

    out, _ = run("rotate_keys")

    assert out == "re-encrypted 1 secret in 1 row with the newest key\n"
    settings.ENCRYPTION_KEYS = [new]
    assert Mailbox.objects.get().inbound_secret == "pw-a"


@pytest.mark.django_db
def test_it_names_the_row_it_cannot_decrypt_when_rotating(settings):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    mailbox = Mailbox.objects.create(name="a", key="A", address="a@example.com", inbound_secret="x")
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match=f"mailboxes.Mailbox id={mailbox.pk} inbound_secret"):
        run("rotate_keys")


def test_it_exits_nonzero_from_the_command_line_without_a_terminal(tmp_path):
    path = tmp_path / "mailboxes.yaml"
    path.write_text("mailboxes:\n  - name: x\n    key: TOOLONG\n    address: x@example.com\n")
    deskmail = Path(sys.executable).parent / "deskmail"
    result = subprocess.run(
        [str(deskmail), "mailboxes", "load", "mailboxes.yaml"],
        cwd=tmp_path,
        env={**os.environ, "DESKMAIL_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": ""},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "mailboxes.yaml:3: mailboxes[0].key: String should have at most 5 characters" in (
        result.stderr
    )
