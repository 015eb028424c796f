"""The channel switch: the email channel as a whole, on or off (admins)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import StrictBool

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Shape
from deskmail.services import channel
from deskmail.services.channel import MAX_REASON, ChannelState

router = Router(tags=["channel"])


class ChannelOut(Shape):
    on: bool = Field(description="false: no mail is fetched or sent; written mail is queued")
    changed_at: dt.datetime | None = Field(description="when it was last switched; null: never")
    changed_by: str | None = Field(description="who switched it last")
    reason: str = Field(description="why, as the admin who switched it said")
    mailboxes_syncing: int = Field(description="mailboxes a worker fetches from now")
    mailboxes_paused: int = Field(
        description="mailboxes a worker holds without fetching: it has seen the switch off"
    )
    outbox_waiting: int = Field(description="outgoing mail queued, waiting to be sent")


class ChannelIn(Schema):
    on: StrictBool = Field(description="true or false; nothing else is taken for one")
    reason: str = Field("", max_length=MAX_REASON, description="shown on every console page")


def _out(state: ChannelState) -> ChannelOut:
    activity = channel.activity()
    return ChannelOut(
        on=state.on,
        changed_at=state.changed_at,
        changed_by=state.changed_by or None,
        reason=state.reason,
        mailboxes_syncing=activity.syncing,
        mailboxes_paused=activity.paused,
        outbox_waiting=activity.waiting_to_send,
    )


@router.get("/channel", response=ChannelOut, summary="Whether the email channel is on (admins)")
def get_channel(request: HttpRequest) -> ChannelOut:
    return _out(channel.state(actor(request)))


@router.put("/channel", response=ChannelOut, summary="Switch the email channel off or on (admins)")
def put_channel(request: HttpRequest, payload: ChannelIn) -> ChannelOut:
    """Off: workers stop fetching and sending (nothing is lost: the servers keep the mail,
    the outbox keeps what agents write); on: everything resumes where it stopped.
    Putting the state it already has changes nothing."""
    return _out(channel.switch(actor(request), payload.on, payload.reason))
