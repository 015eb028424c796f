"""The order of the steps, as data, and the loop that runs them.

The alias step runs before the filters (the design lists it after them)
because an alias can file the mail under another mailbox, and that mailbox's
filters are the ones that apply. Bounces are recognised before auto-replies:
a bounce is also auto-submitted, but it belongs on the ticket that bounced.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Protocol

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision


class Step(Protocol):
    name: str

    def run(self, ctx: Context) -> Decision: ...


STEPS: tuple[str | Step, ...] = (
    "parse",
    "dedupe",
    "alias",
    "loop",
    "allowed_domains",
    "blocked_senders",
    "header_filter",
    "rate_limit",
    "bounce",
    "autoreply",
    "thread_references",
    "thread_tag",
    "thread_identity",
    "thread_subject",
    "closed_policy",
    "open_ticket",
    "mappings",
    "contact",
    "route",
    "acknowledge",
)


@functools.cache
def _module(name: str) -> ModuleType:
    return importlib.import_module(f"deskmail.ingest.steps.{name}")


def resolve(entry: str | Step) -> Step | ModuleType:
    return _module(entry) if isinstance(entry, str) else entry


def run(ctx: Context) -> str:
    """Run the steps in order until one ends the flow; returns the outcome."""
    for entry in STEPS:
        step = resolve(entry)
        ctx.trace.append(step.run(ctx))
        if ctx.stopped:
            break
    if ctx.outcome is None:
        ctx.outcome = "new_ticket" if ctx.new_ticket else "appended"
    return ctx.outcome
