"""`deskmail parse` and streaming attachments to a sink directory."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from deskmail.mail import parse_bytes, parse_file
from deskmail.mail.cli import parse_main
from deskmail.mail.tests.conftest import FIXTURES

CONTRACT = {
    "from_address": str,
    "from_name": str,
    "to": list,
    "cc": list,
    "subject": str,
    "message_id": str,
    "in_reply_to": (str, type(None)),
    "references": list,
    "date": (str, type(None)),
    "body_text": str,
    "body_html": (str, type(None)),
    "reply_text": str,
    "attachments": list,
    "auto_submitted": bool,
    "bounce": bool,
    "defects": list,
}


def test_it_prints_the_json_contract(capsys):
    assert parse_main([str(FIXTURES / "related-inline-image.eml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key, kind in CONTRACT.items():
        assert isinstance(out[key], kind), key
    assert out["from_address"] == "mia.wong@icloud.example"
    assert out["date"] == "2025-01-22T19:03:11+08:00"
    assert out["attachments"] == [
        {
            "filename": "error.png",
            "content_type": "image/png",
            "size": 69,
            "inline": True,
            "content_id": "E4C1B0A2-5D1F-4C7E-9B9A-1F2E3D4C5B6A@home",
        }
    ]


def test_it_prints_bounce_details_and_the_auto_submitted_reason(capsys):
    parse_main([str(FIXTURES / "dsn-bounce.eml"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["auto_submitted_reason"] == "Auto-Submitted: auto-replied"
    assert out["bounce_info"]["recipients"] == ["no.such.user@customer.example"]
    assert out["bounce_info"]["original_message_id"] == "reply.1042.7@support.example.com"


def test_it_prints_a_readable_summary(capsys):
    assert parse_main([str(FIXTURES / "reply-outlook-de.eml")]) == 0
    out = capsys.readouterr().out
    assert "From:     Klaus Wagner <k.wagner@firma.example>" in out
    assert "Subject:  AW: [SUP#1042] Anmeldung schlägt fehl" in out
    assert "leider besteht das Problem weiterhin." in out
    assert "Gesendet:" not in out  # the summary shows the reply, not the history


def test_it_reads_standard_input_through_the_deskmail_command():
    raw = (FIXTURES / "text-only.eml").read_bytes()
    deskmail = Path(sys.executable).with_name("deskmail")
    out = subprocess.run(
        [str(deskmail), "parse", "-", "--json"], input=raw, capture_output=True, check=True
    )
    assert json.loads(out.stdout)["subject"] == "Licence renewal"


def _big_message(path: Path, payload: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(
            b"From: Big <big@example.com>\r\nTo: support@example.com\r\nSubject: Logs\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nLogs attached.\r\n"
            b'--b\r\nContent-Type: application/gzip; name="logs.tar.gz"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        handle.write(base64.encodebytes(payload).replace(b"\n", b"\r\n"))
        handle.write(b'\r\n--b\r\nContent-Type: application/octet-stream; name="tail.bin"\r\n')
        handle.write(b"Content-Transfer-Encoding: quoted-printable\r\n\r\nA=3DB=\r\nC\r\nD\r\n")
        handle.write(b"--b--\r\n")


def test_it_streams_large_attachments_into_the_sink(tmp_path):
    payload = bytes(range(256)) * 24_000  # about 6 MB: above the streaming threshold
    source = tmp_path / "big.eml"
    _big_message(source, payload)
    sink = tmp_path / "sink"
    sink.mkdir()
    message = parse_file(source, sink_dir=sink)
    logs, tail = message.attachments
    assert (logs.filename, logs.size, logs.data) == ("logs.tar.gz", len(payload), None)
    assert logs.sha256 == hashlib.sha256(payload).hexdigest()
    assert logs.path is not None and Path(logs.path).read_bytes() == payload
    assert Path(tail.path or "").read_bytes() == b"A=BC\r\nD"
    assert message.body_text == "Logs attached."
    assert not [h for h in message.headers if h.startswith("x-deskmail")]
    assert sorted(p.name for p in sink.iterdir()) == sorted([logs.sha256, tail.sha256])


def test_it_gives_the_same_attachments_streamed_or_in_memory(tmp_path):
    payload = b"0123456789abcdef" * 400_000
    source = tmp_path / "big.eml"
    _big_message(source, payload)
    sink = tmp_path / "sink"
    sink.mkdir()
    streamed = parse_file(source, sink_dir=sink)
    in_memory = parse_bytes(source.read_bytes())
    assert [(a.filename, a.size, a.sha256) for a in streamed.attachments] == [
        (a.filename, a.size, a.sha256) for a in in_memory.attachments
    ]
    assert in_memory.attachments[0].data == payload


def test_it_writes_small_attachments_to_the_sink_too(tmp_path):
    message = parse_file(FIXTURES / "transfer-encodings.eml", sink_dir=tmp_path)
    for attachment in message.attachments:
        assert attachment.data is None
        assert attachment.path is not None
        assert len(Path(attachment.path).read_bytes()) == attachment.size
