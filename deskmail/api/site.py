"""The API object: authentication, the rate limit, idempotency, problem errors, the routers.

/api/openapi.json   the OpenAPI 3 schema
/api/docs           interactive documentation (Swagger UI, served from our own files)
/api/v1/...         version 1
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger
from ninja.operation import Operation

from deskmail.api import idempotency, inputs, openapi, problems, ratelimit
from deskmail.api.auth import BearerToken, ConsoleSession
from deskmail.api.parsing import ObjectParser
from deskmail.api.rendering import PydanticJSONRenderer
from deskmail.api.v1 import (
    canned,
    catalog,
    channel,
    mailboxes,
    messages,
    outbox,
    people,
    replies,
    suggestions,
    tasks,
    tickets,
    webhooks,
)

DESCRIPTION = """\
The REST API of deskmail: tickets, messages, replies, notes, contacts, the
outbox, tasks, mailboxes and webhooks, with exactly the permissions of the person
whose token it is.

Send a personal access token (`deskmail tokens create EMAIL`) as
`Authorization: Bearer <token>`. Errors are `application/problem+json` and
name the field to correct. Lists are cut into pages by a cursor: pass the
`next_cursor` of one page as `?cursor=` to get the next. Every POST accepts an
`Idempotency-Key` header: a retry with the same key creates nothing twice.
"""


class DeskmailAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return openapi.finish(super().get_openapi_schema(**kwargs))

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__


class LocalSwagger(Swagger):
    """Swagger UI from ninja's bundled files, served by us: no CDN.

    ninja renders its local page only when "ninja" is an installed app, which it is
    not here (settings.py says why); otherwise it renders `template_cdn`. That is
    pointed at the local page, whose static files and includes the settings find.
    """

    template_cdn = str(settings.NINJA_FILES / "templates" / "ninja" / "swagger.html")


def build() -> DeskmailAPI:
    api = DeskmailAPI(
        title="deskmail API",
        version="1",
        description=DESCRIPTION,
        urls_namespace="api",
        auth=[BearerToken(), ConsoleSession()],
        parser=ObjectParser(),
        renderer=PydanticJSONRenderer(),
        docs=LocalSwagger(),
    )
    problems.install(api)
    # Applied in this order around each operation: the rate limit outermost.
    api.add_decorator(inputs.storable, mode="view")
    api.add_decorator(idempotency.once, mode="view")
    api.add_decorator(ratelimit.limited, mode="view")
    for module in (
        tickets,
        messages,
        replies,
        catalog,
        canned,
        outbox,
        mailboxes,
        webhooks,
        people,
        suggestions,
        tasks,
        channel,
    ):
        api.add_router("v1", module.router)
    return api


api = build()
