"""Times beyond the calendar in UTC, and durations counted past its start (domain/moments.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ari_recorder.domain import moments

PLUS_5 = timezone(timedelta(hours=5))
MINUS_5 = timezone(timedelta(hours=-5))
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "in_utc", "bound"),
    [
        (datetime(2026, 12, 1, 14, 30, tzinfo=PLUS_5), T0, T0),
        (datetime(2026, 12, 1, 9, 30), T0, T0),  # no zone: UTC
        (datetime(1, 1, 1, tzinfo=PLUS_5), None, moments.EARLIEST),
        (datetime(1, 1, 1, 5, 0, tzinfo=PLUS_5), moments.EARLIEST, None),
        (datetime(9999, 12, 31, 23, 59, tzinfo=MINUS_5), None, moments.LATEST),
        (datetime(9999, 12, 31, 23, 59, tzinfo=PLUS_5), datetime(9999, 12, 31, 18, 59, tzinfo=UTC), None),
    ],
)
def test_a_time_in_utc_or_the_end_it_lies_beyond(
    given: datetime, in_utc: datetime | None, bound: datetime | None
) -> None:
    assert moments.in_utc(given) == in_utc
    assert moments.bound_in_utc(given) == (bound or in_utc)


@pytest.mark.parametrize(
    ("days", "cutoff"),
    [
        (90, T0 - timedelta(days=90)),
        (739_000, T0 - timedelta(days=739_000)),  # still within the calendar
        (740_000, moments.EARLIEST),  # past year 1
        (10**9, moments.EARLIEST),  # past timedelta's own limit
        (10**30, moments.EARLIEST),
    ],
)
def test_days_before_stops_at_the_calendars_start(days: int, cutoff: datetime) -> None:
    assert moments.days_before(T0, days) == cutoff
