from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deskmail.mail import ParsedMessage, parse_bytes

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def parse_fixture() -> Callable[..., ParsedMessage]:
    def parse(name: str, **kwargs: object) -> ParsedMessage:
        return parse_bytes(fixture_bytes(name), **kwargs)  # type: ignore[arg-type]

    return parse
