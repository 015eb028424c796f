"""Mail domains: who is "from the same organisation", and which domains say nothing about it."""

from __future__ import annotations

# Public freemail providers: sharing one of these domains says nothing about who
# someone is, so it never makes a sender "from the contact's organisation".
FREEMAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk hotmail.de hotmail.fr
    live.com live.de msn.com yahoo.com yahoo.co.uk yahoo.de yahoo.fr ymail.com aol.com
    icloud.com me.com mac.com gmx.de gmx.net gmx.com gmx.at gmx.ch web.de freenet.de
    t-online.de mail.ru yandex.ru yandex.com proton.me protonmail.com pm.me qq.com
    163.com 126.com sina.com zoho.com mail.com fastmail.com orange.fr free.fr
    laposte.net libero.it virgilio.it seznam.cz wp.pl o2.pl onet.pl rambler.ru
    """.split()
)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def domain_matches(domain: str, pattern: str) -> bool:
    """The domain itself or a subdomain of it, never a look-alike suffix.

    `mail.example.com` is under `example.com` (its owner delegates it), while
    `evil-example.com` and `example.com.evil.net` are not.
    """
    domain, pattern = domain.lower().rstrip("."), pattern.lower().lstrip("@").rstrip(".")
    return domain == pattern or domain.endswith("." + pattern)


def same_organisation(address: str, other: str) -> bool:
    """Both addresses share a domain that is not a public freemail provider."""
    domain = domain_of(address)
    return bool(domain) and domain == domain_of(other) and domain not in FREEMAIL_DOMAINS
