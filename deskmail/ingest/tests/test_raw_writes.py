"""A batch's raw files are written by the parsing processes, each before its parse."""

from __future__ import annotations

import pytest
from django.test import override_settings

from deskmail.ingest import parsing
from deskmail.ingest.api import ingest_many
from deskmail.ingest.models import QuarantinedMessage
from deskmail.testing.builders import make_email
from deskmail.tickets import blobs
from deskmail.tickets.blobs import raw_path, read_raw, sha256

pytestmark = pytest.mark.django_db


@pytest.fixture
def nothing_written_here(monkeypatch):
    """This process may not write raw files: only a parsing process can have."""

    def refuse(path, data, mode=None):
        raise AssertionError(f"{path} written by the main process")

    monkeypatch.setattr(blobs, "write_file_once", refuse)
    monkeypatch.setattr(parsing, "write_file_once", refuse)


@override_settings(PARSE_IN_PROCESSES=True)
def test_the_parsing_processes_write_a_batchs_raw_files(support, fresh_pool, nothing_written_here):
    raws = [make_email(subject=f"message {n}") for n in range(4)]

    results = ingest_many(support, raws)

    assert [r.outcome for r in results] == ["new_ticket"] * 4
    assert [read_raw(r.message.raw_sha256) for r in results] == raws


@override_settings(PARSE_IN_PROCESSES=True, PARSE_SECONDS=0.05)
def test_a_message_over_the_budget_is_kept_raw_all_the_same(support, fresh_pool):
    line = "> " + "quoted words of an old thread " * 3 + "\n"
    slow = make_email(subject="slow", body=line * (24 * 2**20 // len(line)))

    results = ingest_many(support, [make_email(subject="quick"), slow])

    assert [r.outcome for r in results] == ["new_ticket", "quarantined"]
    kept = QuarantinedMessage.objects.get()
    assert kept.raw_sha256 == sha256(slow) and read_raw(kept.raw_sha256) == slow
    leftovers = list(raw_path(sha256(slow)).parent.glob(".*.tmp"))
    assert leftovers == []


@override_settings(PARSE_IN_PROCESSES=True)
def test_a_raw_file_no_process_could_write_is_an_error_not_a_silence(tmp_path, fresh_pool):
    blocked = tmp_path / "not-a-folder"
    blocked.write_bytes(b"")
    raws = [make_email(subject="one"), make_email(subject="two")]

    with pytest.raises(NotADirectoryError):
        parsing.parse_many(raws, None, [blocked / "one.eml", tmp_path / "two.eml"])
    assert (tmp_path / "two.eml").read_bytes() == raws[1]
