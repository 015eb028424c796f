import os
import subprocess
import sys

import pytest
from django.conf import settings


def test_it_keeps_test_data_out_of_the_working_folder():
    assert str(settings.DATA_DIR).startswith(os.environ["DESKMAIL_DATA_DIR"])
    assert "deskmail-test-" in str(settings.DATA_DIR)


def _settings_probe(env: dict[str, str], expr: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'deskmail.settings'; "
        f"from django.conf import settings; print({expr})"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )


def test_it_generates_and_persists_a_secret_key_in_the_data_folder(tmp_path):
    env = {"DESKMAIL_DATA_DIR": str(tmp_path), "DESKMAIL_SECRET_KEY": "", "DATABASE_URL": ""}
    first = _settings_probe(env, "settings.SECRET_KEY")
    second = _settings_probe(env, "settings.SECRET_KEY")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_it_is_not_in_debug_mode_unless_asked(tmp_path):
    env = {"DESKMAIL_DATA_DIR": str(tmp_path), "DEBUG": ""}
    assert _settings_probe(env, "settings.DEBUG").stdout.strip() == "False"
    env["DEBUG"] = "true"
    assert _settings_probe(env, "settings.DEBUG").stdout.strip() == "True"


def test_it_rejects_a_bad_boolean_naming_the_variable(tmp_path):
    result = _settings_probe(
        {"DESKMAIL_DATA_DIR": str(tmp_path), "DEBUG": "maybe"}, "settings.DEBUG"
    )
    assert result.returncode != 0
    assert "DEBUG='maybe': expected true or false" in result.stderr


def test_it_reads_the_database_from_database_url(tmp_path):
    env = {"DESKMAIL_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@db.example:5433/x"}
    out = _settings_probe(
        env, "settings.DATABASES['default']['HOST'], settings.DATABASES['default']['PORT']"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "db.example 5433"


@pytest.mark.django_db
def test_it_can_use_the_configured_database():
    from django.contrib.auth.models import User

    User.objects.create(username="probe")
    assert User.objects.filter(username="probe").count() == 1
