"""The trace: what each pipeline step decided about a message, and why, hit or miss.

It is stored with the message (`Message.trace`) and shown by `deskmail trace`
and the console, so an operator can always answer "why did this email end up
here?".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deskmail.ingest.types import Verdict


@dataclass(frozen=True, slots=True)
class Decision:
    step: str
    verdict: Verdict
    reason: str  # a sentence a human can read
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "data": self.data,
        }


def stamp(decision: Decision, at: dt.datetime) -> dict[str, Any]:
    """The stored form of a decision, with when it was taken."""
    return stamped([decision], at)[0]


def stamped(decisions: Iterable[Decision], at: dt.datetime) -> list[dict[str, Any]]:
    """The stored form of decisions taken at one moment (a message's whole trace)."""
    when = at.isoformat()  # once: a trace has some thirty decisions
    return [{**decision.to_json(), "at": when} for decision in decisions]


def render(entries: list[dict[str, Any]]) -> str:
    """A stored trace as text, one line per decision."""
    width = max((len(e.get("step", "")) for e in entries), default=0)
    lines = []
    for entry in entries:
        line = f"{entry.get('step', ''):<{width}}  {entry.get('verdict', ''):<10}  "
        line += entry.get("reason", "")
        lines.append(line.rstrip())
    return "\n".join(lines)
