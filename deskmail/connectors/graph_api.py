"""Requests to Microsoft Graph for one mailbox: token, headers, throttling, Graph's errors.

Every request the Graph connector and sender make goes through `GraphApi.call`:

- a fresh bearer token from the token source (an app-only token refreshes itself);
- `Prefer: IdType="ImmutableId"` on every request, so a message keeps its id when it
  moves (learn.microsoft.com/graph/outlook-immutable-id asks for it on each one);
- at most `MAX_CONCURRENT` requests at once per mailbox in this process: Outlook's limit
  is 4 concurrent requests per app and mailbox (/graph/throttling-limits); the sender
  and the reader of one mailbox share the slots;
- 429 and 503 are retried after the `Retry-After` the answer gives (seconds or an
  HTTP date), with exponential backoff where it gives none (/graph/throttling), until
  the request's patience runs out; then a temporary `ConnectorError`;
- every other failure becomes a `ConnectorError` carrying Graph's own error code and
  message (/graph/errors): 401 and 403 are permanent and ask for a new authorization,
  404 and other 4xx are permanent, 5xx and network failures temporary.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    import requests

from deskmail.connectors.credentials import TokenSource
from deskmail.connectors.errors import ConnectorError

log = logging.getLogger(__name__)

MAX_CONCURRENT = 4
READ_TIMEOUT_S = 60
# How long one request may wait out throttling before it gives up (temporarily).
PATIENCE_S = 300.0
MAX_TRIES = 10
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
_THROTTLED = frozenset({429, 503, 504})
# Graph's codes that mean the token is fine but the account or app may not do this.
_DENIED_HINT = (
    "Check that the app still has the Mail permissions (and admin consent), that the "
    "signed-in account has Full Access to the mailbox, and that the account is enabled; "
    "then reauthorize the mailbox."
)


@dataclass(frozen=True)
class GraphFailure:
    """An error answer: the HTTP status and Graph's `error.code` and `error.message`."""

    status: int
    code: str
    message: str

    @property
    def words(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class GraphRefused(ConnectorError):
    """Graph answered with an error; `failure` keeps its status, code and message."""

    def __init__(self, message: str, failure: GraphFailure, **kwargs: Any) -> None:
        super().__init__(message, server_reply=failure.words, **kwargs)
        self.failure = failure


@runtime_checkable
class Refreshable(Protocol):
    """A token source that can be told its token was refused (it gets a new one)."""

    def invalidate(self) -> None: ...


_slots_lock = threading.Lock()
_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}


def _slots_for(base_url: str, user: str) -> threading.BoundedSemaphore:
    key = (urlsplit(base_url).netloc.lower(), user.lower())
    with _slots_lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(MAX_CONCURRENT)
        return _slots[key]


class GraphApi:
    """One mailbox's door to Graph (`/users/{user}/...`), shared by threads."""

    def __init__(
        self,
        base_url: str,
        user: str,
        credentials: TokenSource,
        *,
        verify: bool | str = True,
        connect_timeout_s: float = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.credentials = credentials
        self.verify = verify
        self.timeout = (connect_timeout_s, READ_TIMEOUT_S)
        self.sleep = sleep
        self._slots = _slots_for(self.base_url, user)
        # requests loads with the first client, not with this module (which every command
        # reaches through the subscription store).
        import requests

        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=MAX_CONCURRENT)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def close(self) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        """An absolute URL: a link Graph gave, or a path under the mailbox (`/users/{user}`)."""
        if path.startswith(("https://", "http://")):
            return path
        if path.startswith("/"):
            return self.base_url + path
        return f"{self.base_url}/users/{quote(self.user, safe='@')}/{path}"

    def call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        prefer: str = "",
        patience_s: float = PATIENCE_S,
    ) -> requests.Response:
        """Send one request, waiting out throttling; the answer, or ConnectorError."""
        url = self.url(path)
        waited = 0.0
        refreshed = False
        for attempt in range(1, MAX_TRIES + 1):
            response = self._send(method, url, doing, params, json, data, headers, prefer)
            if response.status_code < 400:
                return response
            failure = _failure(response)
            if response.status_code in _THROTTLED:
                wait = _retry_after(response) or min(
                    BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempt - 1)
                )
                if attempt < MAX_TRIES and waited + wait <= patience_s:
                    log.info(
                        "graph %s: %s; waiting %.1f s (%s)", self.user, doing, wait, failure.words
                    )
                    self.sleep(wait)
                    waited += wait
                    continue
                raise GraphRefused(
                    f"{doing}: Graph is throttling this mailbox ({failure.words}); "
                    "will try again later.",
                    failure,
                    permanent=False,
                    retry_after=wait,
                )
            if (
                response.status_code == 401
                and not refreshed
                and isinstance(self.credentials, Refreshable)
            ):
                self.credentials.invalidate()  # an app-only token gets a new one
                refreshed = True
                continue
            raise self.refused(doing, failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def refused(self, doing: str, failure: GraphFailure) -> GraphRefused:
        """The ConnectorError for an error answer, with what the admin can do about it."""
        status = failure.status
        if status == 401:
            return GraphRefused(
                f"{doing}: Graph refused the access token ({failure.words}). "
                "Reauthorize the mailbox.",
                failure,
                permanent=True,
                auth=True,
            )
        if status == 403:
            return GraphRefused(
                f"{doing}: Graph denied access to {self.user} ({failure.words}). {_DENIED_HINT}",
                failure,
                permanent=True,
                auth=True,
            )
        if status >= 500:
            return GraphRefused(
                f"{doing}: Graph failed ({failure.words}).", failure, permanent=False
            )
        return GraphRefused(f"{doing}: Graph refused ({failure.words}).", failure, permanent=True)

    def _send(
        self,
        method: str,
        url: str,
        doing: str,
        params: Mapping[str, str] | None,
        json: Any,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        prefer: str,
    ) -> requests.Response:
        import requests

        token = self.credentials.secret()
        sent = {
            "Authorization": f"Bearer {token}",
            "Prefer": ", ".join(p for p in ('IdType="ImmutableId"', prefer) if p),
            "Accept": "application/json",
            **(headers or {}),
        }
        try:
            with self._slots:
                return self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=sent,
                    timeout=self.timeout,
                    verify=self.verify,
                )
        except requests.exceptions.SSLError as exc:
            raise ConnectorError(
                f"{doing}: TLS with {urlsplit(url).netloc} failed ({_reason(exc)}). If its "
                "certificate comes from your organisation's own CA, point DESKMAIL_CA_FILE at it.",
                permanent=True,
            ) from None
        except requests.exceptions.Timeout:
            raise ConnectorError(
                f"{doing}: {urlsplit(url).netloc} did not answer in time.", permanent=False
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ConnectorError(
                f"{doing}: {urlsplit(url).netloc} could not be reached ({_reason(exc)}).",
                permanent=False,
            ) from None


def _failure(response: requests.Response) -> GraphFailure:
    """Graph's error code and message from an error answer (its JSON body, else the status)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return GraphFailure(
            response.status_code, str(error.get("code") or ""), str(error.get("message") or "")
        )
    challenge = response.headers.get("WWW-Authenticate", "")
    return GraphFailure(
        response.status_code, f"HTTP {response.status_code}", challenge or response.reason or ""
    )


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds: delay-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _reason(exc: BaseException) -> str:
    inner: BaseException = exc
    while inner.__context__ is not None and inner.__context__ is not inner:
        inner = inner.__context__
    text = str(inner) or type(inner).__name__
    return text.split("] ", 1)[-1]
