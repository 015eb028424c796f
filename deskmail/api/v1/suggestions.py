"""Suggested answers for a ticket, their feedback, and putting one into the reply draft."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Shape
from deskmail.api.v1.types import Id
from deskmail.services import access, suggestions
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
