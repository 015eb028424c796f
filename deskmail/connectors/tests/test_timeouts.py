"""A server that accepts the connection and then says nothing: every connector gives up."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from deskmail.connectors.credentials import Password
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.imap import ImapConnector
from deskmail.connectors.pop3 import Pop3Connector
from deskmail.connectors.settings import InboundConfig, OutboundConfig
from deskmail.connectors.smtp import SmtpConnector


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener accepts connections (kernel backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_it_gives_up_on_a_silent_server_as_a_temporary_failure(
    silent_port: int, protocol: str
) -> None:
    connector: ImapConnector | Pop3Connector | SmtpConnector
    if protocol == "smtp":
        out = OutboundConfig(host="127.0.0.1", port=silent_port, security="none",
                             connect_timeout_s=0.2)  # fmt: skip
        connector = SmtpConnector(out, Password("pw"))
    else:
        config = InboundConfig(
            protocol=protocol, host="127.0.0.1", port=silent_port, security="none",
            username="someone", connect_timeout_s=0.2,
        )  # fmt: skip
        connector = (ImapConnector if protocol == "imap" else Pop3Connector)(config, "pw")
    with pytest.raises(ConnectorError) as error:
        connector.open()
    assert not error.value.permanent
    assert "no answer within 0.2 s" in error.value.message
