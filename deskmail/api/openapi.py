"""Finishing the generated OpenAPI schema: the errors every operation may answer, as
problem documents, and the Idempotency-Key header of every POST."""

from __future__ import annotations

from typing import Any

from deskmail.api.idempotency import HEADER, MAX_LENGTH
from deskmail.api.problems import MEDIA_TYPE, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Status -> when it happens. Every operation may answer these.
ALWAYS = {
    400: "The request cannot be read: a body that is not a JSON object, a broken form.",
    401: "No valid token (or console session) was sent.",
    403: "The caller may see this but not do it (or the console's CSRF check failed).",
    404: "No such thing, or the caller may not see it: the two are never told apart.",
    422: "The request is not valid; `field` names what to correct.",
    429: "Past the per-token rate limit; `Retry-After` says when to try again.",
}
ON_WRITE = {
    409: "The same Idempotency-Key is being used by a request still running.",
    413: "The request body is too large.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the rate limit's next minute begins",
        "schema": {"type": "integer", "minimum": 1},
    }
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": "Retrying a POST with the same key creates nothing twice: the first "
    "response is answered again. Keys are kept a day per person.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH, "pattern": "^[ -~]+$"},
}


def _problem_components(schema: dict[str, Any]) -> None:
    found = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = found.pop("$defs", {})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definitions)
    components["Problem"] = found


def _problem_response(description: str, status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }
    if status == 429:
        answer["headers"] = RETRY_AFTER
    return answer


def finish(schema: dict[str, Any]) -> dict[str, Any]:
    _problem_components(schema)
    for path in schema.get("paths", {}).values():
        for method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"] = {
                str(status): answer for status, answer in operation["responses"].items()
            }
            errors = dict(ALWAYS)
            if method in {"post", "put", "patch", "delete"}:
                errors.update(ON_WRITE)
            for status, description in errors.items():
                responses.setdefault(str(status), _problem_response(description, status))
            if method == "post":
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == HEADER for p in parameters):
                    parameters.append(dict(IDEMPOTENCY_KEY))
    return schema
