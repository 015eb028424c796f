import datetime as dt
import random

from deskmail.sync.schedule import backoff_seconds, in_skip_window, seconds_until_window_ends


def test_it_skips_inside_a_window_and_not_outside():
    assert in_skip_window(dt.time(2, 30), ["02:00-04:00"])
    assert not in_skip_window(dt.time(4, 0), ["02:00-04:00"])
    assert not in_skip_window(dt.time(1, 59), ["02:00-04:00"])


def test_it_handles_windows_that_wrap_midnight():
    assert in_skip_window(dt.time(23, 30), ["23:00-01:00"])
    assert in_skip_window(dt.time(0, 30), ["23:00-01:00"])
    assert not in_skip_window(dt.time(12, 0), ["23:00-01:00"])


def test_it_says_how_long_until_a_window_ends():
    now = dt.datetime(2026, 1, 1, 3, 30, tzinfo=dt.UTC)
    assert seconds_until_window_ends(now, ["02:00-04:00"]) == 30 * 60
    assert seconds_until_window_ends(now, []) == 0


def test_it_backs_off_exponentially_with_jitter_and_a_ceiling():
    rng = random.Random(7)
    first = [backoff_seconds(1, rng=rng) for _ in range(50)]
    fifth = [backoff_seconds(5, rng=rng) for _ in range(50)]
    assert all(v == 2.0 for v in first)
    assert all(2.0 <= v <= 32.0 for v in fifth) and len(set(fifth)) > 10
    assert all(backoff_seconds(30, rng=rng) <= 300 for _ in range(50))


def test_a_throttled_job_runs_at_most_once_per_period(monkeypatch):
    from deskmail.sync import jobs

    now = [100.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: now[0])
    runs = []
    job = jobs.every(60, lambda: runs.append(now[0]))

    for step in (0, 10, 59.9, 60.1, 61):
        now[0] = 100.0 + step
        job()

    assert runs == [100.0, 160.1]
