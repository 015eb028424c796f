"""The trace: what each pipeline step decided about a message, and why, hit or miss.

It is stored with the message (`Message.trace`) and shown by `deskmail trace`,
so an operator can always answer "why did this email end up here?".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    step: str
    verdict: str  # a short word: pass, hit, miss, new, joined, excluded, duplicate, ...
    reason: str  # a sentence a human can read
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "verdict": self.verdict,
            "reason": self.reason,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Decision:
        return cls(
            step=value.get("step", ""),
            verdict=value.get("verdict", ""),
            reason=value.get("reason", ""),
            data=value.get("data") or {},
        )


def stamp(decision: Decision, at: dt.datetime) -> dict[str, Any]:
    """The stored form of a decision, with when it was taken."""
    return {**decision.to_json(), "at": at.isoformat()}


def render(entries: list[dict[str, Any]]) -> str:
    """A trace as text, one line per decision."""
    width = max((len(e.get("step", "")) for e in entries), default=0)
    lines = []
    for entry in entries:
        line = f"{entry.get('step', ''):<{width}}  {entry.get('verdict', ''):<10}  "
        line += entry.get("reason", "")
        lines.append(line.rstrip())
    return "\n".join(lines)
