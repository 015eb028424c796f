import subprocess
import sys

import deskmail.mail


def test_it_exports_exactly_the_public_names():
    assert sorted(deskmail.mail.__all__) == [
        "Address",
        "Attachment",
        "BounceInfo",
        "ParsedMessage",
        "parse_bytes",
        "parse_file",
    ]
    for name in deskmail.mail.__all__:
        assert hasattr(deskmail.mail, name)


def test_it_imports_no_django():
    code = (
        "import sys, deskmail.mail, deskmail.mail.cli\n"
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_it_parses_a_simple_message():
    raw = b"From: Alice <ALICE@example.com>\r\nTo: bob@example.com\r\nSubject: Hi\r\n\r\nHello\r\n"
    message = deskmail.mail.parse_bytes(raw)
    assert message.from_address == "alice@example.com"
    assert message.from_name == "Alice"
    assert message.subject == "Hi"
    assert "Hello" in message.body_text
