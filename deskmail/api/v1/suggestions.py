"""Suggested answers for a ticket, their feedback, and putting one into the reply draft;
the top one rewritten for the customer by the generation server, and those rewrites' log."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from deskmail.api.auth import actor
from deskmail.api.openapi import PROBLEM_REF
from deskmail.api.problems import MEDIA_TYPE, problem
from deskmail.api.v1.shapes import Shape
from deskmail.api.v1.types import Id
from deskmail.services import access, generation, suggestions
from deskmail.services.generation import Logged
from deskmail.services.suggestions import Shown

router = Router(tags=["suggested answers"])


class SuggestionOut(Shape):
    id: int
    rank: int = Field(description="1 is the best")
    text: str = Field(description="the answer, canned answers filled in for this ticket")
    score: float = Field(description="BM25 relevance; only comparable within one ticket")
    source: Literal["ticket", "canned", "removed"]
    source_label: str
    ticket_number: int | None = Field(
        description="the solved ticket it comes from, when the caller may open it"
    )
    vote: Literal["", "up", "down"]
    inserted: bool
    message_id: int = Field(description="the customer message it answers (the latest)")


def _out(shown: Shown) -> SuggestionOut:
    return SuggestionOut.model_validate(shown.__dict__)


@router.get(
    "/tickets/{number}/suggestions",
    response=list[SuggestionOut],
    summary="Suggested answers for the latest customer message",
)
def list_suggestions(request: HttpRequest, number: Id) -> list[SuggestionOut]:
    """At most three answers from resolved tickets of mailboxes the caller may see and
    from the canned answers of the ticket's mailbox, best first. Empty when the mailbox
    has suggestions switched off. Nothing is sent: put one into the reply draft with
    `.../draft`, or send it as a reply yourself."""
    who = actor(request)
    return [_out(s) for s in suggestions.for_ticket(who, access.ticket(who, number))]


class FeedbackIn(Schema):
    vote: Literal["", "up", "down"] | None = Field(
        None, description='"up" or "down"; "" takes the vote back; null leaves it'
    )
    inserted: bool = Field(False, description="the caller used this answer")


@router.post(
    "/tickets/{number}/suggestions/{pk}/feedback",
    response=SuggestionOut,
    summary="Vote on a suggestion, or say it was used",
)
def suggestion_feedback(
    request: HttpRequest, number: Id, pk: Id, payload: FeedbackIn
) -> SuggestionOut:
    who = actor(request)
    ticket = access.ticket(who, number)
    return _out(suggestions.feedback(who, ticket, pk, vote=payload.vote, inserted=payload.inserted))


class DraftOut(Shape):
    body: str = Field(description="the caller's reply draft, the answer appended")


@router.post(
    "/tickets/{number}/suggestions/{pk}/draft",
    response=DraftOut,
    summary="Append a suggestion to the caller's reply draft",
)
def suggestion_to_draft(request: HttpRequest, number: Id, pk: Id) -> DraftOut:
    who = actor(request)
    draft = suggestions.insert_as_draft(who, access.ticket(who, number), pk)
    return DraftOut(body=draft.body if draft else "")


# -- rewritten for the customer ------------------------------------------------------------


class RewriteOut(Shape):
    id: int
    text: str = Field(description="the top suggestion, rewritten for this ticket's customer")
    suggestion_id: int | None = Field(description="the suggestion it rewrote")
    message_id: int = Field(description="the customer message it answers")
    model: str
    inserted: bool
    created_at: dt.datetime


class PromptMessage(Shape):
    role: str
    content: str


class RewriteLogOut(RewriteOut):
    error: str = Field(description="why there is no text (the server failed); empty if none")
    asked_by: str
    endpoint: str = Field(description="the chat completions URL it was sent to")
    duration_ms: int
    prompt: list[PromptMessage] = Field(description="the chat messages as sent")


def _rewrite(done: Logged) -> RewriteOut:
    return RewriteOut.model_validate(
        {name: getattr(done, name) for name in RewriteOut.model_fields}
    )


def _problem_answer(description: str) -> dict[str, object]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}


@router.post(
    "/tickets/{number}/suggestions/rewrite",
    response={201: RewriteOut},
    summary="Rewrite the top suggestion for this customer",
    openapi_extra={
        "responses": {
            "502": _problem_answer(
                "The generation server refused, failed or gave no usable answer; `detail` "
                "says what it did. The suggestions themselves are unaffected."
            ),
            "504": _problem_answer("The generation server did not answer within its timeout."),
        }
    },
)
def rewrite_suggestion(request: HttpRequest, number: Id) -> Status[RewriteOut] | HttpResponse:
    """Only when an admin switched rewriting on and the ticket's mailbox shows suggestions
    (else 422). The generation server is given the customer's latest message and the top
    suggestion; its answer is returned, never sent. Every request is logged on the ticket
    (`.../suggestions/rewrites`), with the prompt as sent."""
    who = actor(request)
    done = generation.rewrite(who, access.ticket(who, number))
    if done.error:
        return problem(504 if done.timed_out else 502, done.error)
    return Status(201, _rewrite(done))


@router.get(
    "/tickets/{number}/suggestions/rewrites",
    response=list[RewriteLogOut],
    summary="The rewrites asked for on a ticket, for review",
)
def list_rewrites(request: HttpRequest, number: Id) -> list[RewriteLogOut]:
    """Newest first, each with the prompt as sent, the answer or the error, the model, the
    server and the time it took: all of them for supervisors of the ticket's mailbox and
    admins, the caller's own for an agent."""
    who = actor(request)
    return [
        RewriteLogOut.model_validate(
            {name: getattr(done, name) for name in RewriteLogOut.model_fields}
        )
        for done in generation.rewrites(who, access.ticket(who, number))
    ]


@router.post(
    "/tickets/{number}/suggestions/rewrites/{pk}/draft",
    response=DraftOut,
    summary="Append a rewrite to the caller's reply draft",
)
def rewrite_to_draft(request: HttpRequest, number: Id, pk: Id) -> DraftOut:
    who = actor(request)
    draft = generation.insert_as_draft(who, access.ticket(who, number), pk)
    return DraftOut(body=draft.body if draft else "")
