"""The live OpenAPI schema, fuzzed with schemathesis: no 500 on any generated input, and
every answer (status, content type, headers, body) is one the schema documents.

Bounded and derandomised: a fixed number of examples per operation from a fixed seed, so
the run is fast and the same every time. Generated requests hit real rows sometimes: the
personas' tickets, messages and outbox rows exist, and the schema's path parameters are
small numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from deskmail.api.tests.conftest import customer_ticket
from deskmail.api.v1.types import ID_MAX
from deskmail.services import actions, canned, webhooks
from deskmail.services import tokens as access_tokens
from deskmail.services.access import SYSTEM

pytestmark = pytest.mark.django_db(transaction=False)

EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Requests through the WSGI app must not close the test's connection (Django's test
    client unhooks the same handlers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Read from the running application, as a client would (no database needed for it).
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())

# Values of path parameters that name rows of the running test, so that generated requests
# find something now and then instead of only 404s.
KNOWN: dict[str, list[Any]] = {}


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    chosen = {
        name: st.sampled_from([*_like(KNOWN.get(name, []), value), value])
        for name, value in path_parameters.items()
    }
    return st.fixed_dictionaries(chosen)


def _like(known: list[Any], value: Any) -> list[Any]:
    """Known values in place of a valid generated one only: a value made invalid on purpose
    (a string for a number, a number out of range) stays, so negative tests stay negative."""
    if isinstance(value, int) and not 1 <= value <= ID_MAX:
        return []
    return [k for k in known if type(k) is type(value)]


@pytest.fixture
def ada_token(team: Any, settings: Any, in_test_transaction: None) -> str:
    """Ada's token (an admin reaches every operation), with rows to find."""
    settings.DESKMAIL_API_RATE_LIMIT = 1_000_000
    north = customer_ticket(
        team.north, subject="Printer", attachments=[("a.txt", "text/plain", b"x")]
    )
    south = customer_ticket(team.south, subject="Heating", sender="bob@acme.example")
    ada = team.actor(team.ada)
    item = actions.reply(ada, north, body_text="On it.")
    answer = canned.create(ada, name="Thanks", body="Thank you, {{ contact.first_name }}.")
    endpoint, _ = webhooks.create(ada, "https://hooks.example.com/deskmail")
    token, secret = access_tokens.create(SYSTEM, team.ada, name="fuzz")
    message = north.messages.first()
    KNOWN.clear()
    KNOWN.update(
        number=[north.number, south.number],
        name=["north", "south"],
        pk=[
            item.pk,
            answer.pk,
            endpoint.pk,
            token.pk,
            message.pk,
            message.attachments.first().pk,
            north.contact_id,
        ],
    )
    return secret


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_it_answers_every_generated_request_as_documented(case: Any, ada_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ada_token}"}, checks=CHECKS)
