"""Is a moment inside a mailbox's working hours? Its time zone, weekday ranges and holidays.

The moment is turned into the mailbox's local wall-clock time (zoneinfo, so
daylight-saving changes follow the time zone's rules) and compared with that
weekday's ranges; a holiday is closed all day. Ranges include their start and
exclude their end: 09:00-17:00 is open at 09:00 and closed at 17:00.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from deskmail.mailboxes.config import WEEKDAYS, WorkingHours


@dataclass(frozen=True, slots=True)
class Verdict:
    inside: bool
    reason: str  # "inside working hours (Monday 09:00-17:00, 10:15 Europe/Berlin)"


def evaluate(hours: WorkingHours, time_zone: str, at: dt.datetime) -> Verdict:
    """Whether `at` (an aware datetime) falls inside the working hours, and why."""
    local = at.astimezone(zoneinfo.ZoneInfo(time_zone))
    when = f"{local:%Y-%m-%d %H:%M} {time_zone}"
    day = WEEKDAYS[local.weekday()].capitalize()
    if local.date() in hours.holidays:
        return Verdict(False, f"outside working hours: {local:%Y-%m-%d} is a holiday ({when})")
    minute = local.hour * 60 + local.minute
    ranges = hours.ranges(local.weekday())
    for start, end in ranges:
        if start <= minute < end:
            return Verdict(True, f"inside working hours ({day} {_span(start, end)}, {when})")
    if not ranges:
        return Verdict(False, f"outside working hours: closed on {day}s ({when})")
    spans = ", ".join(_span(start, end) for start, end in ranges)
    return Verdict(False, f"outside working hours ({day} {spans}, {when})")


def _span(start: int, end: int) -> str:
    return f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"
