"""The OpenAPI schema and the interactive docs, served without any CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_versioned_under_v1_with_problem_errors():
    schema = Client().get("/api/openapi.json").json()

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["version"] == "1"
    assert schema["paths"] and all(path.startswith("/api/v1/") for path in schema["paths"])
    assert set(schema["components"]["securitySchemes"]) == {"BearerToken", "ConsoleSession"}
    replies = schema["paths"]["/api/v1/tickets/{number}/replies"]["post"]
    assert set(replies["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "Idempotency-Key" in [p["name"] for p in replies["parameters"]]
    assert replies["responses"]["422"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert "Retry-After" in replies["responses"]["429"]["headers"]


def test_the_docs_page_loads_its_assets_from_deskmail_itself():
    client = Client()
    page = client.get("/api/docs").content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/static/") for source in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        asset.close()
