"""Working hours: the mailbox's time zone, daylight saving, holidays, range edges."""

from __future__ import annotations

import datetime as dt

import pytest

from deskmail.mailboxes.config import WorkingHours
from deskmail.routing.hours import evaluate

UTC = dt.UTC
OFFICE = WorkingHours(
    monday=["09:00-12:00", "13:00-17:00"],
    tuesday=["09:00-17:00"],
    wednesday=["09:00-17:00"],
    thursday=["09:00-17:00"],
    friday=["09:00-17:00"],
    sunday=["00:00-24:00"],
    holidays=[dt.date(2026, 12, 25)],
)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (at(2026, 12, 7, 8, 0), True),  # Monday 09:00 in Berlin (UTC+1): the start is open
        (at(2026, 12, 7, 7, 59), False),
        (at(2026, 12, 7, 11, 30), False),  # 12:30, the lunch gap
        (at(2026, 12, 7, 15, 59), True),  # 16:59
        (at(2026, 12, 7, 16, 0), False),  # 17:00: the end is closed
        (at(2026, 12, 5, 12, 0), False),  # Saturday: no ranges
        (at(2026, 12, 5, 23, 30), True),  # Sunday 00:30 in Berlin, still Saturday in UTC
        (at(2026, 12, 6, 22, 59), True),  # Sunday 23:59: 24:00 closes the day
    ],
)
def test_it_reads_the_time_in_the_mailbox_zone(moment: dt.datetime, inside: bool) -> None:
    assert evaluate(OFFICE, "Europe/Berlin", moment).inside is inside


def test_the_same_instant_differs_by_time_zone() -> None:
    moment = at(2026, 12, 8, 15, 0)  # Tuesday: 16:00 in Berlin, 10:00 in New York
    assert evaluate(OFFICE, "Europe/Berlin", moment).inside
    assert evaluate(OFFICE, "America/New_York", moment).inside
    late = at(2026, 12, 8, 21, 0)  # 22:00 in Berlin, 16:00 in New York
    assert not evaluate(OFFICE, "Europe/Berlin", late).inside
    assert evaluate(OFFICE, "America/New_York", late).inside


def test_daylight_saving_moves_the_hours_with_the_wall_clock() -> None:
    # Berlin goes from UTC+1 to UTC+2 on Sunday 29 March 2026; Monday 30 opens at 07:00 UTC.
    before = evaluate(OFFICE, "Europe/Berlin", at(2026, 3, 23, 7, 30))  # Monday, 08:30 CET
    after = evaluate(OFFICE, "Europe/Berlin", at(2026, 3, 30, 7, 30))  # Monday, 09:30 CEST
    assert not before.inside
    assert after.inside
    assert "2026-03-30 09:30 Europe/Berlin" in after.reason
    # Back to UTC+1 on Sunday 25 October: 15:30 UTC is 16:30 on Friday 30 (open) but
    # 17:30 on Friday 23 (closed).
    assert evaluate(OFFICE, "Europe/Berlin", at(2026, 10, 30, 15, 30)).inside
    assert not evaluate(OFFICE, "Europe/Berlin", at(2026, 10, 23, 15, 30)).inside


def test_a_holiday_is_closed_all_day_in_local_time() -> None:
    friday_noon = evaluate(OFFICE, "Europe/Berlin", at(2026, 12, 25, 11, 0))
    assert not friday_noon.inside
    assert "2026-12-25 is a holiday" in friday_noon.reason
    # 23:30 UTC on the 24th is already the 25th in Berlin, but not yet in New York.
    assert not evaluate(OFFICE, "Europe/Berlin", at(2026, 12, 24, 23, 30)).inside
    assert evaluate(OFFICE, "America/New_York", at(2026, 12, 24, 20, 30)).inside


def test_the_reason_names_the_day_and_its_ranges() -> None:
    verdict = evaluate(OFFICE, "Europe/Berlin", at(2026, 12, 7, 11, 30))
    assert verdict.reason == (
        "outside working hours (Monday 09:00-12:00, 13:00-17:00, 2026-12-07 12:30 Europe/Berlin)"
    )
    closed = evaluate(OFFICE, "UTC", at(2026, 12, 5, 12, 0))
    assert closed.reason == "outside working hours: closed on Saturdays (2026-12-05 12:00 UTC)"
