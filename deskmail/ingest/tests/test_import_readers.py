"""The archive readers: what they yield for .eml, mbox and Maildir, and how they survive damage."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

from deskmail.ingest.importers import (
    maildir_uid,
    read_archives,
    read_mbox,
    sniff,
)


def _message(number: int, body: str = "Hello.\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"customer{number}@example.org"
    message["To"] = "support@example.com"
    message["Subject"] = f"Question {number}"
    message["Message-ID"] = f"<m{number}@example.org>"
    message.set_content(body)
    return message


def _collect(paths: list[Path]) -> tuple[list, list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = []
    items = list(read_archives(paths, lambda where, what: errors.append((where, what))))
    return items, errors


def test_it_reads_an_eml_file_with_its_folder_and_name_as_position(tmp_path: Path) -> None:
    raw = bytes(_message(1))
    (tmp_path / "one.eml").write_bytes(raw)

    items, errors = _collect([tmp_path / "one.eml"])

    assert errors == []
    assert [(i.raw, i.folder, i.uid) for i in items] == [(raw, str(tmp_path), "one.eml")]


def test_it_reads_an_mbox_written_by_the_stdlib_message_by_message(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(path)
    for number in range(1, 4):
        box.add(_message(number))
    box.close()

    items, errors = _collect([path])

    assert errors == []
    assert [i.uid for i in items] == ["1", "2", "3"]
    assert {i.folder for i in items} == {str(path)}
    for number, item in enumerate(items, start=1):
        assert item.raw.startswith(b"From: customer")
        assert f"<m{number}@example.org>".encode() in item.raw
        assert item.raw.endswith(b"Hello.\n")


def test_it_unquotes_from_lines_in_mbox_bodies(tmp_path: Path) -> None:
    path = tmp_path / "quoted"
    box = mailbox.mbox(path)
    box.add(_message(1, "Hi,\n\nFrom what I see it broke.\n>From the log too.\n"))
    box.add(_message(2))
    box.close()
    assert b"\n>From what I see" in path.read_bytes()

    items, _ = _collect([path])

    assert len(items) == 2
    assert b"\nFrom what I see it broke.\nFrom the log too.\n" in items[0].raw
    assert b">From" not in items[0].raw


def test_it_keeps_an_unquoted_from_line_inside_a_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "sloppy.mbox"
    path.write_bytes(
        b"From a@example.org Mon Jan  5 10:00:00 2026\n"
        b"Subject: one\n\nline one\nFrom here on it fails.\n\n"
        b"From b@example.org Mon Jan  5 11:00:00 2026\n"
        b"Subject: two\n\nbody two\n"
    )

    items = list(read_mbox(path))

    assert [i.raw for i in items] == [
        b"Subject: one\n\nline one\nFrom here on it fails.\n",
        b"Subject: two\n\nbody two\n",
    ]


def test_it_reads_mbox_with_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.mbox"
    path.write_bytes(
        b"From a@example.org Mon Jan  5 10:00:00 2026\r\nSubject: one\r\n\r\nbody\r\n\r\n"
        b"From b@example.org Mon Jan  5 11:00:00 2026\r\nSubject: two\r\n\r\nbody\r\n"
    )

    items = list(read_mbox(path))

    assert [i.raw for i in items] == [
        b"Subject: one\r\n\r\nbody\r\n",
        b"Subject: two\r\n\r\nbody\r\n",
    ]


def test_it_reads_maildir_cur_and_new_with_flag_independent_uids(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Mail")
    first = box.add(_message(1))
    second = box.add(_message(2))
    seen = mailbox.MaildirMessage(box[first])
    seen.set_subdir("cur")
    seen.add_flag("S")
    box[first] = seen
    box.close()
    assert list((tmp_path / "Mail" / "cur").iterdir())

    items, errors = _collect([tmp_path / "Mail"])

    assert errors == []
    assert sorted(i.uid for i in items) == sorted([first, second])
    assert {i.folder for i in items} == {str(tmp_path / "Mail")}
    assert all(":" not in i.uid for i in items)


def test_it_reads_a_directory_of_eml_mbox_maildir_and_maildirplusplus(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(bytes(_message(1)))
    (tmp_path / "old").mkdir()
    box = mailbox.mbox(tmp_path / "old" / "2024")
    box.add(_message(2))
    box.add(_message(3))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(_message(4))
    maildir.add_folder("Sent").add(_message(5))
    (tmp_path / "notes.txt").write_text("not mail\n")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0")

    items, errors = _collect([tmp_path])

    assert errors == []
    ids = sorted(
        next(line for line in i.raw.splitlines() if line.startswith(b"Message-ID")) for i in items
    )
    assert ids == [f"Message-ID: <m{n}@example.org>".encode() for n in range(1, 6)]
    assert str(tmp_path / "Maildir" / ".Sent") in {i.folder for i in items}


def test_it_gives_the_same_positions_on_every_read(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "box")
    for number in range(5):
        box.add(_message(number))
    box.close()
    (tmp_path / "x.eml").write_bytes(bytes(_message(9)))

    first = [(i.folder, i.uid) for i in read_archives([tmp_path])]
    second = [(i.folder, i.uid) for i in read_archives([tmp_path])]

    assert first == second
    assert len(set(first)) == 6


def test_it_reports_an_unreadable_item_and_goes_on(tmp_path: Path) -> None:
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(_message(1))
    # A dangling link: listed in new/, but reading it fails (as root as well).
    (tmp_path / "Maildir" / "new" / "0000.broken").symlink_to(tmp_path / "gone")
    maildir.add(_message(2))

    items, errors = _collect([tmp_path / "Maildir", tmp_path / "missing.mbox"])

    assert len(items) == 2
    assert [where for where, _ in errors] == [
        str(tmp_path / "Maildir" / "new" / "0000.broken"),
        str(tmp_path / "missing.mbox"),
    ]


def test_it_tells_mbox_from_message_files(tmp_path: Path) -> None:
    (tmp_path / "inbox").write_bytes(b"From x@example.org Mon Jan  5 10:00:00 2026\nSubject: a\n")
    (tmp_path / "42").write_bytes(b"Return-Path: <x@example.org>\nSubject: a\n\nb\n")
    (tmp_path / "note.eml").write_bytes(b"\n\nno headers at all\n")
    (tmp_path / "readme").write_bytes(b"just text\n")

    assert sniff(tmp_path / "inbox") == "mbox"
    assert sniff(tmp_path / "42") == "eml"
    assert sniff(tmp_path / "note.eml") == "eml"
    assert sniff(tmp_path / "readme") is None


def test_it_strips_maildir_flags_from_uids() -> None:
    assert maildir_uid("1700000000.M1P2.host:2,RS") == "1700000000.M1P2.host"
    assert maildir_uid("1700000000.M1P2.host!2,S") == "1700000000.M1P2.host"
    assert maildir_uid("1700000000.M1P2.host") == "1700000000.M1P2.host"


def test_it_splits_at_envelope_lines_without_a_blank_line_before(tmp_path: Path) -> None:
    path = tmp_path / "Inbox"
    path.write_bytes(
        b"From - Sat Jan 03 10:00:00 2026\nSubject: one\n\nbody one\n"
        b"From - Sat Jan 03 11:00:00 2026\nSubject: two\n\nbody two\n"
    )

    items = list(read_mbox(path))

    assert [i.raw for i in items] == [
        b"Subject: one\n\nbody one\n",
        b"Subject: two\n\nbody two\n",
    ]
