"""Times a client or a setting gives, made safe to convert and to count from.

Python's datetime ends at year 1 and year 9999 *in its own zone*: `0001-01-01T00:00+05:00` or
`9999-12-31T23:00-05:00` parse, but lie beyond the calendar in UTC, and converting them (or adding
a duration that crosses an end) raises OverflowError. Each helper here says what happens then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def in_utc(moment: datetime) -> datetime | None:
    """`moment` in UTC (naive: taken as UTC); None when it lies beyond the calendar there."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def bound_in_utc(moment: datetime) -> datetime:
    """`moment` in UTC, or the calendar's end it lies beyond: as a filter's bound, a time before
    year 1 in UTC selects as year 1 does, and one after 9999 as 9999 does."""
    converted = in_utc(moment)
    if converted is not None:
        return converted
    return EARLIEST if (moment.utcoffset() or timedelta()) > timedelta() else LATEST


def days_before(now: datetime, days: int) -> datetime:
    """`days` days before `now`, or the calendar's start when that is before it (a retention
    longer than the calendar keeps everything)."""
    try:
        return now - timedelta(days=days)
    except OverflowError:
        return EARLIEST if now.tzinfo is not None else datetime.min
