from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deskmail.mailboxes.loading import Outcome, Prompt, load_mailboxes

FIXTURES = Path(__file__).parent / "fixtures"
SECRETS = {
    "SUPPORT_IMAP_PASSWORD": "imap-Zq83-secret",
    "SUPPORT_SMTP_PASSWORD": "smtp-Kx91-secret",
}


@pytest.fixture
def design_example() -> str:
    """The DESIGN.md example plus a second, sparser mailbox."""
    return (FIXTURES / "design-example.yaml").read_text()


def load(
    text: str,
    *,
    env: dict[str, str] | None = None,
    prompt: Prompt | None = None,
    filename: str = "mailboxes.yaml",
) -> list[Outcome]:
    return load_mailboxes(
        textwrap.dedent(text), filename, environ=SECRETS if env is None else env, prompt=prompt
    )
