"""Rewriting the top suggested answer for this ticket's customer, by a language model.

Optional and off by default. An admin names an OpenAI-compatible server (a local
Ollama, or any server of the OpenAI chat completions API), its model, an API key
if it wants one (stored encrypted, never shown back or logged) and a timeout. With
it switched on, an agent may ask, on a ticket whose mailbox shows suggestions, for
the top suggestion rewritten for the customer's latest message. The rewritten text
is only shown: the agent inserts, edits and sends it, as with any suggestion.

Every request is logged per ticket: who asked, the prompt as sent, the answer (or
why there is none), the model, the server and how long it took. Supervisors of the
ticket's mailbox and admins review them all; an agent sees their own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.utils import timezone

from deskmail.core.crypto import UNREADABLE_ADVICE, DecryptionError
from deskmail.services import access, suggestions
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.suggest import generate
from deskmail.suggest.generate import Endpoint, GenerationError
from deskmail.suggest.index import text_of
from deskmail.suggest.models import GenerationSettings, Rewrite, Suggestion
from deskmail.tickets.models import Draft, Ticket

log = logging.getLogger(__name__)

MAX_TIMEOUT = 600.0
# The customer's words and the answer sent to the model, at most (characters each).
MAX_PROMPT_PART = 8_000

SYSTEM_PROMPT = (
    "You help a helpdesk agent answer a customer's email. You get the customer's latest "
    "message and an answer the team gave to a similar question before. Rewrite that answer "
    "so that it answers this customer: address what they wrote, keep every fact, step, "
    "link and condition of the answer, and add nothing the answer does not say (no new "
    "promises, prices, dates or names). {language} Write only the text of the reply, "
    "without a subject line, notes or placeholders; the agent reads and edits it before "
    "anything is sent."
)
LANGUAGE_HINT = "Write in the language of the customer's message."


# -- the settings, for admins ----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The generation settings as shown: the API key only as whether one is stored."""

    enabled: bool
    base_url: str
    model: str
    api_key_set: bool
    timeout_seconds: float


def _settings() -> GenerationSettings:
    """The row, its key not read: a key no configured encryption key decrypts must not
    break the pages that only ask whether rewriting is on."""
    row, _ = GenerationSettings.objects.defer("api_key").get_or_create(pk=1)
    return row


def _endpoint(row: GenerationSettings) -> Endpoint:
    """Where to send, with the key decrypted; GenerationError if it cannot be."""
    try:
        key = GenerationSettings.objects.only("api_key").get(pk=row.pk).api_key
    except DecryptionError:
        raise GenerationError(f"the stored API key {UNREADABLE_ADVICE}") from None
    return Endpoint(
        base_url=row.base_url,
        model=row.model,
        api_key=str(key or ""),
        timeout=row.timeout_seconds,
    )


def _config(row: GenerationSettings) -> Config:
    return Config(
        enabled=row.enabled,
        base_url=row.base_url,
        model=row.model,
        api_key_set=GenerationSettings.objects.filter(pk=row.pk).exclude(api_key="").exists(),
        timeout_seconds=row.timeout_seconds,
    )


def config(actor: Actor) -> Config:
    access.require_admin(actor)
    return _config(_settings())


def update_config(
    actor: Actor,
    *,
    enabled: bool | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    timeout_seconds: float | None = None,
) -> Config:
    """Change some settings (None leaves one as it is; `api_key=""` removes the key).

    Invalid names the field: a base URL that is not http(s) with a host, a timeout
    outside 1 to 600 seconds, or switching on without a server and a model.
    """
    access.require_admin(actor)
    row = _settings()
    if base_url is not None:
        base_url = base_url.strip()
        parts = urlsplit(base_url)
        if base_url and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise Invalid(
                "the base URL is http:// or https:// and a host, e.g. http://127.0.0.1:11434",
                field="base_url",
            )
        if parts.username or parts.password:
            raise Invalid("put the API key in its own field, not in the URL", field="base_url")
        row.base_url = base_url
    if model is not None:
        row.model = model.strip()
    if timeout_seconds is not None:
        if not 1 <= timeout_seconds <= MAX_TIMEOUT:
            raise Invalid(f"the timeout is 1 to {MAX_TIMEOUT:g} seconds", field="timeout_seconds")
        row.timeout_seconds = timeout_seconds
    if api_key is not None:
        row.api_key = api_key.strip()
    if enabled is not None:
        row.enabled = enabled
    if row.enabled and not row.base_url:
        raise Invalid("name the server's base URL to switch rewriting on", field="base_url")
    if row.enabled and not row.model:
        raise Invalid("name the model to switch rewriting on", field="model")
    row.save()
    return _config(row)


def is_on() -> bool:
    row = GenerationSettings.objects.defer("api_key").filter(pk=1).first()
    return bool(row and row.enabled and row.base_url and row.model)


def available(ticket: Ticket) -> bool:
    """Whether rewriting is on, and the ticket's mailbox shows suggestions."""
    return is_on() and suggestions.enabled(ticket)


# -- rewriting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """One rewrite as shown: its text, or the error in words for the agent."""

    id: int
    text: str
    error: str
    # The server did not answer in time (else it refused, failed or answered wrongly).
    timed_out: bool
    suggestion_id: int | None
    message_id: int
    inserted: bool
    asked_by: str
    model: str
    endpoint: str
    duration_ms: int
    prompt: list[dict[str, str]]
    created_at: datetime


def _logged(row: Rewrite, timed_out: bool = False) -> Logged:
    user = row.user
    who = (user.get_full_name() or user.get_username()) if user is not None else "someone removed"
    return Logged(
        id=row.pk,
        text=row.answer,
        error=row.error,
        timed_out=timed_out,
        suggestion_id=row.suggestion_id,
        message_id=row.message_id,
        inserted=row.inserted_at is not None,
        asked_by=str(who),
        model=row.model,
        endpoint=row.endpoint,
        duration_ms=row.duration_ms,
        prompt=list(row.prompt),
        created_at=row.created_at,
    )


def prompt(ticket: Ticket, question: str, answer: str) -> list[dict[str, str]]:
    """The chat messages for one rewrite: the instructions, then the two texts."""
    name = ticket.contact.name if ticket.contact_id and ticket.contact else ""
    customer = f"The customer{f' ({name})' if name else ''} wrote:"
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(language=LANGUAGE_HINT)},
        {
            "role": "user",
            "content": (
                f"{customer}\n<<<\n{question[:MAX_PROMPT_PART]}\n>>>\n\n"
                f"The earlier answer to rewrite:\n<<<\n{answer[:MAX_PROMPT_PART]}\n>>>"
            ),
        },
    ]


def rewrite(actor: Actor, ticket: Ticket) -> Logged:
    """Ask the server to rewrite the top suggestion for this ticket's customer; log it.

    The answer, or the error in words for the agent (`error`), is in what is returned;
    a server that fails never raises here. Invalid when rewriting is off for this
    ticket or there is no suggestion to rewrite.
    """
    access.require_act_on(actor, ticket)
    if actor.user_id is None:
        raise Invalid("suggestions are rewritten for a person", field="suggestion")
    settings = GenerationSettings.objects.defer("api_key").filter(pk=1).first()
    if settings is None or not available(ticket):
        raise Invalid("rewriting suggestions is not switched on here", field="suggestion")
    shown = suggestions.for_ticket(actor, ticket)
    question = suggestions.latest_question(ticket)
    if not shown or question is None:
        raise Invalid("there is no suggested answer to rewrite", field="suggestion")
    top = shown[0]
    messages = prompt(ticket, text_of(question) or ticket.title, top.text)
    endpoint = Endpoint(settings.base_url, settings.model, "", settings.timeout_seconds)
    started = time.monotonic()
    answer = error = ""
    timed_out = False
    try:
        endpoint = _endpoint(settings)
        answer = generate.chat(endpoint, messages)
    except GenerationError as exc:
        error, timed_out = str(exc), exc.timed_out
    duration = round((time.monotonic() - started) * 1000)
    row = Rewrite.objects.create(
        ticket=ticket,
        message=question,
        user_id=actor.user_id,
        suggestion_id=top.id,
        prompt=messages,
        answer=answer,
        model=endpoint.model,
        endpoint=endpoint.url,
        duration_ms=duration,
        error=error,
    )
    log.info(
        "rewrite %s on ticket #%s for user %s: %s, model %s at %s, %d ms",
        row.pk,
        ticket.number,
        actor.user_id,
        f"failed: {error}" if error else "answered",
        endpoint.model,
        endpoint.host,
        duration,
    )
    return _logged(Rewrite.objects.select_related("user").get(pk=row.pk), timed_out)


def latest(actor: Actor, ticket: Ticket) -> Logged | None:
    """This person's latest rewrite for the ticket's latest customer message, if any."""
    question = suggestions.latest_question(ticket)
    if actor.user_id is None or question is None or not available(ticket):
        return None
    row = (
        Rewrite.objects.select_related("user")
        .filter(ticket=ticket, message=question, user_id=actor.user_id)
        .order_by("-created_at", "-id")
        .first()
    )
    return _logged(row) if row else None


def rewrites(actor: Actor, ticket: Ticket) -> list[Logged]:
    """The ticket's rewrites for review, newest first: all of them for a supervisor of its
    mailbox or an admin, one's own for an agent; NotFound for a ticket one may not see."""
    if not actor.sees(ticket.mailbox_id):
        raise NotFound(f"no ticket #{ticket.number}")
    rows = Rewrite.objects.select_related("user").filter(ticket=ticket)
    if not actor.supervises_mailbox(ticket.mailbox_id):
        rows = rows.filter(user_id=actor.user_id or 0)
    return [_logged(row) for row in rows.order_by("-created_at", "-id")]


def may_review(actor: Actor, ticket: Ticket) -> bool:
    return actor.supervises_mailbox(ticket.mailbox_id) and not actor.is_system


def insert(actor: Actor, ticket: Ticket, pk: int) -> str:
    """The rewritten text to put into the composer (recorded as inserted, and its
    suggestion with it)."""
    access.require_act_on(actor, ticket)
    row = Rewrite.objects.filter(pk=pk, ticket=ticket, user_id=actor.user_id or 0).first()
    if row is None:
        raise NotFound(f"no rewrite {pk} on ticket #{ticket.number}")
    if row.error or not row.answer:
        raise Invalid("this rewrite has no text", field="rewrite")
    latest_question = suggestions.latest_question(ticket)
    if latest_question is None or row.message_id != latest_question.pk:
        raise Invalid(
            "the customer wrote again since this was rewritten: see the new suggestions",
            field="rewrite",
        )
    if row.inserted_at is None:
        row.inserted_at = timezone.now()
        row.save(update_fields=["inserted_at"])
    suggestion_id = row.suggestion_id
    if suggestion_id is not None and Suggestion.objects.filter(pk=suggestion_id).exists():
        suggestions.feedback(actor, ticket, suggestion_id, inserted=True)
    return row.answer


def insert_as_draft(
    actor: Actor,
    ticket: Ticket,
    pk: int,
    *,
    to: str | None = None,
    cc: str | None = None,
    body: str | None = None,
) -> Draft | None:
    """Append the rewritten text to the person's reply draft (as a suggestion's)."""
    text = insert(actor, ticket, pk)
    return suggestions.append_to_draft(actor, ticket, text, to=to, cc=cc, body=body)


def try_server(actor: Actor) -> str:
    """Ask the configured server for a one-word answer, to check the settings (admins).

    The server's answer, or Invalid with why there is none; nothing is logged on a ticket.
    """
    access.require_admin(actor)
    row = _settings()
    if not row.base_url or not row.model:
        raise Invalid("name the server's base URL and the model first", field="base_url")
    try:
        endpoint = _endpoint(row)
        return generate.chat(endpoint, [{"role": "user", "content": "Answer with one word: OK"}])
    except GenerationError as exc:
        raise Invalid(str(exc), field="base_url") from None
