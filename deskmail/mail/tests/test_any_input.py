"""Any bytes in, a result out: the parser never raises, whatever it is given."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskmail.mail import ParsedMessage, parse_bytes
from deskmail.mail.fuzz import intact, mutate, problems, protected_fields, run
from deskmail.mail.parser import _parse_stream
from deskmail.mail.tests.conftest import FIXTURES

SEEDS = sorted(p.read_bytes() for p in FIXTURES.glob("*.eml"))

MIME_NOISE = [
    b"\r\n",
    b"\n\n",
    b"--",
    b"=?utf-8?B?",
    b"=?",
    b"?=",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"begin 644 a\r\n",
    b"charset=\xff\xfe",
    b"\x00",
    b"\xc3",
    b"<",
    b">",
    b'"',
    b"(",
    b"\t",
    b"From: ",
    b"--x\r\n",
    b"--x--\r\n",
    b"filename*0*=utf-8''%ZZ",
    b"<html><script>",
]


def _check(message: ParsedMessage) -> None:
    assert isinstance(message, ParsedMessage)
    # The last-resort guards must not be what kept the parser from raising.
    assert not [d for d in message.defects if d.startswith("unreadable message")]
    assert not [d for d in message.defects if "internal error" in d]
    json.dumps(message.to_json(), ensure_ascii=False).encode("utf-8")  # always UTF-8 JSON
    assert message.date is None or message.date.tzinfo is not None
    assert all(a.address == a.address.lower() for a in message.to + message.cc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_it_never_raises_on_arbitrary_bytes(raw):
    _check(parse_bytes(raw))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "truncate"]))
        if action == "insert":
            raw[position:position] = draw(st.sampled_from(MIME_NOISE))
        elif action == "delete":
            del raw[position : position + draw(st.integers(1, 64))]
        elif action == "flip" and position < len(raw):
            raw[position] = draw(st.integers(0, 255))
        elif action == "truncate":
            del raw[position:]
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_it_never_raises_on_mutated_real_messages(raw):
    _check(parse_bytes(raw, end_marker="##- reply above -##"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=100))
def test_it_never_raises_on_arbitrary_header_text(text, param):
    raw = (
        f"From: {text}\r\nTo: {param}, {text}\r\nSubject: {text}\r\n"
        f"Content-Type: multipart/mixed; boundary={param}\r\n\r\n--{param}\r\n"
        f"Content-Type: text/plain; charset={param}\r\n"
        f"Content-Disposition: attachment; filename*={param}\r\n\r\n{text}"
    ).encode("utf-8", "surrogatepass")
    _check(parse_bytes(raw))


def test_it_survives_deeply_nested_multiparts():
    depth = 2_000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    message = parse_bytes(
        b"From: deep@example.com\r\n" + head + b"Content-Type: text/plain\r\n\r\nx"
    )
    _check(message)
    assert message.from_address == "deep@example.com"
    assert message.defects


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_it_never_raises_when_streaming_mutated_messages(raw):
    with tempfile.TemporaryDirectory() as sink:
        message = _parse_stream(io.BytesIO(raw), None, Path(sink))
        _check(message)
        for attachment in message.attachments:
            assert attachment.path is not None
            assert Path(attachment.path).stat().st_size == attachment.size


# Seeds whose From, Subject and Message-ID each occur once, with what they parse to.
RECOVERABLE = [
    (raw, parse_bytes(raw), fields)
    for raw in SEEDS
    if (fields := protected_fields(raw)) is not None
]


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.sampled_from(RECOVERABLE), st.randoms(use_true_random=False))
def test_it_recovers_sender_subject_and_message_id_whatever_else_is_broken(seed, rng):
    raw, original, fields = seed
    mutated = mutate(raw, rng)
    errors, emptied = problems(original, fields, mutated)
    assert errors == []
    assert emptied == []


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(RECOVERABLE), st.randoms(use_true_random=False))
def test_it_only_counts_mutations_that_keep_the_three_fields_intact(seed, rng):
    raw, original, fields = seed
    mutated = mutate(raw, rng)
    if intact(fields, mutated):
        message = parse_bytes(mutated)
        assert message.from_address == original.from_address
        assert message.message_id == original.message_id


def test_it_has_seeds_with_all_three_fields():
    assert len(RECOVERABLE) >= 20


def test_the_fuzz_runner_finds_no_exception_and_no_emptied_message():
    outcome = run(minutes=60, seed=7, corpus=[], limit=300)
    assert outcome.examples == 300
    assert outcome.checked > 50
    assert (outcome.exceptions, outcome.emptied) == (0, 0), outcome.failures[:3]
