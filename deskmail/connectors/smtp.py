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

from deskmail.connectors.base import Secret, resolve_secret, ssl_context
from deskmail.connectors.errors import ConnectorError, login_failed, network_errors
from deskmail.mailboxes.config import OutboundConfig

READ_TIMEOUT_S = 60
Refused = dict[str, tuple[int, str]]


class SmtpConnector:
    """One SMTP account. Use as a context manager, or `open()` / `close()`."""

    def __init__(
        self, config: OutboundConfig, secret: Secret | None, *, ca_file: str | None = None
    ) -> None:
        self.config = config
        self._secret = secret
        self.ca_file = ca_file
        self.host = config.host or ""
        self.port = config.default_port()
        self._smtp: smtplib.SMTP | None = None
        self._logged_in = False

    def __repr__(self) -> str:
        c = self.config
        return (
            f"SmtpConnector({c.username}@{self.host}:{self.port}, security={c.security}, "
            f"auth={c.auth})"
        )

    def __enter__(self) -> SmtpConnector:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, secure and log in; raises ConnectorError."""
        self.connect()
        self.login()

    def connect(self) -> None:
        """Reach the server and secure the connection, without logging in."""
        if self._smtp is None:
            self._smtp = self._connect()
            self._logged_in = False

    def login(self) -> None:
        self.connect()
        assert self._smtp is not None
        if self._logged_in:
            return
        try:
            self._login(self._smtp)
        except BaseException:
            self._smtp.close()
            self._smtp = None
            raise
        if self._smtp.sock is not None:
            self._smtp.sock.settimeout(READ_TIMEOUT_S)
        self._logged_in = True

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._logged_in = False
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def check_login(self) -> None:
        """Connect, secure and log in, then leave: "test connection". Raises ConnectorError."""
        self.open()
        self.close()

    def send(self, envelope_from: str, recipients: Sequence[str], raw: bytes) -> Refused:
        """Send raw to recipients; returns the recipients the server refused (others got it).

        Raises ConnectorError when nobody got it.
        """
        if self._smtp is not None and not self._alive():
            self.close()  # kept open, and the server has closed it since
        self.open()
        assert self._smtp is not None
        try:
            with _errors(f"Sending through SMTP server {self.host}:{self.port}"):
                try:
                    return self._smtp.sendmail(envelope_from, list(recipients), raw)
                except smtplib.SMTPRecipientsRefused as exc:
                    raise _all_refused(exc.recipients) from None
        except ConnectorError:
            self.close()
            raise

    def _alive(self) -> bool:
        assert self._smtp is not None
        try:
            return self._smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        where = f"{self.host}:{self.port}"
        context = ssl_context(c.verify_certificate, self.ca_file)
        name = socket.gethostname()
        with _errors(f"Connecting to SMTP server {where}", c.connect_timeout_s):
            if c.security == "ssl":
                return smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=name, timeout=c.connect_timeout_s,
                    context=context,
                )  # fmt: skip
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=name, timeout=c.connect_timeout_s
            )
        if c.security == "starttls":
            with _errors(f"STARTTLS with SMTP server {where}", c.connect_timeout_s):
                try:
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise ConnectorError(
                            f"SMTP server {where} does not offer STARTTLS; not continuing "
                            "unencrypted. Use security: ssl, or none only on a trusted network.",
                            permanent=True,
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
        oauth = c.auth == "oauth2"
        with _errors(f"Logging in to SMTP server {self.host}:{self.port}", c.connect_timeout_s):
            smtp.ehlo_or_helo_if_needed()
            if not smtp.has_extn("auth"):
                raise ConnectorError(
                    f"SMTP server {self.host}:{self.port} offers no login (AUTH)"
                    + (" before STARTTLS" if c.security == "none" else "")
                    + ".",
                    permanent=True,
                )
            try:
                secret = resolve_secret(self._secret or "")
                if oauth:
                    sasl = f"user={c.username}\x01auth=Bearer {secret}\x01\x01"
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
                    raise login_failed("SMTP", c.username, reply, oauth=oauth) from None
                raise ConnectorError(
                    f"SMTP login as {c.username} failed for now: {reply}",
                    permanent=False,
                    server_reply=reply,
                    auth=True,
                ) from None


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
