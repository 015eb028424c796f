"""The order of the steps, as data, and the loop that runs them.

The same bytes from the same source position are recognised before parsing:
a source that lost its place offers them again, and a resumed import should
cost a lookup per message, not a parse.

The alias step runs before the filters (the design lists it after them)
because an alias can file the mail under another mailbox, and that mailbox's
filters are the ones that apply. Bounces are recognised before auto-replies:
a bounce is also auto-submitted, but it belongs on the ticket that bounced.
"""

from __future__ import annotations

from typing import Protocol

from deskmail.ingest.context import Context
from deskmail.ingest.steps import (
    acknowledge,
    alias,
    allowed_domains,
    autoreply,
    blocked_senders,
    bounce,
    closed_policy,
    confirm_sender,
    contact,
    dedupe,
    header_filter,
    loop,
    mappings,
    new_tickets,
    notice_reply,
    open_ticket,
    parse,
    rate_limit,
    redelivery,
    route,
    task_reply,
    thread_identity,
    thread_references,
    thread_subject,
    thread_tag,
    triggers,
)
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome


class Step(Protocol):
    name: str

    def run(self, ctx: Context) -> Decision: ...


class _Module(Protocol):
    """A step module: `name` and `run(ctx)` at module level."""

    @property
    def name(self) -> str: ...

    def run(self, ctx: Context) -> Decision: ...


STEPS: tuple[Step | _Module, ...] = (
    redelivery,
    parse,
    dedupe,
    alias,
    loop,
    allowed_domains,
    blocked_senders,
    header_filter,
    rate_limit,
    bounce,
    autoreply,
    task_reply,
    notice_reply,
    thread_references,
    thread_tag,
    thread_identity,
    thread_subject,
    closed_policy,
    new_tickets,
    open_ticket,
    mappings,
    contact,
    confirm_sender,
    route,
    triggers,
    acknowledge,
)


def run(ctx: Context, steps: tuple[Step | _Module, ...] | None = None) -> Outcome:
    """Run the steps (STEPS unless given) in order until one ends the flow; the outcome."""
    for step in STEPS if steps is None else steps:
        ctx.trace.append(step.run(ctx))
        if ctx.stopped:
            break
    if ctx.outcome is None:
        ctx.outcome = Outcome.NEW_TICKET if ctx.new_ticket else Outcome.APPENDED
    return ctx.outcome
