"""SMTP: send one raw message, and say whether a failure is worth retrying.

A 5xx reply is permanent: retrying the same mail cannot help. A 4xx reply, a
timeout, a refused or dropped connection are temporary: the outbox tries
again later. Either way the server's own words are kept for the admin.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from deskmail.connectors.base import Refused, ssl_context
from deskmail.connectors.credentials import xoauth2_string
from deskmail.connectors.errors import ConnectorError, login_failed, network_errors
from deskmail.connectors.session import Session
from deskmail.connectors.settings import OutboundConfig

READ_TIMEOUT_S = 60


class SmtpConnector(Session[smtplib.SMTP]):
    """One SMTP account."""

    protocol = "SMTP"
    config: OutboundConfig

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        context = ssl_context(c.verify_certificate, self.ca_file)
        name = socket.gethostname()
        with _errors(f"Connecting to SMTP server {self.where}", c.connect_timeout_s):
            if c.security == "ssl":
                return smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=name, timeout=c.connect_timeout_s,
                    context=context,
                )  # fmt: skip
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=name, timeout=c.connect_timeout_s
            )
        if c.security == "starttls":
            with _errors(f"STARTTLS with SMTP server {self.where}", c.connect_timeout_s):
                try:
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise ConnectorError(
                            f"SMTP server {self.where} does not offer STARTTLS; not continuing "
                            "unencrypted. Use security: ssl, or none only on a trusted network.",
                            permanent=True,
                            cause="security",
                        )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                except BaseException:
                    smtp.close()
                    raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        c = self.config
        if not c.username:
            return  # a relay that trusts our address
        with _errors(f"Logging in to SMTP server {self.where}", c.connect_timeout_s):
            smtp.ehlo_or_helo_if_needed()
            if not smtp.has_extn("auth"):
                raise ConnectorError(
                    f"SMTP server {self.where} offers no login (AUTH)"
                    + (" before STARTTLS" if c.security == "none" else "")
                    + ".",
                    permanent=True,
                )
            try:
                secret = self.credentials.secret()
                if self.oauth:
                    sasl = xoauth2_string(c.username, secret)
                    # On failure the server sends a JSON error challenge; answer it empty.
                    smtp.auth("XOAUTH2", lambda challenge=None: sasl if challenge is None else "")
                else:
                    smtp.user, smtp.password = c.username, secret
                    offered = smtp.esmtp_features.get("auth", "").upper().split()
                    if "PLAIN" in offered or "LOGIN" not in offered:
                        smtp.auth("PLAIN", smtp.auth_plain)
                    else:
                        smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
            except smtplib.SMTPAuthenticationError as exc:
                reply = _words(exc.smtp_code, exc.smtp_error)
                if exc.smtp_code >= 500:
                    raise login_failed("SMTP", c.username, reply, oauth=self.oauth) from None
                raise ConnectorError(
                    f"SMTP login as {c.username} failed for now: {reply}",
                    permanent=False,
                    server_reply=reply,
                    auth=True,
                ) from None

    def _after_login(self, smtp: smtplib.SMTP) -> None:
        if smtp.sock is not None:
            smtp.sock.settimeout(READ_TIMEOUT_S)

    def _logout(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _shutdown(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.close()
        except OSError:
            pass

    def check_login(self) -> None:
        """Connect, secure and log in, then leave: "test connection". Raises ConnectorError."""
        self.open()
        self.close()

    def send(self, envelope_from: str, recipients: Sequence[str], raw: bytes) -> Refused:
        """Send raw to recipients; returns the recipients the server refused (others got it).

        Raises ConnectorError when nobody got it.
        """
        if self._client is not None and not self._alive(self._client):
            self.close()  # kept open, and the server has closed it since
        smtp = self.client()
        try:
            with _errors(f"Sending through SMTP server {self.where}"):
                try:
                    refused = smtp.sendmail(envelope_from, list(recipients), raw)
                    return dict(refused)
                except smtplib.SMTPRecipientsRefused as exc:
                    raise _all_refused(exc.recipients) from None
        except ConnectorError:
            self.close()
            raise

    def _alive(self, smtp: smtplib.SMTP) -> bool:
        try:
            return bool(smtp.noop()[0] == 250)
        except (smtplib.SMTPException, OSError):
            return False


def _words(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {text}".strip()


def _all_refused(recipients: dict[str, tuple[int, bytes]]) -> ConnectorError:
    replies = [f"{rcpt}: {_words(code, msg)}" for rcpt, (code, msg) in recipients.items()]
    reply = "; ".join(replies)
    permanent = all(code >= 500 for code, _ in recipients.values())
    return ConnectorError(
        f"Every recipient was refused: {reply}", permanent=permanent, server_reply=reply
    )


@contextmanager
def _errors(doing: str, timeout: float | None = None) -> Iterator[None]:
    """smtplib's errors are OSErrors: translate them before the network ones."""
    with network_errors(doing, timeout):
        try:
            yield
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib turns a read timeout into "Connection unexpectedly closed".
            if isinstance(exc.__context__, TimeoutError):
                wait = f" within {timeout:g} s" if timeout else ""
                raise ConnectorError(f"{doing}: no answer{wait}.", permanent=False) from None
            raise ConnectorError(
                f"{doing}: the server closed the connection ({exc}).", permanent=False
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ConnectorError(f"{doing}: {exc}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            reply = _words(exc.smtp_code, exc.smtp_error)
            raise ConnectorError(
                f"{doing}: the server said: {reply}",
                permanent=exc.smtp_code >= 500,
                server_reply=reply,
            ) from None
