"""Admins are warned, once, before a mailbox's OAuth2 sign-in reaches a provider's known end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deskmail.connectors.oauth import TokenSet
from deskmail.events.models import Event
from deskmail.mailboxes import grants
from deskmail.mailboxes.models import OAuthGrant
from deskmail.services.mailbox_admin import warn_sign_ins_ending
from deskmail.testing.builders import make_google_sign_in

pytestmark = pytest.mark.django_db


def warnings() -> list[Event]:
    return list(Event.objects.filter(kind=Event.Kind.MAILBOX_SIGN_IN_ENDING))


def test_a_sign_in_ending_within_days_is_warned_about_once_with_its_end():
    now = timezone.now()
    ending = make_google_sign_in("north", now - dt.timedelta(days=5))
    make_google_sign_in("south", now)

    assert warn_sign_ins_ending(now) == ["north"]

    [event] = warnings()
    assert event.mailbox_id == ending.mailbox_id
    assert event.data["mailbox"] == "north"
    assert event.data["ends_at"] == (now + dt.timedelta(days=2)).isoformat()
    assert "Reauthorize" in event.data["advice"]
    ending.refresh_from_db()
    assert ending.warned_at == now


def test_a_warned_sign_in_is_not_warned_about_again():
    now = timezone.now()
    make_google_sign_in("north", now - dt.timedelta(days=5))
    assert warn_sign_ins_ending(now) == ["north"]

    for later in (now + dt.timedelta(hours=1), now + dt.timedelta(days=1, hours=1)):
        assert warn_sign_ins_ending(later) == []
    assert len(warnings()) == 1


def test_a_new_sign_in_moves_the_end_and_its_own_end_is_warned_about_in_turn():
    now = timezone.now()
    grant = make_google_sign_in("north", now - dt.timedelta(days=5))
    assert warn_sign_ins_ending(now) == ["north"]

    tokens = TokenSet(access_token="fresh", refresh_token="fresh", expires_at=None, scope=("mail",))
    grant = grants.save(grant.mailbox, tokens)  # Reauthorize: seven days from now

    assert grant.warned_at is None
    assert warn_sign_ins_ending(now + dt.timedelta(hours=1)) == []
    assert warn_sign_ins_ending(timezone.now() + dt.timedelta(days=5)) == ["north"]
    assert len(warnings()) == 2


def test_a_sign_in_already_refused_is_not_warned_about():
    now = timezone.now()
    grant = make_google_sign_in("north", now - dt.timedelta(days=5))
    OAuthGrant.objects.filter(pk=grant.pk).update(
        status=OAuthGrant.Status.REAUTHORIZE, error="Token has been expired or revoked."
    )

    assert warn_sign_ins_ending(now) == []
    assert warnings() == []
