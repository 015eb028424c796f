"""The people every test that involves a person uses (healthchecks' Alice, Bob and Charlie).

Two mailboxes, North and South, and four people:

- Ada, an admin: sees and configures everything;
- Sam, the supervisor of North;
- Nora, an agent on North;
- Stan, an agent on South, who must never see anything of North.

    def test_it_hides_north_from_stan(team):
        ...access.ticket(team.actor(team.stan), number)  # NotFound
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password

from deskmail.mailboxes.models import Mailbox
from deskmail.services import access, people
from deskmail.services.access import SYSTEM, Actor, Role
from deskmail.testing.builders import make_mailbox

PASSWORD = "correct horse battery staple 7"  # noqa: S105 - the test personas' password


@dataclass
class Team:
    north: Mailbox
    south: Mailbox
    ada: Any
    sam: Any
    nora: Any
    stan: Any

    def actor(self, user: Any) -> Actor:
        return access.actor_for(user)


def make_team() -> Team:
    north = make_mailbox("north", "NO", "north@helpdesk.example", outbound={"host": "127.0.0.1"})
    south = make_mailbox("south", "SO", "south@helpdesk.example", outbound={"host": "127.0.0.1"})

    def person(email: str, role: Role, mailboxes: list[str]) -> Any:
        user = people.create_user(SYSTEM, email, role, mailboxes=mailboxes)
        user.password = _hashed_password()  # hashed once: slow on purpose, and the same
        user.save(update_fields=["password"])
        return user

    return Team(
        north=north,
        south=south,
        ada=person("ada@helpdesk.example", Role.ADMIN, []),
        sam=person("sam@helpdesk.example", Role.SUPERVISOR, ["north"]),
        nora=person("nora@helpdesk.example", Role.AGENT, ["north"]),
        stan=person("stan@helpdesk.example", Role.AGENT, ["south"]),
    )


@functools.cache
def _hashed_password() -> str:
    return make_password(PASSWORD)


@pytest.fixture
def team(db: None) -> Team:
    return make_team()
