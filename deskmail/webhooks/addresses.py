"""Where a webhook may connect: public addresses only, unless an admin allowed private ones.

A webhook URL is typed by a person, and the server then connects wherever it
points; without a check, `http://127.0.0.1:5432/` or a cloud metadata address
would make deskmail reach what only it can reach (server-side request forgery).
So at send time the host name is resolved, every address it resolves to is
checked, and the connection goes to the checked address itself (never a second
lookup that could answer differently: DNS rebinding).

Refused unless the endpoint allows private addresses: loopback, private
(RFC 1918, unique local fc00::/7), link-local (169.254/16 with the metadata
services, fe80::/10), shared address space (100.64/10), multicast, reserved,
unspecified, and IPv4 written as IPv6 (::ffff:127.0.0.1) by the address it
carries.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

Resolver = Callable[[str, int], list[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL leads somewhere webhooks may not go; the message says where and why."""


def resolve(host: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"{host} does not resolve: {exc}") from exc
    return list(dict.fromkeys(str(row[4][0]) for row in found))


def _unwrapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def why_private(text: str) -> str | None:
    """Why this address is not a public one, or None when it is."""
    address = _unwrapped(ipaddress.ip_address(text.split("%", 1)[0]))
    checks = [
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ]
    for label, hit in checks:
        if hit:
            return (
                f"{text} is a {label} address"
                if label != "not globally routable"
                else (f"{text} is not globally routable")
            )
    return None


def checked(host: str, port: int, *, allow_private: bool, lookup: Resolver = resolve) -> str:
    """The address to connect to for host; Refused when any address it has is not public."""
    addresses = lookup(host, port)
    if not addresses:
        raise Refused(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            reason = why_private(address)
            if reason:
                raise Refused(
                    f"{host} resolves to {reason}; webhooks go only to public addresses "
                    "unless an admin allows private ones for this endpoint"
                )
    return addresses[0]
