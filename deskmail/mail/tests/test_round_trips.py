"""What standard encoders write, the lenient decoders read back unchanged."""

from __future__ import annotations

from email.header import Header
from email.utils import formataddr

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deskmail.mail.addresses import parse_addresses
from deskmail.mail.headers import decode_header

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=80
)
LOCAL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z0-9]{1,10}\.(com|org|de|example)", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.sampled_from(["utf-8", "iso-8859-1", "utf-16"]))
def test_it_decodes_what_the_stdlib_encodes(text, charset):
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        charset, data = "utf-8", text.encode()
    if charset == "iso-8859-1" and not data.isascii():
        # Latin-1 bytes that are also valid UTF-8 ("Ã©") are read as UTF-8 on purpose:
        # mislabelled UTF-8 is far more common than Latin-1 text that looks like it.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            assume(False)
    encoded = Header(text, charset, maxlinelen=76).encode()
    assert decode_header(encoded) == text.replace("\r", "").replace("\n", "")


@settings(max_examples=300, deadline=None)
@given(TEXT, LOCAL, DOMAIN)
def test_it_reads_back_formatted_addresses(name, local, domain):
    name = " ".join(name.split())
    address = f"{local}@{domain}"
    header = formataddr((name, address), charset="utf-8")
    (parsed,) = parse_addresses([header])
    assert parsed.address == address.lower()
    assert parsed.name == name
